//! The read path of a segment: locate a batch through the sparse index, return whole
//! CRC-checked batches, and look up offsets by timestamp.

use crate::batch::{BATCH_HEADER_LEN, BatchHeader, check_crc};
use crate::error::{ReadError, StorageError};
use crate::index;

use super::{SegMeta, Segment};

/// What a segment returns for a read.
pub(crate) enum SegRead {
    /// No batch in this segment holds `offset` or anything after it.
    Past,
    /// Whole batches (possibly none, when the first is at or past the upper bound) and the offset
    /// after the last one.
    Data(Vec<u8>, u64),
}

impl Segment {
    pub(super) fn header_at(&self, pos: u64, size: u64) -> Result<Option<BatchHeader>, StorageError> {
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
    /// Batches ending below `min_offset` (the log start) are skipped.
    pub(crate) fn offset_for_timestamp(
        &self,
        ts: i64,
        min_offset: u64,
    ) -> Result<Option<(u64, i64)>, ReadError> {
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
            if h.max_timestamp >= ts && h.last_offset() as u64 >= min_offset {
                return Ok(Some((h.base_offset as u64, h.max_timestamp)));
            }
            pos = p + h.total_len() as u64;
            expect = h.last_offset() as u64 + 1;
            exact = false;
        }
        Ok(None)
    }
}
