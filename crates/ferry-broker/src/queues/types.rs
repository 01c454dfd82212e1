//! The queue vocabulary shared with front-ends: attributes, messages, deliveries, outcomes.

use super::error::QueueError;
use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::message::{Envelope, Value};

/// Four days, the default message retention period.
pub const DEFAULT_RETENTION_MS: u64 = 4 * 24 * 3_600_000;
/// The default largest message body accepted, 1 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u32 = 1 << 20;
/// The default visibility timeout (lease) of a received message.
pub const DEFAULT_VISIBILITY_TIMEOUT_MS: u64 = 30_000;
/// The default deduplication window of FIFO queues.
pub const DEFAULT_DEDUP_WINDOW_MS: u64 = 300_000;

/// Retry backoff for nacked messages: `min(cap, base * 2^(deliveries-1))`, or with `linear`
/// `min(cap, base * deliveries)`, with full jitter when set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// Delay after the first failed delivery.
    pub base_ms: u64,
    /// Largest delay.
    pub cap_ms: u64,
    /// Full jitter: the delay is drawn uniformly from `[0, computed]`.
    pub jitter: bool,
    /// The delay grows by `base_ms` per delivery instead of doubling (RabbitMQ's quorum queue
    /// delayed retry).
    #[serde(default)]
    pub linear: bool,
}

/// What happens when an enqueue would exceed `max_length` or `max_bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OverflowPolicy {
    /// The new message is refused with [`super::QueueError::Overflow`].
    #[default]
    RejectNew,
    /// The oldest ready message is dropped (counted in `dropped_total`).
    DropOldest,
    /// The oldest ready message is moved to the dead-letter target (dropped when there is none).
    DeadLetterOldest,
    /// The new message is refused with [`super::QueueError::Overflow`] and moved to the
    /// dead-letter target with reason `maxlen` (dropped when there is none): AMQP's
    /// `reject-publish-dlx`.
    RejectNewDeadLetter,
}

impl OverflowPolicy {
    /// True when a full queue refuses the new message rather than making room for it.
    pub fn refuses_new(self) -> bool {
        matches!(self, OverflowPolicy::RejectNew | OverflowPolicy::RejectNewDeadLetter)
    }
}

/// A queue's configuration. Durations in milliseconds, sizes in bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueAttributes {
    /// Lease given to a received message when the receiver asks for none.
    pub visibility_timeout_ms: u64,
    /// Delay applied to every new message that does not carry its own.
    pub delay_ms: u64,
    /// Messages older than this are removed silently.
    pub retention_ms: u64,
    /// Largest accepted message (body plus attributes).
    pub max_message_bytes: u32,
    /// Long-poll wait used when a receiver gives none.
    pub receive_wait_ms: u64,
    /// Time to live of every message; expired messages are dead-lettered when a target is set.
    pub message_ttl_ms: Option<u64>,
    /// Deliveries after which a message is dead-lettered instead of delivered again.
    pub max_deliveries: Option<u32>,
    /// Name of the dead-letter target queue.
    pub dead_letter: Option<String>,
    /// Exchange dead-letters are published to (`""` is the default exchange); takes precedence
    /// over `dead_letter` and needs a [`crate::queues::DeadLetterRouter`] installed.
    pub dead_letter_exchange: Option<String>,
    /// Routing key of dead-letters published to `dead_letter_exchange`; their own when `None`.
    pub dead_letter_routing_key: Option<String>,
    /// Delay schedule for nacked messages.
    pub retry_backoff: Option<Backoff>,
    /// Most ready messages the queue holds.
    pub max_length: Option<u64>,
    /// Most ready bytes (bodies) the queue holds.
    pub max_bytes: Option<u64>,
    /// What to do when `max_length` or `max_bytes` would be exceeded.
    pub overflow: OverflowPolicy,
    /// Highest priority honoured; `None` makes the queue ignore message priorities.
    pub max_priority: Option<u8>,
    /// First-in-first-out per message group, with deduplication.
    pub fifo: bool,
    /// FIFO: derive the deduplication id from a hash of the body when none is given.
    pub content_based_dedup: bool,
    /// How long a deduplication id is remembered.
    pub dedup_window_ms: u64,
    /// Whether a settlement (ack, nack, lease change) is answered only once its journal record
    /// is on disk. `None`: FIFO queues do (exactly-once processing), standard queues answer at
    /// once and a shared background sync makes it durable within a few milliseconds — a
    /// settlement lost in a crash means one more delivery, never a lost message.
    pub sync_settlements: Option<bool>,
    /// Kept across restarts; a transient queue (false) is deleted when the broker starts.
    pub durable: bool,
    /// Deleted when its last push consumer goes (after it had one).
    pub auto_delete: bool,
    /// Deleted after this long without consumers, receives or redeclares (AMQP `x-expires`).
    pub expires_ms: Option<u64>,
    /// Messages carrying a deduplication id are stored once per `dedup_window_ms` also on a
    /// queue that is not FIFO (AMQP `x-message-deduplication`, with the id in the
    /// `x-deduplication-header` header). FIFO queues always deduplicate.
    pub deduplicate: bool,
    /// Only the oldest push consumer receives; the next takes over when it goes (AMQP
    /// `x-single-active-consumer`).
    pub single_active_consumer: bool,
    /// Opaque redrive-allow policy kept for the front-end.
    pub redrive_allow: Option<String>,
    /// Opaque tags kept for the front-end.
    pub tags: BTreeMap<String, String>,
    /// Other front-end attributes kept verbatim.
    pub extra: BTreeMap<String, String>,
}

