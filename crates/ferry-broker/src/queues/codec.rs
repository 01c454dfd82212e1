//! Queue messages as Kafka RecordBatch v2 bytes (uncompressed), with the system properties in
//! reserved `ferry.` headers so that a queue's log is readable by any Kafka-format tool.
//!
//! The batch and record layout itself is `ferry_log::record`'s; this module maps messages to and
//! from records and their headers.

use bytes::Bytes;
use ferry_log::BatchError;
use ferry_log::record::{self, NewRecord, Record};

use super::types::{AttrValue, MessageAttribute, TYPED};
use crate::message::{self, Envelope, Properties};

/// Bytes 12..16 of a batch (partition leader epoch, outside the CRC): queue logs hold 0 there,
/// where `ferry_log::record::encode_batch` leaves -1.
const LEADER_EPOCH: std::ops::Range<usize> = 12..16;

const H_ID: &str = "ferry.id";
const H_GROUP: &str = "ferry.group";
const H_DEDUP: &str = "ferry.dedup";
const H_PRIORITY: &str = "ferry.priority";
const H_TTL: &str = "ferry.ttl_ms";
const H_DELAY: &str = "ferry.delay_ms";
const H_DL_SOURCE: &str = "ferry.dead_letter_source";
const H_EXCHANGE: &str = "ferry.exchange";
const H_ROUTING_KEY: &str = "ferry.routing_key";
/// Text properties, `ferry.p.<name>`; the two numeric ones have headers of their own.
const H_PROP_PREFIX: &str = "ferry.p.";
const H_DELIVERY_MODE: &str = "ferry.delivery_mode";
const H_TIMESTAMP_S: &str = "ferry.timestamp_s";
const H_DEATHS: &str = "ferry.deaths";
const H_TYPE_PREFIX: &str = "ferry.type.";
const H_SYS_PREFIX: &str = "ferry.sys.";
const H_SYS_TYPE_PREFIX: &str = "ferry.systype.";
/// Prefix reserved for system headers; user attributes may not use it.
pub const RESERVED_PREFIX: &str = "ferry.";

/// A message as stored in a queue's log.
#[derive(Clone, Debug, Default, PartialEq)]
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
    /// System properties, exchange and routing key.
    pub envelope: Envelope,
    /// Record key (streams: what Kafka partitions and compacts by); queues keep none.
    pub key: Option<Bytes>,
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
            AttrValue::Typed(v) => {
                let mut out = Vec::new();
                message::encode_value(v, &mut out);
                out.len()
            }
        }
}

