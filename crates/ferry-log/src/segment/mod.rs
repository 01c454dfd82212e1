//! One segment: a `.log` file of record batches with its sparse `.index` and `.timeindex`.
//!
//! `meta` holds the in-memory state and index-growth rules, `scan` the validating scan used by
//! recovery and rebuilds, `read` the read path.

mod meta;
mod read;
mod scan;

pub(crate) use meta::{SegMeta, apply_batch, plan_entries, seal_entry};
pub(crate) use read::SegRead;
pub(crate) use scan::scan_batches;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::batch::BatchHeader;
use crate::disk::{Disk, DiskFile};
use crate::error::StorageError;
use crate::index::{INDEX_ENTRY_LEN, TIME_ENTRY_LEN, decode_index, decode_time_index};

/// File name of the segment log starting at `base`.
pub(crate) fn log_name(base: u64) -> String {
    format!("{base:020}.log")
}

fn index_name(base: u64) -> String {
    format!("{base:020}.index")
}

fn time_name(base: u64) -> String {
    format!("{base:020}.timeindex")
}

/// A batch to write, with its base offset already assigned.
pub(crate) enum BatchBytes<'a> {
    /// The whole batch, base offset rewritten in a copy (cheapest for small batches).
    Whole(&'a [u8]),
    /// The new base offset and the producer's bytes after it, written without copying.
    Split { base_offset: [u8; 8], rest: &'a [u8] },
}

/// One segment and its open files.
#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: u64,
    pub log_path: PathBuf,
    pub index_path: PathBuf,
    pub time_path: PathBuf,
    pub log: Arc<dyn DiskFile>,
    pub index_file: Arc<dyn DiskFile>,
    pub time_file: Arc<dyn DiskFile>,
    meta: RwLock<SegMeta>,
    /// Serialises writers of the index files (the fsync leader and the roller).
    index_flush: Mutex<()>,
}

fn open_file(disk: &Arc<dyn Disk>, path: &Path, create: bool) -> Result<Arc<dyn DiskFile>, StorageError> {
    disk.open(path, create).map(Arc::from).map_err(|e| StorageError::io("open", path, e))
}

/// The last `entry_len` bytes of an index file: `Some(empty)` for an empty file, `None` when
/// the length is not a whole number of entries.
fn last_entry(file: &dyn DiskFile, path: &Path, entry_len: usize) -> Result<Option<Vec<u8>>, StorageError> {
    let len = file.len().map_err(|e| StorageError::io("stat", path, e))?;
    if len % entry_len as u64 != 0 {
        return Ok(None);
    }
    if len == 0 {
        return Ok(Some(Vec::new()));
    }
    let mut buf = vec![0u8; entry_len];
    file.read_exact_at(&mut buf, len - entry_len as u64).map_err(|e| StorageError::io("read", path, e))?;
    Ok(Some(buf))
}

fn read_all(file: &dyn DiskFile, path: &Path) -> Result<Vec<u8>, StorageError> {
    let len = file.len().map_err(|e| StorageError::io("stat", path, e))?;
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, 0).map_err(|e| StorageError::io("read", path, e))?;
    Ok(buf)
}

impl Segment {
    fn open_files(
        disk: &Arc<dyn Disk>,
        dir: &Path,
        base: u64,
        create_log: bool,
        meta: SegMeta,
    ) -> Result<Segment, StorageError> {
        let log_path = dir.join(log_name(base));
        let index_path = dir.join(index_name(base));
        let time_path = dir.join(time_name(base));
        Ok(Segment {
            base_offset: base,
            log: open_file(disk, &log_path, create_log)?,
            index_file: open_file(disk, &index_path, true)?,
            time_file: open_file(disk, &time_path, true)?,
            log_path,
            index_path,
            time_path,
            meta: RwLock::new(meta),
            index_flush: Mutex::new(()),
        })
    }

    /// Creates a new, empty segment (truncating leftovers of an earlier attempt).
    pub(crate) fn create(disk: &Arc<dyn Disk>, dir: &Path, base: u64) -> Result<Segment, StorageError> {
        let seg = Segment::open_files(disk, dir, base, true, SegMeta::empty(base))?;
        for (file, path) in seg.files() {
            file.set_len(0).map_err(|e| StorageError::io("truncate", path, e))?;
        }
        Ok(seg)
    }

