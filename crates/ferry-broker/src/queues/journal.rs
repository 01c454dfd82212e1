//! The delivery journal of a queue: acks, dead-letters, expiries and delivery counts, appended
//! beside the message log, checkpointed and truncated.
//!
//! Files in the queue directory:
//! - `journal`: an 8-byte generation, then fixed 17-byte records
//!   `tag u8 | offset u64 BE | arg u32 BE | crc32c u32 BE (of the 13 bytes before)`;
//!   a torn or corrupt tail is cut at recovery.
//! - `checkpoint.json`: the settled ranges, delivery counts and counters as of the end of
//!   journal generation `generation`.
//!
//! A checkpoint is written to `checkpoint.json.tmp`, fsynced, renamed, the directory fsynced;
//! then a fresh `journal` of the next generation replaces the old one the same way. Recovery
//! loads the checkpoint and replays the journal only when its generation is newer, so a crash
//! anywhere in that sequence neither loses nor double-counts a record.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ferry_log::{Disk, DiskFile};

use serde::{Deserialize, Serialize};

use super::ranges::RangeSet;
use super::state::{Counters, JournalOp, SettleReason};

const RECORD_LEN: usize = 17;
const HEADER_LEN: usize = 8;
const TAG_DELIVERED: u8 = 1;
const TAG_SETTLED: u8 = 2;
const TAG_PURGED: u8 = 3;

/// What recovery rebuilds from the checkpoint and the journal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Journal generation this snapshot covers.
    pub generation: u64,
    /// Settled offsets.
    pub settled: RangeSet,
    /// Delivery counts of unsettled messages.
    pub counts: Vec<(u64, u32)>,
    /// Counters.
    pub counters: Counters,
}

impl Snapshot {
    fn apply(&mut self, op: &JournalOp, counts: &mut HashMap<u64, u32>) {
        match *op {
            JournalOp::Delivered { offset, count } => {
                if !self.settled.contains(offset) {
                    let c = counts.entry(offset).or_default();
                    *c = (*c).max(count);
                }
            }
            JournalOp::Settled { offset, reason } => {
                self.settled.insert(offset);
                counts.remove(&offset);
                self.counters.count(reason);
            }
            JournalOp::Purged { end } => {
                self.settled.insert_range(0, end);
                counts.retain(|&o, _| o >= end);
            }
        }
    }
}

fn reason_code(r: SettleReason) -> u32 {
    match r {
        SettleReason::Acked => 0,
        SettleReason::DeadLettered => 1,
        SettleReason::ExpiredDeadLettered => 2,
        SettleReason::Expired => 3,
        SettleReason::Dropped => 4,
    }
}

fn reason_of(code: u32) -> Option<SettleReason> {
    Some(match code {
        0 => SettleReason::Acked,
        1 => SettleReason::DeadLettered,
        2 => SettleReason::ExpiredDeadLettered,
        3 => SettleReason::Expired,
        4 => SettleReason::Dropped,
        _ => return None,
    })
}

fn encode(op: &JournalOp, out: &mut Vec<u8>) {
    let (tag, offset, arg) = match *op {
        JournalOp::Delivered { offset, count } => (TAG_DELIVERED, offset, count),
        JournalOp::Settled { offset, reason } => (TAG_SETTLED, offset, reason_code(reason)),
        JournalOp::Purged { end } => (TAG_PURGED, end, 0),
    };
    let start = out.len();
    out.push(tag);
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&arg.to_be_bytes());
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn decode(rec: &[u8]) -> Option<JournalOp> {
    let crc = u32::from_be_bytes(rec[13..17].try_into().ok()?);
    if crc32c::crc32c(&rec[..13]) != crc {
        return None;
    }
    let offset = u64::from_be_bytes(rec[1..9].try_into().ok()?);
    let arg = u32::from_be_bytes(rec[9..13].try_into().ok()?);
    match rec[0] {
        TAG_DELIVERED => Some(JournalOp::Delivered { offset, count: arg }),
        TAG_SETTLED => Some(JournalOp::Settled { offset, reason: reason_of(arg)? }),
        TAG_PURGED => Some(JournalOp::Purged { end: offset }),
        _ => None,
    }
}

