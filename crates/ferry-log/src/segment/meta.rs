//! In-memory state of a segment and the rules that grow its indexes, shared by appends,
//! recovery, index rebuilds and compaction.

use crate::batch::BatchHeader;
use crate::index::{IndexEntry, TimeEntry};

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
    /// Entries of `index` / `time_index` already written to their files. The files lag the
    /// memory on purpose: they only need to be complete below the recovery point, so they are
    /// written when the segment is fsynced, not on every append.
    pub index_flushed: usize,
    pub time_flushed: usize,
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
            index_flushed: 0,
            time_flushed: 0,
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
