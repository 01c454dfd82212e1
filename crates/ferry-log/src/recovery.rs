//! Opening a log: clean up interrupted operations, load closed segments, validate the unsynced
//! tail from the recovery checkpoint on, truncate what is torn.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use crate::checkpoint::{self, Checkpoint};
use crate::compact;
use crate::config::{Clock, LogConfig, SystemClock};
use crate::disk::{Disk, StdDisk};
use crate::error::{OpenError, StorageError};
use crate::log::{Log, SyncState, Writer};
use crate::segment::{RecoverFrom, Segment, log_name};

fn parse_base(name: &str, ext: &str) -> Option<u64> {
    let stem = name.strip_suffix(ext)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

fn remove(disk: &Arc<dyn Disk>, path: &Path) -> Result<(), StorageError> {
    match disk.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io("remove", path, e)),
    }
}

impl Log {
    /// Opens (creating if missing) the log in `dir`, recovering the tail of the active segment.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Log, OpenError> {
        Log::open_with(dir, config, Arc::new(StdDisk))
    }

    /// Opens the log through the given [`Disk`] (tests pass a fault-injecting one).
    pub fn open_with(
        dir: impl AsRef<Path>,
        config: LogConfig,
        disk: Arc<dyn Disk>,
    ) -> Result<Log, OpenError> {
        Log::open_with_clock(dir, config, disk, Arc::new(SystemClock))
    }

    /// Opens the log with an injected clock (segment age and `IntervalMs` durability use it).
    pub fn open_with_clock(
        dir: impl AsRef<Path>,
        config: LogConfig,
        disk: Arc<dyn Disk>,
        clock: Arc<dyn Clock>,
    ) -> Result<Log, OpenError> {
        config.validate().map_err(OpenError::InvalidConfig)?;
        let dir = dir.as_ref().to_path_buf();
        disk.create_dir_all(&dir).map_err(|e| StorageError::io("create dir", &dir, e))?;
        let names = disk.list(&dir).map_err(|e| StorageError::io("list", &dir, e))?;
        for name in names.iter().filter(|n| n.ends_with(".tmp")) {
            remove(&disk, &dir.join(name))?;
        }
        compact::finish_or_abort_swaps(&disk, &dir, &names)?;
        let names = disk.list(&dir).map_err(|e| StorageError::io("list", &dir, e))?;
        let mut bases: Vec<u64> = names.iter().filter_map(|n| parse_base(n, ".log")).collect();
        bases.sort_unstable();
        for name in &names {
            let orphan = [".index", ".timeindex"]
                .iter()
                .filter_map(|ext| parse_base(name, ext))
                .any(|b| bases.binary_search(&b).is_err());
            if orphan {
                remove(&disk, &dir.join(name))?;
            }
        }
        let cp = checkpoint::read(&disk, &dir)?;
        let interval = config.index_interval_bytes;

        if bases.is_empty() {
            let base = cp.map_or(0, |c| c.next_offset.max(c.log_start_offset));
            Segment::create(&disk, &dir, base)?;
            disk.sync_dir(&dir).map_err(|e| StorageError::io("fsync dir", &dir, e))?;
            bases.push(base);
        }

        let mut log_start = cp.map_or(bases[0], |c| c.log_start_offset).max(bases[0]);
        // Segments entirely below the log start were being deleted when the process stopped.
        while bases.len() > 1 && bases[1] <= log_start {
            let base = bases.remove(0);
            for ext in [".log", ".index", ".timeindex"] {
                remove(&disk, &dir.join(format!("{base:020}{ext}")))?;
            }
        }
        log_start = log_start.max(bases[0]);

        let (first_unchecked, from) = match cp {
            Some(c) => match bases.binary_search(&c.segment_base) {
                Ok(i) => (
                    i,
                    RecoverFrom {
                        position: c.position,
                        next_offset: c.next_offset,
                        max_timestamp: c.max_timestamp,
                        offset_of_max_timestamp: c.offset_of_max_timestamp,
                    },
                ),
                Err(i) => {
                    let i = i.min(bases.len() - 1);
                    (i, RecoverFrom::start(bases[i]))
                }
            },
            None => (0, RecoverFrom::start(bases[0])),
        };

        let mut segments = BTreeMap::new();
        for i in 0..first_unchecked {
            let seg = Segment::open_closed(&disk, &dir, bases[i], bases[i + 1], interval)?;
            segments.insert(bases[i], Arc::new(seg));
        }
        let mut i = first_unchecked;
        while i < bases.len() {
            let start = if i == first_unchecked { from } else { RecoverFrom::start(bases[i]) };
            let (seg, clean) = Segment::recover(&disk, &dir, bases[i], start, interval)?;
            let is_last = i + 1 == bases.len();
            if !is_last && clean {
                seg.seal()?;
                seg.sync_all()?;
                seg.meta_mut().next_offset = bases[i + 1];
                segments.insert(bases[i], Arc::new(seg));
                i += 1;
                continue;
            }
            if !is_last {
                // Everything after the first invalid batch goes, so the log stays a prefix.
                for &later in &bases[i + 1..] {
                    tracing::warn!(segment = later, "deleting segment after truncated tail");
                    for ext in [".log", ".index", ".timeindex"] {
                        remove(&disk, &dir.join(format!("{later:020}{ext}")))?;
                    }
                }
            }
            segments.insert(bases[i], Arc::new(seg));
            break;
        }

        let active = segments
            .values()
            .next_back()
            .cloned()
            .ok_or_else(|| StorageError::io("open", dir.join(log_name(0)), missing()))?;
        active.sync_all()?;
        disk.sync_dir(&dir).map_err(|e| StorageError::io("fsync dir", &dir, e))?;
        let (size, next, max_ts, off_max) = {
            let m = active.meta();
            (m.size, m.next_offset, m.max_timestamp, m.offset_of_max_timestamp)
        };
        let log_start = log_start.min(next);
        let new_cp = Checkpoint {
            log_start_offset: log_start,
            segment_base: active.base_offset,
            position: size,
            next_offset: next,
            max_timestamp: max_ts,
            offset_of_max_timestamp: off_max,
        };
        let mut written = new_cp;
        if cp != Some(new_cp)
            && let Err(e) = checkpoint::write(&disk, &dir, &new_cp)
        {
            // An older checkpoint only makes the next recovery validate more; a log on a full
            // disk still opens (and serves reads) this way.
            tracing::warn!(dir = %dir.display(), error = %e, "recovery checkpoint not written");
            written = cp.unwrap_or(Checkpoint { segment_base: bases[0], position: 0, ..new_cp });
        }
        Ok(Log {
            dir,
            disk,
            clock,
            config: RwLock::new(config),
            writer: Mutex::new(Writer { active, scratch: Vec::new() }),
            segments: RwLock::new(segments),
            next_offset: AtomicU64::new(next),
            log_start: AtomicU64::new(log_start),
            durable: AtomicU64::new(next),
            failed: AtomicBool::new(false),
            sync_state: Mutex::new(SyncState::default()),
            sync_cv: Condvar::new(),
            last_sync_ms: AtomicI64::new(0),
            checkpoint: Mutex::new(written),
            maintenance: Mutex::new(()),
        })
    }
}

fn missing() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotFound, "no segment after recovery")
}
