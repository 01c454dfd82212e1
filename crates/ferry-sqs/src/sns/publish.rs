//! Publish and PublishBatch: checking a message as SNS does, asking the router which bindings
//! of the topic take it (filter policies included), and writing it into their queues. A
//! publish is answered once every delivery is durable.
//!
//! A subscription's queue gets the SNS envelope, or with `RawMessageDelivery` the message
//! itself with its attributes as SQS message attributes. A queue that is gone (or refuses the
//! message) sends the delivery to the subscription's `RedrivePolicy` dead-letter queue when it
//! has one, else the delivery is dropped, as SNS drops it after its retries: the publish still
//! succeeds. A destination bound by an AMQP client (not a subscription) gets the raw message
//! with the attributes as headers.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use ferry_broker::broker::{PendingPublish, PublishError};
use ferry_broker::message::Value;
use ferry_broker::queues::{AttrValue, MessageAttribute, NewMessage, PendingEnqueue, QueueError};
use ferry_broker::routing::Destination;
use sha2::{Digest, Sha256};

use super::catalog::{Subscription, Topic};
use super::envelope::{self, Common, EnvelopeAttribute};
use super::params::{Attribute, AttributeValue, Params};
use super::xml::el;
use super::{SnsCtx, SnsError, SnsResult, routing_error};
use crate::names;

/// Largest message, attributes included, as SNS bounds it (256 KiB).
const MAX_MESSAGE_BYTES: usize = 262_144;
/// Most entries of a PublishBatch.
const MAX_BATCH_ENTRIES: usize = 10;

/// A message checked and ready to deliver.
struct Entry {
    /// What subscribers receive (for `MessageStructure=json`, the `sqs` or `default` member).
    message: String,
    subject: Option<String>,
    attributes: Vec<Attribute>,
    group_id: Option<String>,
    dedup_id: Option<String>,
}

/// What a publish answers for one message.
struct Published {
    message_id: String,
    sequence_number: Option<String>,
}

fn invalid(reason: &str) -> SnsError {
    SnsError::invalid(format!("Invalid parameter: {reason}"))
}

