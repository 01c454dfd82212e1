//! Behaviour of the log through its public API: offsets, reads, rolls, indexes, restarts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use common::{Rec, batch, decode, encode_with, with_base};
use ferry_log::fault::FaultyDisk;
use ferry_log::{AppendError, BatchHeader, Clock, Durability, Log, LogConfig, ReadError, SyncError, batches};
use kafka_protocol::records::Compression;

#[derive(Debug)]
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn small_config() -> LogConfig {
    LogConfig { segment_bytes: 4096, index_interval_bytes: 256, ..LogConfig::default() }
}

#[test]
fn appends_get_consecutive_offsets_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    let mut expected = Vec::new();
    for i in 0..50 {
        let b = batch(3, 20, 1000 + i);
        let info = log.append(&b).unwrap();
        assert_eq!(info.base_offset, i as u64 * 3);
        assert_eq!(info.last_offset, i as u64 * 3 + 2);
        assert_eq!(info.record_count, 3);
        assert_eq!(info.max_timestamp, 1000 + i);
        expected.push(with_base(&b, info.base_offset));
    }
    assert_eq!(log.next_offset(), 150);
    assert_eq!(log.durable_offset(), 150);
    assert!(log.segment_count() > 1, "4 KiB segments must have rolled");
    let mut got = Vec::new();
    let mut offset = 0;
    while offset < log.next_offset() {
        let r = log.read(offset, 1000, log.next_offset()).unwrap();
        assert!(!r.bytes.is_empty());
        for item in batches(&r.bytes) {
            let (_, bytes) = item.unwrap();
            got.push(bytes.to_vec());
        }
        offset = r.next_offset;
    }
    assert_eq!(got, expected);
}

#[test]
fn read_from_middle_of_batch_returns_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    for _ in 0..10 {
        log.append(&batch(5, 10, 1)).unwrap();
    }
    let r = log.read(17, 1, log.next_offset()).unwrap();
    let (h, _) = batches(&r.bytes).next().unwrap().unwrap();
    assert_eq!(h.base_offset, 15);
    assert_eq!(r.next_offset, 20);
    let records = decode(&r.bytes);
    assert_eq!(records.first().unwrap().0, 15);
}

#[test]
fn read_never_passes_upper_bound() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    for _ in 0..4 {
        log.append(&batch(2, 10, 1)).unwrap();
    }
    let r = log.read(0, 1 << 20, 4).unwrap();
    assert_eq!(r.next_offset, 4);
    assert_eq!(batches(&r.bytes).count(), 2);
    let r = log.read(4, 1 << 20, 4).unwrap();
    assert!(r.bytes.is_empty());
    assert_eq!(r.next_offset, 4);
}

#[test]
fn read_outside_the_log_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    log.append(&batch(2, 10, 1)).unwrap();
    assert!(matches!(log.read(3, 100, 10), Err(ReadError::OffsetOutOfRange { offset: 3, start: 0, end: 2 })));
    let r = log.read(2, 100, 10).unwrap();
    assert!(r.bytes.is_empty());
}

#[test]
fn max_bytes_limits_batches_but_one_always_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let b = batch(1, 100, 1);
    for _ in 0..10 {
        log.append(&b).unwrap();
    }
    let r = log.read(0, 1, 10).unwrap();
    assert_eq!(batches(&r.bytes).count(), 1);
    let r = log.read(0, b.len() * 3 + 5, 10).unwrap();
    assert_eq!(batches(&r.bytes).count(), 3);
    assert_eq!(r.next_offset, 3);
}

#[test]
fn segment_rolls_by_age_with_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TestClock(AtomicI64::new(1_000)));
    let config = LogConfig { segment_ms: Some(60_000), ..LogConfig::default() };
    let log = Log::open_with_clock(dir.path(), config, Arc::new(ferry_log::StdDisk), clock.clone()).unwrap();
    log.append(&batch(1, 10, 1)).unwrap();
    clock.0.store(30_000, Ordering::SeqCst);
    log.append(&batch(1, 10, 1)).unwrap();
    assert_eq!(log.segment_count(), 1);
    clock.0.store(61_000, Ordering::SeqCst);
    let info = log.append(&batch(1, 10, 1)).unwrap();
    assert_eq!(log.segment_count(), 2);
    assert_eq!(info.position_bytes, 0);
    assert!(dir.path().join(format!("{:020}.log", 2)).exists());
}

