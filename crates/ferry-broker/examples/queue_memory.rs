//! Resident memory per queued message in the queue engine.
//!
//! Enqueues N messages of B bytes into one queue (bodies go to the queue's log on disk) and
//! reports the growth of the process's resident set size divided by N. Modes:
//! - `plain`: no state at all (the goal is at most 2 B per message);
//! - `priority`: every message carries a priority (a per-message record while ready);
//! - `delayed`: every message is delayed;
//! - `inflight`: plain messages, then all received (leased) at once;
//! - `fifo`: a FIFO queue, messages spread over 100 groups (dedup window 1 ms, see below).
//!
//! ```text
//! cargo run --release -p ferry-broker --example queue_memory -- plain 10000000 100
//! ```

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ferry_broker::clock::SystemClock;
use ferry_broker::metadata::MemoryStore;
use ferry_broker::queues::{NewMessage, QueueAttributes, QueueService, QueueServiceConfig, ReceiveOptions};
use ferry_log::Durability;

/// Resident set size of this process in bytes, from /proc.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

const BATCH: usize = 1_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("plain", String::as_str).to_string();
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000_000);
    let body_bytes: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100);
    let dir = tempfile::tempdir()?;
    let config = QueueServiceConfig {
        durability: Durability::Never,
        segment_bytes: 256 << 20,
        ..QueueServiceConfig::default()
    };
    let meta = Arc::new(MemoryStore::new());
    let svc =
        QueueService::open(dir.path().to_path_buf(), meta.clone(), SystemClock::shared(), config.clone())
            .await?;
    let fifo = mode == "fifo";
    let attrs = QueueAttributes {
        fifo,
        max_priority: (mode == "priority").then_some(9),
        delay_ms: if mode == "delayed" { 3_600_000 } else { 0 },
        visibility_timeout_ms: 3_600_000,
        // The dedup window costs memory per id for its duration whatever the queue depth;
        // a 1 ms window keeps it out of the per-queued-message figure.
        dedup_window_ms: if fifo { 1 } else { QueueAttributes::default().dedup_window_ms },
        ..QueueAttributes::default()
    };
    let name = if fifo { "bench.fifo" } else { "bench" };
    svc.create_queue(name, attrs).await?;
    let body = Bytes::from(vec![b'x'; body_bytes]);
    let make = |i: usize| NewMessage {
        body: body.clone(),
        priority: (mode == "priority").then_some((i % 9 + 1) as u8),
        group_id: fifo.then(|| format!("g{}", i % 100)),
        dedup_id: None,
        ..NewMessage::default()
    };
    // Warm up allocator pools and the log's buffers, then take the baseline.
    let warm: Vec<NewMessage> = (0..BATCH).map(make).collect();
    let warm_name = if fifo { "warm.fifo" } else { "warm" };
    svc.create_queue(
        warm_name,
        QueueAttributes { fifo, content_based_dedup: fifo, ..QueueAttributes::default() },
    )
    .await?;
    svc.enqueue(warm_name, warm).await?;
    let before = rss_bytes();
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let k = BATCH.min(n - i);
        let msgs: Vec<NewMessage> = (i..i + k)
            .map(|j| {
                let mut m = make(j);
                if fifo {
                    m.dedup_id = Some(j.to_string());
                }
                m
            })
            .collect();
        for r in svc.enqueue(name, msgs).await? {
            r?;
        }
        i += k;
    }
    if mode == "inflight" {
        let mut leased = 0;
        while leased < n {
            let d = svc
                .receive(
                    name,
                    ReceiveOptions { max_messages: 1_000, wait_ms: Some(0), ..ReceiveOptions::default() },
                )
                .await?;
            if d.is_empty() {
                break;
            }
            leased += d.len();
        }
    }
    let elapsed = start.elapsed();
    let after = rss_bytes();
    let stats = svc.queue_stats(name)?;
    let fp = svc.queue_footprint(name)?;
    let delta = after.saturating_sub(before);
    println!("mode={mode} messages={n} body_bytes={body_bytes}");
    println!(
        "ready={} in_flight={} delayed={} records={} settled_ranges={} log_bytes={}",
        stats.ready, stats.in_flight, stats.delayed, fp.records, fp.settled_ranges, fp.log_bytes
    );
    println!(
        "rss_before={} rss_after={} delta={} bytes_per_message={:.2} elapsed_s={:.1}",
        before,
        after,
        delta,
        delta as f64 / n as f64,
        elapsed.as_secs_f64()
    );
    svc.close().await?;
    drop(svc);
    // Recovery: reopen and rebuild the delivery state from the journal and the log.
    let start = Instant::now();
    let svc = QueueService::open(dir.path().to_path_buf(), meta, SystemClock::shared(), config).await?;
    let stats = svc.queue_stats(name)?;
    println!(
        "reopen_s={:.1} ready={} in_flight={} delayed={}",
        start.elapsed().as_secs_f64(),
        stats.ready,
        stats.in_flight,
        stats.delayed
    );
    svc.close().await?;
    Ok(())
}
