//! Records inside an uncompressed RecordBatch v2: a minimal decoder (for compaction) and
//! encoder (for callers that build batches themselves, and for tests).
//!
//! Each record is: length (varint), attributes (i8), timestamp delta (varlong), offset delta
//! (varint), key length (varint, -1 = null), key, value length (varint, -1 = null), value,
//! header count (varint), then per header: key length (varint), key, value length (varint),
//! value. Varints are zigzag-encoded LEB128, as in protobuf.

use crate::batch::{BATCH_HEADER_LEN, BatchHeader, CRC_START, LOG_OVERHEAD};
use crate::error::BatchError;

/// One record decoded in place from a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// Timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Key; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// Value; `None` is a tombstone.
    pub value: Option<&'a [u8]>,
    /// Headers as (key, value) pairs.
    pub headers: Vec<(&'a [u8], Option<&'a [u8]>)>,
    /// The whole encoded record, length prefix included.
    pub raw: &'a [u8],
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varlong(&mut self) -> Result<i64, BatchError> {
        let mut raw: u64 = 0;
        for i in 0..10 {
            let b = *self.bytes.get(self.pos).ok_or(BatchError::BadRecord("varint past end"))?;
            self.pos += 1;
            raw |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err(BatchError::BadRecord("varint too long"))
    }

    fn varint(&mut self) -> Result<i32, BatchError> {
        i32::try_from(self.varlong()?).map_err(|_| BatchError::BadRecord("varint out of range"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BatchError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(BatchError::BadRecord("field past end of record"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn nullable(&mut self) -> Result<Option<&'a [u8]>, BatchError> {
        match self.varint()? {
            -1 => Ok(None),
            n if n < 0 => Err(BatchError::BadRecord("negative length")),
            n => self.take(n as usize).map(Some),
        }
    }
}

/// Decodes every record of one uncompressed batch (see [`records_body`] for compressed ones).
pub fn decode_records(batch: &[u8]) -> Result<Vec<Record<'_>>, BatchError> {
    let header = BatchHeader::parse(batch)?;
    if header.compression() != 0 {
        return Err(BatchError::Compressed(header.compression()));
    }
    let end = header.total_len();
    if batch.len() < end {
        return Err(BatchError::Truncated);
    }
    decode_body(&batch[BATCH_HEADER_LEN..end], header.record_count)
}

/// The records section of a batch, decompressed (gzip, snappy, lz4, zstd), ready for
/// [`decode_body`]. At most 64 MiB are inflated; more is an error.
pub fn records_body(batch: &[u8]) -> Result<Vec<u8>, BatchError> {
    let header = BatchHeader::parse(batch)?;
    let end = header.total_len();
    if batch.len() < end {
        return Err(BatchError::Truncated);
    }
    crate::codec::decompress(header.compression(), &batch[BATCH_HEADER_LEN..end])
}

/// Decodes `record_count` records from an uncompressed records section.
pub fn decode_body(body: &[u8], record_count: i32) -> Result<Vec<Record<'_>>, BatchError> {
    let mut r = Reader { bytes: body, pos: 0 };
    let count = usize::try_from(record_count).map_err(|_| BatchError::BadRecord("negative count"))?;
    // Each record takes at least 7 bytes, so a count beyond that is a lie, not an allocation.
    let mut out = Vec::with_capacity(count.min(body.len() / 7));
    for _ in 0..count {
        let start = r.pos;
        let len = r.varint()?;
        if len < 0 {
            return Err(BatchError::BadRecord("negative record length"));
        }
        let rec_bytes = r.take(len as usize)?;
        let raw = &body[start..r.pos];
        let mut f = Reader { bytes: rec_bytes, pos: 0 };
        f.take(1)?;
        let timestamp_delta = f.varlong()?;
        let offset_delta = f.varint()?;
        let key = f.nullable()?;
        let value = f.nullable()?;
        let n_headers = f.varint()?;
        if n_headers < 0 {
            return Err(BatchError::BadRecord("negative header count"));
        }
        let mut headers = Vec::with_capacity((n_headers as usize).min(rec_bytes.len() / 2));
        for _ in 0..n_headers {
            let k = f.nullable()?.ok_or(BatchError::BadRecord("null header key"))?;
            headers.push((k, f.nullable()?));
        }
        if f.pos != rec_bytes.len() {
            return Err(BatchError::BadRecord("record length disagrees with its fields"));
        }
        out.push(Record { offset_delta, timestamp_delta, key, value, headers, raw });
    }
    if r.pos != body.len() {
        return Err(BatchError::BadRecord("bytes after the last record"));
    }
    Ok(out)
}

fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn put_nullable(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varlong(out, -1),
        Some(b) => {
            put_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// A record to encode with [`encode_batch`].
#[derive(Clone, Debug, Default)]
pub struct NewRecord<'a> {
    /// Creation timestamp, epoch ms.
    pub timestamp: i64,
    /// Key; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// Value; `None` is a tombstone.
    pub value: Option<&'a [u8]>,
    /// Headers as (key, value) pairs.
    pub headers: Vec<(&'a [u8], Option<&'a [u8]>)>,
}

/// Encodes records as one uncompressed RecordBatch v2 with base offset 0 (the log assigns the
/// real one), no producer id and CreateTime timestamps. `records` must not be empty.
pub fn encode_batch(records: &[NewRecord<'_>]) -> Vec<u8> {
    let base_ts = records.iter().map(|r| r.timestamp).min().unwrap_or(0);
    let max_ts = records.iter().map(|r| r.timestamp).max().unwrap_or(0);
    let mut body = Vec::new();
    let mut rec = Vec::new();
    for (i, r) in records.iter().enumerate() {
        rec.clear();
        rec.push(0);
        put_varlong(&mut rec, r.timestamp - base_ts);
        put_varlong(&mut rec, i as i64);
        put_nullable(&mut rec, r.key);
        put_nullable(&mut rec, r.value);
        put_varlong(&mut rec, r.headers.len() as i64);
        for (k, v) in &r.headers {
            put_nullable(&mut rec, Some(k));
            put_nullable(&mut rec, *v);
        }
        put_varlong(&mut body, rec.len() as i64);
        body.extend_from_slice(&rec);
    }
    let mut header = [0u8; BATCH_HEADER_LEN];
    header[12..16].copy_from_slice(&(-1i32).to_be_bytes());
    header[16] = 2;
    header[23..27].copy_from_slice(&(records.len() as i32 - 1).max(0).to_be_bytes());
    header[27..35].copy_from_slice(&base_ts.to_be_bytes());
    header[35..43].copy_from_slice(&max_ts.to_be_bytes());
    header[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    header[51..53].copy_from_slice(&(-1i16).to_be_bytes());
    header[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    header[57..61].copy_from_slice(&(records.len() as i32).to_be_bytes());
    finish(header, &body)
}

/// A transaction marker: the kind of control record that closes a transaction in a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// The transaction's records are discarded (control type 0).
    Abort,
    /// The transaction's records are committed (control type 1).
    Commit,
}

/// Encodes a transaction marker as Kafka writes one: a control batch (transactional and control
/// attribute bits) of `producer_id`/`epoch` without a sequence, holding one record whose key is
/// (version 0, type) and whose value is (version 0, coordinator epoch).
pub fn encode_marker(
    producer_id: i64,
    epoch: i16,
    marker: Marker,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Vec<u8> {
    let kind: i16 = match marker {
        Marker::Abort => 0,
        Marker::Commit => 1,
    };
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&kind.to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let mut rec = vec![0u8];
    put_varlong(&mut rec, 0);
    put_varlong(&mut rec, 0);
    put_nullable(&mut rec, Some(&key));
    put_nullable(&mut rec, Some(&value));
    put_varlong(&mut rec, 0);
    let mut body = Vec::with_capacity(rec.len() + 2);
    put_varlong(&mut body, rec.len() as i64);
    body.extend_from_slice(&rec);
    let mut header = [0u8; BATCH_HEADER_LEN];
    header[12..16].copy_from_slice(&(-1i32).to_be_bytes());
    header[16] = 2;
    header[21..23].copy_from_slice(&0x30i16.to_be_bytes());
    header[27..35].copy_from_slice(&timestamp.to_be_bytes());
    header[35..43].copy_from_slice(&timestamp.to_be_bytes());
    header[43..51].copy_from_slice(&producer_id.to_be_bytes());
    header[51..53].copy_from_slice(&epoch.to_be_bytes());
    header[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    header[57..61].copy_from_slice(&1i32.to_be_bytes());
    finish(header, &body)
}

/// The marker a control batch holds, if it is one ([`encode_marker`]'s inverse).
pub fn decode_marker(batch: &[u8]) -> Option<Marker> {
    let header = BatchHeader::parse(batch).ok()?;
    if !header.is_control() {
        return None;
    }
    let records = decode_records(batch).ok()?;
    let key = records.first()?.key?;
    match key.get(2..4)? {
        [0, 0] => Some(Marker::Abort),
        [0, 1] => Some(Marker::Commit),
        _ => None,
    }
}

/// Builds a batch from a header template and a body: sets length, record count left as given,
/// and computes the CRC.
fn finish(mut header: [u8; BATCH_HEADER_LEN], body: &[u8]) -> Vec<u8> {
    let batch_length = (BATCH_HEADER_LEN - LOG_OVERHEAD + body.len()) as i32;
    header[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let mut out = Vec::with_capacity(BATCH_HEADER_LEN + body.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(body);
    let crc = crc32c::crc32c(&out[CRC_START..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

/// The batch with only `kept` of its records, recompressed with the batch's codec: base
/// offset, last offset delta, attributes and timestamps unchanged so every kept record keeps
/// its offset; record count, length and CRC recomputed.
pub(crate) fn retain_records(batch: &[u8], kept: &[&Record<'_>]) -> Result<Vec<u8>, BatchError> {
    let mut header = [0u8; BATCH_HEADER_LEN];
    header.copy_from_slice(&batch[..BATCH_HEADER_LEN]);
    header[57..61].copy_from_slice(&(kept.len() as i32).to_be_bytes());
    let mut body = Vec::with_capacity(kept.iter().map(|r| r.raw.len()).sum());
    for r in kept {
        body.extend_from_slice(r.raw);
    }
    let codec = BatchHeader::parse(batch)?.compression();
    Ok(finish(header, &crate::codec::compress(codec, &body)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::validate_batch;

    #[test]
    fn encoded_batch_decodes_to_the_same_records() {
        let recs = [
            NewRecord { timestamp: 100, key: Some(b"a"), value: Some(b"1"), headers: vec![] },
            NewRecord { timestamp: 90, key: None, value: None, headers: vec![(b"h", Some(b"x"))] },
        ];
        let batch = encode_batch(&recs);
        let h = validate_batch(&batch).expect("valid batch");
        assert_eq!((h.base_timestamp, h.max_timestamp, h.record_count), (90, 100, 2));
        let got = decode_records(&batch).expect("decodes");
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].key, got[0].value, got[0].timestamp_delta),
            (Some(&b"a"[..]), Some(&b"1"[..]), 10)
        );
        assert_eq!((got[1].key, got[1].value, got[1].offset_delta), (None, None, 1));
        assert_eq!(got[1].headers, vec![(&b"h"[..], Some(&b"x"[..]))]);
    }

    #[test]
    fn retained_batch_keeps_offsets_and_passes_crc() {
        let recs: Vec<NewRecord<'_>> = (0..3)
            .map(|_| NewRecord { timestamp: 5, key: Some(b"k"), value: Some(b"v"), headers: vec![] })
            .collect();
        let batch = encode_batch(&recs);
        let decoded = decode_records(&batch).expect("decodes");
        let kept = retain_records(&batch, &[&decoded[2]]).expect("retain");
        let h = BatchHeader::parse(&kept).expect("header");
        assert_eq!((h.record_count, h.last_offset_delta), (1, 2));
        crate::batch::check_crc(&h, &kept).expect("crc");
        assert_eq!(decode_records(&kept).expect("decodes")[0].offset_delta, 2);
    }

    #[test]
    fn marker_is_a_valid_control_batch_that_decodes_to_its_kind() {
        for marker in [Marker::Abort, Marker::Commit] {
            let batch = encode_marker(42, 3, marker, 0, 1_000);
            let h = validate_batch(&batch).expect("valid batch");
            assert!(h.is_control() && h.is_transactional());
            assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence, h.record_count), (42, 3, -1, 1));
            assert_eq!(decode_marker(&batch), Some(marker));
        }
        assert_eq!(decode_marker(&encode_batch(&[NewRecord::default()])), None);
    }

    #[test]
    fn record_running_past_batch_end_is_an_error() {
        let batch =
            encode_batch(&[NewRecord { timestamp: 1, key: Some(b"abc"), value: None, headers: vec![] }]);
        let mut bad = batch.clone();
        bad[BATCH_HEADER_LEN] = 0x7e; // claims a 63-byte record
        assert!(matches!(decode_records(&bad), Err(BatchError::BadRecord(_))));
    }
}
