//! Append and read throughput of ferry-log next to the raw bandwidth of the same disk, measured in
//! the same run so the ratios survive a noisy machine.
//!
//! Run: `cargo bench -p ferry-log --bench log_throughput`
//!
//! Environment (all optional):
//! - `FERRY_BENCH_DIR`: where files are written (default `target/ferry-log-bench` in the
//!   workspace); it must be on the disk you want to measure, not a tmpfs.
//! - `FERRY_BENCH_SECS`: seconds per case (default 2).
//! - `FERRY_BENCH_MAX_MB`: cap on megabytes written per case (default 512).
//! - `FERRY_BENCH_QUICK=1`: only the 1 KiB x 1000 cases and reads.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferry_log::record::{NewRecord, encode_batch};
use ferry_log::{Durability, Log, LogConfig};

struct Settings {
    dir: PathBuf,
    secs: f64,
    max_bytes: u64,
    quick: bool,
}

fn settings() -> Settings {
    let env = |k: &str| std::env::var(k).ok();
    let dir = env("FERRY_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ferry-log-bench"));
    Settings {
        dir,
        secs: env("FERRY_BENCH_SECS").and_then(|s| s.parse().ok()).unwrap_or(2.0),
        max_bytes: env("FERRY_BENCH_MAX_MB").and_then(|s| s.parse().ok()).unwrap_or(512u64) << 20,
        quick: env("FERRY_BENCH_QUICK").is_some_and(|v| v == "1"),
    }
}

fn batch(records: usize, record_bytes: usize) -> Vec<u8> {
    let value = vec![b'x'; record_bytes];
    let recs: Vec<NewRecord<'_>> = (0..records)
        .map(|i| NewRecord {
            timestamp: 1_700_000_000_000 + i as i64,
            key: None,
            value: Some(&value),
            headers: vec![],
        })
        .collect();
    encode_batch(&recs)
}

/// Flushes every dirty page of the machine so one case's writeback does not slow the next.
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

/// Rounds each case's time is split into, alternating raw and log measurements so that a disk
/// whose speed drifts during the run affects both alike.
const ROUNDS: u32 = 4;

/// Bytes written and seconds spent, summed over rounds.
#[derive(Default, Clone, Copy)]
struct Tally {
    bytes: f64,
    secs: f64,
}

impl Tally {
    fn add(&mut self, (bytes, secs): (f64, f64)) {
        self.bytes += bytes;
        self.secs += secs;
    }

    fn rate(&self) -> f64 {
        self.bytes / self.secs
    }
}

/// Sequential `pwrite` of `chunk`-byte blocks, each followed by `fdatasync` when `sync` is set.
/// Returns (bytes, seconds).
fn raw(s: &Settings, chunk: usize, sync: bool, secs: f64) -> (f64, f64) {
    settle();
    let path = s.dir.join("raw.bin");
    let file = OpenOptions::new().create(true).truncate(true).write(true).open(&path).expect("raw file");
    let buf = vec![0xabu8; chunk];
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut pos = 0u64;
    while Instant::now() < deadline && pos < s.max_bytes / u64::from(ROUNDS) {
        file.write_all_at(&buf, pos).expect("raw write");
        if sync {
            file.sync_data().expect("raw fdatasync");
        }
        pos += chunk as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path).expect("remove raw file");
    (pos as f64, secs)
}

fn log_config(durability: Durability) -> LogConfig {
    LogConfig { max_batch_bytes: 8 << 20, durability, ..LogConfig::default() }
}

