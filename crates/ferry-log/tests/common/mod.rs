//! Shared helpers: real RecordBatch v2 bytes from the `kafka-protocol` encoder.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// One record: key, value (None = tombstone), timestamp.
pub struct Rec<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub timestamp: i64,
}

/// Encodes `records` as one uncompressed RecordBatch v2 (base offset 0).
pub fn encode(records: &[Rec<'_>]) -> Vec<u8> {
    encode_with(records, Compression::None)
}

/// Encodes `records` as one RecordBatch v2 with the given compression.
pub fn encode_with(records: &[Rec<'_>], compression: Compression) -> Vec<u8> {
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: r.timestamp,
            key: r.key.map(Bytes::copy_from_slice),
            value: r.value.map(Bytes::copy_from_slice),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, &recs, &RecordEncodeOptions { version: 2, compression })
        .expect("encode batch");
    buf.to_vec()
}

/// A batch of `n` records with `value_len`-byte values, keys `k{i}`, all at `timestamp`.
pub fn batch(n: usize, value_len: usize, timestamp: i64) -> Vec<u8> {
    let keys: Vec<Vec<u8>> = (0..n).map(|i| format!("k{i}").into_bytes()).collect();
    let value = vec![b'v'; value_len];
    let recs: Vec<Rec<'_>> =
        keys.iter().map(|k| Rec { key: Some(k), value: Some(&value), timestamp }).collect();
    encode(&recs)
}

/// One decoded record: offset, key, value.
pub type Decoded = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// Decoded records of every batch in `bytes` (whole batches as `read` returns).
pub fn decode(bytes: &[u8]) -> Vec<Decoded> {
    let mut buf = Bytes::copy_from_slice(bytes);
    let sets = RecordBatchDecoder::decode_all(&mut buf).expect("decode batches");
    sets.into_iter()
        .flat_map(|s| s.records)
        .map(|r| (r.offset, r.key.map(|k| k.to_vec()), r.value.map(|v| v.to_vec())))
        .collect()
}

/// The batch at `offset` with its base offset rewritten as the log stores it.
pub fn with_base(batch: &[u8], base: u64) -> Vec<u8> {
    let mut b = batch.to_vec();
    b[..8].copy_from_slice(&(base as i64).to_be_bytes());
    b
}
