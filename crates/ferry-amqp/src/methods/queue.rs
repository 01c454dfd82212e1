//! The `queue` class: declare, bind, unbind, purge, delete.
//!
//! A declared queue is a ferry queue (a transient one ends with the broker, an auto-delete one
//! with its last consumer, `x-expires` after going unused), with the AMQP flags and arguments
//! recorded among its attributes so that a redeclaration with other ones is refused (406) as
//! RabbitMQ refuses it. Exclusive queues belong to their connection (405 for any other) and
//! are deleted when it closes; the broker keeps the owners.

use std::collections::BTreeMap;

use amq_protocol::protocol::{AMQPClass, queue};
use amq_protocol::types::AMQPValue;
use ferry_broker::queues::service::MAX_MESSAGE_BYTES_LIMIT;
use ferry_broker::queues::{Backoff, CreateOutcome, NackMode, OverflowPolicy, QueueAttributes};

use ferry_broker::routing::{Destination, RoutingError};

use crate::errors::{AmqpError, ChannelError, MethodId, ReplyCode, queue_error, routing_error};
use crate::message;
use crate::session::Session;

const DECLARE: MethodId = MethodId::new(50, 10);
const BIND: MethodId = MethodId::new(50, 20);
const UNBIND: MethodId = MethodId::new(50, 50);
const PURGE: MethodId = MethodId::new(50, 30);
const DELETE: MethodId = MethodId::new(50, 40);

/// RabbitMQ keeps a message until it is consumed; ferry's queues drop messages older than their
/// retention, so an AMQP queue's is a century.
const RETENTION_MS: u64 = 100 * 365 * 24 * 3_600_000;

/// Where ferry records the AMQP flags and arguments of a queue (`QueueAttributes::extra`).
const EXTRA_PREFIX: &str = "amqp.";

/// `queue.declare`: creates the queue, or checks the existing one matches (or, with `passive`,
/// only that it exists). Answers its name and its ready message and consumer counts.
pub(crate) async fn declare(session: &mut Session, id: u16, method: queue::Declare) -> Result<(), AmqpError> {
    let requested = method.queue.as_str();
    let name = if requested.is_empty() {
        if method.passive { last_queue(session, id, DECLARE)? } else { server_named() }
    } else {
        requested.to_owned()
    };
    if !method.passive && !requested.is_empty() && requested.starts_with("amq.") {
        return Err(ChannelError::new(
            ReplyCode::AccessRefused,
            DECLARE,
            format!("queue name '{requested}' contains reserved prefix 'amq.*'"),
        )
        .into());
    }
    check_owner(session, &name, DECLARE)?;
    let queues = std::sync::Arc::clone(session.broker().queues());
    if !method.passive && super::stream::is_stream(&method.arguments) {
        return super::stream::declare(session, id, &method, &name);
    }
    if !queues.exists(&name) && session.broker().stream_exists(&name) {
        if !method.passive && !super::stream::is_stream(&method.arguments) {
            return Err(precondition(
                DECLARE,
                format!(
                    "inequivalent arg 'x-queue-type' for queue '{name}' in vhost '/': current is 'stream'"
                ),
            ));
        }
        super::stream::declared(session, id, method.nowait, &name);
        return Ok(());
    }
    if !method.passive {
        let attributes = attributes(&method)?;
        let owner = method.exclusive.then_some(session.id);
        match session.broker().declare_queue(&name, attributes.clone(), owner).await {
            Ok(CreateOutcome::Created) => {
                tracing::debug!(queue = %name, exclusive = method.exclusive, "queue declared");
            }
            Ok(CreateOutcome::Exists { same_attributes: true }) => {}
            Ok(CreateOutcome::Exists { same_attributes: false }) => {
                let current = queues.queue_attributes(&name).map_err(|e| queue_error(e, DECLARE, &name))?;
                return Err(ChannelError::new(
                    ReplyCode::PreconditionFailed,
                    DECLARE,
                    inequivalent(&name, &attributes, &current),
                )
                .into());
            }
            Err(e) => return Err(queue_error(e, DECLARE, &name)),
        }
    }
    let stats = queues.queue_stats(&name).map_err(|e| queue_error(e, DECLARE, &name))?;
    let consumers = queues.consumer_count(&name);
    if let Some(channel) = session.channels.get_mut(&id) {
        channel.last_queue = Some(name.clone());
    }
    if !method.nowait {
        let ok = queue::DeclareOk {
            queue: name.as_str().into(),
            message_count: u32::try_from(stats.ready).unwrap_or(u32::MAX),
            consumer_count: u32::try_from(consumers).unwrap_or(u32::MAX),
        };
        session.send(id, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)));
    }
    Ok(())
}

