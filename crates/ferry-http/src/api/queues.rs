//! `/api/v1/queues`: list, create, describe, change and delete queues; send, peek, receive with
//! a lease, ack, nack, purge, and redrive a dead-letter queue.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_broker::queues::{
    CreateOutcome, Delivery, MoveStatus, MoveTaskInfo, NackMode, NewMessage, QueueAttributes, QueueError,
    Receipt, ReceiveOptions,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::common::{
    ErrorAnswer, JsonBody, Name, Page, Params, attributes_of, blocking, body_of, headers_of, queue_error,
    text_and_base64,
};
use crate::error::ApiError;
use crate::server::HttpContext;

/// Most messages one receive or peek returns.
const RECEIVE_MAX: u32 = 100;
/// Longest a receive waits for a message.
const WAIT_MAX_MS: u64 = 20_000;
/// Longest lease a receive may ask for (SQS's 12 hours).
const LEASE_MAX_MS: u64 = 12 * 3600 * 1000;
/// Longest delay a message may be sent with (7 days).
const DELAY_MAX_MS: u64 = 7 * 24 * 3600 * 1000;

/// A queue's settings. In a request every field is optional: only those given are set.
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    /// Lease a received message gets when the receiver asks for none (at most 12 hours).
    #[schema(minimum = 0)]
    pub visibility_timeout_ms: Option<u64>,
    /// Delay of every new message that does not carry its own (at most 7 days).
    #[schema(minimum = 0)]
    pub delay_ms: Option<u64>,
    /// Messages older than this are removed.
    #[schema(minimum = 0)]
    pub retention_ms: Option<u64>,
    /// Largest message accepted.
    #[schema(minimum = 0)]
    pub max_message_bytes: Option<u32>,
    /// Long-poll wait of a receive that gives none (SQS receivers; at most 20 seconds).
    #[schema(minimum = 0)]
    pub receive_wait_ms: Option<u64>,
    /// Time to live of every message.
    #[schema(minimum = 0)]
    pub message_ttl_ms: Option<u64>,
    /// Deliveries after which a message goes to the dead-letter queue.
    #[schema(minimum = 0)]
    pub max_deliveries: Option<u32>,
    /// Where messages go after `max_deliveries`, or when rejected or expired.
    pub dead_letter_queue: Option<String>,
    /// Most ready messages held.
    #[schema(minimum = 0)]
    pub max_length: Option<u64>,
    /// Highest priority honoured (a priority queue).
    #[schema(minimum = 0, maximum = 255)]
    pub max_priority: Option<u8>,
    /// First-in-first-out per message group, with deduplication (the name ends in `.fifo`).
    pub fifo: Option<bool>,
    /// FIFO: deduplicate by a hash of the body when no deduplication id is given.
    pub content_based_dedup: Option<bool>,
}

impl QueueSettings {
    fn of(a: &QueueAttributes) -> QueueSettings {
        QueueSettings {
            visibility_timeout_ms: Some(a.visibility_timeout_ms),
            delay_ms: Some(a.delay_ms),
            retention_ms: Some(a.retention_ms),
            max_message_bytes: Some(a.max_message_bytes),
            receive_wait_ms: Some(a.receive_wait_ms),
            message_ttl_ms: a.message_ttl_ms,
            max_deliveries: a.max_deliveries,
            dead_letter_queue: a.dead_letter.clone(),
            max_length: a.max_length,
            max_priority: a.max_priority,
            fifo: Some(a.fifo),
            content_based_dedup: Some(a.content_based_dedup),
        }
    }