/// Reads and checks one message (the request's own parameters, or one batch entry's).
fn read_entry(topic: &Topic, params: &Params) -> SnsResult<Entry> {
    let raw = params.get("Message").unwrap_or_default();
    if raw.is_empty() {
        return Err(invalid("Empty message"));
    }
    let message = match params.get("MessageStructure") {
        None | Some("") => raw.to_owned(),
        Some("json") => {
            let json: serde_json::Value = serde_json::from_str(raw)
                .map_err(|_| invalid("Message Structure - JSON message body failed to parse"))?;
            let pick = |key: &str| json.get(key).and_then(serde_json::Value::as_str).map(str::to_owned);
            if pick("default").is_none() {
                return Err(invalid("Message Structure - No default entry in JSON message body"));
            }
            pick("sqs").or_else(|| pick("default")).unwrap_or_default()
        }
        Some(_) => return Err(invalid("MessageStructure")),
    };
    let subject = params.get("Subject").map(str::to_owned);
    if let Some(s) = &subject
        && (s.is_empty() || s.chars().count() > 100 || s.chars().any(|c| c.is_control() || !c.is_ascii()))
    {
        return Err(invalid("Subject"));
    }
    let attributes = params.message_attributes("MessageAttributes")?;
    let size = raw.len()
        + attributes
            .iter()
            .map(|a| {
                a.name.len()
                    + a.data_type.len()
                    + match &a.value {
                        AttributeValue::Text(t) => t.len(),
                        AttributeValue::Binary(b) => b.len(),
                    }
            })
            .sum::<usize>();
    if size > MAX_MESSAGE_BYTES {
        return Err(invalid("Message too long"));
    }
    let group_id = params.get("MessageGroupId").map(str::to_owned);
    let dedup_id = params.get("MessageDeduplicationId").map(str::to_owned);
    let valid_id = |id: &str| {
        !id.is_empty()
            && id.len() <= 128
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c.is_ascii_punctuation())
    };
    if topic.fifo() {
        let group = group_id
            .as_deref()
            .ok_or_else(|| invalid("The MessageGroupId parameter is required for FIFO topics"))?;
        if !valid_id(group) {
            return Err(invalid("MessageGroupId"));
        }
        match dedup_id.as_deref() {
            Some(id) if !valid_id(id) => return Err(invalid("MessageDeduplicationId")),
            Some(_) => {}
            None if !topic.content_based_dedup() => {
                return Err(invalid(
                    "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                ));
            }
            None => {}
        }
    } else if dedup_id.is_some() {
        return Err(invalid(
            "MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type",
        ));
    }
    let dedup_id = match dedup_id {
        Some(id) => Some(id),
        None if topic.fifo() => Some(hex::encode(Sha256::digest(message.as_bytes()))),
        None => None,
    };
    // SNS passes a group id to the queues of a FIFO topic only.
    let group_id = if topic.fifo() { group_id } else { None };
    Ok(Entry { message, subject, attributes, group_id, dedup_id })
}

/// The topic a Publish names by `TopicArn` or `TargetArn`.
fn publish_topic(ctx: &SnsCtx, params: &Params) -> SnsResult<Topic> {
    if params.get("PhoneNumber").is_some_and(|p| !p.is_empty()) {
        return Err(invalid("PhoneNumber Reason: ferry delivers to SQS queues only"));
    }
    match (
        params.get("TopicArn").filter(|a| !a.is_empty()),
        params.get("TargetArn").filter(|a| !a.is_empty()),
    ) {
        (Some(_), Some(_)) => Err(invalid("TopicArn or TargetArn Reason: both may not be given")),
        (Some(arn), None) => ctx.require_topic("TopicArn", arn),
        (None, Some(arn)) => ctx.require_topic("TargetArn", arn),
        (None, None) => Err(invalid("TopicArn or TargetArn Reason: no value for required parameter")),
    }
}

pub(crate) async fn publish(ctx: &SnsCtx, params: &Params) -> SnsResult<String> {
    let topic = publish_topic(ctx, params)?;
    let entry = read_entry(&topic, params)?;
    let published = deliver(ctx, &topic, entry).await?.durable().await?;
    let mut out = el("MessageId", &published.message_id);
    if let Some(seq) = &published.sequence_number {
        out.push_str(&el("SequenceNumber", seq));
    }
    Ok(out)
}

pub(crate) async fn publish_batch(ctx: &SnsCtx, params: &Params) -> SnsResult<String> {
    let topic = ctx.require_topic("TopicArn", params.required("TopicArn")?)?;
    let members = params.members("PublishBatchRequestEntries")?;
    if members.is_empty() {
        return Err(SnsError::new("EmptyBatchRequest", 400, "The batch request doesn't contain any entries"));
    }
    if members.len() > MAX_BATCH_ENTRIES {
        return Err(SnsError::new(
            "TooManyEntriesInBatchRequest",
            400,
            "The batch request contains more entries than permissible",
        ));
    }
    let entries: Vec<Params> = members.iter().map(|m| params.nested(m)).collect();
    let mut ids = HashSet::new();
    let mut total = 0;
    for entry in &entries {
        let id = entry.get("Id").unwrap_or_default();
        if id.is_empty()
            || id.len() > 80
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(SnsError::new(
                "InvalidBatchEntryId",
                400,
                "The Id of a batch entry in a batch request doesn't abide by the specification",
            ));
        }
        if !ids.insert(id.to_owned()) {
            return Err(SnsError::new(
                "BatchEntryIdsNotDistinct",
                400,
                "Two or more batch entries in the request have the same Id",
            ));
        }
        total += entry.get("Message").map_or(0, str::len);
    }
    if total > MAX_MESSAGE_BYTES {
        return Err(SnsError::new(
            "BatchRequestTooLong",
            400,
            "The length of all the messages put together is more than the limit",
        ));
    }
    // Every entry is appended in order, then all are awaited together.
    let mut pending = Vec::with_capacity(entries.len());
    for entry in &entries {
        let id = entry.get("Id").unwrap_or_default().to_owned();
        let outcome = match read_entry(&topic, entry) {
            Ok(checked) => deliver(ctx, &topic, checked).await,
            Err(e) => Err(e),
        };
        pending.push((id, outcome));
    }
    let (mut successful, mut failed) = (String::new(), String::new());
    for (id, outcome) in pending {
        let result = match outcome {
            Ok(p) => p.durable().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(p) => {
                successful.push_str(&format!("<member>{}{}", el("Id", &id), el("MessageId", &p.message_id)));
                if let Some(seq) = &p.sequence_number {
                    successful.push_str(&el("SequenceNumber", seq));
                }
                successful.push_str("</member>");
            }
            Err(e) => failed.push_str(&format!(
                "<member>{}{}{}{}</member>",
                el("Id", &id),
                el("Code", e.code),
                el("Message", &e.message),
                el("SenderFault", if e.status < 500 { "true" } else { "false" })
            )),
        }
    }
    Ok(format!("<Successful>{successful}</Successful><Failed>{failed}</Failed>"))
}

