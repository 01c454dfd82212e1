//! Key compaction: rewrite closed segments keeping the newest record per key, with stable
//! offsets, dropping tombstones once they are older than `delete_retention_ms`.
//!
//! Compressed batches are decompressed, filtered and recompressed with their own codec.
//! Transactional and control batches, and compressed batches that fail to decompress or inflate
//! past 64 MiB, are kept whole: their records are neither removed nor counted as the newest
//! value of a key (so they never cause another record's removal). Segments are not merged; a rewritten segment left empty is deleted
//! (unless it is the first), and keeps its newest timestamp otherwise.
//!
//! A rewritten segment replaces the old one through the swap sequence in
//! `docs/storage-format.md`; [`finish_or_abort_swaps`] completes or undoes it after a crash.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch::BatchHeader;
use crate::config::CleanupPolicy;
use crate::disk::{Disk, DiskFile};
use crate::error::{AppendError, StorageError};
use crate::index::{INDEX_ENTRY_LEN, TIME_ENTRY_LEN};
use crate::log::{Log, lock};
use crate::record::{Record, decode_body, records_body, retain_records};
use crate::segment::{SegMeta, Segment, apply_batch, plan_entries, scan_batches};

/// Upper bound on distinct keys one compaction pass tracks; segments beyond it wait for the next
/// pass. Bounds memory at roughly this many keys plus their bytes.
pub const COMPACTION_MAX_KEYS: usize = 4_000_000;

const EXTS: [&str; 3] = ["log", "index", "timeindex"];

/// Bytes a rewritten segment buffers before writing them out.
const CLEANED_BUFFER_BYTES: usize = 1 << 20;

/// A replacement segment streamed into `{base}.log.cleaned`, its index state built as it grows;
/// memory stays at one buffer plus the index entries.
struct Cleaned {
    file: Box<dyn DiskFile>,
    path: PathBuf,
    base: u64,
    interval: u32,
    meta: SegMeta,
    /// Bytes pushed so far (written or buffered).
    pos: u64,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_pos: u64,
}

impl Cleaned {
    fn create(disk: &Arc<dyn Disk>, dir: &Path, base: u64, interval: u32) -> Result<Cleaned, StorageError> {
        let path = dir.join(name(base, "log", ".cleaned"));
        let file = disk.open(&path, true).map_err(io("create", &path))?;
        file.set_len(0).map_err(io("truncate", &path))?;
        Ok(Cleaned {
            file,
            path,
            base,
            interval,
            meta: SegMeta::empty(base),
            pos: 0,
            buf: Vec::new(),
            buf_pos: 0,
        })
    }

    fn push(&mut self, batch: &[u8]) -> Result<(), AppendError> {
        let h = BatchHeader::parse(batch)?;
        let entries = plan_entries(&self.meta, self.base, self.pos, &h, self.interval);
        apply_batch(&mut self.meta, self.pos, &h, entries);
        self.buf.extend_from_slice(batch);
        self.pos += batch.len() as u64;
        if self.buf.len() >= CLEANED_BUFFER_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        self.file.write_all_at(&self.buf, self.buf_pos).map_err(io("write", &self.path))?;
        self.buf_pos += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Removes the file when the rewrite is not needed.
    fn abandon(self, disk: &Arc<dyn Disk>) -> Result<(), StorageError> {
        drop(self.file);
        disk.remove_file(&self.path).map_err(io("remove", &self.path))
    }
}

/// What one call to [`Log::compact`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactStats {
    /// Segments rewritten.
    pub segments_rewritten: u64,
    /// Records dropped (superseded values and expired tombstones).
    pub records_removed: u64,
    /// Size of the rewritten segments before.
    pub bytes_before: u64,
    /// Size of the rewritten segments after.
    pub bytes_after: u64,
}

/// The batch's records section, decompressed; `None` for batches compaction keeps whole.
fn open_batch(seg: &Segment, h: &BatchHeader, bytes: &[u8]) -> Option<Vec<u8>> {
    if h.is_transactional() || h.is_control() {
        return None;
    }
    match records_body(bytes) {
        Ok(body) => Some(body),
        Err(e) => {
            tracing::warn!(segment = seg.base_offset, offset = h.base_offset, error = %e, "batch kept whole by compaction");
            None
        }
    }
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |e| StorageError::io(op, path, e)
}

fn name(base: u64, ext: &str, suffix: &str) -> String {
    format!("{base:020}.{ext}{suffix}")
}

