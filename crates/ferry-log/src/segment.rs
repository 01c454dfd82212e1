//! One segment: a `.log` file of record batches with its sparse `.index` and `.timeindex`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::batch::{BATCH_HEADER_LEN, BatchHeader, check_crc};
use crate::disk::{Disk, DiskFile};
use crate::error::{ReadError, StorageError};
use crate::index::{
    self, INDEX_ENTRY_LEN, IndexEntry, TIME_ENTRY_LEN, TimeEntry, decode_index, decode_time_index,
};

/// Bytes read per call while scanning a segment for recovery or index rebuilds.
const SCAN_CHUNK_BYTES: u64 = 4 << 20;

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

/// Mutable facts about a segment, changed only by the appender (or recovery) and read by everyone.
#[derive(Clone, Debug)]
pub(crate) struct SegMeta {
    /// Bytes of whole, valid batches; readers never look past it.
    pub size: u64,
    /// Offset after the last batch (for closed segments: the next segment's base offset).
    pub next_offset: u64,
    /// Largest batch max timestamp seen, -1 when none.
    pub max_timestamp: i64,
    /// Base offset of the batch holding `max_timestamp`.
    pub offset_of_max_timestamp: u64,
    pub index: Vec<IndexEntry>,
    pub time_index: Vec<TimeEntry>,
    /// Position of the last offset-index entry, 0 when none.
    pub last_indexed_pos: u64,
    /// Wall-clock time of the first append since this process opened the segment.
    pub first_append_ms: Option<i64>,
    /// False for a closed segment whose index files have not been read yet: they are read on
    /// first use, so opening a log costs a few bytes per segment, not its whole index.
    pub indexes_loaded: bool,
}

impl SegMeta {
    pub(crate) fn empty(base: u64) -> SegMeta {
        SegMeta {
            size: 0,
            next_offset: base,
            max_timestamp: -1,
            offset_of_max_timestamp: base,
            index: Vec::new(),
            time_index: Vec::new(),
            last_indexed_pos: 0,
            first_append_ms: None,
            indexes_loaded: true,
        }
    }
}

/// Index entries a batch at `pos` adds, decided from the segment's state before it.
pub(crate) fn plan_entries(
    m: &SegMeta,
    base: u64,
    pos: u64,
    h: &BatchHeader,
    interval_bytes: u32,
) -> (Option<IndexEntry>, Option<TimeEntry>) {
    if pos == 0 || pos - m.last_indexed_pos < u64::from(interval_bytes) {
        return (None, None);
    }
    let ie = IndexEntry { rel_offset: (h.base_offset as u64 - base) as u32, position: pos as u32 };
    let (max_ts, off) = if h.max_timestamp > m.max_timestamp {
        (h.max_timestamp, h.base_offset as u64)
    } else {
        (m.max_timestamp, m.offset_of_max_timestamp)
    };
    let last_ts = m.time_index.last().map_or(-1, |t| t.timestamp);
    let te = (max_ts > last_ts).then(|| TimeEntry { timestamp: max_ts, rel_offset: (off - base) as u32 });
    (Some(ie), te)
}

/// Applies a batch (and the entries planned for it) to the in-memory state.
pub(crate) fn apply_batch(
    m: &mut SegMeta,
    pos: u64,
    h: &BatchHeader,
    entries: (Option<IndexEntry>, Option<TimeEntry>),
) {
    if h.max_timestamp > m.max_timestamp {
        m.max_timestamp = h.max_timestamp;
        m.offset_of_max_timestamp = h.base_offset as u64;
    }
    if let Some(ie) = entries.0 {
        m.index.push(ie);
        m.last_indexed_pos = pos;
    }
    if let Some(te) = entries.1 {
        m.time_index.push(te);
    }
    m.size = pos + h.total_len() as u64;
    m.next_offset = h.last_offset() as u64 + 1;
}

/// How a scan over a segment's bytes ended.
#[derive(Debug)]
pub(crate) struct ScanEnd {
    /// Position after the last valid batch.
    pub pos: u64,
    /// False when the scan stopped at bytes that are not a valid batch (torn or corrupt).
    pub clean: bool,
}