    /// `attrs` with the given settings changed.
    fn apply(&self, mut a: QueueAttributes) -> QueueAttributes {
        if let Some(v) = self.visibility_timeout_ms {
            a.visibility_timeout_ms = v;
        }
        if let Some(v) = self.delay_ms {
            a.delay_ms = v;
        }
        if let Some(v) = self.retention_ms {
            a.retention_ms = v;
        }
        if let Some(v) = self.max_message_bytes {
            a.max_message_bytes = v;
        }
        if let Some(v) = self.receive_wait_ms {
            a.receive_wait_ms = v;
        }
        if let Some(v) = self.message_ttl_ms {
            a.message_ttl_ms = Some(v);
        }
        if let Some(v) = self.max_deliveries {
            a.max_deliveries = Some(v);
        }
        if let Some(v) = &self.dead_letter_queue {
            a.dead_letter = (!v.is_empty()).then(|| v.clone());
        }
        if let Some(v) = self.max_length {
            a.max_length = Some(v);
        }
        if let Some(v) = self.max_priority {
            a.max_priority = Some(v);
        }
        if let Some(v) = self.fifo {
            a.fifo = v;
        }
        if let Some(v) = self.content_based_dedup {
            a.content_based_dedup = v;
        }
        a
    }
}

/// A queue in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueSummary {
    pub name: String,
    pub fifo: bool,
    pub durable: bool,
    /// Messages receivable now (the queue's depth).
    pub ready: u64,
    /// Messages leased to a receiver.
    pub in_flight: u64,
    /// Messages waiting for their delay.
    pub delayed: u64,
    /// Bytes of the ready messages.
    pub ready_bytes: u64,
    /// Age of the oldest ready message (0 when none is ready).
    pub oldest_ready_age_ms: u64,
    /// The queue's dead-letter queue.
    pub dead_letter_queue: Option<String>,
}

/// A page of queues.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueList {
    pub items: Vec<QueueSummary>,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<String>,
}

/// A queue's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueFigures {
    pub ready: u64,
    pub in_flight: u64,
    pub delayed: u64,
    pub ready_bytes: u64,
    pub in_flight_bytes: u64,
    pub delayed_bytes: u64,
    pub oldest_ready_age_ms: u64,
    /// Push consumers (AMQP) attached now.
    pub consumers: u64,
    /// Since the broker started.
    pub enqueued_total: u64,
    pub delivered_total: u64,
    pub redelivered_total: u64,
    pub acked_total: u64,
    pub nacked_total: u64,
    /// Since the queue was created.
    pub expired_total: u64,
    pub dead_lettered_total: u64,
    pub dropped_total: u64,
    pub created_at_ms: i64,
}

/// A queue described.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queue {
    pub name: String,
    pub durable: bool,
    pub settings: QueueSettings,
    pub stats: QueueFigures,
    /// Queues that dead-letter into this one.
    pub dead_letter_sources: Vec<String>,
}

/// A queue to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQueue {
    pub name: String,
    #[serde(default)]
    pub settings: QueueSettings,
}

/// Settings to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueUpdate {
    pub settings: QueueSettings,
}

/// A message to send: `body` (text) or `body_base64`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    pub body: Option<String>,
    pub body_base64: Option<String>,
    /// String headers (SQS message attributes, AMQP headers).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[schema(minimum = 0)]
    pub delay_ms: Option<u64>,
    #[schema(minimum = 0, maximum = 255)]
    pub priority: Option<u8>,
    /// FIFO message group.
    pub group_id: Option<String>,
    /// FIFO deduplication id.
    pub deduplication_id: Option<String>,
}

/// A sent message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Sent {
    pub message_id: String,
    /// True when a message with the same deduplication id was sent within the window: this one
    /// was not stored again.
    pub duplicate: bool,
}

/// What to receive.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveRequest {
    /// Most messages (1–100, default 1).
    #[schema(minimum = 1, maximum = 100)]
    pub max: Option<u32>,
    /// How long the messages stay leased; the queue's visibility timeout by default.
    #[schema(minimum = 0, maximum = 43200000)]
    pub lease_ms: Option<u64>,
    /// How long to wait for a message when none is ready (0–20000, default 0).
    #[schema(minimum = 0, maximum = 20000)]
    pub wait_ms: Option<u64>,
}