/// Completes a swap whose commit point (`.log.swap` exists) was reached, and removes the
/// leftovers of swaps that were not; run by `open` before segments are listed.
pub(crate) fn finish_or_abort_swaps(
    disk: &Arc<dyn Disk>,
    dir: &Path,
    names: &[String],
) -> Result<(), StorageError> {
    let mut touched = false;
    for n in names.iter().filter(|n| n.ends_with(".cleaned")) {
        let p = dir.join(n);
        disk.remove_file(&p).map_err(io("remove", &p))?;
        touched = true;
    }
    let committed: Vec<&str> = names.iter().filter_map(|n| n.strip_suffix(".log.swap")).collect();
    for n in names.iter().filter(|n| n.ends_with(".swap")) {
        let stem = n.split('.').next().unwrap_or_default();
        let from = dir.join(n);
        if committed.contains(&stem) {
            if n.ends_with(".log.swap") {
                continue;
            }
            let to = dir.join(n.trim_end_matches(".swap"));
            disk.rename(&from, &to).map_err(io("rename", &from))?;
        } else {
            disk.remove_file(&from).map_err(io("remove", &from))?;
        }
        touched = true;
    }
    for stem in committed {
        let from = dir.join(format!("{stem}.log.swap"));
        let to = dir.join(format!("{stem}.log"));
        disk.rename(&from, &to).map_err(io("rename", &from))?;
        touched = true;
    }
    if touched {
        disk.sync_dir(dir).map_err(io("fsync dir", dir))?;
    }
    Ok(())
}

impl Log {
    /// Rewrites closed segments keeping the newest record per key; tombstones (null value)
    /// dropped once older than `delete_retention_ms`. Offsets stay stable. A no-op under
    /// `CleanupPolicy::Delete`.
    ///
    /// Only closed segments older than the recovery checkpoint whose newest timestamp is at
    /// least `min_compaction_lag_ms` old are compacted. Ages are judged by batch max timestamps
    /// against `now_ms`.
    pub fn compact(&self, now_ms: i64) -> Result<CompactStats, AppendError> {
        let config = self.config();
        let mut stats = CompactStats::default();
        if config.cleanup_policy == CleanupPolicy::Delete {
            return Ok(stats);
        }
        let _m = lock(&self.maintenance);
        let checkpoint_base = lock(&self.checkpoint).segment_base;
        let lag_limit = now_ms.saturating_sub(config.min_compaction_lag_ms.min(i64::MAX as u64) as i64);
        let segs: Vec<Arc<Segment>> = {
            let map = self.segments.read().unwrap_or_else(|p| p.into_inner());
            let active = map.keys().next_back().copied();
            map.values()
                .filter(|s| Some(s.base_offset) != active && s.base_offset < checkpoint_base)
                .take_while(|s| s.meta().max_timestamp <= lag_limit)
                .cloned()
                .collect()
        };

        // Pass 1: newest offset of every key in the cleanable range.
        let mut newest: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut cleanable = 0;
        for seg in &segs {
            for_each_batch(seg, |h, bytes| {
                let Some(body) = open_batch(seg, h, bytes) else { return Ok(()) };
                let Some(records) = decode_or_keep(seg, h, &body) else { return Ok(()) };
                for r in records {
                    if let Some(k) = r.key {
                        newest.insert(k.to_vec(), h.base_offset as u64 + r.offset_delta as u64);
                    }
                }
                Ok(())
            })?;
            cleanable += 1;
            if newest.len() >= COMPACTION_MAX_KEYS {
                break;
            }
        }

        // Pass 2: rewrite each segment that loses records.
        let tombstone_limit = now_ms.saturating_sub(config.delete_retention_ms.min(i64::MAX as u64) as i64);
        for seg in &segs[..cleanable] {
            let mut out =
                Cleaned::create(&self.disk, &self.dir, seg.base_offset, config.index_interval_bytes)?;
            let mut removed = 0u64;
            for_each_batch(seg, |h, bytes| {
                let Some(body) = open_batch(seg, h, bytes) else { return out.push(bytes) };
                let Some(records) = decode_or_keep(seg, h, &body) else { return out.push(bytes) };
                let keep: Vec<&Record<'_>> = records
                    .iter()
                    .filter(|r| {
                        let Some(k) = r.key else { return true };
                        let offset = h.base_offset as u64 + r.offset_delta as u64;
                        let is_newest = newest.get(k) == Some(&offset);
                        is_newest && !(r.value.is_none() && h.max_timestamp < tombstone_limit)
                    })
                    .collect();
                removed += (records.len() - keep.len()) as u64;
                if keep.len() == records.len() {
                    out.push(bytes)
                } else if !keep.is_empty() {
                    out.push(&retain_records(bytes, &keep)?)
                } else {
                    Ok(())
                }
            })?;
            if removed == 0 {
                out.abandon(&self.disk)?;
                continue;
            }
            let before = seg.meta().size;
            let after = out.pos;
            self.swap_in(seg, out)?;
            stats.segments_rewritten += 1;
            stats.records_removed += removed;
            stats.bytes_before += before;
            stats.bytes_after += after;
        }
        Ok(stats)
    }

