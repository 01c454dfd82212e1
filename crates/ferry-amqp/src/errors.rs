//! The vocabulary every part of the front-end shares: AMQP reply codes, and the two kinds of
//! error a method can end in — one that closes its channel, one that closes the connection.
//!
//! Handlers return these; `connection` turns them into `channel.close` or `connection.close`
//! with the code, the text and the class and method that failed, as RabbitMQ does.

use std::fmt;

use ferry_broker::broker::PublishError;
use ferry_broker::queues::QueueError;
use ferry_broker::routing::RoutingError;

/// AMQP 0-9-1 reply codes, with the meaning RabbitMQ gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum ReplyCode {
    /// Sent with a successful `close`.
    Success = 200,
    /// A message too large for the receiver (unused by RabbitMQ; it answers 406 instead).
    ContentTooLarge = 311,
    /// A mandatory message that no queue took (`basic.return`).
    NoRoute = 312,
    /// An immediate message with no consumer (`basic.return`; RabbitMQ refuses `immediate`).
    NoConsumers = 313,
    /// The broker closes the connection itself: shutdown or an operator's request.
    ConnectionForced = 320,
    /// A virtual host path the broker does not know (RabbitMQ answers 530 instead).
    InvalidPath = 402,
    /// Credentials refused, or an operation the user may not perform.
    AccessRefused = 403,
    /// The named exchange or queue does not exist.
    NotFound = 404,
    /// An exclusive queue or consumer held by another connection.
    ResourceLocked = 405,
    /// A declaration that disagrees with what exists, or an argument out of range.
    PreconditionFailed = 406,
    /// A frame that is malformed, oversized or of an unknown type.
    FrameError = 501,
    /// A method whose fields cannot be decoded.
    SyntaxError = 502,
    /// A method that is valid but not allowed now (out of order in the handshake, and the like).
    CommandInvalid = 503,
    /// A channel number out of range, or a method on a channel that is not open.
    ChannelError = 504,
    /// A frame that arrives where another kind was due (content without its method, ...).
    UnexpectedFrame = 505,
    /// The broker lacks a resource (memory, channels) to serve the request.
    ResourceError = 506,
    /// An operation the broker refuses on principle: an unknown virtual host, a tuning above its limits.
    NotAllowed = 530,
    /// A method the broker does not implement.
    NotImplemented = 540,
    /// A failure inside the broker.
    InternalError = 541,
}

impl ReplyCode {
    /// The code on the wire.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The name RabbitMQ puts in front of its reply texts (`NOT_FOUND - no queue 'x'`).
    pub fn name(self) -> &'static str {
        match self {
            ReplyCode::Success => "OK",
            ReplyCode::ContentTooLarge => "CONTENT_TOO_LARGE",
            ReplyCode::NoRoute => "NO_ROUTE",
            ReplyCode::NoConsumers => "NO_CONSUMERS",
            ReplyCode::ConnectionForced => "CONNECTION_FORCED",
            ReplyCode::InvalidPath => "INVALID_PATH",
            ReplyCode::AccessRefused => "ACCESS_REFUSED",
            ReplyCode::NotFound => "NOT_FOUND",
            ReplyCode::ResourceLocked => "RESOURCE_LOCKED",
            ReplyCode::PreconditionFailed => "PRECONDITION_FAILED",
            ReplyCode::FrameError => "FRAME_ERROR",
            ReplyCode::SyntaxError => "SYNTAX_ERROR",
            ReplyCode::CommandInvalid => "COMMAND_INVALID",
            ReplyCode::ChannelError => "CHANNEL_ERROR",
            ReplyCode::UnexpectedFrame => "UNEXPECTED_FRAME",
            ReplyCode::ResourceError => "RESOURCE_ERROR",
            ReplyCode::NotAllowed => "NOT_ALLOWED",
            ReplyCode::NotImplemented => "NOT_IMPLEMENTED",
            ReplyCode::InternalError => "INTERNAL_ERROR",
        }
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.name())
    }
}

/// The class and method a close names as the cause: `(0, 0)` when no method caused it
/// (a frame error, a missed heartbeat).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MethodId {
    /// Class id (10 connection, 20 channel, 40 exchange, 50 queue, 60 basic, 85 confirm, 90 tx).
    pub class_id: u16,
    /// Method id within the class.
    pub method_id: u16,
}

impl MethodId {
    /// No method: the fault lies in the framing, or in time.
    pub const NONE: MethodId = MethodId { class_id: 0, method_id: 0 };

    /// The method `class_id.method_id`.
    pub const fn new(class_id: u16, method_id: u16) -> MethodId {
        MethodId { class_id, method_id }
    }
}

/// An error that closes one channel; the connection and its other channels go on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("channel error {code}: {text}")]
pub struct ChannelError {
    /// One of the soft codes (403, 404, 405, 406).
    pub code: ReplyCode,
    /// What went wrong, for a person: the text after `CODE - ` in the `channel.close`.
    pub text: String,
    /// The method that failed.
    pub method: MethodId,
}

impl ChannelError {
    /// A channel error caused by `method`.
    pub fn new(code: ReplyCode, method: MethodId, text: impl Into<String>) -> ChannelError {
        ChannelError { code, text: text.into(), method }
    }

    /// The reply text on the wire, in RabbitMQ's shape: `NOT_FOUND - no queue 'x' in vhost '/'`.
    pub fn reply_text(&self) -> String {
        reply_text(self.code, &self.text)
    }
}

