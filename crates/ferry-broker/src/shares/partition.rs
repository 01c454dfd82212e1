//! One share-partition: a group's [`ShareState`] over one topic partition, its delivery journal,
//! and the reads that hand acquired records out. Every method touches the disk (journal writes,
//! log reads): call them from the blocking pool.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use ferry_log::Disk;

use crate::queues::codec::{self, StoredMessage};
use crate::queues::journal::{Journal, Snapshot};
use crate::queues::ranges::RangeSet;
use crate::queues::state::{JournalOp, Outgoing, SettleReason};
use crate::topics::Partition;

use super::config::{AutoOffsetReset, ShareGroupConfig};
use super::state::{AckError, AckKind, AcquiredRange, LogBounds, ShareState, ShareStats};

/// Journal size past which a share-partition writes a checkpoint and starts a new journal.
const JOURNAL_BYTES_MAX: u64 = 1 << 20;
/// Bytes read at a time when collecting the batches of acquired records.
const READ_CHUNK_BYTES: usize = 1 << 20;

/// Records handed to a member: whole batches covering its acquired runs, and the runs.
#[derive(Debug, Default)]
pub struct Acquisition {
    /// RecordBatch v2 bytes, in offset order, each batch once.
    pub records: Bytes,
    /// The runs the member holds; other records in `records` are not its to process.
    pub ranges: Vec<AcquiredRange>,
}

/// One group's share of one topic partition.
pub struct SharePartition {
    partition: Arc<Partition>,
    topic_id: u128,
    dir: PathBuf,
    journal: Journal,
    state: Mutex<ShareState>,
}

impl std::fmt::Debug for SharePartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharePartition").field("dir", &self.dir).finish()
    }
}

