//! Errors of queue operations.

/// Why a queue operation failed. Front-ends map each to their protocol's own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// No queue has that name.
    #[error("queue {0} does not exist")]
    NoSuchQueue(String),
    /// A queue of that name exists with other attributes.
    #[error("queue {0} exists already")]
    QueueExists(String),
    /// The name belonged to a queue deleted moments ago.
    #[error("queue {0} was deleted recently")]
    QueueDeletedRecently(String),
    /// The receipt is malformed, of another queue (or incarnation), or names no delivery.
    #[error("invalid receipt: {0}")]
    InvalidReceipt(String),
    /// The receipt is well-formed and of this queue, but the message was delivered again since:
    /// only the latest receipt settles it, and the message stays leased under that one.
    #[error("receipt {0} is not the latest receipt of its message")]
    ReceiptSuperseded(String),
    /// The message is no longer leased under that receipt.
    #[error("the message is not in flight")]
    ReceiptExpired,
    /// The message is larger than the queue's `max_message_bytes`.
    #[error("message of {size} bytes exceeds the maximum of {max}")]
    MessageTooLarge {
        /// Size of the message.
        size: u64,
        /// The queue's maximum.
        max: u64,
    },
    /// An attribute value is out of range or inconsistent.
    #[error("invalid attribute: {0}")]
    InvalidAttribute(String),
    /// The queue is full and refuses new messages.
    #[error("queue {0} is full")]
    Overflow(String),
    /// A FIFO queue needs a group id on each message.
    #[error("a FIFO queue requires a message group id")]
    FifoRequiresGroupId,
    /// A FIFO queue without content-based deduplication needs a dedup id on each message.
    #[error("a FIFO queue without content-based deduplication requires a deduplication id")]
    DedupIdRequired,
    /// FIFO queues take delays per queue only.
    #[error("a FIFO queue does not accept a per-message delay")]
    DelayNotAllowedOnFifo,
    /// The queue name is empty, too long or has characters outside `[A-Za-z0-9_-]` (and `.fifo`).
    #[error("invalid queue name: {0}")]
    NameInvalid(String),
    /// A move task handle is unknown or the move cannot start.
    #[error("move task: {0}")]
    MoveTask(String),
    /// The queue has an exclusive consumer, or an exclusive subscription was asked for while
    /// it has consumers.
    #[error("queue {0} has an exclusive consumer, or consumers that prevent an exclusive one")]
    ConsumerExclusive(String),
    /// The queue is exclusive to another connection.
    #[error("queue {0} is exclusive to another connection")]
    ExclusiveToAnother(String),
    /// The queue has the most consumers it may have.
    #[error("queue {0} has too many consumers")]
    TooManyConsumers(String),
    /// The log, journal or metadata store failed.
    #[error("storage error: {0}")]
    Storage(String),
}

impl QueueError {
    pub(crate) fn storage(e: impl std::fmt::Display) -> QueueError {
        QueueError::Storage(e.to_string())
    }
}
