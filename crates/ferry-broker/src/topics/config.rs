//! Per-topic configuration, in domain terms; front-ends map their own names (`retention.ms`) onto it.

use serde::{Deserialize, Serialize};

/// What happens to old records of a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CleanupPolicy {
    /// Whole segments are deleted past the retention limits.
    Delete,
    /// Only the newest record per key is kept.
    Compact,
    /// Compaction, and deletion past the retention limits.
    CompactDelete,
}

/// The settings of one topic. Every partition of the topic uses the same ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopicConfig {
    /// Segments whose newest record is older than this are deleted; `None` keeps them forever.
    pub retention_ms: Option<u64>,
    /// Oldest segments are deleted while a partition is larger than this; `None` is unlimited.
    pub retention_bytes: Option<u64>,
    /// Deletion, compaction or both.
    pub cleanup_policy: CleanupPolicy,
    /// A segment is closed once it reaches this size.
    pub segment_bytes: u64,
    /// A segment is closed once it is this old; `None` never rolls by age.
    pub segment_ms: Option<u64>,
    /// Largest record batch a producer may append.
    pub max_message_bytes: u32,
    /// A record stays uncompacted for at least this long.
    pub min_compaction_lag_ms: u64,
    /// How long a compacted topic keeps tombstones.
    pub delete_retention_ms: u64,
}

/// Kafka's defaults, which clients and operators expect.
impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            retention_ms: Some(7 * 24 * 3600 * 1000),
            retention_bytes: None,
            cleanup_policy: CleanupPolicy::Delete,
            segment_bytes: 1 << 30,
            segment_ms: Some(7 * 24 * 3600 * 1000),
            max_message_bytes: 1_048_588,
            min_compaction_lag_ms: 0,
            delete_retention_ms: 24 * 3600 * 1000,
        }
    }
}

impl TopicConfig {
    /// The log configuration of a partition of this topic.
    pub(crate) fn log_config(&self, durability: ferry_log::Durability) -> ferry_log::LogConfig {
        ferry_log::LogConfig {
            segment_bytes: self.segment_bytes,
            segment_ms: self.segment_ms,
            max_batch_bytes: self.max_message_bytes,
            durability,
            retention_ms: self.retention_ms,
            retention_bytes: self.retention_bytes,
            cleanup_policy: match self.cleanup_policy {
                CleanupPolicy::Delete => ferry_log::CleanupPolicy::Delete,
                CleanupPolicy::Compact => ferry_log::CleanupPolicy::Compact,
                CleanupPolicy::CompactDelete => ferry_log::CleanupPolicy::CompactDelete,
            },
            min_compaction_lag_ms: self.min_compaction_lag_ms,
            delete_retention_ms: self.delete_retention_ms,
            ..ferry_log::LogConfig::default()
        }
    }
}

/// Bounds on partitions, the `[topics]` section of `ferry serve`'s configuration file. Every
/// segment of a partition keeps three files open (`.log`, `.index`, `.timeindex`), so these bound
/// the broker's file descriptors as much as its memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PartitionLimits {
    /// The most partitions one topic may have (CreateTopics, CreatePartitions, auto-creation).
    pub partitions_per_topic_max: u32,
    /// The most partitions of all topics together; a creation that would pass it is refused.
    pub partitions_max: u32,
}

impl Default for PartitionLimits {
    fn default() -> Self {
        PartitionLimits { partitions_per_topic_max: 1_000, partitions_max: 4_000 }
    }
}
