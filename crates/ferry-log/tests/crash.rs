//! Crash tests with the fault-injecting disk: acknowledged appends survive, torn tails are cut,
//! bit flips are reported, never served.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{batch, with_base};
use ferry_log::fault::FaultyDisk;
use ferry_log::{Disk, Durability, Log, LogConfig, ReadError, batches};

const DIR: &str = "/data/p0";

fn config(durability: Durability) -> LogConfig {
    LogConfig { segment_bytes: 2048, index_interval_bytes: 200, durability, ..LogConfig::default() }
}

/// Every batch of the log, in order, as (base offset, bytes).
fn read_all(log: &Log) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.next_offset() {
        let r = log.read(offset, 4096, log.next_offset()).expect("read");
        assert!(!r.bytes.is_empty(), "empty read below the log end");
        for item in batches(&r.bytes) {
            let (h, bytes) = item.expect("whole batch");
            out.push((h.base_offset as u64, bytes.to_vec()));
        }
        offset = r.next_offset;
    }
    out
}

#[test]
fn acknowledged_appends_survive_a_crash_at_every_io_call() {
    let payloads: Vec<Vec<u8>> = (0..30).map(|i| batch(1 + i % 3, 60 + i * 7, 100 + i as i64)).collect();
    for crash_at in 0..400u64 {
        let disk = Arc::new(FaultyDisk::new(crash_at * 7919 + 1));
        let log = Log::open_with(DIR, config(Durability::Always), disk.clone()).unwrap();
        disk.fail_after(crash_at);
        let mut acked: Vec<(u64, Vec<u8>)> = Vec::new();
        for p in &payloads {
            match log.append(p) {
                Ok(info) => acked.push((info.base_offset, with_base(p, info.base_offset))),
                Err(_) => break,
            }
        }
        let cut = disk.power_is_cut();
        drop(log);
        disk.crash(true);
        let log = Log::open_with(DIR, config(Durability::Always), disk.clone())
            .unwrap_or_else(|e| panic!("reopen after crash at call {crash_at}: {e}"));
        let stored = read_all(&log);
        assert!(
            stored.len() >= acked.len(),
            "crash at call {crash_at}: {} acked, {} recovered",
            acked.len(),
            stored.len()
        );
        assert_eq!(&stored[..acked.len()], &acked[..], "crash at call {crash_at}");
        // Whatever survived beyond the acknowledged prefix is an intact, unacknowledged batch.
        for (i, (base, bytes)) in stored.iter().enumerate().skip(acked.len()) {
            let expected_base = stored
                .get(i.wrapping_sub(1))
                .map_or(0, |(b, by)| b + batches(by).next().unwrap().unwrap().0.last_offset_delta as u64 + 1);
            assert_eq!(*base, expected_base);
            assert_eq!(bytes, &with_base(&payloads[i], *base));
        }
        let next = log.append(&payloads[0]).expect("append after recovery");
        assert_eq!(next.last_offset + 1, log.next_offset());
        if !cut {
            // The countdown outlived the workload: nothing was lost at all.
            assert_eq!(acked.len(), payloads.len());
        }
    }
}

#[test]
fn torn_tail_is_truncated_on_recovery_never_served() {
    for seed in 0..50u64 {
        let disk = Arc::new(FaultyDisk::new(seed + 11));
        let log = Log::open_with(DIR, config(Durability::Never), disk.clone()).unwrap();
        let b = batch(2, 90, 5);
        for _ in 0..6 {
            log.append(&b).unwrap();
        }
        log.sync().unwrap();
        let durable = log.next_offset();
        for _ in 0..4 {
            log.append(&b).unwrap();
        }
        drop(log);
        disk.crash(true);
        let log = Log::open_with(DIR, config(Durability::Never), disk.clone()).unwrap();
        assert!(log.next_offset() >= durable);
        let stored = read_all(&log);
        assert_eq!(stored.len() as u64 * 2, log.next_offset());
        for (base, bytes) in &stored {
            assert_eq!(bytes, &with_base(&b, *base));
        }
        // The file holds exactly the valid batches: the torn bytes were cut off.
        let last_segment =
            disk.list(Path::new(DIR)).unwrap().into_iter().filter(|n| n.ends_with(".log")).max().unwrap();
        let active = disk.contents(&Path::new(DIR).join(last_segment)).unwrap();
        assert_eq!(active.len() % b.len(), 0, "seed {seed}");
    }
}