/// A message as received or peeked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub message_id: String,
    /// The body, when it is UTF-8.
    pub body: Option<String>,
    pub body_base64: String,
    #[schema(value_type = BTreeMap<String, Object>)]
    pub headers: BTreeMap<String, serde_json::Value>,
    /// Settles this delivery (ack or nack); absent on a peek.
    pub receipt: Option<String>,
    /// Deliveries so far, this one included.
    pub delivery_count: u32,
    pub enqueued_at_ms: i64,
    pub group_id: Option<String>,
    pub priority: u8,
}

impl Message {
    fn of(d: &Delivery, leased: bool) -> Message {
        let (body, body_base64) = text_and_base64(&d.body);
        Message {
            message_id: d.message_id.clone(),
            body,
            body_base64,
            headers: headers_of(&d.attributes),
            receipt: leased.then(|| d.receipt.to_string()),
            delivery_count: d.delivery_count,
            enqueued_at_ms: d.sent_ms,
            group_id: d.group_id.clone(),
            priority: d.priority,
        }
    }
}

/// Messages received or peeked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Messages {
    pub messages: Vec<Message>,
}

/// A delivery to acknowledge.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    pub receipt: String,
}

/// A delivery to return or reject.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NackRequest {
    pub receipt: String,
    /// True (default): ready again (after `delay_ms`); false: dead-lettered, or dropped when the
    /// queue has no dead-letter queue.
    pub requeue: Option<bool>,
    #[schema(minimum = 0)]
    pub delay_ms: Option<u64>,
}

/// A redrive to start.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedriveRequest {
    /// Where to move the messages; each message's source queue by default.
    pub destination: Option<String>,
}

/// A redrive under way.
#[derive(Debug, Serialize, ToSchema)]
pub struct Redrive {
    pub handle: String,
    /// running, completed, cancelled or failed.
    pub status: String,
    pub moved: u64,
    /// Messages that were ready when it started.
    pub total: u64,
}

/// Query of a list of queues.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only queues whose name starts with this.
    pub prefix: Option<String>,
    /// Most items (1–1000, default 100).
    pub limit: Option<i64>,
    /// Items after this name.
    pub after: Option<String>,
}

/// Query of a peek.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeekQuery {
    /// Most messages (1–100, default 10).
    pub limit: Option<i64>,
}

fn summary(ctx: &HttpContext, name: &str) -> Option<QueueSummary> {
    let attrs = ctx.broker.queues().queue_attributes(name).ok()?;
    let s = ctx.broker.queues().queue_stats(name).ok()?;
    Some(QueueSummary {
        name: name.to_owned(),
        fifo: attrs.fifo,
        durable: attrs.durable,
        ready: s.ready,
        in_flight: s.in_flight,
        delayed: s.delayed,
        ready_bytes: s.ready_bytes,
        oldest_ready_age_ms: s.oldest_ready_age_ms,
        dead_letter_queue: attrs.dead_letter,
    })
}

fn describe_queue(ctx: &HttpContext, name: &str) -> Result<Queue, ApiError> {
    let queues = ctx.broker.queues();
    let attrs = queues.queue_attributes(name).map_err(queue_error)?;
    let s = queues.queue_stats(name).map_err(queue_error)?;
    Ok(Queue {
        name: name.to_owned(),
        durable: attrs.durable,
        settings: QueueSettings::of(&attrs),
        stats: QueueFigures {
            ready: s.ready,
            in_flight: s.in_flight,
            delayed: s.delayed,
            ready_bytes: s.ready_bytes,
            in_flight_bytes: s.in_flight_bytes,
            delayed_bytes: s.delayed_bytes,
            oldest_ready_age_ms: s.oldest_ready_age_ms,
            consumers: queues.consumer_count(name) as u64,
            enqueued_total: s.enqueued_total,
            delivered_total: s.delivered_total,
            redelivered_total: s.redelivered_total,
            acked_total: s.acked_total,
            nacked_total: s.nacked_total,
            expired_total: s.expired_total,
            dead_lettered_total: s.dead_lettered_total,
            dropped_total: s.dropped_total,
            created_at_ms: s.created_ms,
        },
        dead_letter_sources: queues.dead_letter_sources(name),
    })
}