/// `appenders` threads append `b` until the time or byte budget is spent; returns
/// (bytes, seconds).
fn append(s: &Settings, b: &[u8], durability: Durability, appenders: usize, secs: f64) -> (f64, f64) {
    let dir = s.dir.join("log");
    let _ = std::fs::remove_dir_all(&dir);
    settle();
    let log = Arc::new(Log::open(&dir, log_config(durability)).expect("open log"));
    let written = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let budget = s.max_bytes / u64::from(ROUNDS);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..appenders {
            let (log, written) = (log.clone(), written.clone());
            scope.spawn(move || {
                while Instant::now() < deadline && written.load(Ordering::Relaxed) < budget {
                    log.append(b).expect("append");
                    written.fetch_add(b.len() as u64, Ordering::Relaxed);
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    drop(log);
    std::fs::remove_dir_all(&dir).expect("remove log dir");
    (written.load(Ordering::Relaxed) as f64, secs)
}

/// Writes `s.max_bytes / 2` of batches, then reads them back sequentially (page cache) with
/// 1 MiB fetches until the time budget is spent; returns bytes/s.
fn read(s: &Settings, b: &[u8]) -> f64 {
    let dir = s.dir.join("read");
    let _ = std::fs::remove_dir_all(&dir);
    let log = Log::open(&dir, log_config(Durability::Never)).expect("open log");
    let target = (s.max_bytes / 2).min(256 << 20);
    let mut n = 0u64;
    while n < target {
        log.append(b).expect("append");
        n += b.len() as u64;
    }
    log.sync().expect("sync");
    let end = log.next_offset();
    let mut offset = 0;
    while offset < end {
        offset = log.read(offset, 1 << 20, end).expect("warm read").next_offset;
    }
    let deadline = Instant::now() + Duration::from_secs_f64(s.secs);
    let start = Instant::now();
    let mut bytes = 0u64;
    'outer: loop {
        let mut offset = 0;
        while offset < end {
            let r = log.read(offset, 1 << 20, end).expect("read");
            bytes += r.bytes.len() as u64;
            offset = r.next_offset;
            if Instant::now() >= deadline {
                break 'outer;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(log);
    std::fs::remove_dir_all(&dir).expect("remove read dir");
    bytes as f64 / secs
}

fn mb(bytes_per_sec: f64) -> String {
    format!("{:.1}", bytes_per_sec / 1e6)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let s = settings();
    std::fs::create_dir_all(&s.dir).expect("bench dir");
    println!("bench dir: {}  seconds/case: {}  max MB/case: {}", s.dir.display(), s.secs, s.max_bytes >> 20);
    println!();
    println!(
        "| record B | records/batch | batch B | fsync | appenders | ferry-log MB/s | raw MB/s (same chunk) | ratio |"
    );
    println!("|---:|---:|---:|---|---:|---:|---:|---:|");
    let shapes: Vec<(usize, usize)> = if s.quick {
        vec![(1024, 1000)]
    } else {
        vec![(100, 1), (100, 16), (100, 1000), (1024, 1), (1024, 16), (1024, 100), (1024, 1000)]
    };
    for (record_bytes, records) in shapes {
        let b = batch(records, record_bytes);
        for (name, durability, sync) in
            [("always", Durability::Always, true), ("never", Durability::Never, false)]
        {
            let slice = s.secs / f64::from(ROUNDS);
            let (mut raw_t, mut one, mut four) = (Tally::default(), Tally::default(), Tally::default());
            for _ in 0..ROUNDS {
                raw_t.add(raw(&s, b.len(), sync, slice));
                one.add(append(&s, &b, durability.clone(), 1, slice));
                four.add(append(&s, &b, durability.clone(), 4, slice));
            }
            let raw_bw = raw_t.rate();
            for (appenders, bw) in [(1, one.rate()), (4, four.rate())] {
                println!(
                    "| {record_bytes} | {records} | {} | {name} | {appenders} | {} | {} | {:.2} |",
                    b.len(),
                    mb(bw),
                    mb(raw_bw),
                    bw / raw_bw
                );
            }
        }
    }
    println!();
    println!("| read (page cache, 1 MiB fetches, CRC checked) | MB/s |");
    println!("|---|---:|");
    for (record_bytes, records) in [(1024, 1000), (100, 16)] {
        let b = batch(records, record_bytes);
        println!("| {records} x {record_bytes} B batches | {} |", mb(read(&s, &b)));
    }
}