/// Reads batches in `[start, end)` of `file`, checking header, length, CRC and increasing offsets,
/// and calls `f(pos, header, bytes)` for each valid one. Stops at the first invalid batch.
pub(crate) fn scan_batches(
    file: &dyn DiskFile,
    path: &Path,
    seg_base: u64,
    start: u64,
    end: u64,
    mut next_offset: u64,
    mut f: impl FnMut(u64, &BatchHeader, &[u8]) -> Result<(), StorageError>,
) -> Result<ScanEnd, StorageError> {
    let mut pos = start;
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_pos = start;
    let bad = |pos| Ok(ScanEnd { pos, clean: false });
    while pos < end {
        if end - pos < BATCH_HEADER_LEN as u64 {
            return bad(pos);
        }
        let in_buf = |p: u64, len: u64, buf: &Vec<u8>, buf_pos: u64| {
            p >= buf_pos && p + len <= buf_pos + buf.len() as u64
        };
        if !in_buf(pos, BATCH_HEADER_LEN as u64, &buf, buf_pos) {
            let len = (end - pos).min(SCAN_CHUNK_BYTES);
            buf.resize(len as usize, 0);
            file.read_exact_at(&mut buf, pos).map_err(|e| StorageError::io("read", path, e))?;
            buf_pos = pos;
        }
        let at = (pos - buf_pos) as usize;
        let h = match BatchHeader::parse(&buf[at..]) {
            Ok(h) => h,
            Err(_) => return bad(pos),
        };
        let total = h.total_len() as u64;
        if pos + total > end
            || h.base_offset < 0
            || (h.base_offset as u64) < next_offset
            || h.last_offset_delta < 0
            || h.last_offset() as u64 - seg_base > u64::from(u32::MAX)
        {
            return bad(pos);
        }
        if !in_buf(pos, total, &buf, buf_pos) {
            let len = (end - pos).min(SCAN_CHUNK_BYTES).max(total);
            buf.resize(len as usize, 0);
            file.read_exact_at(&mut buf, pos).map_err(|e| StorageError::io("read", path, e))?;
            buf_pos = pos;
        }
        let at = (pos - buf_pos) as usize;
        let bytes = &buf[at..at + total as usize];
        if check_crc(&h, bytes).is_err() {
            return bad(pos);
        }
        f(pos, &h, bytes)?;
        pos += total;
        next_offset = h.last_offset() as u64 + 1;
    }
    Ok(ScanEnd { pos, clean: true })
}