#[test]
fn explicit_roll_starts_a_segment_at_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.roll().unwrap();
    assert_eq!(log.segment_count(), 1, "an empty active segment is not rolled");
    log.append(&batch(4, 10, 1)).unwrap();
    log.roll().unwrap();
    assert_eq!(log.segment_count(), 2);
    for name in ["log", "index", "timeindex"] {
        assert!(dir.path().join(format!("{:020}.{name}", 4)).exists());
    }
}

#[test]
fn reopen_after_close_keeps_offsets_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let b = batch(2, 50, 7);
    {
        let log = Log::open(dir.path(), small_config()).unwrap();
        for _ in 0..100 {
            log.append(&b).unwrap();
        }
        log.close().unwrap();
    }
    let log = Log::open(dir.path(), small_config()).unwrap();
    assert_eq!(log.next_offset(), 200);
    let r = log.read(150, 1, 200).unwrap();
    assert_eq!(r.bytes, with_base(&b, 150));
    assert_eq!(log.append(&b).unwrap().base_offset, 200);
}

#[test]
fn missing_index_files_are_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let b = batch(1, 100, 5);
    {
        let log = Log::open(dir.path(), small_config()).unwrap();
        for _ in 0..100 {
            log.append(&b).unwrap();
        }
        log.close().unwrap();
    }
    let first_index = dir.path().join(format!("{:020}.index", 0));
    let size = std::fs::metadata(&first_index).unwrap().len();
    assert!(size > 0);
    std::fs::remove_file(&first_index).unwrap();
    std::fs::remove_file(dir.path().join(format!("{:020}.timeindex", 0))).unwrap();
    std::fs::write(dir.path().join(format!("{:020}.index", 0)).with_extension("index"), []).unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    assert_eq!(std::fs::metadata(&first_index).unwrap().len(), size);
    for offset in [0, 10, 20, 99] {
        let r = log.read(offset, 1, 100).unwrap();
        assert_eq!(r.bytes, with_base(&b, offset));
    }
}

#[test]
fn stale_index_pointing_at_wrong_batches_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let b = batch(1, 100, 5);
    {
        let log = Log::open(dir.path(), small_config()).unwrap();
        for _ in 0..100 {
            log.append(&b).unwrap();
        }
        log.close().unwrap();
    }
    let index = dir.path().join(format!("{:020}.index", 0));
    let mut bytes = std::fs::read(&index).unwrap();
    let n = bytes.len();
    // Shift the last entry's relative offset so it names a batch that is not at its position.
    bytes[n - 5] ^= 0x01;
    std::fs::write(&index, &bytes).unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    for offset in 0..30 {
        let r = log.read(offset, 1, 100).unwrap();
        assert_eq!(r.bytes, with_base(&b, offset));
    }
}

#[test]
fn offset_for_timestamp_finds_first_batch_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    for i in 0..100i64 {
        log.append(&batch(2, 30, 1_000 + i * 10)).unwrap();
    }
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 1_000)));
    assert_eq!(log.offset_for_timestamp(1_500).unwrap(), Some((100, 1_500)));
    assert_eq!(log.offset_for_timestamp(1_501).unwrap(), Some((102, 1_510)));
    assert_eq!(log.offset_for_timestamp(1_990).unwrap(), Some((198, 1_990)));
    assert_eq!(log.offset_for_timestamp(1_991).unwrap(), None);
}

#[test]
fn offset_for_timestamp_looks_inside_the_batch() {
    // Ten records one second apart in one batch, plain and with each codec: asking for the sixth
    // record's time gives the sixth record, not the batch's base offset.
    for compression in
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd]
    {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), small_config()).unwrap();
        let value = b"v".to_vec();
        let records: Vec<Rec<'_>> = (0..10)
            .map(|i| Rec { key: None, value: Some(&value), timestamp: 1_000_000 + i * 1_000 })
            .collect();
        log.append(&encode_with(&records, compression)).unwrap();
        assert_eq!(log.offset_for_timestamp(1_005_000).unwrap(), Some((5, 1_005_000)), "{compression:?}");
        assert_eq!(log.offset_for_timestamp(1_004_001).unwrap(), Some((5, 1_005_000)), "{compression:?}");
        assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 1_000_000)), "{compression:?}");
        assert_eq!(log.offset_for_timestamp(1_009_001).unwrap(), None, "{compression:?}");
        // Records below the log start are skipped even when their timestamps match.
        log.advance_start_offset(7).unwrap();
        assert_eq!(log.offset_for_timestamp(1_002_000).unwrap(), Some((7, 1_007_000)), "{compression:?}");
    }
}