/// `queue.delete`: with `if-unused` only without consumers, with `if-empty` only without
/// messages waiting (unacknowledged deliveries go with the queue). Deleting a queue that does not exist succeeds, as in RabbitMQ.
pub(crate) async fn delete(session: &mut Session, id: u16, method: queue::Delete) -> Result<(), AmqpError> {
    let name = named(session, id, method.queue.as_str(), DELETE)?;
    check_owner(session, &name, DELETE)?;
    let queues = std::sync::Arc::clone(session.broker().queues());
    let message_count = match queues.queue_stats(&name) {
        Ok(stats) => {
            if method.if_unused && queues.consumer_count(&name) > 0 {
                return Err(precondition(DELETE, format!("queue '{name}' in vhost '/' in use")));
            }
            // Deliveries not yet acknowledged do not count, as in RabbitMQ (only ready messages
            // do); delayed ones do, since here they wait inside the queue.
            if method.if_empty && stats.ready + stats.delayed > 0 {
                return Err(precondition(DELETE, format!("queue '{name}' in vhost '/' is not empty")));
            }
            match session.broker().delete_queue(&name).await {
                Ok(()) | Err(ferry_broker::queues::QueueError::NoSuchQueue(_)) => {}
                Err(e) => return Err(queue_error(e, DELETE, &name)),
            }
            stats.ready
        }
        Err(_) if session.broker().stream_exists(&name) => {
            if let Err(e) = session.broker().topics().delete_topic(&name) {
                tracing::debug!(stream = %name, error = %e, "stream already gone");
            }
            0
        }
        Err(_) => 0,
    };
    if !method.nowait {
        let ok = queue::DeleteOk { message_count: u32::try_from(message_count).unwrap_or(u32::MAX) };
        session.send(id, AMQPClass::Queue(queue::AMQPMethod::DeleteOk(ok)));
    }
    Ok(())
}

/// `queue.purge`: drops every ready message; answers how many.
pub(crate) async fn purge(session: &mut Session, id: u16, method: queue::Purge) -> Result<(), AmqpError> {
    let name = named(session, id, method.queue.as_str(), PURGE)?;
    check_owner(session, &name, PURGE)?;
    let queues = session.broker().queues();
    let stats = queues.queue_stats(&name).map_err(|e| queue_error(e, PURGE, &name))?;
    queues.purge(&name).await.map_err(|e| queue_error(e, PURGE, &name))?;
    if !method.nowait {
        let ok = queue::PurgeOk { message_count: u32::try_from(stats.ready).unwrap_or(u32::MAX) };
        session.send(id, AMQPClass::Queue(queue::AMQPMethod::PurgeOk(ok)));
    }
    Ok(())
}

/// `queue.bind`: messages the exchange routes with this key (or these headers) reach the queue.
/// The binding is kept across restarts only when the queue is durable too.
pub(crate) async fn bind(session: &mut Session, id: u16, method: queue::Bind) -> Result<(), AmqpError> {
    let name = named(session, id, method.queue.as_str(), BIND)?;
    check_owner(session, &name, BIND)?;
    let attributes =
        session.broker().queues().queue_attributes(&name).map_err(|e| queue_error(e, BIND, &name))?;
    let router = session.broker().router();
    let (exchange, key, arguments) =
        (method.exchange.as_str(), method.routing_key.as_str(), message::table(&method.arguments));
    let bound = if attributes.durable {
        router.bind(exchange, Destination::Queue(name), key, arguments)
    } else {
        router.bind_transient(exchange, Destination::Queue(name), key, arguments)
    };
    bound.map_err(|e| routing_error(e, BIND))?;
    if !method.nowait {
        session.send(id, AMQPClass::Queue(queue::AMQPMethod::BindOk(queue::BindOk {})));
    }
    Ok(())
}

