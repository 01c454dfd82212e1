//! Moving the log start: explicit (`advance_start_offset`) and by retention.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::config::CleanupPolicy;
use crate::error::AppendError;
use crate::log::{Log, lock};
use crate::segment::Segment;

impl Log {
    /// Moves the log start offset forward (Kafka DeleteRecords; queues deleting settled
    /// segments): segments entirely below it are deleted. Persisted before it returns.
    pub fn advance_start_offset(&self, offset: u64) -> Result<(), AppendError> {
        let _m = lock(&self.maintenance);
        let start = self.log_start_offset();
        let end = self.next_offset();
        if offset > end {
            return Err(AppendError::OffsetOutOfRange { offset, start, end });
        }
        if offset <= start {
            return Ok(());
        }
        self.log_start.fetch_max(offset, Ordering::AcqRel);
        self.write_checkpoint(|_| true)?;
        self.delete_segments_below(offset)?;
        Ok(())
    }

    /// Deletes closed segments whose every offset is below `offset` (never the active one).
    fn delete_segments_below(&self, offset: u64) -> Result<u64, AppendError> {
        let mut deleted = 0;
        loop {
            let victim = {
                let segs = self.segments.read().unwrap_or_else(|p| p.into_inner());
                let mut it = segs.iter();
                match (it.next(), it.next()) {
                    (Some((_, first)), Some((&second_base, _))) if second_base <= offset => {
                        Some(first.clone())
                    }
                    _ => None,
                }
            };
            let Some(seg) = victim else {
                return Ok(deleted);
            };
            self.remove_segment(&seg)?;
            deleted += 1;
        }
    }

    fn remove_segment(&self, seg: &Arc<Segment>) -> Result<(), AppendError> {
        self.segments.write().unwrap_or_else(|p| p.into_inner()).remove(&seg.base_offset);
        // Readers holding the segment keep their open handles; the files vanish from the
        // directory only.
        seg.remove_files(&self.disk)?;
        Ok(())
    }

    /// Deletes closed segments past retention_ms / retention_bytes. `now_ms` is wall-clock epoch
    /// ms. Returns how many segments were deleted. A no-op under `CleanupPolicy::Compact`.
    ///
    /// A segment is past `retention_ms` when its newest batch timestamp is older than
    /// `now_ms - retention_ms` (segments without timestamps are kept); past `retention_bytes`
    /// when the log without it is still at least `retention_bytes` large.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<u64, AppendError> {
        let config = self.config();
        if config.cleanup_policy == CleanupPolicy::Compact
            || (config.retention_ms.is_none() && config.retention_bytes.is_none())
        {
            return Ok(0);
        }
        let _m = lock(&self.maintenance);
        let mut total = self.size_bytes();
        let mut deleted = 0;
        loop {
            let (oldest, next_base) = {
                let segs = self.segments.read().unwrap_or_else(|p| p.into_inner());
                let mut it = segs.iter();
                match (it.next(), it.next()) {
                    (Some((_, first)), Some((&second_base, _))) => (first.clone(), second_base),
                    _ => break,
                }
            };
            let (size, max_ts) = {
                let m = oldest.meta();
                (m.size, m.max_timestamp)
            };
            let by_time = config.retention_ms.is_some_and(|ms| {
                max_ts >= 0 && max_ts < now_ms.saturating_sub(ms.min(i64::MAX as u64) as i64)
            });
            let by_bytes = config.retention_bytes.is_some_and(|limit| total - size >= limit);
            if !by_time && !by_bytes {
                break;
            }
            self.log_start.fetch_max(next_base, Ordering::AcqRel);
            self.write_checkpoint(|_| true)?;
            self.remove_segment(&oldest)?;
            total -= size;
            deleted += 1;
        }
        Ok(deleted)
    }
}