/// The settings whose counterpart in a request is bounded get the same bound: a queue's
/// default lease, delay and receive wait cannot exceed what a receive or a send may ask for.
fn check_ranges(settings: &QueueSettings) -> Result<(), ApiError> {
    let bounded = [
        ("visibility_timeout_ms", settings.visibility_timeout_ms, LEASE_MAX_MS),
        ("delay_ms", settings.delay_ms, DELAY_MAX_MS),
        ("receive_wait_ms", settings.receive_wait_ms, WAIT_MAX_MS),
    ];
    for (field, value, max) in bounded {
        if let Some(v) = value
            && v > max
        {
            return Err(ApiError::bad_request(
                "invalid_settings",
                format!("{field} must be at most {max}, not {v}"),
            ));
        }
    }
    Ok(())
}

fn check_dead_letter_queue(ctx: &HttpContext, settings: &QueueSettings) -> Result<(), ApiError> {
    match &settings.dead_letter_queue {
        Some(dlq) if !dlq.is_empty() && !ctx.broker.queues().exists(dlq) => Err(ApiError::bad_request(
            "invalid_settings",
            format!("dead_letter_queue names no queue: create \"{dlq}\" first"),
        )),
        _ => Ok(()),
    }
}

/// List queues
#[utoipa::path(get, path = "/api/v1/queues", tag = "queues", params(ListQuery),
    responses((status = 200, body = QueueList), (status = 400, body = ErrorAnswer)))]
pub async fn list(
    State(ctx): State<Arc<HttpContext>>,
    Params(q): Params<ListQuery>,
) -> Result<Json<QueueList>, ApiError> {
    let page = Page { limit: q.limit, after: q.after };
    page.limit()?;
    blocking(&ctx, move |ctx| {
        let names = ctx.broker.queues().list_queues(q.prefix.as_deref().filter(|p| !p.is_empty()));
        let (names, next) = page.slice(names)?;
        Ok(Json(QueueList { items: names.iter().filter_map(|n| summary(ctx, n)).collect(), next }))
    })
    .await
}

/// Create a queue
///
/// Creating a queue that exists with the same settings answers 200; with other settings, 409.
#[utoipa::path(post, path = "/api/v1/queues", tag = "queues", request_body = NewQueue,
    responses((status = 201, body = Queue), (status = 200, body = Queue), (status = 400, body = ErrorAnswer),
        (status = 409, body = ErrorAnswer), (status = 413, body = ErrorAnswer), (status = 415, body = ErrorAnswer)))]
pub async fn create(
    State(ctx): State<Arc<HttpContext>>,
    JsonBody(new): JsonBody<NewQueue>,
) -> Result<Response, ApiError> {
    check_ranges(&new.settings)?;
    check_dead_letter_queue(&ctx, &new.settings)?;
    let fifo = new.settings.fifo.unwrap_or(false);
    if fifo != new.name.ends_with(".fifo") {
        return Err(ApiError::bad_request(
            "invalid_name",
            "a FIFO queue's name ends in .fifo, and only a FIFO queue's does (as in SQS)",
        ));
    }
    let attrs = new.settings.apply(QueueAttributes::default());
    let outcome = ctx.broker.queues().create_queue(&new.name, attrs).await.map_err(queue_error)?;
    let status = match outcome {
        CreateOutcome::Created => StatusCode::CREATED,
        CreateOutcome::Exists { same_attributes: true } => StatusCode::OK,
        CreateOutcome::Exists { same_attributes: false } => {
            return Err(ApiError::conflict(
                "already_exists",
                format!("queue \"{}\" exists with other settings; change them with PATCH", new.name),
            ));
        }
    };
    let name = new.name;
    let queue = blocking(&ctx, move |ctx| describe_queue(ctx, &name)).await?;
    Ok((status, Json(queue)).into_response())
}

