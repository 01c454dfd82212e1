//! Dispatch on (class, method), and one module per AMQP class.
//!
//! To add a method: a function in its class's module taking the [`Session`], the channel
//! number and the decoded method, returning `Result<(), AmqpError>`; and an arm in [`dispatch`].
//! A `ChannelError` closes the method's channel, a `ConnectionError` the connection.
//!
//! `connection.rs` has already checked the frame may be served at all (handshake order,
//! channel number in range, channel open, no content pending) before it calls [`dispatch`].
//! A method is served to its end before the next frame is read, so the effects of one
//! channel's methods happen in the order they were sent.

pub(crate) mod basic;
mod channel;
mod confirm;
pub(crate) mod connection;
mod exchange;
mod queue;
mod stream;
mod tx;

use amq_protocol::protocol::{
    AMQPClass, basic as b, channel as ch, confirm as cf, connection as conn, exchange as x, queue as q,
    tx as t,
};

use crate::channel::Content;
use crate::errors::{AmqpError, ConnectionError, MethodId, ReplyCode};
use crate::frame::method_name;
use crate::session::Session;
use ferry_broker::telemetry::Protocol;

/// Serves one method frame on `channel`, counting how long it took under the method's name.
pub(crate) async fn dispatch(
    session: &mut Session,
    channel: u16,
    id: MethodId,
    method: AMQPClass,
) -> Result<(), AmqpError> {
    let started = std::time::Instant::now();
    let result = serve(session, channel, id, method).await;
    let name = method_name(id).unwrap_or("unknown");
    session.broker().telemetry().observe_request(Protocol::Amqp, name, started.elapsed());
    result
}

async fn serve(
    session: &mut Session,
    channel: u16,
    id: MethodId,
    method: AMQPClass,
) -> Result<(), AmqpError> {
    match method {
        AMQPClass::Connection(conn::AMQPMethod::StartOk(m)) => connection::start_ok(session, m),
        AMQPClass::Connection(conn::AMQPMethod::TuneOk(m)) => connection::tune_ok(session, m),
        AMQPClass::Connection(conn::AMQPMethod::Open(m)) => connection::open(session, m),
        AMQPClass::Connection(conn::AMQPMethod::Close(m)) => connection::close(session, m).await,
        AMQPClass::Connection(conn::AMQPMethod::CloseOk(_)) => connection::close_ok(session),
        AMQPClass::Connection(conn::AMQPMethod::UpdateSecret(m)) => connection::update_secret(session, m),
        AMQPClass::Channel(ch::AMQPMethod::Open(_)) => channel::open(session, channel),
        AMQPClass::Channel(ch::AMQPMethod::Close(m)) => channel::close(session, channel, m).await,
        AMQPClass::Channel(ch::AMQPMethod::CloseOk(_)) => channel::close_ok(session, channel),
        AMQPClass::Channel(ch::AMQPMethod::Flow(m)) => channel::flow(session, channel, m).await,
        AMQPClass::Channel(ch::AMQPMethod::FlowOk(_)) => Ok(()),
        AMQPClass::Queue(q::AMQPMethod::Declare(m)) => queue::declare(session, channel, m).await,
        AMQPClass::Queue(q::AMQPMethod::Bind(m)) => queue::bind(session, channel, m).await,
        AMQPClass::Queue(q::AMQPMethod::Unbind(m)) => queue::unbind(session, channel, m).await,
        AMQPClass::Exchange(x::AMQPMethod::Declare(m)) => exchange::declare(session, channel, m),
        AMQPClass::Exchange(x::AMQPMethod::Delete(m)) => exchange::delete(session, channel, m),
        AMQPClass::Exchange(x::AMQPMethod::Bind(m)) => exchange::bind(session, channel, m),
        AMQPClass::Exchange(x::AMQPMethod::Unbind(m)) => exchange::unbind(session, channel, m),
        AMQPClass::Queue(q::AMQPMethod::Delete(m)) => queue::delete(session, channel, m).await,
        AMQPClass::Queue(q::AMQPMethod::Purge(m)) => queue::purge(session, channel, m).await,
        AMQPClass::Basic(b::AMQPMethod::Qos(m)) => basic::qos(session, channel, m),
        AMQPClass::Basic(b::AMQPMethod::Consume(m)) => basic::consume(session, channel, m).await,
        AMQPClass::Basic(b::AMQPMethod::Cancel(m)) => basic::cancel(session, channel, m),
        AMQPClass::Basic(b::AMQPMethod::Publish(m)) => basic::publish(session, channel, m),
        AMQPClass::Basic(b::AMQPMethod::Get(m)) => basic::get(session, channel, m).await,
        AMQPClass::Basic(b::AMQPMethod::Ack(m)) => basic::ack(session, channel, m).await,
        AMQPClass::Basic(b::AMQPMethod::Nack(m)) => {
            basic::settle_back(session, channel, id, m.delivery_tag, m.multiple, m.requeue).await
        }
        AMQPClass::Basic(b::AMQPMethod::Reject(m)) => {
            basic::settle_back(session, channel, id, m.delivery_tag, false, m.requeue).await
        }
        AMQPClass::Basic(b::AMQPMethod::Recover(m)) => {
            basic::recover(session, channel, m.requeue, true).await
        }
        AMQPClass::Basic(b::AMQPMethod::RecoverAsync(m)) => {
            basic::recover(session, channel, m.requeue, false).await
        }
        AMQPClass::Confirm(cf::AMQPMethod::Select(m)) => confirm::select(session, channel, m),
        AMQPClass::Tx(t::AMQPMethod::Select(_)) => tx::select(session, channel),
        AMQPClass::Tx(t::AMQPMethod::Commit(_)) => tx::commit(session, channel).await,
        AMQPClass::Tx(t::AMQPMethod::Rollback(_)) => tx::rollback(session, channel),
        // What only the server sends (connection.start, basic.deliver, every *-ok but the
        // client's own) is a client's mistake; what ferry lacks yet is not implemented.
        other => Err(not_served(id, &other).into()),
    }
}

/// `channel.open` on a number not in use.
pub(crate) async fn channel_open(session: &mut Session, channel: u16) -> Result<(), AmqpError> {
    channel::open(session, channel)
}

/// Writes what a consumer task pushed to the connection.
pub(crate) async fn pushed(session: &mut Session, pushed: crate::consumer::Pushed) {
    basic::pushed(session, pushed).await
}

/// Serves a message whose content is complete.
pub(crate) async fn publish_content(
    session: &mut Session,
    channel: u16,
    content: Content,
) -> Result<(), AmqpError> {
    basic::published(session, channel, content).await
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