fn write_atomically(disk: &dyn Disk, dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let f = disk.open(&tmp, true)?;
    f.set_len(0)?;
    f.write_all_at(bytes, 0)?;
    f.sync_data()?;
    disk.rename(&tmp, &dir.join(name))?;
    disk.sync_dir(dir)
}

fn read_all(disk: &dyn Disk, path: &Path) -> io::Result<Option<Vec<u8>>> {
    if !disk.exists(path)? {
        return Ok(None);
    }
    let f = disk.open(path, false)?;
    let len = usize::try_from(f.len()?).map_err(io::Error::other)?;
    let mut buf = vec![0; len];
    f.read_exact_at(&mut buf, 0)?;
    Ok(Some(buf))
}

struct Writer {
    file: Arc<dyn DiskFile>,
    generation: u64,
    /// Records written in this process (a sequence for group commit).
    written: u64,
    /// Length of the file, where the next record goes.
    bytes: u64,
}

/// An open journal. `append` is called under the queue lock; `sync_to` by anyone waiting for
/// durability, outside it: one fsync serves every waiter (group commit).
pub struct Journal {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    writer: Mutex<Writer>,
    /// (sequence known durable, the file to fsync).
    synced: Mutex<(u64, Arc<dyn DiskFile>)>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("dir", &self.dir).finish()
    }
}

fn poisoned() -> io::Error {
    io::Error::other("journal lock poisoned")
}

