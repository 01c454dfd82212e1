//! Queue messages as Kafka RecordBatch v2 bytes (uncompressed), with the system properties in
//! reserved `ferry.` headers so that a queue's log is readable by any Kafka-format tool.

use bytes::Bytes;

use super::types::{AttrValue, MessageAttribute};

const BATCH_HEADER_LEN: usize = 61;
/// Offset of the CRC-covered part (attributes onwards) in a batch.
const CRC_START: usize = 21;

const H_ID: &str = "ferry.id";
const H_GROUP: &str = "ferry.group";
const H_DEDUP: &str = "ferry.dedup";
const H_PRIORITY: &str = "ferry.priority";
const H_TTL: &str = "ferry.ttl_ms";
const H_DELAY: &str = "ferry.delay_ms";
const H_DL_SOURCE: &str = "ferry.dead_letter_source";
const H_TYPE_PREFIX: &str = "ferry.type.";
const H_SYS_PREFIX: &str = "ferry.sys.";
const H_SYS_TYPE_PREFIX: &str = "ferry.systype.";
/// Prefix reserved for system headers; user attributes may not use it.
pub const RESERVED_PREFIX: &str = "ferry.";

/// A message as stored in a queue's log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredMessage {
    /// Offset in the queue's log (set on decode).
    pub offset: u64,
    /// Enqueue time, ms since the epoch.
    pub timestamp_ms: i64,
    /// Message id.
    pub message_id: String,
    /// The payload.
    pub body: Bytes,
    /// User attributes.
    pub attributes: Vec<MessageAttribute>,
    /// Front-end system attributes.
    pub system_attributes: Vec<MessageAttribute>,
    /// FIFO group.
    pub group_id: Option<String>,
    /// Deduplication id (explicit or content hash).
    pub dedup_id: Option<String>,
    /// Effective priority (0 when none).
    pub priority: u8,
    /// Per-message TTL.
    pub ttl_ms: Option<u64>,
    /// Delay from enqueue until receivable.
    pub delay_ms: u64,
    /// Queue this message was dead-lettered from.
    pub dead_letter_source: Option<String>,
}

impl StoredMessage {
    /// Bytes counted against `max_message_bytes` and `max_bytes`: body plus attribute names and values.
    pub fn size_bytes(&self) -> u64 {
        let attrs: usize = self.attributes.iter().map(attribute_size).sum();
        (self.body.len() + attrs) as u64
    }
}

/// Size of an attribute as SQS counts it: name, type and value.
pub fn attribute_size(a: &MessageAttribute) -> usize {
    a.name.len()
        + a.data_type.len()
        + match &a.value {
            AttrValue::Text(s) => s.len(),
            AttrValue::Binary(b) => b.len(),
        }
}

/// Why stored bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes end inside a batch or record.
    #[error("truncated record batch")]
    Truncated,
    /// Not a RecordBatch v2.
    #[error("unsupported batch magic {0}")]
    BadMagic(i8),
    /// Compressed batches are not written by queues.
    #[error("compressed batches are not supported in queues")]
    Compressed,
    /// The CRC32C does not match.
    #[error("batch CRC mismatch")]
    CrcMismatch,
    /// A length or varint is out of range.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        if z < 0x80 {
            out.push(z as u8);
            return;
        }
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
}

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

fn headers_of(m: &StoredMessage) -> Vec<(String, Vec<u8>)> {
    let mut h: Vec<(String, Vec<u8>)> = vec![(H_ID.into(), m.message_id.as_bytes().to_vec())];
    if let Some(g) = &m.group_id {
        h.push((H_GROUP.into(), g.as_bytes().to_vec()));
    }
    if let Some(d) = &m.dedup_id {
        h.push((H_DEDUP.into(), d.as_bytes().to_vec()));
    }
    if m.priority > 0 {
        h.push((H_PRIORITY.into(), vec![m.priority]));
    }
    if let Some(t) = m.ttl_ms {
        h.push((H_TTL.into(), t.to_be_bytes().to_vec()));
    }
    if m.delay_ms > 0 {
        h.push((H_DELAY.into(), m.delay_ms.to_be_bytes().to_vec()));
    }
    if let Some(s) = &m.dead_letter_source {
        h.push((H_DL_SOURCE.into(), s.as_bytes().to_vec()));
    }
    let mut attr = |prefix: &str, type_prefix: &str, a: &MessageAttribute| {
        let value = match &a.value {
            AttrValue::Text(s) => s.as_bytes().to_vec(),
            AttrValue::Binary(b) => b.to_vec(),
        };
        h.push((format!("{prefix}{}", a.name), value));
        if a.data_type != "String" {
            h.push((format!("{type_prefix}{}", a.name), a.data_type.as_bytes().to_vec()));
        }
    };
    for a in &m.attributes {
        attr("", H_TYPE_PREFIX, a);
    }
    for a in &m.system_attributes {
        attr(H_SYS_PREFIX, H_SYS_TYPE_PREFIX, a);
    }
    h
}