    fn files(&self) -> [(&Arc<dyn DiskFile>, &Path); 3] {
        [
            (&self.log, &self.log_path),
            (&self.index_file, &self.index_path),
            (&self.time_file, &self.time_path),
        ]
    }

    /// Opens a closed segment whose offsets end before `end_offset`, trusting its index files
    /// unless they are missing or stale, in which case both are rebuilt from the log.
    pub(crate) fn open_closed(
        disk: &Arc<dyn Disk>,
        dir: &Path,
        base: u64,
        end_offset: u64,
        interval_bytes: u32,
    ) -> Result<Segment, StorageError> {
        let mut present = true;
        for name in [index_name(base), time_name(base)] {
            let path = dir.join(name);
            present &= disk.exists(&path).map_err(|e| StorageError::io("stat", &path, e))?;
        }
        let seg = Segment::open_files(disk, dir, base, false, SegMeta::empty(base))?;
        let size = seg.log.len().map_err(|e| StorageError::io("stat", &seg.log_path, e))?;
        let last_index = last_entry(&*seg.index_file, &seg.index_path, INDEX_ENTRY_LEN)?;
        let last_time = last_entry(&*seg.time_file, &seg.time_path, TIME_ENTRY_LEN)?;
        let (fresh, last_index, last_time) = match (present, last_index, last_time) {
            (true, Some(ib), Some(tb)) => {
                let ie = decode_index(&ib).first().copied();
                let te = decode_time_index(&tb).first().copied();
                let mut fresh = (ib.is_empty() || ie.is_some()) && (tb.is_empty() || te.is_some());
                fresh &= te.is_none_or(|t| base + u64::from(t.rel_offset) < end_offset);
                if fresh && let Some(last) = ie {
                    fresh = seg
                        .header_at(u64::from(last.position), size)
                        .ok()
                        .flatten()
                        .is_some_and(|h| h.base_offset as u64 == base + u64::from(last.rel_offset));
                }
                (fresh, ie, te)
            }
            _ => (false, None, None),
        };
        if !fresh {
            tracing::warn!(segment = base, "rebuilding missing or stale segment index");
            seg.rebuild(size, interval_bytes)?;
        } else {
            let mut m = seg.meta_mut();
            m.size = size;
            m.max_timestamp = last_time.map_or(-1, |t| t.timestamp);
            m.offset_of_max_timestamp = last_time.map_or(base, |t| base + u64::from(t.rel_offset));
            m.last_indexed_pos = last_index.map_or(0, |e| u64::from(e.position));
            m.indexes_loaded = false;
        }
        seg.meta_mut().next_offset = end_offset;
        Ok(seg)
    }

    /// Reads the index files of a closed segment opened without them.
    fn ensure_indexes(&self) -> Result<(), StorageError> {
        if self.meta().indexes_loaded {
            return Ok(());
        }
        let index = decode_index(&read_all(&*self.index_file, &self.index_path)?);
        let time_index = decode_time_index(&read_all(&*self.time_file, &self.time_path)?);
        let mut m = self.meta_mut();
        if !m.indexes_loaded {
            m.last_indexed_pos = index.last().map_or(0, |e| u64::from(e.position));
            m.index_flushed = index.len();
            m.time_flushed = time_index.len();
            m.index = index;
            m.time_index = time_index;
            m.indexes_loaded = true;
        }
        Ok(())
    }

    /// Rebuilds both indexes of a closed segment from its log.
    fn rebuild(&self, size: u64, interval_bytes: u32) -> Result<(), StorageError> {
        let base = self.base_offset;
        let mut m = SegMeta::empty(base);
        let end = scan_batches(&*self.log, &self.log_path, base, 0, size, base, |pos, h, _| {
            let entries = plan_entries(&m, base, pos, h, interval_bytes);
            apply_batch(&mut m, pos, h, entries);
            Ok(())
        })?;
        if !end.clean {
            tracing::error!(
                segment = base,
                position = end.pos,
                "closed segment holds invalid bytes; reads there report corruption"
            );
        }
        // Keep the whole file readable so a read reports the damage instead of skipping it.
        m.size = size;
        seal_entry(&mut m, base);
        self.write_indexes(&mut m)?;
        *self.meta_mut() = m;
        Ok(())
    }

