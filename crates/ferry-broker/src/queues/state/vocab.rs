//! The vocabulary of the state machine: what it is told and what it hands back.

use crate::message::DeathCause;

use super::super::types::OverflowPolicy;

/// Why a message left the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SettleReason {
    /// Deleted by a consumer.
    Acked,
    /// Moved to the dead-letter target (max deliveries, nack, overflow).
    DeadLettered,
    /// TTL ran out and it was moved to the dead-letter target.
    ExpiredDeadLettered,
    /// TTL ran out and it was dropped.
    Expired,
    /// Dropped (overflow, retention, dead-lettering without a target).
    Dropped,
}

/// A durable change of delivery state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum JournalOp {
    /// The message at `offset` was delivered for the `count`-th time.
    Delivered {
        /// Offset of the message.
        offset: u64,
        /// Its delivery count after this delivery.
        count: u32,
    },
    /// The message at `offset` left the queue.
    Settled {
        /// Offset of the message.
        offset: u64,
        /// Why.
        reason: SettleReason,
    },
    /// Every message below `end` left the queue (purge).
    Purged {
        /// First offset not purged.
        end: u64,
    },
}

/// The policies of a queue as the state machine applies them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// FIFO groups.
    pub fifo: bool,
    /// Deliveries after which a message is dead-lettered.
    pub max_deliveries: Option<u32>,
    /// A dead-letter target is configured.
    pub dead_letter: bool,
    /// Queue-wide TTL applied to plain messages at the head.
    pub ttl_ms: Option<u64>,
    /// Retention period.
    pub retention_ms: u64,
    /// Most queued (ready + delayed) messages.
    pub max_length: Option<u64>,
    /// Most queued bytes.
    pub max_bytes: Option<u64>,
    /// Overflow handling.
    pub overflow: OverflowPolicy,
}

/// A message being added, as the state sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Incoming {
    /// Its offset; offsets are registered in increasing order.
    pub offset: u64,
    /// Effective priority (0 = none).
    pub priority: u8,
    /// FIFO group, or on a standard queue its fair-queue tenant.
    pub group: Option<String>,
    /// Receivable from this time (0 = now).
    pub due_ms: i64,
    /// Expiry time from its own TTL or retention (0 = none beyond the queue's at the head).
    pub expire_ms: i64,
    /// The expiry comes from a TTL (dead-letterable) rather than retention (dropped).
    pub expire_is_ttl: bool,
    /// Size in bytes.
    pub size: u32,
    /// Deliveries so far (restored from the journal after a restart).
    pub count: u32,
}

/// A message leased by `receive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leased {
    /// Offset of the message.
    pub offset: u64,
    /// Delivery count including this one (the receipt's generation).
    pub count: u32,
    /// First delivery time.
    pub first_received_ms: i64,
}

/// A message the caller must move to the dead-letter target (or that was dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Offset of the message.
    pub offset: u64,
    /// Why it leaves.
    pub reason: SettleReason,
    /// What ended its life in this queue, recorded in its death history when dead-lettered.
    pub cause: DeathCause,
}

/// Why a receipt was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptError {
    /// The receipt is of an earlier delivery; the message was delivered again since.
    Superseded,
    /// The receipt names a delivery that never happened.
    Unknown,
    /// The message is no longer leased under that receipt.
    NotInFlight,
}

/// Counters kept for stats and restored from the journal.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Messages moved to the dead-letter target.
    pub dead_lettered: u64,
    /// Messages whose TTL ran out.
    pub expired: u64,
    /// Messages dropped.
    pub dropped: u64,
}

impl Counters {
    /// Counts one message settled for `reason`; live settling and journal replay share it so they agree.
    pub fn count(&mut self, reason: SettleReason) {
        match reason {
            SettleReason::Acked => {}
            SettleReason::DeadLettered => self.dead_lettered += 1,
            SettleReason::ExpiredDeadLettered => {
                self.dead_lettered += 1;
                self.expired += 1;
            }
            SettleReason::Expired => self.expired += 1,
            SettleReason::Dropped => self.dropped += 1,
        }
    }
}
