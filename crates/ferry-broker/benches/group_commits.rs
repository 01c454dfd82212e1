//! Offset-commit throughput of the group coordinator over the redb metadata store.
//!
//! Measures, in one run: the store alone committing one offset per transaction (one fsync
//! each), then `GroupCoordinator::commit_offsets` from 1, 8 and 64 concurrent committers, whose
//! commits the writer thread folds into shared transactions.
//!
//! `cargo bench -p ferry-broker --bench group_commits`; `FERRY_BENCH_SECS` (default 2) per case,
//! `FERRY_BENCH_DIR` (default `target/ferry-groups-bench`, must be on the disk to measure).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferry_broker::clock::SystemClock;
use ferry_broker::groups::{GroupConfig, GroupCoordinator, MemberRef, OffsetCommit, TopicPartition};
use ferry_broker::metadata::{MetaOp, MetadataStore, RedbStore, Table};

fn main() {
    let secs: u64 = std::env::var("FERRY_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    // Benches run in the crate's directory: default to the workspace's target directory.
    let dir = std::env::var("FERRY_BENCH_DIR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/ferry-groups-bench").to_string()
    });
    let duration = Duration::from_secs(secs);
    std::fs::create_dir_all(&dir).expect("bench directory");

    let path = format!("{dir}/raw.redb");
    let _ = std::fs::remove_file(&path);
    let store = RedbStore::open(&path).expect("store");
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        let value = serde_json::to_vec(&n).expect("encode");
        store
            .commit(&[MetaOp::put(Table::GroupOffsets, format!("1:g/t/{}", n % 16), value)])
            .expect("commit");
        n += 1;
    }
    report("redb alone, 1 offset per transaction", 1, n, start.elapsed());
    drop(store);

    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    for committers in [1usize, 8, 64] {
        let path = format!("{dir}/groups-{committers}.redb");
        let _ = std::fs::remove_file(&path);
        runtime.block_on(async {
            let meta: Arc<dyn MetadataStore> = Arc::new(RedbStore::open(&path).expect("store"));
            let groups = GroupCoordinator::open(meta, SystemClock::shared(), GroupConfig::default())
                .expect("coordinator");
            let done = Arc::new(AtomicU64::new(0));
            let start = Instant::now();
            let tasks: Vec<_> = (0..committers)
                .map(|c| {
                    let groups = Arc::clone(&groups);
                    let done = Arc::clone(&done);
                    tokio::spawn(async move {
                        let who = MemberRef {
                            member_id: String::new(),
                            group_instance_id: None,
                            generation_id: -1,
                        };
                        let group = format!("bench-{c}");
                        let mut offset = 0;
                        while start.elapsed() < duration {
                            let commit =
                                OffsetCommit { offset, leader_epoch: None, metadata: Some(String::new()) };
                            let tp = TopicPartition::new("orders", (offset % 16) as i32);
                            groups
                                .commit_offsets(&group, &who, None, vec![(tp, commit)])
                                .await
                                .expect("commit");
                            offset += 1;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("committer");
            }
            report(
                "GroupCoordinator::commit_offsets",
                committers,
                done.load(Ordering::Relaxed),
                start.elapsed(),
            );
        });
    }
}

fn report(what: &str, committers: usize, commits: u64, elapsed: Duration) {
    let per_s = commits as f64 / elapsed.as_secs_f64();
    let latency_ms = elapsed.as_secs_f64() * 1000.0 * committers as f64 / commits.max(1) as f64;
    println!(
        "{what:<40} committers {committers:>3}: {per_s:>9.0} commits/s, mean latency {latency_ms:>7.2} ms"
    );
}
