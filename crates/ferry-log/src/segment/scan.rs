//! Validating scan over a segment's bytes: header, length, increasing offsets, CRC.

use std::path::Path;

use crate::batch::{BATCH_HEADER_LEN, BatchHeader, check_crc};
use crate::disk::DiskFile;
use crate::error::StorageError;

/// Bytes read per call while scanning a segment for recovery or index rebuilds.
const SCAN_CHUNK_BYTES: u64 = 4 << 20;
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
