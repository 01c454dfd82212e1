//! The message store of a queue: the few log operations the engine needs, behind a trait so
//! that the engine runs over a ferry-log on disk or, in unit tests, over memory.

use std::collections::BTreeMap;
use std::sync::Mutex;

use ferry_log::{Log, ReadError};

/// A queue's append-only message log (RecordBatch v2 batches, offsets assigned on append).
pub trait MessageLog: Send + Sync {
    /// Appends one batch without waiting for durability; returns (base offset, last offset).
    fn append_no_sync(&self, batch: &[u8]) -> Result<(u64, u64), String>;
    /// Blocks until every offset below `offset` is durable.
    fn sync_to(&self, offset: u64) -> Result<(), String>;
    /// Whole batches from the one containing `offset`, up to about `max_bytes` (at least one).
    fn read(&self, offset: u64, max_bytes: usize) -> Result<Vec<u8>, String>;
    /// First offset still in the log.
    fn start_offset(&self) -> u64;
    /// Offset the next append gets.
    fn next_offset(&self) -> u64;
    /// Drops everything below `offset` (whole segments on disk).
    fn advance_start_offset(&self, offset: u64) -> Result<(), String>;
    /// Bytes on disk.
    fn size_bytes(&self) -> u64;
    /// Removes the log and its files.
    fn destroy(&self) -> Result<(), String>;
}

/// A log in memory, for tests of the engine.
#[derive(Debug, Default)]
pub struct MemoryLog {
    inner: Mutex<MemInner>,
}

#[derive(Debug, Default)]
struct MemInner {
    /// base offset -> (last offset, batch bytes with the base offset written in).
    batches: BTreeMap<u64, (u64, Vec<u8>)>,
    next: u64,
    start: u64,
    size: u64,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> MemoryLog {
        MemoryLog::default()
    }
}

impl MessageLog for MemoryLog {
    fn append_no_sync(&self, batch: &[u8]) -> Result<(u64, u64), String> {
        if batch.len() < 61 {
            return Err("batch too short".into());
        }
        let mut inner = self.inner.lock().map_err(|_| "poisoned")?;
        let count = i32::from_be_bytes([batch[57], batch[58], batch[59], batch[60]]).max(1) as u64;
        let base = inner.next;
        let mut bytes = batch.to_vec();
        bytes[..8].copy_from_slice(&(base as i64).to_be_bytes());
        inner.size += bytes.len() as u64;
        inner.batches.insert(base, (base + count - 1, bytes));
        inner.next = base + count;
        Ok((base, base + count - 1))
    }

    fn sync_to(&self, _offset: u64) -> Result<(), String> {
        Ok(())
    }

    fn read(&self, offset: u64, max_bytes: usize) -> Result<Vec<u8>, String> {
        let inner = self.inner.lock().map_err(|_| "poisoned")?;
        let first = inner.batches.range(..=offset).next_back().map(|(&b, _)| b).unwrap_or(offset);
        let mut out = Vec::new();
        for (_, (_, bytes)) in inner.batches.range(first..) {
            if !out.is_empty() && out.len() + bytes.len() > max_bytes {
                break;
            }
            out.extend_from_slice(bytes);
        }
        Ok(out)
    }

    fn start_offset(&self) -> u64 {
        self.inner.lock().map(|i| i.start).unwrap_or(0)
    }

    fn next_offset(&self) -> u64 {
        self.inner.lock().map(|i| i.next).unwrap_or(0)
    }

    fn advance_start_offset(&self, offset: u64) -> Result<(), String> {
        let mut inner = self.inner.lock().map_err(|_| "poisoned")?;
        let gone: Vec<u64> =
            inner.batches.iter().take_while(|(_, (last, _))| *last < offset).map(|(&b, _)| b).collect();
        for b in gone {
            if let Some((_, bytes)) = inner.batches.remove(&b) {
                inner.size -= bytes.len() as u64;
            }
        }
        inner.start = inner.start.max(offset);
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        self.inner.lock().map(|i| i.size).unwrap_or(0)
    }

    fn destroy(&self) -> Result<(), String> {
        let mut inner = self.inner.lock().map_err(|_| "poisoned")?;
        inner.batches.clear();
        inner.size = 0;
        Ok(())
    }
}

/// A queue's messages in a ferry-log on disk.
impl MessageLog for Log {
    fn append_no_sync(&self, batch: &[u8]) -> Result<(u64, u64), String> {
        let info = Log::append_no_sync(self, batch).map_err(|e| e.to_string())?;
        Ok((info.base_offset, info.last_offset))
    }

    fn sync_to(&self, offset: u64) -> Result<(), String> {
        Log::sync_to(self, offset).map_err(|e| e.to_string())
    }

    fn read(&self, offset: u64, max_bytes: usize) -> Result<Vec<u8>, String> {
        match Log::read(self, offset, max_bytes, self.next_offset()) {
            Ok(r) => Ok(r.bytes),
            // Below the start the message is gone (settled segments deleted); past the end there
            // is nothing yet.
            Err(ReadError::OffsetOutOfRange { .. }) => Ok(Vec::new()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn start_offset(&self) -> u64 {
        self.log_start_offset()
    }

    fn next_offset(&self) -> u64 {
        Log::next_offset(self)
    }

    fn advance_start_offset(&self, offset: u64) -> Result<(), String> {
        Log::advance_start_offset(self, offset).map_err(|e| e.to_string())
    }

    fn size_bytes(&self) -> u64 {
        Log::size_bytes(self)
    }

    fn destroy(&self) -> Result<(), String> {
        // The queue removes its whole directory, this log's included.
        Ok(())
    }
}