/// A message written to its queues, waiting for the disk.
struct PendingDelivery {
    published: Published,
    writes: Vec<Write>,
}

enum Write {
    Queue(String, PendingEnqueue),
    Routed(PendingPublish),
}

impl PendingDelivery {
    /// Waits until every delivery is durable. A queue refusing the message (a full one) is the
    /// subscriber's loss, not the publisher's error, as in SNS; a failing disk is an error.
    async fn durable(self) -> SnsResult<Published> {
        // Every write was issued before the first wait, so waiting in turn costs what the
        // slowest fsync costs. Each is finished, so none is left invisible, whatever fails.
        let mut failed = None;
        for write in self.writes {
            match write {
                Write::Queue(queue, p) => match p.finish().await {
                    Ok(results) => {
                        for e in results.into_iter().filter_map(Result::err) {
                            tracing::warn!(%queue, error = %e, "SNS delivery refused by its queue; dropped");
                        }
                    }
                    Err(e) => {
                        failed.get_or_insert(SnsError::internal(format!(
                            "The delivery to queue {queue} failed: {e}"
                        )));
                    }
                },
                Write::Routed(p) => match p.durable().await {
                    Ok(_) => {}
                    Err(PublishError::Queue(e @ QueueError::Overflow(_))) => {
                        tracing::warn!(error = %e, "SNS delivery refused by a bound queue; dropped");
                    }
                    Err(e) => {
                        failed.get_or_insert(SnsError::internal(format!("A delivery failed: {e}")));
                    }
                },
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(self.published),
        }
    }
}

/// The next FIFO sequence number: increasing across the process's life and restarts (it
/// starts from the clock in nanoseconds), as 20 digits.
fn next_sequence() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let previous = LAST.fetch_max(now, Ordering::Relaxed);
    let next = if previous >= now { LAST.fetch_add(1, Ordering::Relaxed) + 1 } else { now };
    format!("{next:020}")
}

/// The router's view of the attributes: numbers as numbers, string arrays as arrays.
fn headers(attributes: &[Attribute]) -> Vec<(String, Value)> {
    fn json_value(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::String(s) => Value::Text(s.clone()),
            serde_json::Value::Number(n) => n.as_f64().map_or(Value::Void, Value::F64),
            serde_json::Value::Bool(b) => Value::Bool(*b),
            _ => Value::Void,
        }
    }
    attributes
        .iter()
        .map(|a| {
            let value = match &a.value {
                AttributeValue::Binary(b) => Value::Bytes(Bytes::from(b.clone())),
                AttributeValue::Text(t) if a.data_type.starts_with("Number") => {
                    t.trim().parse::<f64>().map_or_else(|_| Value::Text(t.clone()), Value::F64)
                }
                AttributeValue::Text(t) if a.data_type.starts_with("String.Array") => {
                    match serde_json::from_str::<serde_json::Value>(t) {
                        Ok(serde_json::Value::Array(items)) => {
                            Value::Array(items.iter().map(json_value).collect())
                        }
                        _ => Value::Text(t.clone()),
                    }
                }
                AttributeValue::Text(t) => Value::Text(t.clone()),
            };
            (a.name.clone(), value)
        })
        .collect()
}

/// The attributes as SQS message attributes (SQS has no `String.Array`: it arrives as `String`).
fn sqs_attributes(attributes: &[Attribute]) -> Vec<MessageAttribute> {
    attributes
        .iter()
        .map(|a| MessageAttribute {
            name: a.name.clone(),
            data_type: if a.data_type.starts_with("String.Array") {
                "String".to_owned()
            } else {
                a.data_type.clone()
            },
            value: match &a.value {
                AttributeValue::Text(t) => AttrValue::Text(t.clone()),
                AttributeValue::Binary(b) => AttrValue::Binary(Bytes::from(b.clone())),
            },
        })
        .collect()
}

fn envelope_attributes(attributes: &[Attribute]) -> BTreeMap<String, EnvelopeAttribute> {
    attributes
        .iter()
        .map(|a| {
            let value = match &a.value {
                AttributeValue::Text(t) => t.clone(),
                AttributeValue::Binary(b) => base64::engine::general_purpose::STANDARD.encode(b),
            };
            (a.name.clone(), EnvelopeAttribute { kind: a.data_type.clone(), value })
        })
        .collect()
}