/// `queue.unbind`: removes the binding equal to these parts (none there, or no such exchange:
/// success, as RabbitMQ answers, so clients may unbind from what an auto-delete took away).
pub(crate) async fn unbind(session: &mut Session, id: u16, method: queue::Unbind) -> Result<(), AmqpError> {
    let name = named(session, id, method.queue.as_str(), UNBIND)?;
    check_owner(session, &name, UNBIND)?;
    let router = session.broker().router();
    match router.unbind(
        method.exchange.as_str(),
        Destination::Queue(name),
        method.routing_key.as_str(),
        message::table(&method.arguments),
    ) {
        Ok(()) | Err(RoutingError::ExchangeNotFound { .. }) => {}
        Err(e) => return Err(routing_error(e, UNBIND)),
    }
    session.send(id, AMQPClass::Queue(queue::AMQPMethod::UnbindOk(queue::UnbindOk {})));
    Ok(())
}

/// The queue a method names: `""` is the one last declared on the channel.
pub(crate) fn named(session: &Session, id: u16, queue: &str, method: MethodId) -> Result<String, AmqpError> {
    if queue.is_empty() { last_queue(session, id, method) } else { Ok(queue.to_owned()) }
}

fn last_queue(session: &Session, id: u16, method: MethodId) -> Result<String, AmqpError> {
    session.channels.get(&id).and_then(|c| c.last_queue.clone()).ok_or_else(|| {
        ChannelError::new(ReplyCode::NotFound, method, "no previously declared queue on this channel").into()
    })
}

/// Refuses a queue another connection holds exclusively (RabbitMQ's 405).
pub(crate) fn check_owner(session: &Session, queue: &str, method: MethodId) -> Result<(), AmqpError> {
    session.broker().check_owner(queue, Some(session.id)).map_err(|e| queue_error(e, method, queue))
}

fn precondition(method: MethodId, text: String) -> AmqpError {
    ChannelError::new(ReplyCode::PreconditionFailed, method, text).into()
}

/// A name of RabbitMQ's shape for a server-named queue: `amq.gen-` and 22 random characters.
fn server_named() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits: u128 = rand::random();
    let mut name = String::from("amq.gen-");
    for _ in 0..22 {
        name.push(ALPHABET[(bits & 63) as usize] as char);
        bits >>= 6;
    }
    name
}

/// The delivery limit of a quorum queue declared without `x-delivery-limit`, as in RabbitMQ 4.
const QUORUM_DELIVERY_LIMIT: u32 = 20;

