//! Readers running beside appenders, rolls, retention and compaction only ever see whole,
//! CRC-valid batches at increasing offsets.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{Rec, encode};
use ferry_log::{CleanupPolicy, Log, LogConfig, ReadError, batches, validate_batch};

#[test]
fn readers_see_only_whole_valid_batches_while_the_log_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 8 << 10,
        index_interval_bytes: 512,
        cleanup_policy: CleanupPolicy::CompactDelete,
        retention_bytes: Some(64 << 10),
        ..LogConfig::default()
    };
    let log = Arc::new(Log::open(dir.path(), config).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let appenders_done = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for t in 0..2u8 {
            let (log, appenders_done) = (log.clone(), appenders_done.clone());
            scope.spawn(move || {
                for i in 0..400usize {
                    let key = [b'k', t, (i % 5) as u8];
                    let value = vec![t; 50 + i % 200];
                    let b = encode(&[Rec { key: Some(&key), value: Some(&value), timestamp: i as i64 }]);
                    log.append(&b).unwrap();
                }
                appenders_done.fetch_add(1, Ordering::SeqCst);
            });
        }
        for r in 0..2u64 {
            let (log, done) = (log.clone(), done.clone());
            scope.spawn(move || {
                let mut seed = r + 1;
                while !done.load(Ordering::Relaxed) {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let start = log.log_start_offset();
                    let end = log.next_offset();
                    let offset = start + (seed >> 33) % (end - start + 1);
                    match log.read(offset, 4096, end) {
                        Ok(res) => {
                            let mut prev_last: Option<i64> = None;
                            for item in batches(&res.bytes) {
                                let (h, bytes) = item.expect("whole batch");
                                validate_batch(bytes).expect("valid batch");
                                assert!(prev_last.is_none_or(|p| h.base_offset > p));
                                prev_last = Some(h.last_offset());
                            }
                            if let Some(last) = prev_last {
                                assert!(last as u64 >= offset);
                                assert_eq!(res.next_offset, last as u64 + 1);
                            }
                        }
                        // Retention may move the start past the offset between the two loads.
                        Err(ReadError::OffsetOutOfRange { .. }) => {}
                        Err(e) => panic!("read at {offset}: {e}"),
                    }
                }
            });
        }
        let (log2, done2) = (log.clone(), done.clone());
        scope.spawn(move || {
            let mut i = 0;
            while appenders_done.load(Ordering::SeqCst) < 2 {
                i += 1;
                match i % 4 {
                    0 => drop(log2.enforce_retention(i).unwrap()),
                    1 => drop(log2.compact(1_000).unwrap()),
                    2 => log2.roll().unwrap(),
                    _ => std::thread::yield_now(),
                }
            }
            done2.store(true, Ordering::Relaxed);
        });
    });
    assert_eq!(log.next_offset(), 800);
}