/// Encodes `msgs` as one uncompressed RecordBatch v2 with base offset 0 (the log assigns offsets).
/// Every message's timestamp is taken as is; the batch's base timestamp is the first one.
pub fn encode_batch(msgs: &[StoredMessage]) -> Vec<u8> {
    let base_ts = msgs.first().map(|m| m.timestamp_ms).unwrap_or(0);
    let max_ts = msgs.iter().map(|m| m.timestamp_ms).max().unwrap_or(base_ts);
    let mut out =
        Vec::with_capacity(BATCH_HEADER_LEN + msgs.iter().map(|m| m.body.len() + 64).sum::<usize>());
    out.extend_from_slice(&0i64.to_be_bytes()); // base offset
    out.extend_from_slice(&0i32.to_be_bytes()); // batch length, patched below
    out.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    out.push(2); // magic
    out.extend_from_slice(&0u32.to_be_bytes()); // crc, patched below
    out.extend_from_slice(&0i16.to_be_bytes()); // attributes: no compression, create time
    out.extend_from_slice(&(msgs.len() as i32 - 1).max(0).to_be_bytes()); // last offset delta
    out.extend_from_slice(&base_ts.to_be_bytes());
    out.extend_from_slice(&max_ts.to_be_bytes());
    out.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    out.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    out.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    out.extend_from_slice(&(msgs.len() as i32).to_be_bytes());
    let mut rec = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        rec.clear();
        rec.push(0); // record attributes
        put_varint(&mut rec, m.timestamp_ms - base_ts);
        put_varint(&mut rec, i as i64);
        put_bytes(&mut rec, None); // key
        put_bytes(&mut rec, Some(&m.body));
        let headers = headers_of(m);
        put_varint(&mut rec, headers.len() as i64);
        for (k, v) in &headers {
            put_bytes(&mut rec, Some(k.as_bytes()));
            put_bytes(&mut rec, Some(v));
        }
        put_varint(&mut out, rec.len() as i64);
        out.extend_from_slice(&rec);
    }
    let batch_len = (out.len() - 12) as i32;
    out[8..12].copy_from_slice(&batch_len.to_be_bytes());
    let crc = crc32c::crc32c(&out[CRC_START..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn varint(&mut self) -> Result<i64, DecodeError> {
        let mut z: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = *self.take(1)?.first().ok_or(DecodeError::Truncated)?;
            if shift == 63 && b > 1 {
                return Err(DecodeError::Malformed("varint overflow"));
            }
            z |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
            }
        }
        Err(DecodeError::Malformed("varint too long"))
    }

    fn bytes(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| DecodeError::Malformed("length"))?;
        self.take(len).map(Some)
    }
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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn u64_header(v: &[u8]) -> Option<u64> {
    let a: [u8; 8] = v.try_into().ok()?;
    Some(u64::from_be_bytes(a))
}

/// Decodes every message in `bytes` (whole batches as the log returns them) whose offset is at
/// least `from`, appending to `out`. Stops at the first incomplete batch.
pub fn decode_batches(bytes: &[u8], from: u64, out: &mut Vec<StoredMessage>) -> Result<(), DecodeError> {
    let mut pos = 0;
    while bytes.len() - pos >= BATCH_HEADER_LEN {
        let b = &bytes[pos..];
        let base_offset = be_i64(b, 0);
        let batch_len = be_i32(b, 8);
        let total = usize::try_from(batch_len).map_err(|_| DecodeError::Malformed("batch length"))? + 12;
        if total < BATCH_HEADER_LEN {
            return Err(DecodeError::Malformed("batch length"));
        }
        if b.len() < total {
            return Ok(());
        }
        let batch = &b[..total];
        let magic = batch[16] as i8;
        if magic != 2 {
            return Err(DecodeError::BadMagic(magic));
        }
        let crc = u32::from_be_bytes([batch[17], batch[18], batch[19], batch[20]]);
        if crc32c::crc32c(&batch[CRC_START..]) != crc {
            return Err(DecodeError::CrcMismatch);
        }
        let attributes = i16::from_be_bytes([batch[21], batch[22]]);
        if attributes & 0x07 != 0 {
            return Err(DecodeError::Compressed);
        }
        let is_control = attributes & 0x20 != 0;
        let base_ts = be_i64(batch, 27);
        let count = be_i32(batch, 57);
        if !is_control {
            let mut r = Reader { buf: &batch[BATCH_HEADER_LEN..], pos: 0 };
            for _ in 0..count.max(0) {
                let len =
                    usize::try_from(r.varint()?).map_err(|_| DecodeError::Malformed("record length"))?;
                let mut rr = Reader { buf: r.take(len)?, pos: 0 };
                rr.take(1)?;
                let ts_delta = rr.varint()?;
                let offset_delta = rr.varint()?;
                let offset = (base_offset.saturating_add(offset_delta)).max(0) as u64;
                rr.bytes()?; // key
                let value = rr.bytes()?.unwrap_or_default();
                if offset < from {
                    continue;
                }
                let mut m = StoredMessage {
                    offset,
                    timestamp_ms: base_ts.saturating_add(ts_delta),
                    body: Bytes::copy_from_slice(value),
                    ..StoredMessage::default()
                };
                let n = rr.varint()?;
                let mut types: Vec<(bool, String, String)> = Vec::new();
                for _ in 0..n.max(0) {
                    let k = text(rr.bytes()?.unwrap_or_default());
                    let v = rr.bytes()?.unwrap_or_default();
                    match k.as_str() {
                        H_ID => m.message_id = text(v),
                        H_GROUP => m.group_id = Some(text(v)),
                        H_DEDUP => m.dedup_id = Some(text(v)),
                        H_PRIORITY => m.priority = v.first().copied().unwrap_or(0),
                        H_TTL => m.ttl_ms = u64_header(v),
                        H_DELAY => m.delay_ms = u64_header(v).unwrap_or(0),
                        H_DL_SOURCE => m.dead_letter_source = Some(text(v)),
                        _ => {
                            if let Some(name) = k.strip_prefix(H_SYS_TYPE_PREFIX) {
                                types.push((true, name.to_string(), text(v)));
                            } else if let Some(name) = k.strip_prefix(H_TYPE_PREFIX) {
                                types.push((false, name.to_string(), text(v)));
                            } else if let Some(name) = k.strip_prefix(H_SYS_PREFIX) {
                                m.system_attributes.push(plain_attr(name, v));
                            } else if !k.starts_with(RESERVED_PREFIX) {
                                m.attributes.push(plain_attr(&k, v));
                            }
                        }
                    }
                }
                for (system, name, data_type) in types {
                    let list = if system { &mut m.system_attributes } else { &mut m.attributes };
                    if let Some(a) = list.iter_mut().find(|a| a.name == name) {
                        if data_type.starts_with("Binary")
                            && let AttrValue::Text(s) = &a.value
                        {
                            a.value = AttrValue::Binary(Bytes::from(s.clone().into_bytes()));
                        }
                        a.data_type = data_type;
                    }
                }
                out.push(m);
            }
        }
        pos += total;
    }
    Ok(())
}