fn storage(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl SharePartition {
    /// Opens the share-partition kept in `dir`, or starts one there where `reset` says.
    pub fn open(
        disk: Arc<dyn Disk>,
        dir: &Path,
        partition: Arc<Partition>,
        topic_id: u128,
        reset: AutoOffsetReset,
    ) -> io::Result<SharePartition> {
        let fresh = !disk.exists(dir)?;
        let (journal, snap) = Journal::open(disk, dir)?;
        let state = if fresh {
            let offsets = partition.offsets();
            let start = match reset {
                AutoOffsetReset::Latest => offsets.high_watermark,
                AutoOffsetReset::Earliest => offsets.log_start_offset,
            };
            let seq = journal.append(&[JournalOp::Purged { end: start }])?;
            journal.sync_to(seq)?;
            ShareState::new(start)
        } else {
            ShareState::restore(&snap.settled, &snap.counts, snap.counters)
        };
        Ok(SharePartition { partition, topic_id, dir: dir.to_path_buf(), journal, state: Mutex::new(state) })
    }

    /// The topic partition this share-partition reads.
    pub fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }

    /// The id of its topic.
    pub fn topic_id(&self) -> u128 {
        self.topic_id
    }

    /// The directory of its journal.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> MutexGuard<'_, ShareState> {
        // The state is plain data: a panic under the lock leaves it usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bounds(&self) -> LogBounds {
        LogBounds { log_start: self.partition.offsets().log_start_offset }
    }

    /// Writes the state's pending events; the sequence to sync to.
    fn journal(&self, state: &mut ShareState) -> io::Result<u64> {
        self.journal.append(&state.take_events())
    }

    /// Acquires up to `max_records` records for `member` and reads the batches that hold them.
    /// Also returns records found at the delivery limit on the way (to dead-letter).
    pub fn acquire(
        &self,
        member: &Arc<str>,
        max_records: usize,
        now_ms: i64,
        config: &ShareGroupConfig,
    ) -> io::Result<(Acquisition, Vec<Outgoing>)> {
        let mut src = self.bounds();
        let (ranges, out) = {
            let mut st = self.lock();
            st.extend_to(self.partition.high_watermark(), now_ms);
            let acquired = st.acquire(member, max_records, now_ms, config, &mut src);
            self.journal(&mut st)?;
            acquired
        };
        if ranges.is_empty() {
            return Ok((Acquisition::default(), out));
        }
        let records = self.read_ranges(&ranges)?;
        Ok((Acquisition { records, ranges }, out))
    }

    /// Whole batches covering `ranges`, each batch once, in offset order.
    fn read_ranges(&self, ranges: &[AcquiredRange]) -> io::Result<Bytes> {
        let mut out = BytesMut::new();
        // One past the last offset of the batches already taken.
        let mut covered = 0u64;
        for r in ranges {
            let mut at = r.first.max(covered);
            while at <= r.last {
                let read = match self.partition.read(at, READ_CHUNK_BYTES, true) {
                    Ok(read) => read.records,
                    // Gone below the log start: nothing left to hand out for these offsets.
                    Err(crate::topics::FetchError::OffsetOutOfRange { .. }) => break,
                    Err(e) => return Err(storage(e)),
                };
                if read.is_empty() {
                    break;
                }
                let mut pos = 0;
                // The read starts at the batch holding `at`, and `at` is past every batch taken.
                while let Some((last, len)) = batch_bounds(&read[pos..]) {
                    if last >= at {
                        out.extend_from_slice(&read[pos..pos + len]);
                        covered = last + 1;
                    }
                    pos += len;
                    if covered > r.last {
                        break;
                    }
                }
                if covered <= at {
                    break;
                }
                at = covered;
            }
        }
        Ok(out.freeze())
    }

    /// Applies `member`'s acknowledgements (`first..=last` with one kind, or one kind per
    /// offset) and syncs the journal. Returns the first refusal, if any, and the records to
    /// dead-letter; acknowledgements of other offsets still take effect.
    pub fn acknowledge(
        &self,
        member: &str,
        batches: &[(u64, u64, Vec<AckKind>)],
        now_ms: i64,
        config: &ShareGroupConfig,
    ) -> io::Result<(Option<AckError>, Vec<Outgoing>)> {
        let mut first_error = None;
        let mut leaving = Vec::new();
        let seq = {
            let mut st = self.lock();
            for (first, last, kinds) in batches {
                for offset in *first..=*last {
                    let i = (offset - first) as usize;
                    let Some(&kind) = kinds.get(i).or(kinds.first().filter(|_| kinds.len() == 1)) else {
                        continue;
                    };
                    match st.acknowledge(member, offset, kind, now_ms, config) {
                        Ok(out) => leaving.extend(out),
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
            self.journal(&mut st)?
        };
        self.journal.sync_to(seq)?;
        self.maybe_checkpoint()?;
        Ok((first_error, leaving))
    }

    /// Releases what `member` holds (it left, or closed its share session).
    pub fn release_member(
        &self,
        member: &str,
        now_ms: i64,
        config: &ShareGroupConfig,
    ) -> io::Result<Vec<Outgoing>> {
        let mut st = self.lock();
        let out = st.release_member(member, now_ms, config);
        self.journal(&mut st)?;
        Ok(out)
    }

    /// Ends the locks that ran out; returns the records to dead-letter and whether any record
    /// became available.
    pub fn tick(&self, now_ms: i64, config: &ShareGroupConfig) -> io::Result<(Vec<Outgoing>, bool)> {
        let mut src = self.bounds();
        let mut st = self.lock();
        let before = st.stats().acquired;
        let out = st.tick(now_ms, config, &mut src);
        let freed = st.stats().acquired < before;
        self.journal(&mut st)?;
        Ok((out, freed))
    }

    /// The earliest lock expiry.
    pub fn next_deadline(&self, config: &ShareGroupConfig) -> Option<i64> {
        let mut src = self.bounds();
        self.lock().next_deadline(config, &mut src)
    }

    /// The stored records at `offsets` (those still in the log), for dead-lettering.
    pub fn read_messages(&self, offsets: &[u64]) -> io::Result<Vec<StoredMessage>> {
        let mut found = Vec::new();
        for &offset in offsets {
            let read = match self.partition.read(offset, 1, true) {
                Ok(read) => read.records,
                Err(crate::topics::FetchError::OffsetOutOfRange { .. }) => continue,
                Err(e) => return Err(storage(e)),
            };
            let mut msgs = Vec::new();
            codec::decode_batches(&read, offset, &mut msgs).map_err(storage)?;
            if let Some(m) = msgs.into_iter().find(|m| m.offset == offset) {
                found.push(m);
            }
        }
        Ok(found)
    }

    /// Archives records handed out for dead-lettering; `reason` says whether the queue took them.
    pub fn finish_leaving(&self, offsets: &[u64], reason: SettleReason) -> io::Result<()> {
        let seq = {
            let mut st = self.lock();
            for &o in offsets {
                st.finish_leaving(o, reason);
            }
            self.journal(&mut st)?
        };
        self.journal.sync_to(seq)
    }

    /// Moves the start offset to `offset`: every record below is archived, every record from
    /// it on available with no delivery counted (AlterShareGroupOffsets; the group is empty).
    pub fn reset_to(&self, offset: u64) -> io::Result<()> {
        let mut st = self.lock();
        let mut settled = RangeSet::new();
        settled.insert_range(0, offset);
        let snap = Snapshot {
            generation: 0,
            settled: settled.clone(),
            counts: Vec::new(),
            counters: Default::default(),
        };
        self.journal.checkpoint(snap)?;
        *st = ShareState::restore(&settled, &[], Default::default());
        Ok(())
    }

    /// Figures for describe and metrics.
    pub fn stats(&self) -> ShareStats {
        self.lock().stats()
    }

    /// Writes a checkpoint when the journal has grown past its bound.
    fn maybe_checkpoint(&self) -> io::Result<()> {
        if self.journal.len_bytes() < JOURNAL_BYTES_MAX {
            return Ok(());
        }
        let mut st = self.lock();
        self.journal(&mut st)?;
        let (settled, counts, counters) = st.checkpoint();
        self.journal.checkpoint(Snapshot { generation: 0, settled, counts, counters })
    }
}

/// (last offset, length) of the RecordBatch at the head of `bytes`, if whole.
fn batch_bounds(bytes: &[u8]) -> Option<(u64, usize)> {
    let base = i64::from_be_bytes(bytes.get(0..8)?.try_into().ok()?);
    let len = i32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
    let delta = i32::from_be_bytes(bytes.get(23..27)?.try_into().ok()?);
    let total = 12usize.checked_add(usize::try_from(len).ok()?)?;
    if bytes.len() < total || base < 0 || delta < 0 {
        return None;
    }
    Some((base as u64 + delta as u64, total))
}
