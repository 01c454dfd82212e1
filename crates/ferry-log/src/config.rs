//! Log configuration and the injectable wall clock.

use std::fmt::Debug;
use std::time::{SystemTime, UNIX_EPOCH};

/// When appended bytes are made durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `append` returns only after an fsync covering the batch (shared by concurrent appenders).
    Always,
    /// `append` returns after the write; an append that finds the last fsync older than this many
    /// milliseconds performs one. Call `sync` on a timer to bound the window on an idle log.
    IntervalMs(u64),
    /// Never fsync on append; only `roll`, `sync`, `sync_to` and `close` make data durable.
    Never,
}

/// What happens to old data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CleanupPolicy {
    /// Delete whole segments past retention.
    Delete,
    /// Keep the newest record per key.
    Compact,
    /// Both.
    CompactDelete,
}

/// Settings of one log. Names carry their unit.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Roll to a new segment once the active one would exceed this size (capped at 2 GiB, since
    /// index positions are 32-bit).
    pub segment_bytes: u64,
    /// Roll to a new segment once the active one is this old (measured from its first append).
    pub segment_ms: Option<u64>,
    /// Bytes of batches between two sparse offset-index entries.
    pub index_interval_bytes: u32,
    /// Largest accepted batch, header included.
    pub max_batch_bytes: u32,
    /// When appends are made durable.
    pub durability: Durability,
    /// Delete closed segments whose newest record is older than this. `None` keeps them.
    pub retention_ms: Option<u64>,
    /// Delete the oldest closed segments while the log is larger than this. `None` = unlimited.
    pub retention_bytes: Option<u64>,
    /// Delete, compact, or both.
    pub cleanup_policy: CleanupPolicy,
    /// Records younger than this are not compacted.
    pub min_compaction_lag_ms: u64,
    /// How long compaction keeps a tombstone (record with a null value) before dropping it.
    pub delete_retention_ms: u64,
}

/// Largest segment the 32-bit index positions can address.
pub(crate) const SEGMENT_BYTES_MAX: u64 = 1 << 31;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: Some(7 * 24 * 60 * 60 * 1000),
            index_interval_bytes: 4096,
            max_batch_bytes: (1 << 20) + 12 + 49,
            durability: Durability::Always,
            retention_ms: None,
            retention_bytes: None,
            cleanup_policy: CleanupPolicy::Delete,
            min_compaction_lag_ms: 0,
            delete_retention_ms: 24 * 60 * 60 * 1000,
        }
    }
}

impl LogConfig {
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        if self.segment_bytes == 0 {
            return Err("segment_bytes must be > 0");
        }
        if self.index_interval_bytes == 0 {
            return Err("index_interval_bytes must be > 0");
        }
        if u64::from(self.max_batch_bytes) > SEGMENT_BYTES_MAX {
            return Err("max_batch_bytes must be <= 2 GiB");
        }
        Ok(())
    }

    pub(crate) fn segment_bytes_effective(&self) -> u64 {
        self.segment_bytes.min(SEGMENT_BYTES_MAX)
    }
}

/// Wall-clock source, injectable so tests of segment age and retention need no sleeps.
pub trait Clock: Send + Sync + Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}