/// Describe a queue
#[utoipa::path(get, path = "/api/v1/queues/{name}", tag = "queues", params(("name" = String, Path)),
    responses((status = 200, body = Queue),
        (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub async fn describe(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
) -> Result<Json<Queue>, ApiError> {
    blocking(&ctx, move |ctx| describe_queue(ctx, &name)).await.map(Json)
}

/// Change a queue's settings
#[utoipa::path(patch, path = "/api/v1/queues/{name}", tag = "queues", params(("name" = String, Path)),
    request_body = QueueUpdate,
    responses((status = 200, body = Queue), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 415, body = ErrorAnswer)))]
pub async fn update(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
    JsonBody(update): JsonBody<QueueUpdate>,
) -> Result<Json<Queue>, ApiError> {
    let queues = ctx.broker.queues();
    let current = queues.queue_attributes(&name).map_err(queue_error)?;
    if update.settings.fifo.is_some_and(|f| f != current.fifo) {
        return Err(ApiError::bad_request("invalid_settings", "fifo cannot change once a queue exists"));
    }
    check_ranges(&update.settings)?;
    check_dead_letter_queue(&ctx, &update.settings)?;
    queues.set_queue_attributes(&name, update.settings.apply(current)).await.map_err(queue_error)?;
    blocking(&ctx, move |ctx| describe_queue(ctx, &name)).await.map(Json)
}

/// Delete a queue
#[utoipa::path(delete, path = "/api/v1/queues/{name}", tag = "queues", params(("name" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub async fn delete(State(ctx): State<Arc<HttpContext>>, Name(name): Name) -> Result<StatusCode, ApiError> {
    ctx.broker.delete_queue(&name).await.map_err(queue_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a message
#[utoipa::path(post, path = "/api/v1/queues/{name}/messages", tag = "queues", params(("name" = String, Path)),
    request_body = SendMessage,
    responses((status = 201, body = Sent), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 409, body = ErrorAnswer), (status = 413, body = ErrorAnswer), (status = 415, body = ErrorAnswer),
        (status = 503, body = ErrorAnswer)))]
pub async fn send(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
    JsonBody(m): JsonBody<SendMessage>,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    if ctx.broker.disk_alarm().is_raised() {
        return Err(ApiError::unavailable("the disk is nearly full: sends are refused until space is freed"));
    }
    if m.delay_ms.is_some_and(|d| d > DELAY_MAX_MS) {
        return Err(ApiError::bad_request(
            "invalid_message",
            format!("delay_ms must be at most {DELAY_MAX_MS}"),
        ));
    }
    let message = NewMessage {
        body: body_of(m.body, m.body_base64, "body")?,
        attributes: attributes_of(m.headers),
        delay_ms: m.delay_ms,
        priority: m.priority,
        group_id: m.group_id,
        dedup_id: m.deduplication_id,
        ..NewMessage::default()
    };
    let mut results = ctx.broker.queues().enqueue(&name, vec![message]).await.map_err(queue_error)?;
    let enqueued = results.pop().ok_or_else(|| ApiError::internal("the queue answered no outcome"))?;
    let enqueued = enqueued.map_err(queue_error)?;
    Ok((StatusCode::CREATED, Json(Sent { message_id: enqueued.message_id, duplicate: enqueued.duplicate })))
}