fn plain_attr(name: &str, v: &[u8]) -> MessageAttribute {
    // Binary values are re-typed once their type header is seen; until then keep exact bytes
    // when they are not UTF-8 so that nothing is lost.
    let value = match std::str::from_utf8(v) {
        Ok(s) => AttrValue::Text(s.to_string()),
        Err(_) => AttrValue::Binary(Bytes::copy_from_slice(v)),
    };
    MessageAttribute { name: name.to_string(), data_type: "String".to_string(), value }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: u64) -> StoredMessage {
        StoredMessage {
            offset: i,
            timestamp_ms: 1_000 + i as i64,
            message_id: format!("id-{i}"),
            body: Bytes::from(format!("body {i}")),
            attributes: vec![
                MessageAttribute {
                    name: "colour".into(),
                    data_type: "String".into(),
                    value: AttrValue::Text("blue".into()),
                },
                MessageAttribute {
                    name: "blob".into(),
                    data_type: "Binary".into(),
                    value: AttrValue::Binary(Bytes::from_static(&[0xff, 0, 1])),
                },
                MessageAttribute {
                    name: "n".into(),
                    data_type: "Number.int".into(),
                    value: AttrValue::Text("42".into()),
                },
            ],
            system_attributes: vec![MessageAttribute {
                name: "AWSTraceHeader".into(),
                data_type: "String".into(),
                value: AttrValue::Text("Root=1".into()),
            }],
            group_id: Some("g".into()),
            dedup_id: Some("d".into()),
            priority: 3,
            ttl_ms: Some(60_000),
            delay_ms: 5,
            dead_letter_source: Some("src".into()),
        }
    }

    #[test]
    fn messages_round_trip_through_a_record_batch() {
        let msgs: Vec<_> = (0..3).map(sample).collect();
        let bytes = encode_batch(&msgs);
        let mut out = Vec::new();
        decode_batches(&bytes, 0, &mut out).unwrap();
        assert_eq!(out, msgs);
    }

    #[test]
    fn decoding_skips_offsets_below_the_requested_one() {
        let msgs: Vec<_> = (0..4).map(sample).collect();
        let bytes = encode_batch(&msgs);
        let mut out = Vec::new();
        decode_batches(&bytes, 2, &mut out).unwrap();
        assert_eq!(out.iter().map(|m| m.offset).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn a_corrupted_batch_is_rejected_by_its_crc() {
        let mut bytes = encode_batch(&[sample(0)]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x55;
        assert_eq!(decode_batches(&bytes, 0, &mut Vec::new()), Err(DecodeError::CrcMismatch));
    }

    #[test]
    fn truncated_input_never_panics() {
        let bytes = encode_batch(&[sample(0), sample(1)]);
        for cut in 0..bytes.len() {
            let mut out = Vec::new();
            let _ = decode_batches(&bytes[..cut], 0, &mut out);
            assert!(out.is_empty());
        }
    }
}