    /// Replaces both index files with the entries of `m`, fsynced.
    fn write_indexes(&self, m: &mut SegMeta) -> Result<(), StorageError> {
        let mut ib = Vec::with_capacity(m.index.len() * INDEX_ENTRY_LEN);
        for e in &m.index {
            ib.extend_from_slice(&e.encode());
        }
        let mut tb = Vec::with_capacity(m.time_index.len() * TIME_ENTRY_LEN);
        for e in &m.time_index {
            tb.extend_from_slice(&e.encode());
        }
        for (file, path, bytes) in
            [(&self.index_file, &self.index_path, ib), (&self.time_file, &self.time_path, tb)]
        {
            file.set_len(0).map_err(|e| StorageError::io("truncate", path, e))?;
            file.write_all_at(&bytes, 0).map_err(|e| StorageError::io("write", path, e))?;
            file.sync_data().map_err(|e| StorageError::io("fsync", path, e))?;
        }
        m.index_flushed = m.index.len();
        m.time_flushed = m.time_index.len();
        Ok(())
    }

    /// Writes index entries not yet in the files (no fsync).
    fn flush_indexes(&self) -> Result<(), StorageError> {
        let _guard = self.index_flush.lock().unwrap_or_else(|p| p.into_inner());
        let (ib, i0, ni, tb, t0, nt) = {
            let m = self.meta();
            let mut ib = Vec::new();
            m.index[m.index_flushed..].iter().for_each(|e| ib.extend_from_slice(&e.encode()));
            let mut tb = Vec::new();
            m.time_index[m.time_flushed..].iter().for_each(|e| tb.extend_from_slice(&e.encode()));
            (ib, m.index_flushed, m.index.len(), tb, m.time_flushed, m.time_index.len())
        };
        if !ib.is_empty() {
            self.index_file
                .write_all_at(&ib, (i0 * INDEX_ENTRY_LEN) as u64)
                .map_err(|e| StorageError::io("write", &self.index_path, e))?;
        }
        if !tb.is_empty() {
            self.time_file
                .write_all_at(&tb, (t0 * TIME_ENTRY_LEN) as u64)
                .map_err(|e| StorageError::io("write", &self.time_path, e))?;
        }
        let mut m = self.meta_mut();
        m.index_flushed = m.index_flushed.max(ni);
        m.time_flushed = m.time_flushed.max(nt);
        Ok(())
    }

    /// Opens a segment whose bytes from `from.position` on have not been validated, checks them
    /// batch by batch and truncates the first invalid batch and everything after it.
    /// Returns the segment and whether it was clean (nothing truncated).
    pub(crate) fn recover(
        disk: &Arc<dyn Disk>,
        dir: &Path,
        base: u64,
        from: RecoverFrom,
        interval_bytes: u32,
    ) -> Result<(Segment, bool), StorageError> {
        let seg = Segment::open_files(disk, dir, base, false, SegMeta::empty(base))?;
        let file_len = seg.log.len().map_err(|e| StorageError::io("stat", &seg.log_path, e))?;
        let from = if from.position > file_len { RecoverFrom::start(base) } else { from };
        let mut m = SegMeta::empty(base);
        m.size = from.position;
        m.next_offset = from.next_offset;
        m.max_timestamp = from.max_timestamp;
        m.offset_of_max_timestamp = from.offset_of_max_timestamp;
        // Index entries below the recovery point were fsynced with it; later ones are rebuilt.
        m.index = decode_index(&read_all(&*seg.index_file, &seg.index_path)?)
            .into_iter()
            .filter(|e| u64::from(e.position) < from.position)
            .collect();
        m.time_index = decode_time_index(&read_all(&*seg.time_file, &seg.time_path)?)
            .into_iter()
            .filter(|t| base + u64::from(t.rel_offset) < from.next_offset)
            .collect();
        m.last_indexed_pos = m.index.last().map_or(0, |e| u64::from(e.position));
        let end = scan_batches(
            &*seg.log,
            &seg.log_path,
            base,
            from.position,
            file_len,
            from.next_offset,
            |pos, h, _| {
                let entries = plan_entries(&m, base, pos, h, interval_bytes);
                apply_batch(&mut m, pos, h, entries);
                Ok(())
            },
        )?;
        let clean = end.clean && end.pos == file_len;
        if end.pos < file_len {
            tracing::warn!(
                segment = base,
                valid_bytes = end.pos,
                dropped_bytes = file_len - end.pos,
                "truncating torn or corrupt tail"
            );
            seg.log.set_len(end.pos).map_err(|e| StorageError::io("truncate", &seg.log_path, e))?;
        }
        seg.write_indexes(&mut m)?;
        *seg.meta_mut() = m;
        Ok((seg, clean))
    }