/// Peek at ready messages
///
/// Reads without leasing them or counting a delivery.
#[utoipa::path(get, path = "/api/v1/queues/{name}/messages", tag = "queues", params(("name" = String, Path), PeekQuery),
    responses((status = 200, body = Messages), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub async fn peek(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
    Params(q): Params<PeekQuery>,
) -> Result<Json<Messages>, ApiError> {
    let limit = match q.limit {
        None => 10,
        Some(n) if (1..=i64::from(RECEIVE_MAX)).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be 1 to {RECEIVE_MAX}, not {n}"),
            ));
        }
    };
    let deliveries = ctx.broker.queues().peek(&name, limit).await.map_err(queue_error)?;
    Ok(Json(Messages { messages: deliveries.iter().map(|d| Message::of(d, false)).collect() }))
}

/// Receive messages with a lease
#[utoipa::path(post, path = "/api/v1/queues/{name}/receive", tag = "queues", params(("name" = String, Path)),
    request_body = ReceiveRequest,
    responses((status = 200, body = Messages), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 415, body = ErrorAnswer)))]
pub async fn receive(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
    JsonBody(r): JsonBody<ReceiveRequest>,
) -> Result<Json<Messages>, ApiError> {
    let max = r.max.unwrap_or(1);
    if !(1..=RECEIVE_MAX).contains(&max) {
        return Err(ApiError::bad_request(
            "invalid_max",
            format!("max must be 1 to {RECEIVE_MAX}, not {max}"),
        ));
    }
    let wait_ms = r.wait_ms.unwrap_or(0);
    if wait_ms > WAIT_MAX_MS {
        return Err(ApiError::bad_request("invalid_wait", format!("wait_ms must be at most {WAIT_MAX_MS}")));
    }
    if r.lease_ms.is_some_and(|l| l > LEASE_MAX_MS) {
        return Err(ApiError::bad_request(
            "invalid_lease",
            format!("lease_ms must be at most {LEASE_MAX_MS}"),
        ));
    }
    let options = ReceiveOptions {
        max_messages: max as usize,
        lease_ms: r.lease_ms,
        wait_ms: Some(wait_ms),
        receive_request_attempt_id: None,
    };
    let deliveries = ctx.broker.queues().receive(&name, options).await.map_err(queue_error)?;
    Ok(Json(Messages { messages: deliveries.iter().map(|d| Message::of(d, true)).collect() }))
}

fn receipt(text: &str) -> Result<Receipt, ApiError> {
    Receipt::parse(text).map_err(|e| match e {
        QueueError::InvalidReceipt(_) => {
            ApiError::bad_request("invalid_receipt", format!("\"{text}\" is not a receipt"))
        }
        other => queue_error(other),
    })
}

/// Acknowledge a delivery
#[utoipa::path(post, path = "/api/v1/queues/{name}/ack", tag = "queues", params(("name" = String, Path)),
    request_body = AckRequest,
    responses((status = 204), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 409, body = ErrorAnswer), (status = 415, body = ErrorAnswer)))]
pub async fn ack(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
    JsonBody(a): JsonBody<AckRequest>,
) -> Result<StatusCode, ApiError> {
    let r = receipt(&a.receipt)?;
    ctx.broker.queues().ack(&name, r).await.map_err(queue_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Return or reject a delivery
#[utoipa::path(post, path = "/api/v1/queues/{name}/nack", tag = "queues", params(("name" = String, Path)),
    request_body = NackRequest,
    responses((status = 204), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 409, body = ErrorAnswer), (status = 415, body = ErrorAnswer)))]
