//! Malformed batches get typed errors and leave the log unchanged.

mod common;

use common::batch;
use ferry_log::{AppendError, BatchError, Log, LogConfig};

fn assert_unchanged(log: &Log, good: &[u8]) {
    assert_eq!(log.next_offset(), 1);
    assert_eq!(log.size_bytes(), good.len() as u64);
    let r = log.read(0, 1 << 20, 10).unwrap();
    assert_eq!(r.bytes, good);
    assert_eq!(log.append(good).unwrap().base_offset, 1);
}

fn open_with_one_batch() -> (tempfile::TempDir, Log, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig { max_batch_bytes: 2048, ..LogConfig::default() }).unwrap();
    let good = batch(1, 100, 1);
    log.append(&good).unwrap();
    (dir, log, good)
}

#[test]
fn truncated_batch_is_rejected() {
    let (_dir, log, good) = open_with_one_batch();
    for cut in [0, 10, 60, good.len() - 1] {
        let err = log.append(&good[..cut]).unwrap_err();
        assert!(matches!(err, AppendError::InvalidBatch(BatchError::Truncated)), "cut at {cut}: {err:?}");
    }
    assert_unchanged(&log, &good);
}

#[test]
fn wrong_crc_is_rejected() {
    let (_dir, log, good) = open_with_one_batch();
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(matches!(log.append(&bad), Err(AppendError::InvalidBatch(BatchError::CrcMismatch { .. }))));
    assert_unchanged(&log, &good);
}

#[test]
fn wrong_magic_is_rejected() {
    let (_dir, log, good) = open_with_one_batch();
    let mut bad = good.clone();
    bad[16] = 1;
    assert!(matches!(log.append(&bad), Err(AppendError::InvalidBatch(BatchError::BadMagic(1)))));
    assert_unchanged(&log, &good);
}

#[test]
fn oversize_batch_is_rejected() {
    let (_dir, log, good) = open_with_one_batch();
    let big = batch(1, 4096, 1);
    assert!(matches!(log.append(&big), Err(AppendError::BatchTooLarge { max: 2048, .. })));
    assert_unchanged(&log, &good);
}

#[test]
fn trailing_bytes_after_the_batch_are_rejected() {
    let (_dir, log, good) = open_with_one_batch();
    let mut bad = good.clone();
    bad.extend_from_slice(&good);
    assert!(matches!(log.append(&bad), Err(AppendError::InvalidBatch(BatchError::LengthMismatch { .. }))));
    assert_unchanged(&log, &good);
}

#[test]
fn record_count_disagreeing_with_last_offset_delta_is_rejected() {
    let (_dir, log, good) = open_with_one_batch();
    let mut bad = batch(2, 10, 1);
    bad[57..61].copy_from_slice(&5i32.to_be_bytes());
    let crc = crc32c::crc32c(&bad[21..]);
    bad[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        log.append(&bad),
        Err(AppendError::InvalidBatch(BatchError::RecordCountMismatch { .. }))
    ));
    assert_unchanged(&log, &good);
}

#[test]
fn negative_batch_length_is_rejected() {
    let (_dir, log, good) = open_with_one_batch();
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&(-5i32).to_be_bytes());
    assert!(matches!(log.append(&bad), Err(AppendError::InvalidBatch(BatchError::BadLength(-5)))));
    assert_unchanged(&log, &good);
}
