//! Kafka RecordBatch v2 headers: parsing, validation and iteration over whole batches.
//!
//! Layout of the 61-byte header (big endian), as Kafka defines it:
//!
//! | bytes  | field                  |
//! |--------|------------------------|
//! | 0..8   | base offset (i64)      |
//! | 8..12  | batch length (i32): bytes after this field |
//! | 12..16 | partition leader epoch |
//! | 16     | magic (2)              |
//! | 17..21 | CRC32C of bytes 21..end |
//! | 21..23 | attributes             |
//! | 23..27 | last offset delta      |
//! | 27..35 | base timestamp         |
//! | 35..43 | max timestamp          |
//! | 43..51 | producer id            |
//! | 51..53 | producer epoch         |
//! | 53..57 | base sequence          |
//! | 57..61 | record count           |

use crate::error::BatchError;

/// Length of a RecordBatch v2 header; the records follow it.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before the `batch_length` field ends: `total_len = LOG_OVERHEAD + batch_length`.
pub const LOG_OVERHEAD: usize = 12;
/// Offset of the first byte covered by the CRC (the attributes field).
pub(crate) const CRC_START: usize = 21;
const MAGIC_V2: i8 = 2;

/// Attribute bit set when the batch belongs to a transaction.
const ATTR_TRANSACTIONAL: i16 = 0x10;
/// Attribute bit set for control batches (transaction markers).
const ATTR_CONTROL: i16 = 0x20;
/// Attribute bits holding the compression codec.
const ATTR_COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit set when the broker stamped the batch (LogAppendTime): every record's
/// timestamp is then the batch's max timestamp, whatever the records hold.
const ATTR_LOG_APPEND_TIME: i16 = 0x08;

/// The parsed header of one Kafka RecordBatch v2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (bytes 0..8, rewritten by the log on append).
    pub base_offset: i64,
    /// Length of the batch after this field.
    pub batch_length: i32,
    /// Leader epoch of the producer's view; opaque to the log.
    pub partition_leader_epoch: i32,
    /// Format version; only 2 is accepted.
    pub magic: i8,
    /// CRC32C of bytes 21..end as stored in the batch.
    pub crc: u32,
    /// Compression, timestamp type, transactional and control bits.
    pub attributes: i16,
    /// Offset of the last record relative to `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent producer id, -1 when none.
    pub producer_id: i64,
    /// Idempotent producer epoch, -1 when none.
    pub producer_epoch: i16,
    /// Sequence number of the first record, -1 when none.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub record_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Parses the 61-byte header of a RecordBatch v2 at the start of `bytes` (no CRC check).
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
        if bytes.len() < BATCH_HEADER_LEN {
            return Err(BatchError::Truncated);
        }
        let magic = bytes[16] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::BadMagic(magic));
        }
        let batch_length = be_i32(bytes, 8);
        if batch_length < (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(BatchError::BadLength(batch_length));
        }
        Ok(BatchHeader {
            base_offset: be_i64(bytes, 0),
            batch_length,
            partition_leader_epoch: be_i32(bytes, 12),
            magic,
            crc: be_i32(bytes, 17) as u32,
            attributes: be_i16(bytes, 21),
            last_offset_delta: be_i32(bytes, 23),
            base_timestamp: be_i64(bytes, 27),
            max_timestamp: be_i64(bytes, 35),
            producer_id: be_i64(bytes, 43),
            producer_epoch: be_i16(bytes, 51),
            base_sequence: be_i32(bytes, 53),
            record_count: be_i32(bytes, 57),
        })
    }

    /// True when the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// True for control batches (transaction commit/abort markers).
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// True when every record's timestamp is the batch's max timestamp (LogAppendTime).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_LOG_APPEND_TIME != 0
    }

    /// Compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        (self.attributes & ATTR_COMPRESSION_MASK) as u8
    }

    /// Whole size of the batch in bytes, header included.
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + self.batch_length as usize
    }

    /// Offset of the last record (`base_offset + last_offset_delta`).
    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(i64::from(self.last_offset_delta))
    }
}

/// Computes the CRC32C that bytes 17..21 of a whole batch must hold.
pub fn batch_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_START..])
}

/// Checks that `batch` is exactly one well-formed batch: header, length, CRC and record count.
pub fn validate_batch(batch: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(batch)?;
    let total = header.total_len();
    if batch.len() < total {
        return Err(BatchError::Truncated);
    }
    if batch.len() > total {
        return Err(BatchError::LengthMismatch { declared: total, actual: batch.len() });
    }
    check_crc(&header, batch)?;
    if header.last_offset_delta < 0
        || header.record_count < 1
        || header.record_count != header.last_offset_delta.saturating_add(1)
    {
        return Err(BatchError::RecordCountMismatch {
            record_count: header.record_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    Ok(header)
}

/// Compares the stored CRC of a whole batch with the computed one.
pub(crate) fn check_crc(header: &BatchHeader, batch: &[u8]) -> Result<(), BatchError> {
    let actual = batch_crc(batch);
    if actual != header.crc {
        return Err(BatchError::CrcMismatch { expected: header.crc, actual });
    }
    Ok(())
}

/// Iterates over whole batches in `bytes` (as returned by `read`), yielding (header, &batch_bytes).
///
/// A trailing partial batch yields one `BatchError::Truncated` and ends the iteration. The CRC is
/// not checked here; the log checks it when it reads from disk.
pub fn batches(bytes: &[u8]) -> impl Iterator<Item = Result<(BatchHeader, &[u8]), BatchError>> {
    Batches { rest: bytes }
}

struct Batches<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<(BatchHeader, &'a [u8]), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let header = match BatchHeader::parse(self.rest) {
            Ok(h) => h,
            Err(e) => {
                self.rest = &[];
                return Some(Err(e));
            }
        };
        let total = header.total_len();
        if self.rest.len() < total {
            self.rest = &[];
            return Some(Err(BatchError::Truncated));
        }
        let (batch, rest) = self.rest.split_at(total);
        self.rest = rest;
        Some(Ok((header, batch)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal_batch(records: i32) -> Vec<u8> {
        let mut b = vec![0u8; BATCH_HEADER_LEN];
        b[8..12].copy_from_slice(&((BATCH_HEADER_LEN - LOG_OVERHEAD) as i32).to_be_bytes());
        b[16] = 2;
        b[23..27].copy_from_slice(&(records - 1).to_be_bytes());
        b[57..61].copy_from_slice(&records.to_be_bytes());
        let crc = batch_crc(&b);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn header_round_trips_fields() {
        let b = minimal_batch(3);
        let h = validate_batch(&b).expect("valid");
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.total_len(), BATCH_HEADER_LEN);
    }

    #[test]
    fn short_input_is_truncated() {
        let b = minimal_batch(1);
        assert_eq!(BatchHeader::parse(&b[..60]), Err(BatchError::Truncated));
    }

    #[test]
    fn wrong_magic_is_rejected() {
        let mut b = minimal_batch(1);
        b[16] = 1;
        assert_eq!(validate_batch(&b), Err(BatchError::BadMagic(1)));
    }

    #[test]
    fn flipped_bit_fails_crc() {
        let mut b = minimal_batch(1);
        b[40] ^= 1;
        assert!(matches!(validate_batch(&b), Err(BatchError::CrcMismatch { .. })));
    }

    #[test]
    fn iterator_reports_trailing_partial_batch() {
        let mut bytes = minimal_batch(1);
        bytes.extend_from_slice(&minimal_batch(2)[..30]);
        let got: Vec<_> = batches(&bytes).collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        assert_eq!(got[1], Err(BatchError::Truncated));
    }
}