/// The queue attributes a declaration asks for: the arguments ferry's engine implements are
/// mapped onto it, every flag and argument is recorded for later comparison.
fn attributes(method: &queue::Declare) -> Result<QueueAttributes, AmqpError> {
    let mut attributes = QueueAttributes {
        retention_ms: RETENTION_MS,
        max_message_bytes: MAX_MESSAGE_BYTES_LIMIT,
        durable: method.durable,
        auto_delete: method.auto_delete,
        ..QueueAttributes::default()
    };
    let (mut overflow_given, mut quorum, mut delivery_limit) = (false, false, None);
    let (mut retry_type, mut retry_min, mut retry_max) = (None, None, None);
    let mut extra = BTreeMap::new();
    extra.insert(format!("{EXTRA_PREFIX}durable"), method.durable.to_string());
    extra.insert(format!("{EXTRA_PREFIX}exclusive"), method.exclusive.to_string());
    extra.insert(format!("{EXTRA_PREFIX}auto_delete"), method.auto_delete.to_string());
    for (key, value) in method.arguments.inner() {
        let key = key.as_str();
        extra.insert(format!("{EXTRA_PREFIX}arg.{key}"), render(value));
        match key {
            "x-message-ttl" => attributes.message_ttl_ms = Some(non_negative(key, value)?),
            "x-expires" => {
                let expires = non_negative(key, value)?;
                if expires == 0 {
                    return Err(invalid_arg(key, "must be at least 1"));
                }
                attributes.expires_ms = Some(expires);
            }
            "x-max-length" => attributes.max_length = Some(non_negative(key, value)?),
            "x-max-length-bytes" => attributes.max_bytes = Some(non_negative(key, value)?),
            // RabbitMQ counts the deliveries that came back: a limit of N allows N + 1 deliveries.
            "x-delivery-limit" => {
                delivery_limit = Some(u32::try_from(non_negative(key, value)?).unwrap_or(u32::MAX - 1))
            }
            "x-max-priority" => {
                let max = non_negative(key, value)?;
                if !(1..=255).contains(&max) {
                    return Err(invalid_arg(key, "must be between 1 and 255"));
                }
                attributes.max_priority = Some(max as u8);
            }
            "x-message-deduplication" => {
                attributes.deduplicate = match value {
                    AMQPValue::Boolean(b) => *b,
                    _ => return Err(invalid_arg(key, "must be a boolean")),
                }
            }
            // The deduplication plugin's name for how long an id is remembered, in milliseconds.
            "x-cache-ttl" => attributes.dedup_window_ms = non_negative(key, value)?.max(1),
            "x-single-active-consumer" => {
                attributes.single_active_consumer = match value {
                    AMQPValue::Boolean(b) => *b,
                    _ => return Err(invalid_arg(key, "must be a boolean")),
                }
            }
            "x-delayed-retry-type" => {
                let kind = text(key, value)?;
                if !RETRY_TYPES.contains(&kind.as_str()) {
                    return Err(invalid_arg(key, "must be disabled, all, failed or returned"));
                }
                retry_type = Some(kind);
            }
            "x-delayed-retry-min" => retry_min = Some(positive(key, value)?),
            "x-delayed-retry-max" => retry_max = Some(positive(key, value)?),
            "x-consumer-timeout" => {
                positive(key, value)?;
            }
            "x-dead-letter-exchange" => attributes.dead_letter_exchange = Some(text(key, value)?),
            "x-dead-letter-routing-key" => attributes.dead_letter_routing_key = Some(text(key, value)?),
            "x-overflow" => {
                overflow_given = true;
                attributes.overflow = match text(key, value)?.as_str() {
                    "drop-head" => OverflowPolicy::DropOldest,
                    "reject-publish" => OverflowPolicy::RejectNew,
                    "reject-publish-dlx" => OverflowPolicy::RejectNewDeadLetter,
                    _ => {
                        return Err(invalid_arg(
                            key,
                            "must be drop-head, reject-publish or reject-publish-dlx",
                        ));
                    }
                }
            }
            "x-queue-type" => match text(key, value)?.as_str() {
                "classic" => {}
                "quorum" => quorum = true,
                other => {
                    return Err(invalid_arg(
                        key,
                        &format!("'{other}' is not supported; use classic or quorum"),
                    ));
                }
            },
            _ => {}
        }
    }
    // A length limit without x-overflow drops the head, as in RabbitMQ; a dropped head is
    // dead-lettered when the queue has a dead-letter exchange.
    if !overflow_given && (attributes.max_length.is_some() || attributes.max_bytes.is_some()) {
        attributes.overflow = OverflowPolicy::DropOldest;
    }
    if attributes.overflow == OverflowPolicy::DropOldest && attributes.dead_letter_exchange.is_some() {
        attributes.overflow = OverflowPolicy::DeadLetterOldest;
    }
    attributes.retry_backoff = delayed_retry(retry_type.as_deref(), retry_min, retry_max)?;
    // Quorum queues have a delivery limit of 20 unless told otherwise (RabbitMQ 4).
    let limit = delivery_limit.or(quorum.then_some(QUORUM_DELIVERY_LIMIT));
    attributes.max_deliveries = limit.map(|n| n + 1);
    attributes.extra = extra;
    Ok(attributes)
}

/// Names the first flag or argument in which a redeclaration differs, in RabbitMQ's words.
fn inequivalent(queue: &str, asked: &QueueAttributes, current: &QueueAttributes) -> String {
    let keys = asked.extra.keys().chain(current.extra.keys());
    for key in keys {
        let (a, c) = (asked.extra.get(key), current.extra.get(key));
        if a != c {
            let what = key.trim_start_matches(EXTRA_PREFIX).trim_start_matches("arg.");
            return format!(
                "inequivalent arg '{what}' for queue '{queue}' in vhost '/': received {} but current is {}",
                a.map_or("none".to_owned(), |v| format!("'{v}'")),
                c.map_or("none".to_owned(), |v| format!("'{v}'")),
            );
        }
    }
    format!("queue '{queue}' in vhost '/' exists with other attributes")
}

