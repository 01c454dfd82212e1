//! The settings of one share group, as the coordinator applies them.

/// Where a share-partition starts when a group first reads it (`share.auto.offset.reset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoOffsetReset {
    /// At the high watermark: only records produced from now on (Kafka's default).
    #[default]
    Latest,
    /// At the log start: every record the topic still holds.
    Earliest,
}

/// A share group's settings (Kafka's group configs of the same names, and ferry's
/// dead-letter queue). The defaults are Kafka's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareGroupConfig {
    /// How long an acquired record stays locked to its member (`share.record.lock.duration.ms`).
    pub record_lock_duration_ms: u64,
    /// Deliveries after which a record is archived (`share.delivery.count.limit`).
    pub delivery_count_limit: u32,
    /// Where a share-partition starts (`share.auto.offset.reset`).
    pub auto_offset_reset: AutoOffsetReset,
    /// How long a member stays without a heartbeat (`share.session.timeout.ms`).
    pub session_timeout_ms: u64,
    /// How often members heartbeat (`share.heartbeat.interval.ms`).
    pub heartbeat_interval_ms: u64,
    /// The queue that archived records are moved to (`ferry.share.dead.letter.queue`); none by
    /// default, when they are archived only, as in Kafka.
    pub dead_letter_queue: Option<String>,
}

impl Default for ShareGroupConfig {
    fn default() -> ShareGroupConfig {
        ShareGroupConfig {
            record_lock_duration_ms: 30_000,
            delivery_count_limit: 5,
            auto_offset_reset: AutoOffsetReset::Latest,
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            dead_letter_queue: None,
        }
    }
}
