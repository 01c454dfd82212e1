//! The `checkpoint` file: log start offset and the recovery point (a durable position in the log
//! below which recovery need not validate anything).
//!
//! Layout (64 bytes, big endian): magic `b"FERRYCKP"`, version u32 (1), log start offset u64,
//! recovery segment base u64, recovery position u64, recovery next offset u64, max timestamp i64
//! and offset of max timestamp u64 of the recovery segment up to the recovery position, CRC32C u32
//! of the preceding 60 bytes. Replaced atomically: write `checkpoint.tmp`, fsync it, rename over
//! `checkpoint`, fsync the directory.

use std::path::Path;
use std::sync::Arc;

use crate::disk::Disk;
use crate::error::StorageError;

const MAGIC: &[u8; 8] = b"FERRYCKP";
const VERSION: u32 = 1;
/// Encoded size of a checkpoint.
pub(crate) const CHECKPOINT_LEN: usize = 64;
/// File name of the checkpoint inside a log directory.
pub(crate) const CHECKPOINT_FILE: &str = "checkpoint";
const CHECKPOINT_TMP: &str = "checkpoint.tmp";

/// Durable facts about a log that recovery starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub log_start_offset: u64,
    pub segment_base: u64,
    pub position: u64,
    pub next_offset: u64,
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: u64,
}

impl Checkpoint {
    pub(crate) fn encode(&self) -> [u8; CHECKPOINT_LEN] {
        let mut b = [0u8; CHECKPOINT_LEN];
        b[0..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_be_bytes());
        b[12..20].copy_from_slice(&self.log_start_offset.to_be_bytes());
        b[20..28].copy_from_slice(&self.segment_base.to_be_bytes());
        b[28..36].copy_from_slice(&self.position.to_be_bytes());
        b[36..44].copy_from_slice(&self.next_offset.to_be_bytes());
        b[44..52].copy_from_slice(&self.max_timestamp.to_be_bytes());
        b[52..60].copy_from_slice(&self.offset_of_max_timestamp.to_be_bytes());
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// Decodes a checkpoint; `None` when the bytes are not a whole, intact version-1 checkpoint.
    pub(crate) fn decode(b: &[u8]) -> Option<Checkpoint> {
        if b.len() != CHECKPOINT_LEN || &b[0..8] != MAGIC {
            return None;
        }
        let u32_at = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let u64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            u64::from_be_bytes(a)
        };
        if u32_at(8) != VERSION || u32_at(60) != crc32c::crc32c(&b[..60]) {
            return None;
        }
        Some(Checkpoint {
            log_start_offset: u64_at(12),
            segment_base: u64_at(20),
            position: u64_at(28),
            next_offset: u64_at(36),
            max_timestamp: u64_at(44) as i64,
            offset_of_max_timestamp: u64_at(52),
        })
    }
}

/// Reads the checkpoint of `dir`; `Ok(None)` when missing or damaged (recovery then validates more).
pub(crate) fn read(disk: &Arc<dyn Disk>, dir: &Path) -> Result<Option<Checkpoint>, StorageError> {
    let path = dir.join(CHECKPOINT_FILE);
    if !disk.exists(&path).map_err(|e| StorageError::io("stat", &path, e))? {
        return Ok(None);
    }
    let file = disk.open(&path, false).map_err(|e| StorageError::io("open", &path, e))?;
    let len = file.len().map_err(|e| StorageError::io("stat", &path, e))?;
    if len != CHECKPOINT_LEN as u64 {
        return Ok(None);
    }
    let mut buf = [0u8; CHECKPOINT_LEN];
    file.read_exact_at(&mut buf, 0).map_err(|e| StorageError::io("read", &path, e))?;
    Ok(Checkpoint::decode(&buf))
}

/// Durably replaces the checkpoint of `dir` (write tmp, fsync, rename, fsync directory).
pub(crate) fn write(disk: &Arc<dyn Disk>, dir: &Path, cp: &Checkpoint) -> Result<(), StorageError> {
    let tmp = dir.join(CHECKPOINT_TMP);
    let path = dir.join(CHECKPOINT_FILE);
    let file = disk.open(&tmp, true).map_err(|e| StorageError::io("create", &tmp, e))?;
    file.set_len(0).map_err(|e| StorageError::io("truncate", &tmp, e))?;
    file.write_all_at(&cp.encode(), 0).map_err(|e| StorageError::io("write", &tmp, e))?;
    file.sync_data().map_err(|e| StorageError::io("fsync", &tmp, e))?;
    drop(file);
    disk.rename(&tmp, &path).map_err(|e| StorageError::io("rename", &tmp, e))?;
    disk.sync_dir(dir).map_err(|e| StorageError::io("fsync dir", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips_and_rejects_damage() {
        let cp = Checkpoint {
            log_start_offset: 7,
            segment_base: 100,
            position: 4096,
            next_offset: 150,
            max_timestamp: 1_700_000_000_000,
            offset_of_max_timestamp: 149,
        };
        let mut b = cp.encode();
        assert_eq!(Checkpoint::decode(&b), Some(cp));
        b[30] ^= 0x40;
        assert_eq!(Checkpoint::decode(&b), None);
    }
}
