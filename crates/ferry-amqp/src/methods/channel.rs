//! The `channel` class: open, close both ways, flow.

use amq_protocol::protocol::{AMQPClass, channel};

use crate::channel::{Channel, ChannelState};
use crate::errors::{AmqpError, ConnectionError, MethodId, ReplyCode};
use crate::session::Session;

const OPEN: MethodId = MethodId::new(20, 10);

/// `channel.open`: the number is free and within `channel_max` (checked by the connection).
pub(crate) fn open(session: &mut Session, id: u16) -> Result<(), AmqpError> {
    if session.channels.contains_key(&id) {
        // RabbitMQ's answer to a client that reuses a number it has not closed.
        return Err(ConnectionError::new(
            ReplyCode::ChannelError,
            OPEN,
            format!("second 'channel.open' seen on channel {id}"),
        )
        .into());
    }
    let channel = Channel::new(id).counted_in(session.broker().telemetry());
    session.channels.insert(id, channel);
    // Tags start again at 1: deadlines noted under this number before belong to another channel.
    session.ack_timeouts.forget_channel(id);
    tracing::debug!(channel = id, "channel opened");
    session.send(id, AMQPClass::Channel(channel::AMQPMethod::OpenOk(channel::OpenOk {})));
    Ok(())
}

/// `channel.close` from the client: the channel ends at once, and so does anything it held.
pub(crate) async fn close(session: &mut Session, id: u16, method: channel::Close) -> Result<(), AmqpError> {
    if method.reply_code != 200 {
        tracing::info!(channel = id, code = method.reply_code, reason = %method.reply_text, "client closed its channel");
    }
    if let Some(mut channel) = session.channels.remove(&id) {
        session.requeue(channel.take_unacked()).await;
    }
    session.send(id, AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {})));
    Ok(())
}

/// `channel.close-ok`: the client acknowledges the broker's `channel.close`; the number is free.
pub(crate) fn close_ok(session: &mut Session, id: u16) -> Result<(), AmqpError> {
    if session.channels.get(&id).is_some_and(|c| c.state == ChannelState::Closing) {
        session.channels.remove(&id);
    }
    Ok(())
}

/// `channel.flow`: the client pauses (`active = false`) or resumes deliveries on the channel.
/// Deliveries that arrive meanwhile wait on the channel (their consumers' prefetch bounds them)
/// and are written, in order, once flow is on again.
pub(crate) async fn flow(session: &mut Session, id: u16, method: channel::Flow) -> Result<(), AmqpError> {
    let mut resumed = Default::default();
    if let Some(channel) = session.channels.get_mut(&id) {
        channel.flow_active = method.active;
        if method.active {
            resumed = std::mem::take(&mut channel.paused);
        }
    }
    let ok = channel::FlowOk { active: method.active };
    session.send(id, AMQPClass::Channel(channel::AMQPMethod::FlowOk(ok)));
    for pushed in resumed {
        super::basic::pushed(session, pushed).await;
    }
    Ok(())
}