impl QueueAttributes {
    /// True when dead-letters go somewhere (a queue or an exchange) instead of being dropped.
    pub fn has_dead_letter_target(&self) -> bool {
        self.dead_letter.is_some() || self.dead_letter_exchange.is_some()
    }

    /// True when settlements wait for their journal record to be durable (see `sync_settlements`).
    pub fn settles_synchronously(&self) -> bool {
        self.sync_settlements.unwrap_or(self.fifo)
    }
}

impl Default for QueueAttributes {
    fn default() -> Self {
        QueueAttributes {
            visibility_timeout_ms: DEFAULT_VISIBILITY_TIMEOUT_MS,
            delay_ms: 0,
            retention_ms: DEFAULT_RETENTION_MS,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            receive_wait_ms: 0,
            message_ttl_ms: None,
            max_deliveries: None,
            dead_letter: None,
            dead_letter_exchange: None,
            dead_letter_routing_key: None,
            retry_backoff: None,
            max_length: None,
            max_bytes: None,
            overflow: OverflowPolicy::RejectNew,
            max_priority: None,
            fifo: false,
            content_based_dedup: false,
            dedup_window_ms: DEFAULT_DEDUP_WINDOW_MS,
            sync_settlements: None,
            durable: true,
            auto_delete: false,
            expires_ms: None,
            single_active_consumer: false,
            deduplicate: false,
            redrive_allow: None,
            tags: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }
}

/// The value of a message attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// A string (also numbers, which travel as their decimal text).
    Text(String),
    /// Raw bytes.
    Binary(Bytes),
    /// A typed value (AMQP headers); its `data_type` label is [`TYPED`].
    Typed(Value),
}

/// The `data_type` of a [`AttrValue::Typed`] attribute (SQS labels all start with
/// `String`, `Number` or `Binary`, so it cannot collide with one).
pub const TYPED: &str = "ferry.typed";

/// A named, typed message attribute.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageAttribute {
    /// Attribute name.
    pub name: String,
    /// Type label kept verbatim, e.g. "String", "Number.int", "Binary.png".
    pub data_type: String,
    /// The value.
    pub value: AttrValue,
}

/// A message to enqueue.
#[derive(Clone, Debug, Default)]
pub struct NewMessage {
    /// The payload.
    pub body: Bytes,
    /// User attributes.
    pub attributes: Vec<MessageAttribute>,
    /// System attributes set by the front-end (e.g. a trace header).
    pub system_attributes: Vec<MessageAttribute>,
    /// Delay before the message becomes receivable; the queue's `delay_ms` when `None`.
    pub delay_ms: Option<u64>,
    /// Priority, honoured up to the queue's `max_priority`.
    pub priority: Option<u8>,
    /// Time to live of this message (the smaller of this and the queue's applies).
    pub ttl_ms: Option<u64>,
    /// FIFO message group.
    pub group_id: Option<String>,
    /// FIFO deduplication id.
    pub dedup_id: Option<String>,
    /// Message id; the engine generates a UUID when `None`.
    pub message_id: Option<String>,
    /// System properties, exchange and routing key.
    pub envelope: Envelope,
}

/// The outcome of one enqueued message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enqueued {
    /// The message id (the original one for a duplicate).
    pub message_id: String,
    /// FIFO sequence number.
    pub sequence_number: Option<u64>,
    /// True when the message was a duplicate inside the dedup window and was not stored again.
    pub duplicate: bool,
}

/// Options of a receive.
#[derive(Clone, Debug, Default)]
pub struct ReceiveOptions {
    /// Most messages returned (at least one is asked for).
    pub max_messages: usize,
    /// Lease; the queue's visibility timeout when `None`.
    pub lease_ms: Option<u64>,
    /// Long-poll wait; the queue's `receive_wait_ms` when `None`.
    pub wait_ms: Option<u64>,
    /// FIFO receive-request attempt id, kept for the front-end's retry semantics.
    pub receive_request_attempt_id: Option<String>,
}

/// Names one delivery of a leased message: the queue's incarnation, the message's offset and
/// its delivery count. Settling takes it as it is; front-ends that hand receipts out as text
/// (SQS's receipt handles) write it with `Display` (`<incarnation>-<offset>-<count>` in hex)
/// and read it back with [`Receipt::parse`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Receipt {
    pub(crate) incarnation: u64,
    pub(crate) offset: u64,
    pub(crate) count: u32,
}

