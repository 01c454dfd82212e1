//! Sparse offset index and time index of one segment: in-memory entries and their file encoding.
//!
//! Offset index entry (8 bytes): relative offset u32 BE, byte position u32 BE.
//! Time index entry (12 bytes): timestamp i64 BE, relative offset u32 BE.
//! Both files are append-only arrays of entries; decoding stops at the first entry that does not
//! continue the strictly increasing sequence, which drops a zero-filled or torn tail.

/// Size of one offset-index entry on disk.
pub(crate) const INDEX_ENTRY_LEN: usize = 8;
/// Size of one time-index entry on disk.
pub(crate) const TIME_ENTRY_LEN: usize = 12;

/// Maps a batch's base offset (relative to the segment) to its byte position in the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub rel_offset: u32,
    pub position: u32,
}

/// Records that the largest timestamp so far, `timestamp`, is in the batch holding `rel_offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub rel_offset: u32,
}

impl IndexEntry {
    pub(crate) fn encode(&self) -> [u8; INDEX_ENTRY_LEN] {
        let mut b = [0u8; INDEX_ENTRY_LEN];
        b[..4].copy_from_slice(&self.rel_offset.to_be_bytes());
        b[4..].copy_from_slice(&self.position.to_be_bytes());
        b
    }
}

impl TimeEntry {
    pub(crate) fn encode(&self) -> [u8; TIME_ENTRY_LEN] {
        let mut b = [0u8; TIME_ENTRY_LEN];
        b[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..].copy_from_slice(&self.rel_offset.to_be_bytes());
        b
    }
}

/// Decodes offset-index entries; position 0 is never indexed, so a zero entry ends the sequence.
pub(crate) fn decode_index(bytes: &[u8]) -> Vec<IndexEntry> {
    let mut out: Vec<IndexEntry> = Vec::with_capacity(bytes.len() / INDEX_ENTRY_LEN);
    for chunk in bytes.chunks_exact(INDEX_ENTRY_LEN) {
        let e = IndexEntry {
            rel_offset: u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
            position: u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]),
        };
        let increasing = match out.last() {
            Some(prev) => e.rel_offset > prev.rel_offset && e.position > prev.position,
            None => e.position > 0,
        };
        if !increasing {
            break;
        }
        out.push(e);
    }
    out
}

/// Decodes time-index entries, stopping where timestamps stop increasing.
pub(crate) fn decode_time_index(bytes: &[u8]) -> Vec<TimeEntry> {
    let mut out: Vec<TimeEntry> = Vec::with_capacity(bytes.len() / TIME_ENTRY_LEN);
    for chunk in bytes.chunks_exact(TIME_ENTRY_LEN) {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&chunk[..8]);
        let e = TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            rel_offset: u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]),
        };
        let increasing = match out.last() {
            Some(prev) => e.timestamp > prev.timestamp && e.rel_offset >= prev.rel_offset,
            None => e.timestamp >= 0,
        };
        if !increasing {
            break;
        }
        out.push(e);
    }
    out
}

/// The last indexed batch starting at or before `rel_offset`, if any.
pub(crate) fn lookup(entries: &[IndexEntry], rel_offset: u32) -> Option<IndexEntry> {
    let n = entries.partition_point(|e| e.rel_offset <= rel_offset);
    n.checked_sub(1).map(|i| entries[i])
}

/// Relative offset of the last time entry whose timestamp is strictly below `ts`: every batch
/// before it has a smaller timestamp, so a scan for `ts` may start at its batch.
pub(crate) fn time_lookup(entries: &[TimeEntry], ts: i64) -> Option<u32> {
    let n = entries.partition_point(|e| e.timestamp < ts);
    if n == 0 { None } else { Some(entries[n - 1].rel_offset) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_decoding_stops_at_zero_filled_tail() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&IndexEntry { rel_offset: 5, position: 4100 }.encode());
        bytes.extend_from_slice(&IndexEntry { rel_offset: 9, position: 8300 }.encode());
        bytes.extend_from_slice(&[0u8; 16]);
        let entries = decode_index(&bytes);
        assert_eq!(entries.len(), 2);
        assert_eq!(lookup(&entries, 4), None);
        assert_eq!(lookup(&entries, 5).map(|e| e.position), Some(4100));
        assert_eq!(lookup(&entries, 100).map(|e| e.position), Some(8300));
    }

    #[test]
    fn time_lookup_returns_last_entry_below_timestamp() {
        let entries =
            [TimeEntry { timestamp: 10, rel_offset: 0 }, TimeEntry { timestamp: 20, rel_offset: 4 }];
        assert_eq!(time_lookup(&entries, 10), None);
        assert_eq!(time_lookup(&entries, 11), Some(0));
        assert_eq!(time_lookup(&entries, 21), Some(4));
        let mut bytes = Vec::new();
        for e in &entries {
            bytes.extend_from_slice(&e.encode());
        }
        assert_eq!(decode_time_index(&bytes), entries.to_vec());
    }
}