#[test]
fn bit_flip_in_closed_segment_is_reported_with_segment_and_offset() {
    let disk = Arc::new(FaultyDisk::new(5));
    let b = batch(1, 150, 9);
    let log = Log::open_with(DIR, config(Durability::Always), disk.clone()).unwrap();
    for _ in 0..40 {
        log.append(&b).unwrap();
    }
    log.close().unwrap();
    // Flip a bit inside the value of the batch at offset 3 of segment 0.
    let pos = 3 * b.len() as u64 + 100;
    disk.flip_bit(&Path::new(DIR).join(format!("{:020}.log", 0)), pos, 4).unwrap();
    let log = Log::open_with(DIR, config(Durability::Always), disk.clone()).unwrap();
    assert_eq!(log.next_offset(), 40, "closed segments are not re-validated on open");
    match log.read(3, 1, 40) {
        Err(ReadError::Corrupt { segment, offset }) => {
            assert_eq!(segment, 0);
            assert_eq!(offset, 3);
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    // A read that would include the damaged batch is refused too, not cut short silently.
    assert!(matches!(log.read(0, 1 << 20, 40), Err(ReadError::Corrupt { segment: 0, offset: 3 })));
    assert_eq!(log.read(2, 1, 40).unwrap().bytes, with_base(&b, 2));
    assert_eq!(log.read(30, 1, 40).unwrap().bytes, with_base(&b, 30));
}

#[test]
fn bit_flip_in_unsynced_tail_is_truncated_by_recovery() {
    let disk = Arc::new(FaultyDisk::new(9));
    let b = batch(1, 150, 9);
    let log = Log::open_with(DIR, config(Durability::Always), disk.clone()).unwrap();
    for _ in 0..3 {
        log.append(&b).unwrap();
    }
    drop(log);
    // No clean shutdown: the checkpoint still points at the start of the active segment.
    disk.flip_bit(&Path::new(DIR).join(format!("{:020}.log", 0)), b.len() as u64 + 80, 0).unwrap();
    let log = Log::open_with(DIR, config(Durability::Always), disk.clone()).unwrap();
    assert_eq!(log.next_offset(), 1);
    assert_eq!(read_all(&log), vec![(0, with_base(&b, 0))]);
}

#[test]
fn crash_during_roll_keeps_every_acknowledged_batch() {
    for crash_at in 0..60u64 {
        let disk = Arc::new(FaultyDisk::new(crash_at + 100));
        let b = batch(1, 150, 9);
        let log = Log::open_with(DIR, config(Durability::Always), disk.clone()).unwrap();
        for _ in 0..12 {
            log.append(&b).unwrap();
        }
        disk.fail_after(crash_at);
        let rolled = log.roll().is_ok();
        let extra = log.append(&b).is_ok();
        drop(log);
        disk.crash(true);
        let log = Log::open_with(DIR, config(Durability::Always), disk.clone()).unwrap();
        let stored = read_all(&log);
        let want = 12 + usize::from(rolled && extra);
        assert!(stored.len() >= want, "crash at {crash_at}");
        for (base, bytes) in &stored {
            assert_eq!(bytes, &with_base(&b, *base));
        }
    }
}

#[test]
fn open_after_clean_close_reads_no_segment_data() {
    let disk = Arc::new(FaultyDisk::new(21));
    let b = batch(1, 500, 9);
    let log = Log::open_with(DIR, config(Durability::Always), disk.clone()).unwrap();
    for _ in 0..200 {
        log.append(&b).unwrap();
    }
    let size = log.size_bytes();
    let segments = log.segment_count() as u64;
    assert!(segments > 20);
    log.close().unwrap();
    let before = disk.bytes_read();
    let log = Log::open_with(DIR, config(Durability::Always), disk.clone()).unwrap();
    let read = disk.bytes_read() - before;
    // A header, a last index entry and a last time entry per closed segment, and the checkpoint.
    assert!(read <= segments * (61 + 8 + 12) + 64, "open read {read} bytes of a {size}-byte log");
    assert_eq!(log.read(5, 1, 200).unwrap().bytes, with_base(&b, 5));
}

#[test]
fn open_after_crash_validates_only_the_tail_since_the_checkpoint() {
    let disk = Arc::new(FaultyDisk::new(22));
    let b = batch(1, 500, 9);
    let log = Log::open_with(DIR, config(Durability::Always), disk.clone()).unwrap();
    for _ in 0..200 {
        log.append(&b).unwrap();
    }
    let segments = log.segment_count() as u64;
    drop(log);
    disk.crash(true);
    let before = disk.bytes_read();
    let log = Log::open_with(DIR, config(Durability::Always), disk.clone()).unwrap();
    let read = disk.bytes_read() - before;
    // Rolls checkpoint the start of each new segment, so only the active one is scanned.
    let bound = segments * (61 + 8 + 12) + 64 + 2048 + 2048;
    assert!(read <= bound, "open read {read} bytes, bound {bound}");
    assert_eq!(log.next_offset(), 200);
}

#[test]
fn recovery_starts_at_the_checkpoint_inside_the_active_segment() {
    let disk = Arc::new(FaultyDisk::new(23));
    let config = LogConfig { max_batch_bytes: 2 << 20, ..LogConfig::default() };
    let big = batch(1000, 1000, 9);
    let log = Log::open_with(DIR, config.clone(), disk.clone()).unwrap();
    // More than the 16 MiB checkpoint interval, all in the one active segment.
    for _ in 0..20 {
        log.append(&big).unwrap();
    }
    let small = batch(1, 100, 9);
    for _ in 0..5 {
        log.append(&small).unwrap();
    }
    let end = log.next_offset();
    drop(log);
    disk.crash(true);
    let before = disk.bytes_read();
    let log = Log::open_with(DIR, config, disk.clone()).unwrap();
    let read = disk.bytes_read() - before;
    assert_eq!(log.next_offset(), end);
    assert!(read < 8 << 20, "open re-read {read} bytes of a {} byte segment", log.size_bytes());
    // Index entries below the checkpoint came from the file, the rest from the scan.
    for offset in [0, 4_500, 12_345, 19_999, end - 1] {
        let r = log.read(offset, 1, end).unwrap();
        let (h, bytes) = batches(&r.bytes).next().unwrap().unwrap();
        assert!(h.base_offset as u64 <= offset && offset <= h.last_offset() as u64);
        let expected = if offset < 20_000 { &big } else { &small };
        assert_eq!(bytes, &with_base(expected, h.base_offset as u64)[..]);
    }
}

#[test]
fn a_full_disk_refuses_appends_until_there_is_room_again() {
    let disk = Arc::new(FaultyDisk::new(41));
    let log = Log::open_with(DIR, config(Durability::Always), disk.clone()).unwrap();
    let mut acked: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut append = |log: &Log, i: usize| {
        let p = batch(1 + i % 3, 60 + i * 7, 100 + i as i64);
        log.append(&p).map(|info| acked.push((info.base_offset, with_base(&p, info.base_offset))))
    };
    for i in 0..10 {
        append(&log, i).unwrap();
    }
    disk.set_full(true);
    // Enough refused appends to cross a segment roll (2048-byte segments).
    for i in 10..60 {
        assert!(append(&log, i).is_err(), "append {i} on a full disk");
    }
    disk.set_full(false);
    for i in 60..90 {
        append(&log, i).unwrap_or_else(|e| panic!("append {i} once there is room: {e}"));
    }
    let offsets: Vec<u64> = acked.iter().map(|(o, _)| *o).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets keep increasing: {offsets:?}");
    assert_eq!(read_all(&log), acked);

    // What was acknowledged is what recovery finds, nothing of the refused appends.
    drop(log);
    disk.crash(false);
    let log = Log::open_with(DIR, config(Durability::Always), disk.clone()).unwrap();
    assert_eq!(read_all(&log), acked);
}