fn render(value: &AMQPValue) -> String {
    match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.to_string(),
        other => {
            crate::message::from_amqp(other).as_i64().map_or_else(|| format!("{other:?}"), |n| n.to_string())
        }
    }
}

fn non_negative(key: &str, value: &AMQPValue) -> Result<u64, AmqpError> {
    crate::message::from_amqp(value)
        .as_i64()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| invalid_arg(key, "must be a non-negative integer"))
}

fn positive(key: &str, value: &AMQPValue) -> Result<u64, AmqpError> {
    match non_negative(key, value)? {
        0 => Err(invalid_arg(key, "must be at least 1")),
        n => Ok(n),
    }
}

/// The kinds of return `x-delayed-retry-type` delays: none, every one, failed deliveries
/// (`basic.reject`, a channel or connection closed with deliveries), explicit returns (`basic.nack`,
/// `basic.recover`).
const RETRY_TYPES: [&str; 4] = ["disabled", "all", "failed", "returned"];
/// Longest delayed retry when `x-delayed-retry-max` is not given (about 49 days).
const RETRY_MAX_MS: u64 = u32::MAX as u64;

/// The backoff of RabbitMQ 4.3's quorum queue delayed retry: a returned message is ready again
/// after `min(x-delayed-retry-min * deliveries, x-delayed-retry-max)`.
fn delayed_retry(
    kind: Option<&str>,
    min: Option<u64>,
    max: Option<u64>,
) -> Result<Option<Backoff>, AmqpError> {
    if kind.is_none_or(|k| k == "disabled") {
        return Ok(None);
    }
    let Some(min) = min else {
        return Err(invalid_arg(
            "x-delayed-retry-min",
            "is required when x-delayed-retry-type is not disabled",
        ));
    };
    let max = max.unwrap_or(RETRY_MAX_MS.max(min));
    if max < min {
        return Err(invalid_arg("x-delayed-retry-max", "must be at least x-delayed-retry-min"));
    }
    Ok(Some(Backoff { base_ms: min, cap_ms: max, jitter: false, linear: true }))
}

/// How a delivery goes back to its queue: after the queue's delayed retry when its
/// `x-delayed-retry-type` covers this kind of return (`failed`: a reject or a closed channel;
/// otherwise a nack or a recover), at once otherwise.
pub(crate) fn requeue_mode(attributes: &QueueAttributes, failed: bool) -> NackMode {
    if attributes.retry_backoff.is_none() {
        return NackMode::Requeue;
    }
    let kind = attributes.extra.get(&format!("{EXTRA_PREFIX}arg.x-delayed-retry-type"));
    match kind.map(String::as_str) {
        Some("all") => NackMode::Backoff,
        Some("failed") if failed => NackMode::Backoff,
        Some("returned") if !failed => NackMode::Backoff,
        _ => NackMode::Requeue,
    }
}

/// The queue's `x-consumer-timeout` argument, in milliseconds (checked at its declaration).
pub(crate) fn consumer_timeout_ms(attributes: &QueueAttributes) -> Option<u64> {
    attributes.extra.get(&format!("{EXTRA_PREFIX}arg.x-consumer-timeout")).and_then(|v| v.parse().ok())
}