impl Receipt {
    /// Reads a receipt written with `Display`.
    pub fn parse(s: &str) -> Result<Receipt, QueueError> {
        let malformed = || QueueError::InvalidReceipt(format!("{s} is malformed"));
        let mut it = s.split('-');
        let mut field = || it.next().ok_or_else(malformed);
        let incarnation = u64::from_str_radix(field()?, 16).map_err(|_| malformed())?;
        let offset = u64::from_str_radix(field()?, 16).map_err(|_| malformed())?;
        let count = u32::from_str_radix(field()?, 16).map_err(|_| malformed())?;
        if it.next().is_some() {
            return Err(malformed());
        }
        Ok(Receipt { incarnation, offset, count })
    }
}

impl std::fmt::Display for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}-{:x}-{:x}", self.incarnation, self.offset, self.count)
    }
}

/// A received (or peeked) message.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Message id.
    pub message_id: String,
    /// Receipt to ack, nack or change the lease with (`Receipt::default()`, which names no
    /// delivery, for a peek).
    pub receipt: Receipt,
    /// The payload.
    pub body: Bytes,
    /// User attributes.
    pub attributes: Vec<MessageAttribute>,
    /// System attributes set by the front-end at enqueue.
    pub system_attributes: Vec<MessageAttribute>,
    /// How many times the message has been delivered, this delivery included.
    pub delivery_count: u32,
    /// Enqueue time, ms since the epoch.
    pub sent_ms: i64,
    /// First delivery time, ms since the epoch (0 for a peek of a never-delivered message).
    pub first_received_ms: i64,
    /// FIFO group.
    pub group_id: Option<String>,
    /// FIFO deduplication id.
    pub dedup_id: Option<String>,
    /// FIFO sequence number.
    pub sequence_number: Option<u64>,
    /// The queue the message was dead-lettered from, if it was.
    pub dead_letter_source: Option<String>,
    /// True when the message was delivered before (including before a restart).
    pub redelivered: bool,
    /// Priority it was sent with (0 when none).
    pub priority: u8,
    /// System properties, exchange and routing key.
    pub envelope: Envelope,
}

/// How a nacked message goes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NackMode {
    /// Ready again at once.
    Requeue,
    /// Ready again after the queue's retry backoff (at once when the queue has none).
    Backoff,
    /// Ready again after this many milliseconds.
    Delay(u64),
    /// Dead-lettered now (dropped when the queue has no target).
    DeadLetter,
}

/// The result of `create_queue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The queue was created.
    Created,
    /// A queue of that name exists already.
    Exists {
        /// True when its attributes equal the requested ones.
        same_attributes: bool,
    },
}

/// Figures about one queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Messages receivable now.
    pub ready: u64,
    /// Messages leased to a receiver.
    pub in_flight: u64,
    /// Messages waiting for their delay or retry backoff.
    pub delayed: u64,
    /// Age of the oldest ready message.
    pub oldest_ready_age_ms: u64,
    /// Messages moved to the dead-letter target since creation.
    pub dead_lettered_total: u64,
    /// Messages whose TTL ran out since creation.
    pub expired_total: u64,
    /// Messages dropped (overflow, retention, expiry without target) since creation.
    pub dropped_total: u64,
    /// Bytes of ready messages.
    pub ready_bytes: u64,
    /// Bytes of leased messages.
    pub in_flight_bytes: u64,
    /// Bytes of delayed messages.
    pub delayed_bytes: u64,
    /// Messages made receivable since the broker started (sent, moved or dead-lettered in).
    pub enqueued_total: u64,
    /// Deliveries (receives and pushes) since the broker started, redeliveries included.
    pub delivered_total: u64,
    /// Deliveries of a message delivered before, since the broker started.
    pub redelivered_total: u64,
    /// Acknowledgements since the broker started.
    pub acked_total: u64,
    /// Negative acknowledgements (returns and rejects) since the broker started.
    pub nacked_total: u64,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Last attribute change, ms since the epoch.
    pub modified_ms: i64,
}

/// State of a message move task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveStatus {
    /// Still moving.
    Running,
    /// Every message that was ready when it started is moved.
    Completed,
    /// Stopped by `cancel_move`.
    Cancelled,
    /// Stopped by an error (see `failure`).
    Failed,
}

/// A message move task (redrive from a dead-letter queue).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveTaskInfo {
    /// Handle for `cancel_move`.
    pub handle: String,
    /// Queue the messages are taken from.
    pub source: String,
    /// Destination; `None` means each message's original source queue.
    pub destination: Option<String>,
    /// Rate limit.
    pub max_per_second: Option<u32>,
    /// Messages moved so far.
    pub moved: u64,
    /// Messages to move, as counted at start.
    pub to_move: u64,
    /// Start time, ms since the epoch.
    pub started_ms: i64,
    /// Current state.
    pub status: MoveStatus,
    /// Why the task failed.
    pub failure: Option<String>,
}
