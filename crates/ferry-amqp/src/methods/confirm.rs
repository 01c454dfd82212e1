//! The `confirm` class: publisher confirms. In confirm mode every publish on the channel gets a
//! sequence number from 1, and is acknowledged (`basic.ack`) once durable in every queue it was
//! routed to, or refused (`basic.nack`) when a queue would not take it.

use amq_protocol::protocol::{AMQPClass, confirm};

use crate::errors::{AmqpError, ChannelError, MethodId, ReplyCode};
use crate::session::Session;

/// `confirm.select`: the channel enters confirm mode (again: no effect).
pub(crate) fn select(session: &mut Session, id: u16, method: confirm::Select) -> Result<(), AmqpError> {
    if let Some(channel) = session.channels.get_mut(&id) {
        if channel.tx.is_some() {
            let text = "cannot switch from tx to confirm mode";
            return Err(ChannelError::new(ReplyCode::PreconditionFailed, MethodId::new(85, 10), text).into());
        }
        channel.confirms.get_or_insert(0);
    }
    if !method.nowait {
        session.send(id, AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(confirm::SelectOk {})));
    }
    Ok(())
}