fn text(key: &str, value: &AMQPValue) -> Result<String, AmqpError> {
    match value {
        AMQPValue::LongString(s) => Ok(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Ok(s.to_string()),
        _ => Err(invalid_arg(key, "must be a string")),
    }
}

fn invalid_arg(key: &str, why: &str) -> AmqpError {
    ChannelError::new(ReplyCode::PreconditionFailed, DECLARE, format!("invalid arg '{key}': {why}")).into()
}

/// The arguments of a declaration as a table (for tests).
#[cfg(test)]
fn declare_with(arguments: &[(&str, AMQPValue)]) -> queue::Declare {
    let mut table = amq_protocol::types::FieldTable::default();
    for (k, v) in arguments {
        table.insert((*k).into(), v.clone());
    }
    queue::Declare { queue: "q".into(), durable: true, arguments: table, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_map_onto_the_queue_engine() {
        let declare = declare_with(&[
            ("x-message-ttl", AMQPValue::LongInt(60_000)),
            ("x-max-length", AMQPValue::LongLongInt(10)),
            ("x-overflow", AMQPValue::LongString("drop-head".into())),
            ("x-dead-letter-exchange", AMQPValue::LongString("dlx".into())),
            ("x-max-priority", AMQPValue::ShortShortUInt(9)),
        ]);
        let attributes = attributes(&declare).unwrap();
        assert_eq!(attributes.message_ttl_ms, Some(60_000));
        assert_eq!(attributes.max_length, Some(10));
        // drop-head with a dead-letter exchange dead-letters the head instead of dropping it.
        assert_eq!(attributes.overflow, OverflowPolicy::DeadLetterOldest);
        assert_eq!(attributes.dead_letter_exchange.as_deref(), Some("dlx"));
        assert_eq!(attributes.max_priority, Some(9));
        assert_eq!(attributes.extra["amqp.durable"], "true");
        assert_eq!(attributes.extra["amqp.arg.x-message-ttl"], "60000");
    }

    #[test]
    fn delayed_retry_is_a_linear_backoff_applied_to_the_kinds_of_return_it_names() {
        let retry = |kind: &str| {
            attributes(&declare_with(&[
                ("x-delayed-retry-type", AMQPValue::LongString(kind.into())),
                ("x-delayed-retry-min", AMQPValue::LongInt(100)),
                ("x-delayed-retry-max", AMQPValue::LongInt(250)),
            ]))
            .unwrap()
        };
        let all = retry("all");
        assert_eq!(
            all.retry_backoff,
            Some(Backoff { base_ms: 100, cap_ms: 250, jitter: false, linear: true })
        );
        assert_eq!(
            (requeue_mode(&all, true), requeue_mode(&all, false)),
            (NackMode::Backoff, NackMode::Backoff)
        );
        let failed = retry("failed");
        assert_eq!(
            (requeue_mode(&failed, true), requeue_mode(&failed, false)),
            (NackMode::Backoff, NackMode::Requeue)
        );
        let returned = retry("returned");
        assert_eq!(
            (requeue_mode(&returned, true), requeue_mode(&returned, false)),
            (NackMode::Requeue, NackMode::Backoff)
        );
        let disabled = retry("disabled");
        assert_eq!((&disabled.retry_backoff, requeue_mode(&disabled, true)), (&None, NackMode::Requeue));
    }

    #[test]
    fn delivery_limits_count_returns_and_quorum_queues_default_to_twenty() {
        let limited = attributes(&declare_with(&[("x-delivery-limit", AMQPValue::LongInt(1))])).unwrap();
        assert_eq!(limited.max_deliveries, Some(2));
        let quorum =
            attributes(&declare_with(&[("x-queue-type", AMQPValue::LongString("quorum".into()))])).unwrap();
        assert_eq!(quorum.max_deliveries, Some(21));
        let classic = attributes(&declare_with(&[("x-max-length", AMQPValue::LongInt(5))])).unwrap();
        assert_eq!((classic.max_deliveries, classic.overflow), (None, OverflowPolicy::DropOldest));
    }

    #[test]
    fn a_bad_argument_is_a_precondition_failure() {
        let declare = declare_with(&[("x-message-ttl", AMQPValue::LongInt(-1))]);
        let Err(AmqpError::Channel(e)) = attributes(&declare) else { panic!("accepted") };
        assert_eq!(e.code, ReplyCode::PreconditionFailed);
        let stream = declare_with(&[("x-queue-type", AMQPValue::LongString("stream".into()))]);
        assert!(attributes(&stream).is_err());
    }

    #[test]
    fn a_redeclaration_names_the_flag_that_differs() {
        let durable = attributes(&declare_with(&[])).unwrap();
        let transient = attributes(&queue::Declare { durable: false, ..declare_with(&[]) }).unwrap();
        assert_eq!(
            inequivalent("q", &transient, &durable),
            "inequivalent arg 'durable' for queue 'q' in vhost '/': received 'false' but current is 'true'"
        );
    }

    #[test]
    fn server_names_look_like_rabbitmqs() {
        let name = server_named();
        assert!(name.starts_with("amq.gen-") && name.len() == 30, "{name}");
        assert_ne!(name, server_named());
    }
}
