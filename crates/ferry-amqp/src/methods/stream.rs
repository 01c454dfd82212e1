//! Stream queues (`x-queue-type: stream`): a declare makes a single-partition topic, a consume
//! reads it from its `x-stream-offset` (`first`, `last`, `next`, an offset, or a timestamp) with
//! the channel's prefetch, and settling a delivery only returns its credit: a stream keeps every
//! message until its retention ends, and Kafka clients read the same topic.

use amq_protocol::protocol::{AMQPClass, basic, queue};
use amq_protocol::types::AMQPValue;
use ferry_broker::streams::{StreamError, StreamStart};

use crate::consumer::Consumer;
use crate::errors::{AmqpError, ChannelError, ConnectionError, MethodId, ReplyCode};
use crate::session::Session;

const DECLARE: MethodId = MethodId::new(50, 10);
const CONSUME: MethodId = MethodId::new(60, 20);

/// True when a declare asks for a stream queue.
pub(crate) fn is_stream(arguments: &amq_protocol::types::FieldTable) -> bool {
    matches!(arguments.inner().get("x-queue-type"), Some(AMQPValue::LongString(t)) if t.as_bytes() == b"stream")
        || matches!(arguments.inner().get("x-queue-type"), Some(AMQPValue::ShortString(t)) if t.as_str() == "stream")
}

/// `queue.declare` of a stream: durable, neither exclusive nor auto-delete, as RabbitMQ asks.
pub(crate) fn declare(
    session: &mut Session,
    id: u16,
    method: &queue::Declare,
    name: &str,
) -> Result<(), AmqpError> {
    if !method.durable || method.exclusive || method.auto_delete {
        return Err(ChannelError::new(
            ReplyCode::PreconditionFailed,
            DECLARE,
            format!("stream queue '{name}' in vhost '/' must be durable, not exclusive and not auto-delete"),
        )
        .into());
    }
    if session.broker().queues().queue_stats(name).is_ok() {
        return Err(ChannelError::new(
            ReplyCode::PreconditionFailed,
            DECLARE,
            format!("inequivalent arg 'x-queue-type' for queue '{name}' in vhost '/': received 'stream' but current is 'classic'"),
        )
        .into());
    }
    session.broker().declare_stream(name).map_err(|e| stream_error(e, DECLARE, name))?;
    tracing::debug!(stream = %name, "stream queue declared");
    declared(session, id, method.nowait, name);
    Ok(())
}

/// Answers a declare of the stream `name` (its messages stay, so none counts as ready).
pub(crate) fn declared(session: &mut Session, id: u16, nowait: bool, name: &str) {
    if let Some(channel) = session.channels.get_mut(&id) {
        channel.last_queue = Some(name.to_owned());
    }
    if !nowait {
        let ok = queue::DeclareOk { queue: name.into(), message_count: 0, consumer_count: 0 };
        session.send(id, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)));
    }
}

/// `basic.consume` on a stream: deliveries from the `x-stream-offset` argument (`next` when
/// absent, as in RabbitMQ), each with an `x-stream-offset` header.
pub(crate) fn consume(
    session: &mut Session,
    id: u16,
    method: &basic::Consume,
    name: &str,
    tag: String,
    prefetch: u32,
) -> Result<(), AmqpError> {
    let start = match method.arguments.inner().get("x-stream-offset") {
        None => StreamStart::Next,
        Some(v) => start_of(v).ok_or_else(|| {
            AmqpError::from(ChannelError::new(
                ReplyCode::PreconditionFailed,
                CONSUME,
                "x-stream-offset must be first, last, next, an offset or a timestamp".to_owned(),
            ))
        })?,
    };
    let subscription = session
        .broker()
        .subscribe_stream(name, start, prefetch)
        .map_err(|e| stream_error(e, CONSUME, name))?;
    if !method.nowait {
        let ok = basic::ConsumeOk { consumer_tag: tag.as_str().into() };
        session.send(id, AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(ok)));
    }
    let consumer = Consumer::start_stream(
        subscription,
        name.to_owned(),
        id,
        tag.clone(),
        method.no_ack,
        session.pushed.clone(),
        std::sync::Arc::clone(session.broker().queues()),
    );
    tracing::debug!(channel = id, stream = %name, consumer = %tag, ?start, "stream consumer started");
    if let Some(channel) = session.channels.get_mut(&id) {
        channel.consumers.insert(tag, consumer);
    }
    Ok(())
}

fn start_of(value: &AMQPValue) -> Option<StreamStart> {
    let spec = |s: &str| match s {
        "first" => Some(StreamStart::First),
        "last" => Some(StreamStart::Last),
        "next" => Some(StreamStart::Next),
        _ => None,
    };
    match value {
        AMQPValue::LongString(s) => spec(std::str::from_utf8(s.as_bytes()).ok()?),
        AMQPValue::ShortString(s) => spec(s.as_str()),
        AMQPValue::Timestamp(t) => Some(StreamStart::Timestamp(i64::try_from(*t).ok()?.saturating_mul(1000))),
        other => crate::message::from_amqp(other)
            .as_i64()
            .and_then(|o| u64::try_from(o).ok())
            .map(StreamStart::Offset),
    }
}

fn stream_error(error: StreamError, method: MethodId, name: &str) -> AmqpError {
    match error {
        StreamError::NoSuchStream(_) => {
            ChannelError::new(ReplyCode::NotFound, method, format!("no queue '{name}' in vhost '/'")).into()
        }
        other => {
            ConnectionError::new(ReplyCode::InternalError, method, format!("stream '{name}': {other}")).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_specs_parse_as_rabbitmq_documents_them() {
        assert_eq!(start_of(&AMQPValue::LongString("first".into())), Some(StreamStart::First));
        assert_eq!(start_of(&AMQPValue::LongString("last".into())), Some(StreamStart::Last));
        assert_eq!(start_of(&AMQPValue::LongString("next".into())), Some(StreamStart::Next));
        assert_eq!(start_of(&AMQPValue::LongLongInt(42)), Some(StreamStart::Offset(42)));
        assert_eq!(
            start_of(&AMQPValue::Timestamp(1_700_000_000)),
            Some(StreamStart::Timestamp(1_700_000_000_000))
        );
        assert_eq!(start_of(&AMQPValue::LongString("yesterday".into())), None);
        assert_eq!(start_of(&AMQPValue::LongLongInt(-1)), None);
    }
}