/// Routes one message through the topic's bindings and appends it to every queue it goes to.
async fn deliver(ctx: &SnsCtx, topic: &Topic, entry: Entry) -> SnsResult<PendingDelivery> {
    let message_id = uuid::Uuid::new_v4().to_string();
    let sequence_number = topic.fifo().then(next_sequence);
    let timestamp = envelope::timestamp_now();
    let topic_arn = ctx.topic_arn(&topic.name);
    let router_headers = headers(&entry.attributes);
    let bindings = ctx
        .broker
        .router()
        .matching_bindings(&topic.name, &router_headers, entry.message.as_bytes())
        .map_err(routing_error)?;
    let shown = envelope_attributes(&entry.attributes);
    let common = Common {
        message_id: &message_id,
        sequence_number: sequence_number.as_deref(),
        topic_arn: &topic_arn,
        subject: entry.subject.as_deref(),
        message: &entry.message,
        timestamp: &timestamp,
        attributes: &shown,
        region: &ctx.config.region,
        host: &ctx.host,
    };
    let base = NewMessage {
        group_id: entry.group_id.clone(),
        dedup_id: entry.dedup_id.clone(),
        ..NewMessage::default()
    };
    let raw = |base: &NewMessage| {
        let mut m = NewMessage {
            body: Bytes::from(entry.message.clone()),
            attributes: sqs_attributes(&entry.attributes),
            ..base.clone()
        };
        m.envelope.exchange = Some(topic.name.clone());
        m.envelope.routing_key = Some(String::new());
        m
    };
    let mut writes = Vec::with_capacity(bindings.len());
    for binding in bindings {
        if let Some(subscription) = Subscription::of_binding(&binding) {
            let msg = if subscription.raw() {
                raw(&base)
            } else {
                let mut m = NewMessage {
                    body: Bytes::from(envelope::render(&common, &ctx.subscription_arn(&subscription))),
                    ..base.clone()
                };
                m.envelope.exchange = Some(topic.name.clone());
                m.envelope.routing_key = Some(String::new());
                m
            };
            if let Some(write) = to_subscription(ctx, &subscription, msg).await {
                writes.push(write);
            }
            continue;
        }
        let msg = raw(&base);
        let begun = match &binding.destination {
            Destination::Queue(queue) => match ctx.broker.queues().begin_enqueue(queue, vec![msg]).await {
                Ok(p) => Some(Write::Queue(queue.clone(), p)),
                Err(e) => {
                    tracing::debug!(%queue, error = %e, "queue bound to a topic took no delivery");
                    None
                }
            },
            Destination::Exchange(exchange) => {
                ctx.broker.begin_publish(exchange, "", msg).await.ok().map(Write::Routed)
            }
            Destination::Topic(stream) => {
                ctx.broker.begin_publish("", stream, msg).await.ok().map(Write::Routed)
            }
        };
        writes.extend(begun);
    }
    Ok(PendingDelivery { published: Published { message_id, sequence_number }, writes })
}

/// Appends a subscription's delivery to its queue, or to its dead-letter queue when the queue
/// is gone or refuses it; `None` when it is dropped.
async fn to_subscription(ctx: &SnsCtx, subscription: &Subscription, msg: NewMessage) -> Option<Write> {
    let queues = ctx.broker.queues();
    let refused = match queues.begin_enqueue(&subscription.queue, vec![msg.clone()]).await {
        Ok(p) if p.results().iter().all(Result::is_ok) => {
            return Some(Write::Queue(subscription.queue.clone(), p));
        }
        Ok(p) => {
            // Already appended or refused as a whole; finishing it settles the refusal.
            let reason = p.results().iter().find_map(|r| r.as_ref().err().map(ToString::to_string));
            if let Err(e) = p.finish().await {
                tracing::warn!(queue = %subscription.queue, error = %e, "refused SNS delivery not settled");
            }
            reason.unwrap_or_default()
        }
        Err(e) => e.to_string(),
    };
    let dead_letter = subscription.dead_letter_arn().and_then(|arn| {
        names::queue_name_from_arn(&arn, &ctx.config.region, &ctx.config.account_id).map(str::to_owned)
    });
    let Some(dlq) = dead_letter else {
        tracing::warn!(queue = %subscription.queue, reason = %refused, "SNS delivery dropped: its queue did not take it and the subscription has no RedrivePolicy");
        return None;
    };
    match queues.begin_enqueue(&dlq, vec![msg]).await {
        Ok(p) => {
            tracing::debug!(queue = %subscription.queue, dead_letter = %dlq, reason = %refused, "SNS delivery sent to the subscription's dead-letter queue");
            Some(Write::Queue(dlq, p))
        }
        Err(e) => {
            tracing::warn!(dead_letter = %dlq, error = %e, "SNS delivery dropped: the dead-letter queue did not take it either");
            None
        }
    }
}