    /// Replaces `seg` by the segment written to `.cleaned` files (same base offset).
    fn swap_in(&self, seg: &Arc<Segment>, mut cleaned: Cleaned) -> Result<(), AppendError> {
        let base = seg.base_offset;
        let dir = &self.dir;
        let is_first = self.segments.read().unwrap_or_else(|p| p.into_inner()).keys().next() == Some(&base);
        if cleaned.pos == 0 && !is_first {
            // Everything in it was superseded by later, durable records: drop the whole segment.
            // Reads and recovery treat the gap like any offsets compaction removed.
            cleaned.abandon(&self.disk)?;
            self.segments.write().unwrap_or_else(|p| p.into_inner()).remove(&base);
            seg.remove_files(&self.disk)?;
            return Ok(());
        }
        // Keep the segment's newest timestamp even if its record went, so time retention
        // judges the segment as before.
        let (old_max, old_off) = {
            let old = seg.meta();
            (old.max_timestamp, old.offset_of_max_timestamp)
        };
        let m = &mut cleaned.meta;
        if old_max > m.max_timestamp {
            m.max_timestamp = old_max;
            m.offset_of_max_timestamp = old_off;
        }
        crate::segment::seal_entry(m, base);
        let mut index = Vec::with_capacity(m.index.len() * INDEX_ENTRY_LEN);
        m.index.iter().for_each(|e| index.extend_from_slice(&e.encode()));
        let mut time = Vec::with_capacity(m.time_index.len() * TIME_ENTRY_LEN);
        m.time_index.iter().for_each(|e| time.extend_from_slice(&e.encode()));

        // 1. Finish and fsync the three `.cleaned` files.
        cleaned.flush()?;
        cleaned.file.sync_data().map_err(io("fsync", &cleaned.path))?;
        for (ext, content) in [("index", &index[..]), ("timeindex", &time[..])] {
            let p = dir.join(name(base, ext, ".cleaned"));
            let f: Box<dyn DiskFile> = self.disk.open(&p, true).map_err(io("create", &p))?;
            f.set_len(0).map_err(io("truncate", &p))?;
            f.write_all_at(content, 0).map_err(io("write", &p))?;
            f.sync_data().map_err(io("fsync", &p))?;
        }
        // 2. Rename to `.swap`, the log last: its rename is the commit point.
        for ext in ["index", "timeindex", "log"] {
            let from = dir.join(name(base, ext, ".cleaned"));
            let to = dir.join(name(base, ext, ".swap"));
            self.disk.rename(&from, &to).map_err(io("rename", &from))?;
        }
        self.disk.sync_dir(dir).map_err(io("fsync dir", dir))?;
        // 3. Rename over the live files, the log last; recovery finishes this step if cut.
        for ext in EXTS.iter().skip(1).chain(EXTS.iter().take(1)) {
            let from = dir.join(name(base, ext, ".swap"));
            let to = dir.join(name(base, ext, ""));
            self.disk.rename(&from, &to).map_err(io("rename", &from))?;
        }
        self.disk.sync_dir(dir).map_err(io("fsync dir", dir))?;
        let end = seg.meta().next_offset;
        let fresh = Segment::open_closed(&self.disk, dir, base, end, cleaned.interval)?;
        self.segments.write().unwrap_or_else(|p| p.into_inner()).insert(base, Arc::new(fresh));
        Ok(())
    }
}

/// The records of an opened batch; `None` (batch kept whole) when they do not decode.
fn decode_or_keep<'a>(seg: &Segment, h: &BatchHeader, body: &'a [u8]) -> Option<Vec<Record<'a>>> {
    match decode_body(body, h.record_count) {
        Ok(records) => Some(records),
        Err(e) => {
            tracing::warn!(segment = seg.base_offset, offset = h.base_offset, error = %e, "batch kept whole by compaction");
            None
        }
    }
}

/// Calls `f` for every valid batch of a closed segment; fails if the segment holds damaged bytes.
fn for_each_batch(
    seg: &Segment,
    mut f: impl FnMut(&BatchHeader, &[u8]) -> Result<(), AppendError>,
) -> Result<(), AppendError> {
    let size = seg.meta().size;
    let mut err = None;
    let end =
        scan_batches(&*seg.log, &seg.log_path, seg.base_offset, 0, size, seg.base_offset, |_, h, b| {
            if err.is_none()
                && let Err(e) = f(h, b)
            {
                err = Some(e);
            }
            Ok(())
        })?;
    if let Some(e) = err {
        return Err(e);
    }
    if !end.clean {
        tracing::error!(
            segment = seg.base_offset,
            position = end.pos,
            "corrupt segment; compaction skipped it"
        );
        return Err(AppendError::InvalidBatch(crate::error::BatchError::BadRecord("corrupt stored batch")));
    }
    Ok(())
}
