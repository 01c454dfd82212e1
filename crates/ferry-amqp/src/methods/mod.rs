//! Dispatch on (class, method), and one module per AMQP class.
//!
//! To add a method: a function in its class's module taking the [`Session`], the channel
//! number and the decoded method, returning `Result<(), AmqpError>`; and an arm in [`dispatch`].
//! A `ChannelError` closes the method's channel, a `ConnectionError` the connection.
//!
//! `connection.rs` has already checked the frame may be served at all (handshake order,
//! channel number in range, channel open, no content pending) before it calls [`dispatch`].

mod basic;
mod channel;
pub(crate) mod connection;

use amq_protocol::protocol::{AMQPClass, basic as b, channel as ch, connection as conn};

use crate::channel::Content;
use crate::errors::{AmqpError, ConnectionError, MethodId, ReplyCode};
use crate::frame::method_name;
use crate::session::Session;

/// Serves one method frame on `channel`.
pub(crate) fn dispatch(
    session: &mut Session,
    channel: u16,
    id: MethodId,
    method: AMQPClass,
) -> Result<(), AmqpError> {
    match method {
        AMQPClass::Connection(conn::AMQPMethod::StartOk(m)) => connection::start_ok(session, m),
        AMQPClass::Connection(conn::AMQPMethod::TuneOk(m)) => connection::tune_ok(session, m),
        AMQPClass::Connection(conn::AMQPMethod::Open(m)) => connection::open(session, m),
        AMQPClass::Connection(conn::AMQPMethod::Close(m)) => connection::close(session, m),
        AMQPClass::Connection(conn::AMQPMethod::CloseOk(_)) => connection::close_ok(session),
        AMQPClass::Channel(ch::AMQPMethod::Open(_)) => channel::open(session, channel),
        AMQPClass::Channel(ch::AMQPMethod::Close(m)) => channel::close(session, channel, m),
        AMQPClass::Channel(ch::AMQPMethod::CloseOk(_)) => channel::close_ok(session, channel),
        AMQPClass::Channel(ch::AMQPMethod::Flow(m)) => channel::flow(session, channel, m),
        AMQPClass::Channel(ch::AMQPMethod::FlowOk(_)) => Ok(()),
        AMQPClass::Basic(b::AMQPMethod::Publish(m)) => basic::publish(session, channel, m),
        // What only the server sends (connection.start, basic.deliver, every *-ok but the
        // client's own) is a client's mistake; what ferry lacks yet is not implemented.
        other => Err(not_served(id, &other).into()),
    }
}

/// `channel.open` on a number not in use.
pub(crate) fn channel_open(session: &mut Session, channel: u16) -> Result<(), AmqpError> {
    channel::open(session, channel)
}

/// Serves a message whose content is complete.
pub(crate) fn publish_content(
    session: &mut Session,
    channel: u16,
    content: Content,
) -> Result<(), AmqpError> {
    basic::published(session, channel, content)
}

fn not_served(id: MethodId, method: &AMQPClass) -> ConnectionError {
    let name = method_name(id).unwrap_or("unknown method");
    if server_only(method) {
        ConnectionError::new(ReplyCode::CommandInvalid, id, format!("{name} is sent by servers, not clients"))
    } else {
        ConnectionError::new(ReplyCode::NotImplemented, id, format!("{name} is not implemented"))
    }
}

fn server_only(method: &AMQPClass) -> bool {
    matches!(
        method,
        AMQPClass::Connection(
            conn::AMQPMethod::Start(_)
                | conn::AMQPMethod::Secure(_)
                | conn::AMQPMethod::Tune(_)
                | conn::AMQPMethod::OpenOk(_)
                | conn::AMQPMethod::Blocked(_)
                | conn::AMQPMethod::Unblocked(_)
                | conn::AMQPMethod::UpdateSecretOk(_)
        ) | AMQPClass::Channel(ch::AMQPMethod::OpenOk(_))
            | AMQPClass::Basic(
                b::AMQPMethod::QosOk(_)
                    | b::AMQPMethod::ConsumeOk(_)
                    | b::AMQPMethod::Return(_)
                    | b::AMQPMethod::Deliver(_)
                    | b::AMQPMethod::GetOk(_)
                    | b::AMQPMethod::GetEmpty(_)
                    | b::AMQPMethod::RecoverOk(_)
            )
    )
}