    pub(crate) fn meta(&self) -> RwLockReadGuard<'_, SegMeta> {
        self.meta.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn meta_mut(&self) -> RwLockWriteGuard<'_, SegMeta> {
        self.meta.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes one batch (already carrying its assigned base offset) at the end of the segment.
    /// Only the log's appender calls this, so `size` cannot move underneath it.
    pub(crate) fn append(
        &self,
        bytes: BatchBytes<'_>,
        h: &BatchHeader,
        interval_bytes: u32,
        now_ms: i64,
    ) -> Result<u64, StorageError> {
        let (pos, entries) = {
            let m = self.meta();
            (m.size, plan_entries(&m, self.base_offset, m.size, h, interval_bytes))
        };
        let written = match bytes {
            BatchBytes::Whole(b) => self.log.write_all_at(b, pos),
            BatchBytes::Split { base_offset, rest } => {
                self.log.write_all_at(rest, pos + 8).and_then(|()| self.log.write_all_at(&base_offset, pos))
            }
        };
        if let Err(e) = written {
            // Cut what part of the batch landed (a full disk) so the segment ends where its
            // metadata says; only if that fails is the segment in doubt.
            return Err(match self.log.set_len(pos) {
                Ok(()) => StorageError::io("write", &self.log_path, e),
                Err(cut) => StorageError::io("truncate after a failed write", &self.log_path, cut),
            });
        }
        let mut m = self.meta_mut();
        if m.size == 0 {
            m.first_append_ms = Some(now_ms);
        }
        apply_batch(&mut m, pos, h, entries);
        Ok(pos)
    }

    /// Records the segment's max timestamp in the time index so a closed segment's newest
    /// timestamp is known after a restart without scanning it.
    pub(crate) fn seal(&self) -> Result<(), StorageError> {
        seal_entry(&mut self.meta_mut(), self.base_offset);
        self.flush_indexes()
    }

    /// Writes pending index entries, then fsyncs the log and both index files.
    pub(crate) fn sync_all(&self) -> Result<(), StorageError> {
        self.flush_indexes()?;
        for (file, path) in self.files() {
            file.sync_data().map_err(|e| StorageError::io("fsync", path, e))?;
        }
        Ok(())
    }

    /// Writes pending index entries and fsyncs the two index files (the leader fsyncs the log
    /// itself).
    pub(crate) fn sync_indexes(&self) -> Result<(), StorageError> {
        self.flush_indexes()?;
        for (file, path) in &self.files()[1..] {
            file.sync_data().map_err(|e| StorageError::io("fsync", path, e))?;
        }
        Ok(())
    }

    /// Removes the segment's three files.
    pub(crate) fn remove_files(&self, disk: &Arc<dyn Disk>) -> Result<(), StorageError> {
        for (_, path) in self.files() {
            match disk.remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("remove", path, e)),
            }
        }
        Ok(())
    }
}

/// Where recovery of a segment starts validating, and what is known of the bytes before it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecoverFrom {
    pub position: u64,
    pub next_offset: u64,
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: u64,
}

impl RecoverFrom {
    /// Validate the whole segment.
    pub(crate) fn start(base: u64) -> RecoverFrom {
        RecoverFrom { position: 0, next_offset: base, max_timestamp: -1, offset_of_max_timestamp: base }
    }
}
