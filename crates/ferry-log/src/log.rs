//! The [`Log`]: appends with offset assignment and group commit, reads, offsets and rolling.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use crate::batch::validate_batch;
use crate::checkpoint::{self, Checkpoint};
use crate::config::{Clock, Durability, LogConfig};
use crate::disk::Disk;
use crate::error::{AppendError, ReadError, StorageError, SyncError};
use crate::segment::{BatchBytes, SegRead, Segment};

/// Durable bytes written since the last recovery checkpoint before the fsync leader writes a new
/// one; bounds how much of the active segment recovery must re-validate after a crash.
pub(crate) const CHECKPOINT_INTERVAL_BYTES: u64 = 16 << 20;

/// Batches at least this large are written as base offset + rest (two writes, no copy).
const SPLIT_WRITE_MIN_BYTES: usize = 64 << 10;

/// What an append assigned and where it put the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the batch's first record.
    pub base_offset: u64,
    /// Offset of the batch's last record.
    pub last_offset: u64,
    /// The batch's max timestamp, as produced.
    pub max_timestamp: i64,
    /// Records in the batch.
    pub record_count: u32,
    /// Byte position of the batch inside its segment file.
    pub position_bytes: u64,
}

/// Bytes returned by [`Log::read`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadResult {
    /// Whole batches, base offsets already rewritten; may be empty.
    pub bytes: Vec<u8>,
    /// Offset after the last batch returned (the asked offset when nothing was returned).
    pub next_offset: u64,
}

/// The appender's state, guarded by the write mutex.
pub(crate) struct Writer {
    pub active: Arc<Segment>,
    /// Reused buffer for the batch with its base offset rewritten.
    pub scratch: Vec<u8>,
}

#[derive(Default)]
pub(crate) struct SyncState {
    /// True while one thread (the leader) runs an fsync on everyone's behalf.
    pub syncing: bool,
}