#[test]
fn max_timestamp_record_is_the_first_record_with_the_newest_timestamp_across_segments_and_reopen() {
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        let value = b"v".to_vec();
        let rec = |timestamp: i64| Rec { key: None, value: Some(&value), timestamp };
        {
            let log = Log::open(dir.path(), small_config()).unwrap();
            assert_eq!(log.max_timestamp_record().unwrap(), None, "empty log");
            // Enough older batches to fill several segments first.
            for i in 0..100i64 {
                log.append(&batch(2, 30, 1_000 + i)).unwrap();
            }
            // The newest timestamp in the middle of a batch, then again in a later batch.
            log.append(&encode_with(&[rec(5_000), rec(9_000), rec(6_000)], compression)).unwrap();
            log.append(&encode_with(&[rec(9_000), rec(2_000)], compression)).unwrap();
            for i in 0..100i64 {
                log.append(&batch(2, 30, 3_000 + i)).unwrap();
            }
            assert!(log.segment_count() > 2, "{compression:?}");
            assert_eq!(log.max_timestamp_record().unwrap(), Some((201, 9_000)), "{compression:?}");
            log.close().unwrap();
        }
        let log = Log::open(dir.path(), small_config()).unwrap();
        assert_eq!(log.max_timestamp_record().unwrap(), Some((201, 9_000)), "{compression:?} after reopen");
    }
}

#[test]
fn advance_start_offset_deletes_segments_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let b = batch(1, 200, 5);
    {
        let log = Log::open(dir.path(), small_config()).unwrap();
        for _ in 0..100 {
            log.append(&b).unwrap();
        }
        let before = log.segment_count();
        log.advance_start_offset(50).unwrap();
        assert_eq!(log.log_start_offset(), 50);
        assert!(log.segment_count() < before);
        assert!(matches!(log.read(49, 1, 100), Err(ReadError::OffsetOutOfRange { start: 50, .. })));
        assert!(matches!(log.advance_start_offset(101), Err(AppendError::OffsetOutOfRange { .. })));
    }
    let log = Log::open(dir.path(), small_config()).unwrap();
    assert_eq!(log.log_start_offset(), 50);
    let r = log.read(50, 1, 100).unwrap();
    let (h, _) = batches(&r.bytes).next().unwrap().unwrap();
    assert_eq!(h.base_offset, 50);
}

#[test]
fn retention_by_bytes_keeps_at_least_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), small_config()).unwrap();
    for _ in 0..100 {
        log.append(&batch(1, 200, 5)).unwrap();
    }
    let size = log.size_bytes();
    log.update_config(LogConfig { retention_bytes: Some(size / 2), ..small_config() });
    let deleted = log.enforce_retention(10).unwrap();
    assert!(deleted > 0);
    assert!(log.size_bytes() >= size / 2);
    assert!(log.log_start_offset() > 0);
    let r = log.read(log.log_start_offset(), 1, 100).unwrap();
    assert!(!r.bytes.is_empty());
}

#[test]
fn retention_by_time_deletes_old_closed_segments_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig { retention_ms: Some(1_000), ..small_config() }).unwrap();
    for _ in 0..40 {
        log.append(&batch(1, 200, 5_000)).unwrap();
    }
    let start_new = log.next_offset();
    for _ in 0..40 {
        log.append(&batch(1, 200, 9_000)).unwrap();
    }
    assert_eq!(log.enforce_retention(5_500).unwrap(), 0);
    let deleted = log.enforce_retention(9_500).unwrap();
    assert!(deleted > 0);
    assert!(log.log_start_offset() <= start_new);
    // Even when everything is expired the active segment stays.
    log.enforce_retention(1_000_000).unwrap();
    assert_eq!(log.segment_count(), 1);
    assert!(log.read(log.log_start_offset(), 1, 80).is_ok());
}

#[test]
fn sync_to_covers_many_appends_with_one_fsync() {
    let disk = Arc::new(FaultyDisk::new(1));
    let log = Log::open_with(
        "/log",
        LogConfig { durability: Durability::Always, ..LogConfig::default() },
        disk.clone(),
    )
    .unwrap();
    let b = batch(1, 10, 1);
    let mut last = 0;
    for _ in 0..20 {
        last = log.append_no_sync(&b).unwrap().last_offset;
    }
    assert_eq!(log.durable_offset(), 0);
    let before = disk.file_fsyncs();
    log.sync_to(last + 1).unwrap();
    assert_eq!(disk.file_fsyncs() - before, 1);
    assert_eq!(log.durable_offset(), 20);
    log.sync_to(10).unwrap();
    assert_eq!(disk.file_fsyncs() - before, 1, "already durable");
}