/// The text properties and their header names, in one table for encode and decode.
fn text_properties(p: &mut Properties) -> [(&'static str, &mut Option<String>); 10] {
    [
        ("message_id", &mut p.message_id),
        ("content_type", &mut p.content_type),
        ("content_encoding", &mut p.content_encoding),
        ("correlation_id", &mut p.correlation_id),
        ("reply_to", &mut p.reply_to),
        ("expiration", &mut p.expiration),
        ("type", &mut p.message_type),
        ("user_id", &mut p.user_id),
        ("app_id", &mut p.app_id),
        ("cluster_id", &mut p.cluster_id),
    ]
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

impl From<BatchError> for DecodeError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Truncated => DecodeError::Truncated,
            BatchError::BadMagic(magic) => DecodeError::BadMagic(magic),
            BatchError::BadLength(_) => DecodeError::Malformed("batch length"),
            BatchError::CrcMismatch { .. } => DecodeError::CrcMismatch,
            BatchError::Compressed(_) => DecodeError::Compressed,
            BatchError::BadRecord(why) => DecodeError::Malformed(why),
            _ => DecodeError::Malformed("record batch"),
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
    let env = &m.envelope;
    if let Some(x) = &env.exchange {
        h.push((H_EXCHANGE.into(), x.as_bytes().to_vec()));
    }
    if let Some(k) = &env.routing_key {
        h.push((H_ROUTING_KEY.into(), k.as_bytes().to_vec()));
    }
    let mut props = env.properties.clone();
    for (name, value) in text_properties(&mut props) {
        if let Some(v) = value {
            h.push((format!("{H_PROP_PREFIX}{name}"), v.as_bytes().to_vec()));
        }
    }
    if let Some(d) = props.delivery_mode {
        h.push((H_DELIVERY_MODE.into(), vec![d]));
    }
    if let Some(t) = props.timestamp_s {
        h.push((H_TIMESTAMP_S.into(), t.to_be_bytes().to_vec()));
    }
    if !env.deaths.is_empty() {
        let mut out = Vec::new();
        message::encode_value(&message::deaths_to_value(&env.deaths), &mut out);
        h.push((H_DEATHS.into(), out));
    }
    let mut attr = |prefix: &str, type_prefix: &str, a: &MessageAttribute| {
        let value = match &a.value {
            AttrValue::Text(s) => s.as_bytes().to_vec(),
            AttrValue::Binary(b) => b.to_vec(),
            AttrValue::Typed(v) => {
                let mut out = Vec::new();
                message::encode_value(v, &mut out);
                out
            }
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
/// Every message's timestamp is taken as is; the batch's base timestamp is the smallest one (the
/// first, as one batch's messages share their enqueue time).
pub fn encode_batch(msgs: &[StoredMessage]) -> Vec<u8> {
    let headers: Vec<Vec<(String, Vec<u8>)>> = msgs.iter().map(headers_of).collect();
    let records: Vec<NewRecord<'_>> = msgs
        .iter()
        .zip(&headers)
        .map(|(m, h)| NewRecord {
            timestamp: m.timestamp_ms,
            key: m.key.as_deref(),
            value: Some(&m.body),
            headers: h.iter().map(|(k, v)| (k.as_bytes(), Some(v.as_slice()))).collect(),
        })
        .collect();
    let mut out = record::encode_batch(&records);
    // Keeps the bytes identical to what existing queue logs hold; not covered by the CRC.
    out[LEADER_EPOCH].copy_from_slice(&0i32.to_be_bytes());
    out
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
    for item in ferry_log::batches(bytes) {
        let batch = match item {
            Ok((_, batch)) => batch,
            // A read ends where it ends, possibly inside a batch; the caller reads on from there.
            Err(BatchError::Truncated) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let header = ferry_log::validate_batch(batch)?;
        if header.is_control() {
            continue;
        }
        // Queue logs are never compressed; a stream (a topic) holds what Kafka producers sent.
        let inflated;
        let records = if header.compression() != 0 {
            inflated = record::records_body(batch)?;
            record::decode_body(&inflated, header.record_count)?
        } else {
            record::decode_records(batch)?
        };
        for r in records {
            let offset = header.base_offset.saturating_add(i64::from(r.offset_delta)).max(0) as u64;
            if offset >= from {
                out.push(message_of(offset, header.base_timestamp.saturating_add(r.timestamp_delta), &r));
            }
        }
    }
    Ok(())
}

/// The message a record holds, its system properties and attributes read back from its headers.
fn message_of(offset: u64, timestamp_ms: i64, r: &Record<'_>) -> StoredMessage {
    let mut m = StoredMessage {
        offset,
        timestamp_ms,
        body: Bytes::copy_from_slice(r.value.unwrap_or_default()),
        key: r.key.map(Bytes::copy_from_slice),
        ..StoredMessage::default()
    };
    let mut types: Vec<(bool, String, String)> = Vec::new();
    for (k, v) in &r.headers {
        let k = text(k);
        let v = v.unwrap_or_default();
        match k.as_str() {
            H_ID => m.message_id = text(v),
            H_GROUP => m.group_id = Some(text(v)),
            H_DEDUP => m.dedup_id = Some(text(v)),
            H_PRIORITY => m.priority = v.first().copied().unwrap_or(0),
            H_TTL => m.ttl_ms = u64_header(v),
            H_DELAY => m.delay_ms = u64_header(v).unwrap_or(0),
            H_DL_SOURCE => m.dead_letter_source = Some(text(v)),
            H_EXCHANGE => m.envelope.exchange = Some(text(v)),
            H_ROUTING_KEY => m.envelope.routing_key = Some(text(v)),
            H_DELIVERY_MODE => m.envelope.properties.delivery_mode = v.first().copied(),
            H_TIMESTAMP_S => m.envelope.properties.timestamp_s = u64_header(v),
            H_DEATHS => {
                m.envelope.deaths =
                    message::decode_value(v).map(|d| message::deaths_from_value(&d)).unwrap_or_default()
            }
            _ => {
                if let Some(name) = k.strip_prefix(H_PROP_PREFIX) {
                    if let Some((_, slot)) =
                        text_properties(&mut m.envelope.properties).into_iter().find(|(n, _)| *n == name)
                    {
                        *slot = Some(text(v));
                    }
                    continue;
                }
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
            if data_type == TYPED {
                let bytes = match &a.value {
                    AttrValue::Text(s) => s.as_bytes().to_vec(),
                    AttrValue::Binary(b) => b.to_vec(),
                    AttrValue::Typed(_) => continue,
                };
                match message::decode_value(&bytes) {
                    Ok(v) => a.value = AttrValue::Typed(v),
                    // Written by this codec, so a failure is corruption the batch CRC missed;
                    // the bytes are kept rather than the message dropped.
                    Err(e) => {
                        tracing::warn!(attribute = %name, error = %e, "undecodable typed attribute kept as bytes");
                        a.value = AttrValue::Binary(Bytes::from(bytes));
                        a.data_type = "Binary".into();
                        continue;
                    }
                }
            } else if data_type.starts_with("Binary")
                && let AttrValue::Text(s) = &a.value
            {
                a.value = AttrValue::Binary(Bytes::from(s.clone().into_bytes()));
            }
            a.data_type = data_type;
        }
    }
    m
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

    use crate::message::{Death, DeathCause};

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
            envelope: Envelope {
                properties: Properties {
                    content_type: Some("text/plain".into()),
                    delivery_mode: Some(2),
                    timestamp_s: Some(1_700_000_000),
                    ..Properties::default()
                },
                exchange: Some(String::new()),
                routing_key: Some(format!("key-{i}")),
                deaths: vec![Death {
                    queue: "src".into(),
                    cause: DeathCause::Expired,
                    count: 2,
                    exchange: Some("x".into()),
                    routing_keys: vec!["k".into()],
                    time_ms: 5,
                }],
            },
            key: Some(Bytes::from(format!("key-{i}"))),
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
    fn the_encoding_is_byte_for_byte_the_stored_format() {
        let m = |i: u64| StoredMessage {
            timestamp_ms: 1_700_000_000_000,
            message_id: format!("id-{i}"),
            body: Bytes::from(format!("b{i}")),
            ..StoredMessage::default()
        };
        let hex: String = encode_batch(&[m(0), m(1)]).iter().map(|b| format!("{b:02x}")).collect();
        let expected = concat!(
            "0000000000000000", // base offset
            "0000005f",         // batch length
            "00000000",         // partition leader epoch
            "02",               // magic
            "5acfcff8",         // crc
            "0000",             // attributes
            "00000001",         // last offset delta
            "0000018bcfe56800", // base timestamp
            "0000018bcfe56800", // max timestamp
            "ffffffffffffffff", // producer id
            "ffff",             // producer epoch
            "ffffffff",         // base sequence
            "00000002",         // record count
            "2c00000001046230021066657272792e69640869642d30",
            "2c00000201046231021066657272792e69640869642d31",
        );
        assert_eq!(hex, expected);
        // Every system property and attribute kind, as earlier releases wrote them.
        let earlier = |i| StoredMessage { envelope: Envelope::default(), key: None, ..sample(i) };
        let full = encode_batch(&(0..3).map(earlier).collect::<Vec<_>>());
        assert_eq!((full.len(), crc32c::crc32c(&full)), (820, 0x8aee_26ef));
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