/// A segmented append-only log of Kafka RecordBatch v2 batches in one directory.
///
/// `Send + Sync`; every method takes `&self` so appenders on several threads share fsyncs.
pub struct Log {
    pub(crate) dir: PathBuf,
    pub(crate) disk: Arc<dyn Disk>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: RwLock<LogConfig>,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) segments: RwLock<BTreeMap<u64, Arc<Segment>>>,
    pub(crate) next_offset: AtomicU64,
    pub(crate) log_start: AtomicU64,
    pub(crate) durable: AtomicU64,
    pub(crate) failed: AtomicBool,
    pub(crate) sync_state: Mutex<SyncState>,
    pub(crate) sync_cv: Condvar,
    pub(crate) last_sync_ms: AtomicI64,
    /// The checkpoint last written; serialises checkpoint writers.
    pub(crate) checkpoint: Mutex<Checkpoint>,
    /// Serialises retention, compaction and start-offset moves against each other.
    pub(crate) maintenance: Mutex<()>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.dir)
            .field("log_start_offset", &self.log_start_offset())
            .field("next_offset", &self.next_offset())
            .field("durable_offset", &self.durable_offset())
            .finish()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Log {
    pub(crate) fn config(&self) -> LogConfig {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn check_failed(&self) -> Result<(), StorageError> {
        if self.failed.load(Ordering::Acquire) { Err(StorageError::Failed) } else { Ok(()) }
    }

    /// Marks the log failed after an fsync error (or a write it could not undo): the page cache
    /// may have lost the bytes, so only a reopen (which recovers from what is on disk) may accept
    /// writes again. A failed write that left the files as the log knows them (an append cut
    /// back to its start, an index flush retried at the same place) does not fail the log: once
    /// a full disk has room again, appends succeed.
    pub(crate) fn fail(&self, e: StorageError) -> StorageError {
        if matches!(e, StorageError::Io { op: "write", .. }) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "write failed; nothing was appended");
            return e;
        }
        tracing::error!(dir = %self.dir.display(), error = %e, "log failed");
        self.failed.store(true, Ordering::Release);
        let _guard = lock(&self.sync_state);
        self.sync_cv.notify_all();
        e
    }

    /// Validates one RecordBatch v2 (length, magic 2, CRC32C, record count vs lastOffsetDelta),
    /// assigns the next offset as its base offset, writes it, and under `Durability::Always`
    /// returns only once the bytes are fsynced (concurrent appenders share one fsync).
    pub fn append(&self, batch: &[u8]) -> Result<AppendInfo, AppendError> {
        let info = self.append_no_sync(batch)?;
        let durability = self.config().durability;
        match durability {
            Durability::Always => self.sync_to(info.last_offset + 1)?,
            Durability::IntervalMs(ms) => {
                let since = self.clock.now_ms() - self.last_sync_ms.load(Ordering::Relaxed);
                if since >= ms as i64 {
                    self.sync_to(info.last_offset + 1)?;
                }
            }
            Durability::Never => {}
        }
        Ok(info)
    }

    /// The same as [`Log::append`] but never waits for fsync; pair with [`Log::sync_to`] to do
    /// group commit from an async owner.
    pub fn append_no_sync(&self, batch: &[u8]) -> Result<AppendInfo, AppendError> {
        let config = self.config();
        if batch.len() > config.max_batch_bytes as usize {
            return Err(AppendError::BatchTooLarge { size: batch.len(), max: config.max_batch_bytes });
        }
        let mut header = validate_batch(batch)?;
        let mut w = lock(&self.writer);
        self.check_failed()?;
        let now_ms = self.clock.now_ms();
        let base = self.next_offset.load(Ordering::Acquire);
        let last = base + header.last_offset_delta as u64;
        let must_roll = {
            let m = w.active.meta();
            m.size > 0
                && (m.size + batch.len() as u64 > config.segment_bytes_effective()
                    || last - w.active.base_offset > u64::from(u32::MAX)
                    || config
                        .segment_ms
                        .zip(m.first_append_ms)
                        .is_some_and(|(age_ms, first)| now_ms - first >= age_ms as i64))
        };
        if must_roll {
            self.roll_locked(&mut w)?;
        }
        header.base_offset = base as i64;
        let Writer { active, scratch } = &mut *w;
        let base_bytes = (base as i64).to_be_bytes();
        // Copying costs more than a second write call only for large batches.
        let bytes = if batch.len() >= SPLIT_WRITE_MIN_BYTES {
            BatchBytes::Split { base_offset: base_bytes, rest: &batch[8..] }
        } else {
            scratch.clear();
            scratch.extend_from_slice(batch);
            scratch[..8].copy_from_slice(&base_bytes);
            BatchBytes::Whole(scratch)
        };
        let position =
            active.append(bytes, &header, config.index_interval_bytes, now_ms).map_err(|e| self.fail(e))?;
        self.next_offset.store(last + 1, Ordering::Release);
        Ok(AppendInfo {
            base_offset: base,
            last_offset: last,
            max_timestamp: header.max_timestamp,
            record_count: header.record_count as u32,
            position_bytes: position,
        })
    }

    /// Blocks until every offset below `offset` is durable (one fsync shared by all waiters).
    /// Offsets not written yet cannot be waited for: `offset` is capped at `next_offset()`.
    pub fn sync_to(&self, offset: u64) -> Result<(), SyncError> {
        let offset = offset.min(self.next_offset());
        loop {
            {
                let mut s = lock(&self.sync_state);
                loop {
                    if self.durable.load(Ordering::Acquire) >= offset {
                        return Ok(());
                    }
                    self.check_failed()?;
                    if !s.syncing {
                        break;
                    }
                    s = self.sync_cv.wait(s).unwrap_or_else(|p| p.into_inner());
                }
                s.syncing = true;
            }
            let result = self.sync_once();
            {
                let mut s = lock(&self.sync_state);
                s.syncing = false;
                self.sync_cv.notify_all();
            }
            result?;
        }
    }

    /// Makes everything appended so far durable.
    pub fn sync(&self) -> Result<(), SyncError> {
        self.sync_to(self.next_offset())
    }

    /// One fsync of the active segment, run by the leader outside the write mutex so appends
    /// continue meanwhile; then perhaps a recovery checkpoint.
    fn sync_once(&self) -> Result<(), SyncError> {
        let (seg, upto) = {
            let w = lock(&self.writer);
            (w.active.clone(), self.next_offset.load(Ordering::Acquire))
        };
        if upto <= self.durable.load(Ordering::Acquire) {
            return Ok(());
        }
        let (size, next, max_ts, off_max) = {
            let m = seg.meta();
            (m.size, m.next_offset, m.max_timestamp, m.offset_of_max_timestamp)
        };
        let started = std::time::Instant::now();
        seg.log.sync_data().map_err(|e| self.fail(StorageError::io("fsync", &seg.log_path, e)))?;
        crate::stats::FSYNC_LATENCY.observe_duration(started.elapsed());
        let before = self.durable.fetch_max(upto, Ordering::AcqRel);
        crate::stats::GROUP_COMMIT_RECORDS.observe(upto.saturating_sub(before));
        self.last_sync_ms.store(self.clock.now_ms(), Ordering::Relaxed);
        let due = {
            let cp = lock(&self.checkpoint);
            seg.base_offset > cp.segment_base
                || (seg.base_offset == cp.segment_base && size >= cp.position + CHECKPOINT_INTERVAL_BYTES)
        };
        if due {
            let result = seg.sync_indexes().and_then(|()| {
                self.write_checkpoint(|cp| {
                    if seg.base_offset < cp.segment_base
                        || (seg.base_offset == cp.segment_base && size <= cp.position)
                    {
                        return false;
                    }
                    cp.segment_base = seg.base_offset;
                    cp.position = size;
                    cp.next_offset = next;
                    cp.max_timestamp = max_ts;
                    cp.offset_of_max_timestamp = off_max;
                    true
                })
            });
            if let Err(e) = result {
                // The data is durable; only recovery after a crash gets slower.
                tracing::warn!(dir = %self.dir.display(), error = %e, "recovery checkpoint not written");
            }
        }
        Ok(())
    }

    /// Changes the checkpoint with `f` (which returns false to leave it alone) and writes it
    /// durably, keeping the log start offset current.
    pub(crate) fn write_checkpoint(
        &self,
        f: impl FnOnce(&mut Checkpoint) -> bool,
    ) -> Result<(), StorageError> {
        let mut cp = lock(&self.checkpoint);
        let mut next = *cp;
        if !f(&mut next) {
            return Ok(());
        }
        next.log_start_offset = next.log_start_offset.max(self.log_start.load(Ordering::Acquire));
        checkpoint::write(&self.disk, &self.dir, &next)?;
        *cp = next;
        Ok(())
    }

    /// Closes the active segment and starts a new one at the log end offset. The closed
    /// segment is sealed and fsynced before the new file exists, so every segment but the last
    /// is always durable as a whole.
    pub(crate) fn roll_locked(&self, w: &mut Writer) -> Result<(), AppendError> {
        let old = w.active.clone();
        if old.meta().size == 0 {
            return Ok(());
        }
        old.seal().and_then(|()| old.sync_all()).map_err(|e| self.fail(e))?;
        let base = self.next_offset.load(Ordering::Acquire);
        let seg = Arc::new(Segment::create(&self.disk, &self.dir, base)?);
        self.disk.sync_dir(&self.dir).map_err(|e| self.fail(StorageError::io("fsync dir", &self.dir, e)))?;
        self.segments.write().unwrap_or_else(|p| p.into_inner()).insert(base, seg.clone());
        w.active = seg;
        if base <= self.log_start_offset() {
            // The start offset moved past everything the old segment holds while it was active.
            self.segments.write().unwrap_or_else(|p| p.into_inner()).remove(&old.base_offset);
            if let Err(e) = old.remove_files(&self.disk) {
                tracing::warn!(segment = old.base_offset, error = %e, "segment below log start not removed");
            }
        }
        self.durable.fetch_max(base, Ordering::AcqRel);
        {
            let _guard = lock(&self.sync_state);
            self.sync_cv.notify_all();
        }
        let result = self.write_checkpoint(|cp| {
            cp.segment_base = base;
            cp.position = 0;
            cp.next_offset = base;
            cp.max_timestamp = -1;
            cp.offset_of_max_timestamp = base;
            true
        });
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir.display(), error = %e, "recovery checkpoint not written");
        }
        Ok(())
    }

    /// Starts a new segment now (a no-op while the active segment is empty).
    pub fn roll(&self) -> Result<(), AppendError> {
        let mut w = lock(&self.writer);
        self.check_failed()?;
        self.roll_locked(&mut w)
    }

    /// Whole batches starting with the one that contains `offset`, up to `max_bytes` (at least
    /// one whole batch even if it alone exceeds `max_bytes`), never past `upper_bound`
    /// (exclusive; pass `next_offset()` for everything written, or `durable_offset()`).
    ///
    /// Every returned batch had its CRC checked; damaged bytes give `ReadError::Corrupt`.
    pub fn read(&self, offset: u64, max_bytes: usize, upper_bound: u64) -> Result<ReadResult, ReadError> {
        let start = self.log_start_offset();
        let end = self.next_offset();
        if offset < start || offset > end {
            return Err(ReadError::OffsetOutOfRange { offset, start, end });
        }
        let empty = ReadResult { bytes: Vec::new(), next_offset: offset };
        if offset >= upper_bound.min(end) {
            return Ok(empty);
        }
        let mut seg = {
            let segs = self.segments.read().unwrap_or_else(|p| p.into_inner());
            match segs.range(..=offset).next_back() {
                Some((_, s)) => s.clone(),
                None => return Ok(empty),
            }
        };
        loop {
            let from = offset.max(seg.base_offset);
            match seg.read(from, max_bytes, upper_bound)? {
                SegRead::Data(bytes, next) if !bytes.is_empty() => {
                    return Ok(ReadResult { bytes, next_offset: next });
                }
                SegRead::Data(..) => return Ok(empty),
                SegRead::Past => {
                    let segs = self.segments.read().unwrap_or_else(|p| p.into_inner());
                    match segs.range(seg.base_offset + 1..).next() {
                        Some((_, s)) => seg = s.clone(),
                        None => return Ok(empty),
                    }
                }
            }
        }
    }

    /// The first record whose timestamp is >= `ts`, as (offset, timestamp); `None` if past the
    /// end. Records below the log start are skipped. Like Kafka, this looks inside the first batch
    /// whose max timestamp reaches `ts` (decompressing it if need be) rather than answering with
    /// the batch's base offset.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(u64, i64)>, ReadError> {
        let segs: Vec<Arc<Segment>> =
            self.segments.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        let start = self.log_start_offset();
        for seg in segs {
            if let Some((offset, found_ts)) = seg.offset_for_timestamp(ts, start)? {
                let batch_answer = (offset.max(start), found_ts);
                return Ok(Some(self.first_record_at(offset.max(start), ts, start)?.unwrap_or(batch_answer)));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (the first of them on a tie), as (offset, timestamp);
    /// `None` while the log holds no record. Segments keep the largest batch max timestamp and
    /// the batch holding it, so only that one batch is read (and decompressed if need be) to find
    /// the record, as Kafka does for ListOffsets' MAX_TIMESTAMP.
    pub fn max_timestamp_record(&self) -> Result<Option<(u64, i64)>, ReadError> {
        let start = self.log_start_offset();
        let mut newest: Option<(u64, i64)> = None;
        for seg in self.segments.read().unwrap_or_else(|p| p.into_inner()).values() {
            let m = seg.meta();
            if m.next_offset <= start || m.max_timestamp < 0 {
                continue;
            }
            if newest.is_none_or(|(_, ts)| m.max_timestamp > ts) {
                newest = Some((m.offset_of_max_timestamp, m.max_timestamp));
            }
        }
        let Some((batch_offset, ts)) = newest else {
            return Ok(None);
        };
        let batch_answer = (batch_offset.max(start), ts);
        // No record of that batch is later than the segment's max, so the first at or after it
        // is the first with it.
        Ok(Some(self.first_record_at(batch_offset.max(start), ts, start)?.unwrap_or(batch_answer)))
    }

    /// Within the batch holding `offset`: the first record at or after `min_offset` whose timestamp
    /// is >= `ts`. `None` when the batch is gone or its records cannot be decoded (the caller then
    /// answers with the batch itself).
    fn first_record_at(
        &self,
        offset: u64,
        ts: i64,
        min_offset: u64,
    ) -> Result<Option<(u64, i64)>, ReadError> {
        let read = self.read(offset, 1, self.next_offset())?;
        let Some(Ok((header, bytes))) = crate::batch::batches(&read.bytes).next() else {
            return Ok(None);
        };
        let base = header.base_offset as u64;
        if header.is_log_append_time() {
            return Ok(Some((base.max(min_offset), header.max_timestamp)));
        }
        let records = match crate::record::records_body(bytes) {
            Ok(body) => crate::record::decode_body(&body, header.record_count)
                .map(|records| {
                    records
                        .iter()
                        .map(|r| {
                            let offset = header.base_offset.saturating_add(i64::from(r.offset_delta));
                            (
                                u64::try_from(offset).unwrap_or(0),
                                header.base_timestamp.saturating_add(r.timestamp_delta),
                            )
                        })
                        .find(|(o, t)| *o >= min_offset && *t >= ts)
                })
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match records {
            Ok(found) => Ok(found),
            Err(why) => {
                tracing::debug!(offset = base, error = %why, "records of a batch unreadable for a timestamp lookup");
                Ok(None)
            }
        }
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> u64 {
        self.log_start.load(Ordering::Acquire)
    }

    /// The log end offset: the offset the next append gets.
    pub fn next_offset(&self) -> u64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// Every offset below this is fsynced.
    pub fn durable_offset(&self) -> u64 {
        self.durable.load(Ordering::Acquire).min(self.next_offset())
    }

    /// Bytes of batches in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.read().unwrap_or_else(|p| p.into_inner()).values().map(|s| s.meta().size).sum()
    }

    /// Number of segment files (closed and active).
    pub fn segment_count(&self) -> usize {
        self.segments.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Replaces the configuration; takes effect from the next append or maintenance call.
    /// A config with a zero size or interval is ignored (logged), keeping the old one.
    pub fn update_config(&self, config: LogConfig) {
        if let Err(why) = config.validate() {
            tracing::warn!(dir = %self.dir.display(), why, "invalid log config ignored");
            return;
        }
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
    }

    /// Flushes and fsyncs everything and records a checkpoint at the log end, so the next open
    /// validates nothing; used at shutdown.
    pub fn close(self) -> Result<(), SyncError> {
        let w = lock(&self.writer);
        self.check_failed()?;
        let seg = w.active.clone();
        seg.sync_all().map_err(|e| self.fail(e))?;
        let (size, next, max_ts, off_max) = {
            let m = seg.meta();
            (m.size, m.next_offset, m.max_timestamp, m.offset_of_max_timestamp)
        };
        self.durable.fetch_max(next, Ordering::AcqRel);
        self.write_checkpoint(|cp| {
            cp.segment_base = seg.base_offset;
            cp.position = size;
            cp.next_offset = next;
            cp.max_timestamp = max_ts;
            cp.offset_of_max_timestamp = off_max;
            true
        })?;
        Ok(())
    }

    /// Deletes the log's directory and every segment in it (topic deletion).
    pub fn delete(self) -> Result<(), AppendError> {
        let _w = lock(&self.writer);
        self.disk
            .remove_dir_all(&self.dir)
            .map_err(|e| AppendError::Storage(StorageError::io("remove dir", &self.dir, e)))
    }
}
