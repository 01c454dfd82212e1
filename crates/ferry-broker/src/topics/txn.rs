//! Transactions as one partition sees them: the aborted-transaction index kept beside the
//! partition's segments, and what a scan of the log says about one producer's transaction.
//!
//! The index is one file per partition, `aborted.txnindex`, of fixed 24-byte entries (producer
//! id, first offset, marker offset; big-endian), appended when an abort marker is written and
//! fsynced before the marker is reported durable. Entries are in marker order. On open, a torn
//! entry and entries whose marker lies past the recovered log end are dropped; entries whose
//! marker lies below the log start (their records are gone) are dropped when the file is
//! rewritten. A marker that reached the disk without its entry belongs to a transaction the
//! coordinator had not recorded as complete, and the coordinator's recovery re-adds the entry
//! (see `transactions`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The file name of a partition's aborted-transaction index.
pub const ABORTED_INDEX_FILE: &str = "aborted.txnindex";

const ENTRY_LEN: usize = 24;

/// One aborted transaction in one partition: what a `read_committed` consumer must skip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer whose records are discarded.
    pub producer_id: i64,
    /// The first offset of the transaction in this partition.
    pub first_offset: u64,
    /// The offset of its abort marker.
    pub last_offset: u64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        out[..8].copy_from_slice(&self.producer_id.to_be_bytes());
        out[8..16].copy_from_slice(&self.first_offset.to_be_bytes());
        out[16..].copy_from_slice(&self.last_offset.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> AbortedTxn {
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            b
        };
        AbortedTxn {
            producer_id: i64::from_be_bytes(word(0)),
            first_offset: u64::from_be_bytes(word(8)),
            last_offset: u64::from_be_bytes(word(16)),
        }
    }
}

/// The aborted-transaction index of one partition, in memory and in its file.
pub(crate) struct AbortedIndex {
    path: PathBuf,
    file: File,
    entries: Vec<AbortedTxn>,
    /// Entries appended since the last fsync.
    unsynced: bool,
}

impl AbortedIndex {
    /// Opens (creating if missing) the index in `dir` of a log that ends at `log_end` and starts
    /// at `log_start`.
    pub(crate) fn open(dir: &Path, log_start: u64, log_end: u64) -> std::io::Result<AbortedIndex> {
        let path = dir.join(ABORTED_INDEX_FILE);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let whole = bytes.len() - bytes.len() % ENTRY_LEN;
        let read: Vec<AbortedTxn> = bytes[..whole].chunks_exact(ENTRY_LEN).map(AbortedTxn::decode).collect();
        let entries: Vec<AbortedTxn> =
            read.iter().copied().filter(|e| e.last_offset < log_end && e.last_offset >= log_start).collect();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let mut index = AbortedIndex { path, file, entries, unsynced: false };
        if index.entries.len() != read.len() || whole != bytes.len() {
            index.rewrite()?;
        }
        Ok(index)
    }

    /// Appends an entry (not yet durable: see [`AbortedIndex::sync`]).
    pub(crate) fn append(&mut self, entry: AbortedTxn) -> std::io::Result<()> {
        self.file.write_all(&entry.encode())?;
        self.entries.push(entry);
        self.unsynced = true;
        Ok(())
    }

    /// Makes every appended entry durable.
    pub(crate) fn sync(&mut self) -> std::io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Whether an entry for the marker at `last_offset` exists.
    pub(crate) fn contains_marker(&self, last_offset: u64) -> bool {
        self.entries.binary_search_by_key(&last_offset, |e| e.last_offset).is_ok()
    }

    /// The aborted transactions with records in `[from, to)`: those whose marker is at or after
    /// `from` and whose first record is before `to`, by first offset.
    pub(crate) fn overlapping(&self, from: u64, to: u64) -> Vec<AbortedTxn> {
        let start = self.entries.partition_point(|e| e.last_offset < from);
        let mut found: Vec<AbortedTxn> =
            self.entries[start..].iter().filter(|e| e.first_offset < to).copied().collect();
        found.sort_by_key(|e| e.first_offset);
        found
    }

    /// Drops the entries whose marker is below `log_start` once they are at least half of the file.
    pub(crate) fn prune(&mut self, log_start: u64) -> std::io::Result<()> {
        let stale = self.entries.partition_point(|e| e.last_offset < log_start);
        if stale == 0 || stale * 2 < self.entries.len() {
            return Ok(());
        }
        self.entries.drain(..stale);
        self.rewrite()
    }

    /// Number of entries kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Replaces the file with the entries in memory (a temporary file renamed over it).
    fn rewrite(&mut self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("txnindex.tmp");
        {
            let mut f = File::create(&tmp)?;
            let mut bytes = Vec::with_capacity(self.entries.len() * ENTRY_LEN);
            for e in &self.entries {
                bytes.extend_from_slice(&e.encode());
            }
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.unsynced = false;
        Ok(())
    }
}

/// What a scan of a partition found of one producer's latest transaction there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnInLog {
    /// No transactional record of the producer in the range scanned.
    Absent,
    /// Records from `first_offset` on, with no marker after them.
    Open {
        /// Its first record.
        first_offset: u64,
    },
    /// Records from `first_offset`, closed by a marker at `marker_offset`.
    Closed {
        /// Its first record.
        first_offset: u64,
        /// Its marker.
        marker_offset: u64,
        /// Whether the marker aborts it.
        aborted: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: i64, first: u64, last: u64) -> AbortedTxn {
        AbortedTxn { producer_id: pid, first_offset: first, last_offset: last }
    }

    #[test]
    fn entries_survive_a_reopen_and_torn_or_truncated_ones_are_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut index = AbortedIndex::open(dir.path(), 0, 0).expect("open");
            index.append(entry(1, 0, 5)).expect("append");
            index.append(entry(2, 3, 9)).expect("append");
            index.append(entry(3, 10, 20)).expect("append");
            index.sync().expect("sync");
        }
        // A torn fourth entry, and a log that ends before the third marker.
        let path = dir.path().join(ABORTED_INDEX_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).expect("open file");
        f.write_all(&[1, 2, 3]).expect("tear");
        drop(f);
        let index = AbortedIndex::open(dir.path(), 0, 15).expect("reopen");
        assert_eq!(index.overlapping(0, u64::MAX), vec![entry(1, 0, 5), entry(2, 3, 9)]);
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 48);
    }

    #[test]
    fn overlapping_names_the_transactions_with_records_in_the_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut index = AbortedIndex::open(dir.path(), 0, 0).expect("open");
        index.append(entry(1, 0, 5)).expect("append");
        index.append(entry(2, 2, 9)).expect("append");
        index.append(entry(3, 12, 20)).expect("append");
        assert_eq!(index.overlapping(6, 12), vec![entry(2, 2, 9)]);
        assert_eq!(index.overlapping(0, 3), vec![entry(1, 0, 5), entry(2, 2, 9)]);
        assert_eq!(index.overlapping(21, 30), vec![]);
        assert!(index.contains_marker(9) && !index.contains_marker(8));
    }

    #[test]
    fn pruning_drops_transactions_below_the_log_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut index = AbortedIndex::open(dir.path(), 0, 0).expect("open");
        for i in 0..4u64 {
            index.append(entry(i as i64, i * 10, i * 10 + 5)).expect("append");
        }
        index.prune(26).expect("prune");
        assert_eq!(index.len(), 1);
        let reopened = AbortedIndex::open(dir.path(), 26, 100).expect("reopen");
        assert_eq!(reopened.overlapping(0, u64::MAX), vec![entry(3, 30, 35)]);
    }
}
