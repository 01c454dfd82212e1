//! Compaction keeps the newest value per key at its original offset and drops tombstones after
//! `delete_retention_ms`.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use common::{Decoded, Rec, decode, encode, encode_with};
use ferry_log::fault::FaultyDisk;
use ferry_log::{BatchHeader, CleanupPolicy, Log, LogConfig};
use kafka_protocol::records::Compression;

fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        cleanup_policy: CleanupPolicy::Compact,
        delete_retention_ms: 1_000,
        ..LogConfig::default()
    }
}

fn all_records(log: &Log) -> Vec<Decoded> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.next_offset() {
        let r = log.read(offset, 1 << 20, log.next_offset()).expect("read");
        if r.bytes.is_empty() {
            break;
        }
        out.extend(decode(&r.bytes));
        offset = r.next_offset;
    }
    out
}

fn put(log: &Log, key: &str, value: Option<&str>, ts: i64) -> u64 {
    let b = encode(&[Rec { key: Some(key.as_bytes()), value: value.map(str::as_bytes), timestamp: ts }]);
    log.append(&b).expect("append").base_offset
}

#[test]
fn compaction_keeps_newest_value_per_key_at_stable_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), compact_config()).unwrap();
    let mut written: Vec<(u64, String, String)> = Vec::new();
    for i in 0..200 {
        let key = format!("key-{}", i % 7);
        let value = format!("value-{i}");
        let offset = put(&log, &key, Some(&value), 1_000 + i);
        written.push((offset, key, value));
    }
    log.roll().unwrap();
    let before = all_records(&log);
    assert_eq!(before.len(), 200);
    let stats = log.compact(10_000).unwrap();
    assert!(stats.records_removed > 0);
    assert!(stats.bytes_after < stats.bytes_before);

    let after = all_records(&log);
    let mut newest: HashMap<&str, u64> = HashMap::new();
    for (offset, key, _) in &written {
        newest.insert(key, *offset);
    }
    let expected: Vec<Decoded> = written
        .iter()
        .filter(|(offset, key, _)| newest[key.as_str()] == *offset)
        .map(|(offset, key, value)| {
            (*offset as i64, Some(key.clone().into_bytes()), Some(value.clone().into_bytes()))
        })
        .collect();
    assert_eq!(after, expected);
    assert_eq!(log.next_offset(), 200);

    // Reopening sees the compacted segments, and appends continue after the old end.
    drop(log);
    let log = Log::open(dir.path(), compact_config()).unwrap();
    assert_eq!(all_records(&log), expected);
    assert_eq!(put(&log, "key-0", Some("again"), 5_000), 200);
}

#[test]
fn compaction_leaves_the_active_segment_and_recent_records_alone() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { min_compaction_lag_ms: 500, ..compact_config() };
    let log = Log::open(dir.path(), config).unwrap();
    for i in 0..40 {
        put(&log, "same", Some(&format!("v{i}")), 1_000);
    }
    for i in 0..40 {
        put(&log, "same", Some(&format!("w{i}")), 2_000);
    }
    // At 1_700 only the segments whose newest record is at or before 1_200 are old enough.
    log.compact(1_700).unwrap();
    let records = all_records(&log);
    assert!(records.iter().any(|r| r.2.as_deref() == Some(&b"w0"[..])));
    assert_eq!(records.last().unwrap().2.as_deref(), Some(&b"w39"[..]));
    let v_left = records.iter().filter(|r| r.2.as_ref().is_some_and(|v| v[0] == b'v')).count();
    assert!(v_left < 40, "old values in old segments were compacted");
}