#[test]
fn concurrent_appenders_all_get_distinct_durable_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), small_config()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || {
                let b = batch(2, 40, 3);
                (0..50)
                    .map(|_| {
                        let info = log.append(&b).unwrap();
                        assert!(log.durable_offset() > info.last_offset);
                        info.base_offset
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut bases: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    bases.sort_unstable();
    assert_eq!(bases, (0..200).map(|i| i * 2).collect::<Vec<_>>());
}

#[test]
fn failed_fsync_fails_the_log_until_reopen() {
    let disk = Arc::new(FaultyDisk::new(3));
    let b = batch(1, 10, 1);
    let log = Log::open_with("/log", LogConfig::default(), disk.clone()).unwrap();
    log.append(&b).unwrap();
    disk.fail_next_fsyncs(1);
    assert!(matches!(log.append(&b), Err(AppendError::Storage(_))));
    assert!(matches!(log.append(&b), Err(AppendError::Storage(_))));
    assert!(matches!(log.sync(), Err(SyncError::Storage(_))));
    drop(log);
    disk.crash(false);
    let log = Log::open_with("/log", LogConfig::default(), disk.clone()).unwrap();
    assert!(log.next_offset() >= 1);
    let info = log.append(&b).unwrap();
    assert_eq!(info.base_offset, log.next_offset() - 1);
}

#[test]
fn batch_header_helpers_describe_stored_batches() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.append(&batch(3, 10, 42)).unwrap();
    let r = log.read(0, 1000, 3).unwrap();
    let h = BatchHeader::parse(&r.bytes).unwrap();
    assert_eq!(h.record_count, 3);
    assert_eq!(h.max_timestamp, 42);
    assert_eq!(h.total_len(), r.bytes.len());
    assert_eq!(h.compression(), 0);
    assert!(!h.is_transactional() && !h.is_control());
    assert_eq!(h.last_offset(), 2);
}

#[test]
fn delete_removes_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p0");
    let log = Log::open(&path, LogConfig::default()).unwrap();
    log.append(&batch(1, 10, 1)).unwrap();
    log.delete().unwrap();
    assert!(!path.exists());
}

#[test]
fn large_batches_are_stored_with_rewritten_base_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let small = batch(1, 10, 1);
    let big = batch(100, 1000, 2);
    assert!(big.len() > 64 << 10);
    log.append(&small).unwrap();
    let info = log.append(&big).unwrap();
    assert_eq!(info.base_offset, 1);
    log.close().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.read(1, 1, 101).unwrap().bytes, with_base(&big, 1));
    assert_eq!(decode(&log.read(50, 1, 101).unwrap().bytes)[99].0, 100);
}

#[test]
fn log_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Log>();
}

#[test]
fn interval_durability_syncs_once_the_interval_has_passed() {
    let disk = Arc::new(FaultyDisk::new(4));
    let clock = Arc::new(TestClock(AtomicI64::new(10_000)));
    let config = LogConfig { durability: Durability::IntervalMs(100), ..LogConfig::default() };
    let log = Log::open_with_clock("/interval", config, disk.clone(), clock.clone()).unwrap();
    let b = batch(1, 10, 1);
    log.append(&b).unwrap();
    assert_eq!(log.durable_offset(), 1, "the first append finds no earlier fsync");
    clock.0.store(10_050, Ordering::SeqCst);
    log.append(&b).unwrap();
    log.append(&b).unwrap();
    assert_eq!(log.durable_offset(), 1);
    clock.0.store(10_101, Ordering::SeqCst);
    log.append(&b).unwrap();
    assert_eq!(log.durable_offset(), 4);
}

#[test]
fn compact_delete_policy_both_compacts_and_retains() {
    use ferry_log::CleanupPolicy;
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        cleanup_policy: CleanupPolicy::CompactDelete,
        retention_ms: Some(1_000),
        ..small_config()
    };
    let log = Log::open(dir.path(), config).unwrap();
    for i in 0..60 {
        log.append(&batch(1, 100, 1_000 + i)).unwrap();
    }
    log.roll().unwrap();
    let stats = log.compact(1_100).unwrap();
    assert!(stats.records_removed > 0, "every batch reuses key k0");
    assert!(log.enforce_retention(5_000).unwrap() > 0);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), 60);
}

#[test]
fn sync_to_past_the_end_returns_once_everything_written_is_durable() {
    let disk = Arc::new(FaultyDisk::new(6));
    let config = LogConfig { durability: Durability::Never, ..LogConfig::default() };
    let log = Log::open_with("/past-end", config, disk).unwrap();
    log.append(&batch(3, 10, 1)).unwrap();
    log.sync_to(u64::MAX).unwrap();
    assert_eq!(log.durable_offset(), 3);
}