/// An error that closes the whole connection, each of its channels with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("connection error {code}: {text}")]
pub struct ConnectionError {
    /// One of the hard codes (320, 403 in the handshake, 501..541).
    pub code: ReplyCode,
    /// What went wrong, for a person.
    pub text: String,
    /// The method that failed, or [`MethodId::NONE`].
    pub method: MethodId,
}

impl ConnectionError {
    /// A connection error caused by `method` (or [`MethodId::NONE`]).
    pub fn new(code: ReplyCode, method: MethodId, text: impl Into<String>) -> ConnectionError {
        ConnectionError { code, text: text.into(), method }
    }

    /// The reply text on the wire, in RabbitMQ's shape: `FRAME_ERROR - frame of 200000 bytes ...`.
    pub fn reply_text(&self) -> String {
        reply_text(self.code, &self.text)
    }
}

/// How a method fails: its channel or its connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmqpError {
    /// Close the channel the method came on.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// Close the connection.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
}

/// A queue engine error as RabbitMQ would answer it: a missing queue is 404, an exclusive
/// one 403 or 405, a refused argument 406; a failure of the engine itself closes the connection
/// with 541.
pub(crate) fn queue_error(error: QueueError, method: MethodId, queue: &str) -> AmqpError {
    let channel = |code, text: String| AmqpError::Channel(ChannelError::new(code, method, text));
    match error {
        QueueError::NoSuchQueue(_) => {
            channel(ReplyCode::NotFound, format!("no queue '{queue}' in vhost '/'"))
        }
        QueueError::ExclusiveToAnother(_) => channel(
            ReplyCode::ResourceLocked,
            format!("cannot obtain exclusive access to locked queue '{queue}' in vhost '/'"),
        ),
        QueueError::ConsumerExclusive(_) => {
            channel(ReplyCode::AccessRefused, format!("queue '{queue}' in vhost '/' in exclusive use"))
        }
        QueueError::TooManyConsumers(_) => {
            channel(ReplyCode::ResourceLocked, format!("queue '{queue}' in vhost '/' has too many consumers"))
        }
        QueueError::QueueDeletedRecently(_) => channel(
            ReplyCode::ResourceLocked,
            format!("queue '{queue}' in vhost '/' was deleted a moment ago"),
        ),
        QueueError::Storage(text) => {
            // The detail (file paths among it) is for the operator, not the client.
            tracing::error!(%queue, error = %text, "storage failed");
            AmqpError::Connection(ConnectionError::new(
                ReplyCode::InternalError,
                method,
                format!("queue '{queue}' could not store or read a message (the disk is full or failing)"),
            ))
        }
        other => channel(ReplyCode::PreconditionFailed, format!("queue '{queue}' in vhost '/': {other}")),
    }
}

/// A router error as RabbitMQ answers it: a missing exchange 404, a reserved or system one 403,
/// an inequivalent redeclare, a bad argument or an unknown exchange type 406 (as RabbitMQ 3.x and
/// 4.x answer, and pika's own suite checks);
/// a failure of the metadata store closes the connection with 541.
pub(crate) fn routing_error(error: RoutingError, method: MethodId) -> AmqpError {
    let channel = |code, text: String| AmqpError::Channel(ChannelError::new(code, method, text));
    match error {
        RoutingError::ExchangeNotFound { exchange } => {
            channel(ReplyCode::NotFound, format!("no exchange '{exchange}' in vhost '/'"))
        }
        e @ (RoutingError::ReservedName { .. }
        | RoutingError::DefaultExchange { .. }
        | RoutingError::SystemExchange { .. }
        | RoutingError::InternalExchange { .. }) => channel(ReplyCode::AccessRefused, e.to_string()),
        e @ (RoutingError::Corrupt { .. } | RoutingError::Storage(_)) => {
            AmqpError::Connection(ConnectionError::new(ReplyCode::InternalError, method, e.to_string()))
        }
        other => channel(ReplyCode::PreconditionFailed, other.to_string()),
    }
}

/// A publish error other than a full queue (which confirm mode answers with `basic.nack`).
pub(crate) fn publish_error(error: PublishError, method: MethodId, routing_key: &str) -> AmqpError {
    match error {
        PublishError::Routing(e) => routing_error(e, method),
        PublishError::Queue(e) => queue_error(e, method, routing_key),
        other => {
            AmqpError::Connection(ConnectionError::new(ReplyCode::InternalError, method, other.to_string()))
        }
    }
}

/// A reply text fits a short string (255 bytes); a longer one is cut at a character boundary.
fn reply_text(code: ReplyCode, text: &str) -> String {
    let mut full = format!("{} - {text}", code.name());
    if full.len() > 255 {
        let mut end = 255;
        while !full.is_char_boundary(end) {
            end -= 1;
        }
        full.truncate(end);
    }
    full
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_text_is_prefixed_and_fits_a_short_string() {
        let e = ChannelError::new(ReplyCode::NotFound, MethodId::new(50, 10), "no queue 'q' in vhost '/'");
        assert_eq!(e.reply_text(), "NOT_FOUND - no queue 'q' in vhost '/'");
        let long = ConnectionError::new(ReplyCode::FrameError, MethodId::NONE, "é".repeat(300));
        let text = long.reply_text();
        assert!(text.len() <= 255);
        assert!(text.starts_with("FRAME_ERROR - é"));
    }
}