#[test]
fn tombstones_are_removed_only_after_delete_retention() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), compact_config()).unwrap();
    for i in 0..10 {
        put(&log, "gone", Some(&format!("v{i}")), 1_000);
    }
    let tomb = put(&log, "gone", None, 2_000);
    for i in 0..30 {
        put(&log, &format!("other-{i}"), Some("x"), 2_000);
    }
    log.roll().unwrap();

    log.compact(2_500).unwrap();
    let records = all_records(&log);
    let gone: Vec<_> = records.iter().filter(|r| r.1.as_deref() == Some(&b"gone"[..])).collect();
    assert_eq!(gone.len(), 1, "only the tombstone is left");
    assert_eq!(gone[0].0 as u64, tomb);
    assert_eq!(gone[0].2, None);

    log.compact(3_001).unwrap();
    let records = all_records(&log);
    assert!(records.iter().all(|r| r.1.as_deref() != Some(&b"gone"[..])));
    assert_eq!(records.len(), 30);
    assert!(records.iter().all(|r| r.0 as u64 > tomb), "offsets unchanged");
}

#[test]
fn compressed_batches_are_compacted_and_recompressed_with_their_codec() {
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), compact_config()).unwrap();
        for round in 0..2 {
            let v = [format!("old-a-{round}"), format!("old-b-{round}")];
            let recs = [
                Rec { key: Some(b"a"), value: Some(v[0].as_bytes()), timestamp: 5 },
                Rec { key: Some(b"b"), value: Some(v[1].as_bytes()), timestamp: 5 },
            ];
            log.append(&encode_with(&recs, codec)).unwrap();
        }
        // The last compressed batch loses its middle record, so it must be rebuilt.
        let recs = [
            Rec { key: Some(b"a"), value: Some(b"value-a"), timestamp: 5 },
            Rec { key: Some(b"b"), value: Some(b"stale-b"), timestamp: 5 },
            Rec { key: Some(b"b"), value: Some(b"value-b"), timestamp: 5 },
        ];
        log.append(&encode_with(&recs, codec)).unwrap();
        for i in 0..20 {
            put(&log, "plain", Some(&format!("{i}")), 1);
        }
        log.roll().unwrap();
        let stats = log.compact(10).unwrap();
        assert_eq!(stats.records_removed, 5 + 19, "{codec:?}: {stats:?}");
        let records = all_records(&log);
        let keyed =
            |k: &[u8]| records.iter().filter(|r| r.1.as_deref() == Some(k)).cloned().collect::<Vec<_>>();
        assert_eq!(keyed(b"a"), vec![(4, Some(b"a".to_vec()), Some(b"value-a".to_vec()))], "{codec:?}");
        assert_eq!(keyed(b"b"), vec![(6, Some(b"b".to_vec()), Some(b"value-b".to_vec()))], "{codec:?}");
        let r = log.read(4, 1, 7).unwrap();
        let h = BatchHeader::parse(&r.bytes).unwrap();
        assert_eq!(h.compression(), codec as u8, "recompressed with the producer's codec");
        assert_eq!((h.base_offset, h.last_offset_delta, h.record_count), (4, 2, 2));
    }
}

#[test]
fn crash_during_compaction_leaves_old_or_new_segment_never_a_mix() {
    let dir = Path::new("/compact");
    for crash_at in 0..120u64 {
        let disk = Arc::new(FaultyDisk::new(crash_at + 1));
        let log = Log::open_with(dir, compact_config(), disk.clone()).unwrap();
        for i in 0..60 {
            put(&log, &format!("k{}", i % 3), Some(&format!("v{i}")), 100 + i);
        }
        log.roll().unwrap();
        let before = all_records(&log);
        disk.fail_after(crash_at);
        let _ = log.compact(10_000);
        drop(log);
        disk.crash(true);
        let log = Log::open_with(dir, compact_config(), disk.clone()).unwrap();
        let after = all_records(&log);
        assert_eq!(log.next_offset(), 60, "crash at {crash_at}");
        // Every record left is one that was written, at its original offset.
        for r in &after {
            assert!(before.contains(r), "crash at {crash_at}: unexpected {r:?}");
        }
        // The newest value of every key survives.
        for key in ["k0", "k1", "k2"] {
            let last_before = before.iter().rev().find(|r| r.1.as_deref() == Some(key.as_bytes()));
            let last_after = after.iter().rev().find(|r| r.1.as_deref() == Some(key.as_bytes()));
            assert_eq!(last_before, last_after, "crash at {crash_at}");
        }
    }
}
