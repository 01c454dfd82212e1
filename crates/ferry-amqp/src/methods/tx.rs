//! The `tx` class: transactions. In transaction mode a channel's publishes and settlements wait
//! until `tx.commit`, which applies them in the order they were made (every publish durable in
//! its queues before `commit-ok`); `tx.rollback` drops them, leaving the deliveries unsettled.
//! A channel is in transaction mode or in confirm mode, never both (406 otherwise, as RabbitMQ).

use amq_protocol::protocol::{AMQPClass, basic, tx};

use crate::channel::{Settlement, Transaction};
use crate::errors::{AmqpError, ChannelError, MethodId, ReplyCode};
use crate::methods::basic as b;
use crate::session::Session;

const SELECT: MethodId = MethodId::new(90, 10);
const COMMIT: MethodId = MethodId::new(90, 20);
const ROLLBACK: MethodId = MethodId::new(90, 30);

/// `tx.select`: the channel enters transaction mode (again: no effect).
pub(crate) fn select(session: &mut Session, id: u16) -> Result<(), AmqpError> {
    if let Some(channel) = session.channels.get_mut(&id) {
        if channel.confirms.is_some() {
            return Err(precondition(SELECT, "cannot switch from confirm to tx mode"));
        }
        channel.tx.get_or_insert_default();
    }
    session.send(id, AMQPClass::Tx(tx::AMQPMethod::SelectOk(tx::SelectOk {})));
    Ok(())
}

/// `tx.commit`: applies what the transaction holds, in order; a new transaction begins.
pub(crate) async fn commit(session: &mut Session, id: u16) -> Result<(), AmqpError> {
    let held = take(session, id, COMMIT)?;
    for content in held.publishes {
        b::publish_now(session, id, content).await?;
    }
    for settlement in held.settlements {
        match settlement {
            Settlement::Ack { tag, multiple } => {
                b::ack_now(session, id, basic::Ack { delivery_tag: tag, multiple }).await?;
            }
            Settlement::Back { method, tag, multiple, requeue } => {
                b::settle_back_now(session, id, method, tag, multiple, requeue).await?;
            }
        }
    }
    session.settle_publishes().await;
    session.send(id, AMQPClass::Tx(tx::AMQPMethod::CommitOk(tx::CommitOk {})));
    Ok(())
}

/// `tx.rollback`: drops what the transaction holds; a new transaction begins.
pub(crate) fn rollback(session: &mut Session, id: u16) -> Result<(), AmqpError> {
    take(session, id, ROLLBACK)?;
    session.send(id, AMQPClass::Tx(tx::AMQPMethod::RollbackOk(tx::RollbackOk {})));
    Ok(())
}

/// Takes the open transaction's contents, leaving an empty one.
fn take(session: &mut Session, id: u16, method: MethodId) -> Result<Transaction, AmqpError> {
    let Some(channel) = session.channels.get_mut(&id) else { return Ok(Transaction::default()) };
    match channel.tx.as_mut() {
        Some(open) => Ok(std::mem::take(open)),
        None => Err(precondition(method, "channel is not transactional")),
    }
}

fn precondition(method: MethodId, text: &str) -> AmqpError {
    ChannelError::new(ReplyCode::PreconditionFailed, method, text).into()
}