/// What a segment returns for a read.
pub(crate) enum SegRead {
    /// No batch in this segment holds `offset` or anything after it.
    Past,
    /// Whole batches (possibly none, when the first is at or past the upper bound) and the offset
    /// after the last one.
    Data(Vec<u8>, u64),
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
        self.write_indexes(&m)?;
        *self.meta_mut() = m;
        Ok(())
    }

    fn write_indexes(&self, m: &SegMeta) -> Result<(), StorageError> {
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
        seg.write_indexes(&m)?;
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
        let (pos, entries, n_index, n_time) = {
            let m = self.meta();
            (
                m.size,
                plan_entries(&m, self.base_offset, m.size, h, interval_bytes),
                m.index.len(),
                m.time_index.len(),
            )
        };
        let write = |b: &[u8], at: u64| {
            self.log.write_all_at(b, at).map_err(|e| StorageError::io("write", &self.log_path, e))
        };
        match bytes {
            BatchBytes::Whole(b) => write(b, pos)?,
            BatchBytes::Split { base_offset, rest } => {
                write(rest, pos + 8)?;
                write(&base_offset, pos)?;
            }
        }
        if let Some(ie) = entries.0 {
            self.index_file
                .write_all_at(&ie.encode(), (n_index * INDEX_ENTRY_LEN) as u64)
                .map_err(|e| StorageError::io("write", &self.index_path, e))?;
        }
        if let Some(te) = entries.1 {
            self.time_file
                .write_all_at(&te.encode(), (n_time * TIME_ENTRY_LEN) as u64)
                .map_err(|e| StorageError::io("write", &self.time_path, e))?;
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
        let mut m = self.meta_mut();
        let n = m.time_index.len();
        if let Some(te) = seal_entry(&mut m, self.base_offset) {
            self.time_file
                .write_all_at(&te.encode(), (n * TIME_ENTRY_LEN) as u64)
                .map_err(|e| StorageError::io("write", &self.time_path, e))?;
        }
        Ok(())
    }

    /// fsyncs the log and both index files.
    pub(crate) fn sync_all(&self) -> Result<(), StorageError> {
        for (file, path) in self.files() {
            file.sync_data().map_err(|e| StorageError::io("fsync", path, e))?;
        }
        Ok(())
    }

    /// fsyncs the two index files only (the leader fsyncs the log itself).
    pub(crate) fn sync_indexes(&self) -> Result<(), StorageError> {
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

    fn header_at(&self, pos: u64, size: u64) -> Result<Option<BatchHeader>, StorageError> {
        if pos + BATCH_HEADER_LEN as u64 > size {
            return Ok(None);
        }
        let mut buf = [0u8; BATCH_HEADER_LEN];
        self.log.read_exact_at(&mut buf, pos).map_err(|e| StorageError::io("read", &self.log_path, e))?;
        Ok(BatchHeader::parse(&buf).ok())
    }

    fn corrupt(&self, offset: u64, pos: u64) -> ReadError {
        tracing::error!(
            segment = self.base_offset,
            offset,
            position = pos,
            path = %self.log_path.display(),
            "corrupt record batch"
        );
        ReadError::Corrupt { segment: self.base_offset, offset }
    }

    /// Where a scan for relative offset `rel` may start: (position, base offset of that batch).
    fn index_start(&self, m: &SegMeta, rel: u32) -> (u64, u64) {
        index::lookup(&m.index, rel).map_or((0, self.base_offset), |e| {
            (u64::from(e.position), self.base_offset + u64::from(e.rel_offset))
        })
    }

    /// Finds the batch holding `offset` (or the first after it): its position and header.
    fn locate(
        &self,
        offset: u64,
        size: u64,
        end_offset: u64,
        start: (u64, u64),
        exact_first: bool,
    ) -> Result<Option<(u64, BatchHeader)>, ReadError> {
        let (mut pos, mut expect) = start;
        let mut exact = exact_first;
        while pos < size {
            let h = self.header_at(pos, size)?.ok_or_else(|| self.corrupt(expect, pos))?;
            let plausible = h.base_offset >= 0
                && if exact { h.base_offset as u64 == expect } else { h.base_offset as u64 >= expect }
                && h.last_offset_delta >= 0
                && (h.last_offset() as u64) < end_offset
                && pos + h.total_len() as u64 <= size;
            if !plausible {
                return Err(self.corrupt(expect, pos));
            }
            if h.last_offset() as u64 >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.total_len() as u64;
            expect = h.last_offset() as u64 + 1;
            exact = false;
        }
        Ok(None)
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` (at least one batch), each
    /// with `last_offset < upper_bound`, CRC-checked before they are returned.
    pub(crate) fn read(&self, offset: u64, max_bytes: usize, upper_bound: u64) -> Result<SegRead, ReadError> {
        self.ensure_indexes()?;
        let (size, end_offset, start) = {
            let m = self.meta();
            let rel = offset.saturating_sub(self.base_offset).min(u64::from(u32::MAX)) as u32;
            (m.size, m.next_offset, self.index_start(&m, rel))
        };
        let Some((pos, first)) = self.locate(offset, size, end_offset, start, start.0 > 0)? else {
            return Ok(SegRead::Past);
        };
        if first.last_offset() as u64 >= upper_bound {
            return Ok(SegRead::Data(Vec::new(), offset));
        }
        let want = (max_bytes as u64).max(first.total_len() as u64).min(size - pos);
        let mut buf = vec![0u8; want as usize];
        self.log.read_exact_at(&mut buf, pos).map_err(|e| StorageError::io("read", &self.log_path, e))?;
        let mut used = 0usize;
        let mut next = offset;
        let mut expect = first.base_offset as u64;
        while used < buf.len() {
            let h = match BatchHeader::parse(&buf[used..]) {
                Ok(h) => h,
                Err(_) if used > 0 && buf.len() - used < BATCH_HEADER_LEN => break,
                Err(_) => return Err(self.corrupt(expect, pos + used as u64)),
            };
            let total = h.total_len();
            if used + total > buf.len() {
                if used > 0 && pos + (used + total) as u64 <= size {
                    break;
                }
                return Err(self.corrupt(expect, pos + used as u64));
            }
            if h.base_offset < 0
                || (h.base_offset as u64) < expect
                || h.last_offset_delta < 0
                || h.last_offset() as u64 >= end_offset
                || check_crc(&h, &buf[used..used + total]).is_err()
            {
                return Err(self.corrupt(expect, pos + used as u64));
            }
            if h.last_offset() as u64 >= upper_bound {
                break;
            }
            used += total;
            next = h.last_offset() as u64 + 1;
            expect = next;
        }
        buf.truncate(used);
        Ok(SegRead::Data(buf, next))
    }

    /// First batch whose max timestamp is >= `ts`: (base offset, max timestamp).
    pub(crate) fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(u64, i64)>, ReadError> {
        if self.meta().max_timestamp < ts {
            return Ok(None);
        }
        self.ensure_indexes()?;
        let (size, end_offset, max_ts, start) = {
            let m = self.meta();
            let start = match index::time_lookup(&m.time_index, ts) {
                Some(rel) => self.index_start(&m, rel),
                None => (0, self.base_offset),
            };
            (m.size, m.next_offset, m.max_timestamp, start)
        };
        if max_ts < ts {
            return Ok(None);
        }
        let (mut pos, mut expect) = start;
        let mut exact = start.0 > 0;
        while pos < size {
            let Some((p, h)) = self.locate(expect, size, end_offset, (pos, expect), exact)? else {
                return Ok(None);
            };
            if h.max_timestamp >= ts {
                return Ok(Some((h.base_offset as u64, h.max_timestamp)));
            }
            pos = p + h.total_len() as u64;
            expect = h.last_offset() as u64 + 1;
            exact = false;
        }
        Ok(None)
    }
}

/// The time entry that records a segment's final max timestamp, if not recorded yet.
pub(crate) fn seal_entry(m: &mut SegMeta, base: u64) -> Option<TimeEntry> {
    let last_ts = m.time_index.last().map_or(-1, |t| t.timestamp);
    if m.max_timestamp > last_ts {
        let te =
            TimeEntry { timestamp: m.max_timestamp, rel_offset: (m.offset_of_max_timestamp - base) as u32 };
        m.time_index.push(te);
        Some(te)
    } else {
        None
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