impl Journal {
    /// Opens the journal in `dir` (creating it), returning it with the recovered snapshot.
    pub fn open(disk: Arc<dyn Disk>, dir: &Path) -> io::Result<(Journal, Snapshot)> {
        disk.create_dir_all(dir)?;
        let mut snap: Snapshot = match read_all(disk.as_ref(), &dir.join("checkpoint.json"))? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            }
            None => Snapshot::default(),
        };
        let path = dir.join("journal");
        let bytes = read_all(disk.as_ref(), &path)?.unwrap_or_default();
        let mut counts: HashMap<u64, u32> = snap.counts.iter().copied().collect();
        let mut generation = snap.generation + 1;
        let mut valid = 0;
        if let Some(head) = bytes.get(..HEADER_LEN) {
            let mut g = [0u8; HEADER_LEN];
            g.copy_from_slice(head);
            let file_gen = u64::from_be_bytes(g);
            if file_gen > snap.generation {
                generation = file_gen;
                valid = HEADER_LEN;
                for rec in bytes[HEADER_LEN..].chunks(RECORD_LEN) {
                    let Some(op) = (rec.len() == RECORD_LEN).then(|| decode(rec)).flatten() else { break };
                    snap.apply(&op, &mut counts);
                    valid += RECORD_LEN;
                }
            }
        }
        if valid == 0 {
            // No journal of a newer generation: start one.
            write_atomically(disk.as_ref(), dir, "journal", &generation.to_be_bytes())?;
        }
        let file: Arc<dyn DiskFile> = Arc::from(disk.open(&path, false)?);
        if valid > 0 && (valid as u64) < bytes.len() as u64 {
            tracing::warn!(journal = %path.display(), kept = valid, len = bytes.len(), "cutting a torn journal tail");
            file.set_len(valid as u64)?;
            file.sync_data()?;
        }
        let len = if valid == 0 { HEADER_LEN as u64 } else { valid as u64 };
        snap.generation = generation - 1;
        let mut c: Vec<(u64, u32)> = counts.into_iter().collect();
        c.sort_unstable();
        snap.counts = c;
        let journal = Journal {
            disk,
            dir: dir.to_path_buf(),
            writer: Mutex::new(Writer { file: file.clone(), generation, written: 0, bytes: len }),
            synced: Mutex::new((0, file)),
        };
        Ok((journal, snap))
    }

    /// Writes `ops` (not yet durable); returns the sequence to pass to `sync_to`.
    pub fn append(&self, ops: &[JournalOp]) -> io::Result<u64> {
        let mut w = self.writer.lock().map_err(|_| poisoned())?;
        if ops.is_empty() {
            return Ok(w.written);
        }
        let mut buf = Vec::with_capacity(ops.len() * RECORD_LEN);
        for op in ops {
            encode(op, &mut buf);
        }
        w.file.write_all_at(&buf, w.bytes)?;
        w.written += ops.len() as u64;
        w.bytes += buf.len() as u64;
        Ok(w.written)
    }

    /// Blocks until every record up to `seq` is on disk.
    pub fn sync_to(&self, seq: u64) -> io::Result<()> {
        // Read the target before taking `synced`: `checkpoint` takes the locks the other way round.
        let target = self.writer.lock().map(|w| w.written).unwrap_or(seq);
        let mut synced = self.synced.lock().map_err(|_| poisoned())?;
        if synced.0 >= seq {
            return Ok(());
        }
        let started = std::time::Instant::now();
        synced.1.sync_data()?;
        crate::telemetry::JOURNAL_FSYNC_LATENCY.observe_duration(started.elapsed());
        synced.0 = target;
        Ok(())
    }

    /// Bytes in the current journal file.
    pub fn len_bytes(&self) -> u64 {
        self.writer.lock().map(|w| w.bytes).unwrap_or(0)
    }

    /// Writes `snap` as the checkpoint and starts an empty journal of the next generation.
    /// The caller holds the queue lock so that no record is appended meanwhile.
    pub fn checkpoint(&self, mut snap: Snapshot) -> io::Result<()> {
        let mut w = self.writer.lock().map_err(|_| poisoned())?;
        let mut synced = self.synced.lock().map_err(|_| poisoned())?;
        snap.generation = w.generation;
        let bytes = serde_json::to_vec(&snap).map_err(io::Error::other)?;
        write_atomically(self.disk.as_ref(), &self.dir, "checkpoint.json", &bytes)?;
        let next = w.generation + 1;
        write_atomically(self.disk.as_ref(), &self.dir, "journal", &next.to_be_bytes())?;
        let file: Arc<dyn DiskFile> = Arc::from(self.disk.open(&self.dir.join("journal"), false)?);
        synced.1 = file.clone();
        synced.0 = w.written;
        w.file = file;
        w.generation = next;
        w.bytes = HEADER_LEN as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ferry_log::StdDisk;

    use super::*;

    #[test]
    fn journal_records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (j, snap) = Journal::open(Arc::new(StdDisk), dir.path()).unwrap();
        assert_eq!(snap.settled.range_count(), 0);
        let seq = j
            .append(&[
                JournalOp::Delivered { offset: 3, count: 2 },
                JournalOp::Settled { offset: 1, reason: SettleReason::Acked },
                JournalOp::Settled { offset: 2, reason: SettleReason::DeadLettered },
            ])
            .unwrap();
        j.sync_to(seq).unwrap();
        drop(j);
        let (_, snap) = Journal::open(Arc::new(StdDisk), dir.path()).unwrap();
        assert!(snap.settled.contains(1) && snap.settled.contains(2));
        assert_eq!(snap.counts, vec![(3, 2)]);
        assert_eq!(snap.counters.dead_lettered, 1);
    }

    #[test]
    fn a_torn_journal_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _) = Journal::open(Arc::new(StdDisk), dir.path()).unwrap();
        j.append(&[JournalOp::Settled { offset: 7, reason: SettleReason::Acked }]).unwrap();
        drop(j);
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join("journal")).unwrap();
        std::io::Write::write_all(&mut f, &[TAG_SETTLED, 0, 0, 0]).unwrap();
        drop(f);
        let (j, snap) = Journal::open(Arc::new(StdDisk), dir.path()).unwrap();
        assert!(snap.settled.contains(7));
        assert_eq!(j.len_bytes(), (HEADER_LEN + RECORD_LEN) as u64);
    }

    #[test]
    fn a_checkpoint_replaces_the_journal_without_double_counting() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _) = Journal::open(Arc::new(StdDisk), dir.path()).unwrap();
        j.append(&[JournalOp::Settled { offset: 0, reason: SettleReason::Expired }]).unwrap();
        drop(j);
        let (j, snap) = Journal::open(Arc::new(StdDisk), dir.path()).unwrap();
        j.checkpoint(snap).unwrap();
        j.append(&[JournalOp::Settled { offset: 1, reason: SettleReason::Expired }]).unwrap();
        drop(j);
        let (_, snap) = Journal::open(Arc::new(StdDisk), dir.path()).unwrap();
        assert_eq!(snap.counters.expired, 2);
        assert_eq!(snap.settled.skip(0), 2);
    }
}