pub async fn nack(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
    JsonBody(n): JsonBody<NackRequest>,
) -> Result<StatusCode, ApiError> {
    let r = receipt(&n.receipt)?;
    let mode = match (n.requeue.unwrap_or(true), n.delay_ms) {
        (false, Some(_)) => {
            return Err(ApiError::bad_request("invalid_nack", "delay_ms applies only to a requeue"));
        }
        (false, None) => NackMode::DeadLetter,
        (true, Some(d)) if d > DELAY_MAX_MS => {
            return Err(ApiError::bad_request(
                "invalid_nack",
                format!("delay_ms must be at most {DELAY_MAX_MS}"),
            ));
        }
        (true, Some(d)) => NackMode::Delay(d),
        (true, None) => NackMode::Requeue,
    };
    ctx.broker.queues().nack(&name, r, mode).await.map_err(queue_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove every ready message
#[utoipa::path(post, path = "/api/v1/queues/{name}/purge", tag = "queues", params(("name" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub async fn purge(State(ctx): State<Arc<HttpContext>>, Name(name): Name) -> Result<StatusCode, ApiError> {
    ctx.broker.queues().purge(&name).await.map_err(queue_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Move a dead-letter queue's messages back
///
/// Moves the ready messages to the queue each came from, or to `destination`.
#[utoipa::path(post, path = "/api/v1/queues/{name}/redrive", tag = "queues", params(("name" = String, Path)),
    request_body = RedriveRequest,
    responses((status = 202, body = Redrive), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 409, body = ErrorAnswer), (status = 415, body = ErrorAnswer)))]
pub async fn redrive(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
    JsonBody(r): JsonBody<RedriveRequest>,
) -> Result<(StatusCode, Json<Redrive>), ApiError> {
    let queues = ctx.broker.queues();
    if !queues.exists(&name) {
        return Err(queue_error(QueueError::NoSuchQueue(name)));
    }
    if let Some(d) = &r.destination
        && !queues.exists(d)
    {
        return Err(ApiError::not_found("queue_not_found", format!("no destination queue named \"{d}\"")));
    }
    if r.destination.is_none() && queues.dead_letter_sources(&name).is_empty() {
        return Err(ApiError::bad_request(
            "not_a_dead_letter_queue",
            format!("no queue dead-letters into \"{name}\": give a destination to move its messages to"),
        ));
    }
    let info = queues.start_move(&name, r.destination.as_deref(), None).map_err(queue_error)?;
    Ok((StatusCode::ACCEPTED, Json(redrive_of(&info))))
}

fn redrive_of(info: &MoveTaskInfo) -> Redrive {
    let status = match info.status {
        MoveStatus::Running => "running",
        MoveStatus::Completed => "completed",
        MoveStatus::Cancelled => "cancelled",
        MoveStatus::Failed => "failed",
    };
    Redrive { handle: info.handle.clone(), status: status.into(), moved: info.moved, total: info.to_move }
}

/// Redrives of a queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Redrives {
    /// Newest first.
    pub redrives: Vec<Redrive>,
}

/// Follow a queue's redrives
#[utoipa::path(get, path = "/api/v1/queues/{name}/redrive", tag = "queues", params(("name" = String, Path)),
    responses((status = 200, body = Redrives), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub async fn redrives(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
) -> Result<Json<Redrives>, ApiError> {
    let queues = ctx.broker.queues();
    if !queues.exists(&name) {
        return Err(queue_error(QueueError::NoSuchQueue(name)));
    }
    Ok(Json(Redrives { redrives: queues.list_moves(&name).iter().map(redrive_of).collect() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_lease_delay_and_wait_have_the_bounds_of_a_request() {
        assert!(check_ranges(&QueueSettings::default()).is_ok());
        let at_bounds = QueueSettings {
            visibility_timeout_ms: Some(LEASE_MAX_MS),
            delay_ms: Some(DELAY_MAX_MS),
            receive_wait_ms: Some(WAIT_MAX_MS),
            ..QueueSettings::default()
        };
        assert!(check_ranges(&at_bounds).is_ok());
        for over in [
            QueueSettings { visibility_timeout_ms: Some(LEASE_MAX_MS + 1), ..QueueSettings::default() },
            QueueSettings { delay_ms: Some(DELAY_MAX_MS + 1), ..QueueSettings::default() },
            QueueSettings { receive_wait_ms: Some(u64::MAX), ..QueueSettings::default() },
        ] {
            assert!(check_ranges(&over).is_err(), "{over:?}");
        }
    }
}
