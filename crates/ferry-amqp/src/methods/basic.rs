//! The `basic` class: publishing (content assembly); consuming and acknowledging come with the
//! broker's subscriptions.

use amq_protocol::protocol::basic::Publish;

use crate::channel::Content;
use crate::errors::{AmqpError, ConnectionError, MethodId, ReplyCode};
use crate::session::Session;

const PUBLISH: MethodId = MethodId::new(60, 40);

/// `basic.publish`: the content header and body follow on the channel.
pub(crate) fn publish(session: &mut Session, id: u16, method: Publish) -> Result<(), AmqpError> {
    if let Some(channel) = session.channels.get_mut(&id) {
        channel.start_content(method);
    }
    Ok(())
}

/// A published message is complete. Routing needs the broker's exchanges, which this front-end
/// does not reach yet: the publisher is told so rather than have its message dropped unseen.
pub(crate) fn published(_session: &mut Session, _id: u16, content: Content) -> Result<(), AmqpError> {
    Err(ConnectionError::new(
        ReplyCode::NotImplemented,
        PUBLISH,
        format!(
            "basic.publish to exchange '{}' is not implemented: routing to queues is not available yet",
            content.publish.exchange
        ),
    )
    .into())
}
