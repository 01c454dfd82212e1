//! Restart and crash recovery of queues: journal replay, checkpoints, settled segments, the
//! dedup window, and crashes at every point of a workload on a fault-injecting disk.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use ferry_log::fault::FaultyDisk;
use ferry_log::{Disk, StdDisk};

use super::tests::msg;
use super::*;
use crate::clock::{Clock, ManualClock};
use crate::metadata::{MemoryStore, MetaOp, MetadataError, MetadataStore, Table};

struct Node {
    dir: PathBuf,
    meta: Arc<dyn MetadataStore>,
    clock: ManualClock,
    config: QueueServiceConfig,
}

impl Node {
    fn new(dir: PathBuf, disk: Arc<dyn Disk>) -> Node {
        Node {
            dir,
            meta: Arc::new(MemoryStore::new()),
            clock: ManualClock::new(1_000_000),
            config: QueueServiceConfig { disk, ..QueueServiceConfig::default() },
        }
    }

    async fn start(&self) -> Result<Arc<QueueService>, QueueError> {
        QueueService::open(
            self.dir.clone(),
            self.meta.clone(),
            Arc::new(self.clock.clone()) as Arc<dyn Clock>,
            self.config.clone(),
        )
        .await
    }
}

fn recv(max: usize) -> ReceiveOptions {
    ReceiveOptions { max_messages: max, wait_ms: Some(0), ..ReceiveOptions::default() }
}

fn text(d: &Delivery) -> String {
    String::from_utf8_lossy(&d.body).into_owned()
}

#[tokio::test]
async fn in_flight_messages_come_back_redelivered_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::new(tmp.path().to_path_buf(), Arc::new(StdDisk));
    let svc = node.start().await.unwrap();
    svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    svc.enqueue("q", vec![msg("a"), msg("b"), msg("c")]).await.unwrap();
    let d = svc.receive("q", recv(2)).await.unwrap();
    svc.ack("q", d[0].receipt).await.unwrap();
    svc.close().await.unwrap();

    let svc = node.start().await.unwrap();
    let d = svc.receive("q", recv(10)).await.unwrap();
    let got: Vec<(String, u32, bool)> =
        d.iter().map(|d| (text(d), d.delivery_count, d.redelivered)).collect();
    assert_eq!(got, [("b".to_string(), 2, true), ("c".to_string(), 1, false)]);
}

#[tokio::test]
async fn acknowledged_deletes_stay_deleted_across_checkpoints_and_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(tmp.path().to_path_buf(), Arc::new(StdDisk));
    node.config.journal_checkpoint_bytes = 200;
    node.config.segment_bytes = 4096;
    let svc = node.start().await.unwrap();
    svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    svc.enqueue("q", (0..300).map(|i| msg(&format!("m{i:03}"))).collect()).await.unwrap();
    let all = svc.receive("q", recv(300)).await.unwrap();
    assert_eq!(all.len(), 300);
    for d in all.iter().filter(|d| text(d).ends_with(['0', '2', '4', '6', '8'])) {
        svc.ack("q", d.receipt).await.unwrap();
    }
    let before = svc.queue_footprint("q").unwrap();
    svc.close().await.unwrap();

    let svc = node.start().await.unwrap();
    let left: Vec<String> = svc.receive("q", recv(1_000)).await.unwrap().iter().map(text).collect();
    assert_eq!(left.len(), 150);
    assert!(left.iter().all(|b| b.ends_with(['1', '3', '5', '7', '9'])));
    for d in svc.receive("q", recv(1)).await.unwrap() {
        svc.ack("q", d.receipt).await.unwrap();
    }
    assert!(before.log_bytes > 0);
}

#[tokio::test]
async fn settled_segments_are_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(tmp.path().to_path_buf(), Arc::new(StdDisk));
    node.config.journal_checkpoint_bytes = 1_000;
    node.config.segment_bytes = 4096;
    let svc = node.start().await.unwrap();
    svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    for i in 0..50 {
        svc.enqueue("q", (0..10).map(|j| msg(&format!("{i}-{j}-{}", "x".repeat(50)))).collect())
            .await
            .unwrap();
    }
    let full = svc.queue_footprint("q").unwrap().log_bytes;
    loop {
        let d = svc.receive("q", recv(100)).await.unwrap();
        if d.is_empty() {
            break;
        }
        for x in d {
            svc.ack("q", x.receipt).await.unwrap();
        }
    }
    // Deletes of a standard queue are synced, and the journal checkpointed, in the background.
    svc.sync_settlements().await.unwrap();
    let after = svc.queue_footprint("q").unwrap();
    assert!(after.log_bytes < full / 4, "log kept {} of {full} bytes", after.log_bytes);
    assert_eq!(after.records, 0);
    assert!(after.settled_ranges <= 1, "settled ranges kept: {}", after.settled_ranges);
}

#[tokio::test]
async fn the_dedup_window_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::new(tmp.path().to_path_buf(), Arc::new(StdDisk));
    let svc = node.start().await.unwrap();
    svc.create_queue("q.fifo", QueueAttributes { fifo: true, ..QueueAttributes::default() }).await.unwrap();
    let m = || NewMessage { group_id: Some("g".into()), dedup_id: Some("once".into()), ..msg("x") };
    let first = svc.enqueue("q.fifo", vec![m()]).await.unwrap().remove(0).unwrap();
    let d = svc.receive("q.fifo", recv(1)).await.unwrap();
    svc.ack("q.fifo", d[0].receipt).await.unwrap();
    svc.close().await.unwrap();

    node.clock.advance(60_000);
    let svc = node.start().await.unwrap();
    let again = svc.enqueue("q.fifo", vec![m()]).await.unwrap().remove(0).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.message_id, first.message_id);
    assert!(svc.receive("q.fifo", recv(1)).await.unwrap().is_empty());
}

/// A metadata store on the same power as a [`FaultyDisk`]: once the disk's power is cut, commits
/// fail and are not applied, as when the process dies between a log fsync and a store commit.
struct PoweredStore {
    inner: MemoryStore,
    disk: Arc<FaultyDisk>,
}

impl MetadataStore for PoweredStore {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, MetadataError> {
        self.inner.get(table, key)
    }

    fn scan_prefix(&self, table: Table, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, MetadataError> {
        self.inner.scan_prefix(table, prefix)
    }

    fn commit(&self, ops: &[MetaOp]) -> Result<(), MetadataError> {
        if self.disk.power_is_cut() {
            return Err(MetadataError::Storage("power cut".into()));
        }
        self.inner.commit(ops)
    }
}

fn fifo_msg(id: usize) -> NewMessage {
    NewMessage { group_id: Some("g".into()), dedup_id: Some(format!("d{id}")), ..msg(&format!("d{id}")) }
}

/// Receives and deletes everything, returning the bodies in delivery order.
async fn drain(svc: &QueueService, queue: &str) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let ds = svc.receive(queue, recv(10)).await.unwrap();
        if ds.is_empty() {
            return got;
        }
        for d in ds {
            got.push(text(&d));
            svc.ack(queue, d.receipt).await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_fifo_send_retried_across_crashes_is_stored_once() {
    const IDS: usize = 48;
    let mut crash_points = 0;
    for fail_after in 0..120 {
        for torn in [false, true] {
            let disk = Arc::new(FaultyDisk::new(fail_after + 11));
            let mut node = Node::new(PathBuf::from("/data"), disk.clone());
            node.meta = Arc::new(PoweredStore { inner: MemoryStore::new(), disk: disk.clone() });
            let svc = node.start().await.unwrap();
            svc.create_queue("q.fifo", QueueAttributes { fifo: true, ..QueueAttributes::default() })
                .await
                .unwrap();
            disk.fail_after(fail_after);
            for first in (0..IDS).step_by(3) {
                if svc.enqueue("q.fifo", (first..first + 3).map(fifo_msg).collect()).await.is_err() {
                    break;
                }
            }
            if !disk.power_is_cut() {
                continue;
            }
            crash_points += 1;
            let _ = svc.close().await;
            disk.crash(torn);

            // The client retries every send, acknowledged or not, with the same dedup ids.
            let svc = node.start().await.unwrap_or_else(|e| panic!("recovery after op {fail_after}: {e}"));
            for first in (0..IDS).step_by(3) {
                for r in svc.enqueue("q.fifo", (first..first + 3).map(fifo_msg).collect()).await.unwrap() {
                    r.unwrap();
                }
            }
            let got = drain(&svc, "q.fifo").await;
            let mut sorted = got.clone();
            sorted.sort_by_key(|b| b[1..].parse::<usize>().unwrap());
            let want: Vec<String> = (0..IDS).map(|i| format!("d{i}")).collect();
            assert_eq!(sorted, want, "crash after {fail_after} ops (torn {torn}): received {got:?}");
        }
    }
    assert!(crash_points > 40, "the sends should cross many crash points, crossed {crash_points}");
}

#[tokio::test]
async fn a_send_whose_dedup_ids_cannot_be_persisted_fails_and_its_retry_is_recognised() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = Arc::new(FaultyDisk::new(3));
    let mut node = Node::new(tmp.path().to_path_buf(), Arc::new(StdDisk));
    let store = Arc::new(PoweredStore { inner: MemoryStore::new(), disk: disk.clone() });
    node.meta = store.clone();
    let svc = node.start().await.unwrap();
    svc.create_queue("q.fifo", QueueAttributes { fifo: true, ..QueueAttributes::default() }).await.unwrap();
    // Only the store fails: the log is on another disk.
    disk.fail_after(0);
    assert!(svc.enqueue("q.fifo", vec![fifo_msg(1)]).await.is_err());
    disk.crash(false);
    let retry = svc.enqueue("q.fifo", vec![fifo_msg(1)]).await.unwrap().remove(0).unwrap();
    assert!(retry.duplicate, "the retry of a stored message must be recognised");
    svc.close().await.unwrap();

    // After a restart the id comes back from the log, and is persisted again.
    let svc = node.start().await.unwrap();
    assert!(svc.enqueue("q.fifo", vec![fifo_msg(1)]).await.unwrap().remove(0).unwrap().duplicate);
    assert_eq!(store.inner.scan_prefix(Table::Dedup, "q.fifo/").unwrap().len(), 1);
    assert_eq!(drain(&svc, "q.fifo").await, ["d1"]);
}

#[tokio::test]
async fn delivery_counts_survive_a_restart_and_still_dead_letter() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::new(tmp.path().to_path_buf(), Arc::new(StdDisk));
    let svc = node.start().await.unwrap();
    svc.create_queue("dlq", QueueAttributes::default()).await.unwrap();
    let attrs = QueueAttributes {
        max_deliveries: Some(2),
        dead_letter: Some("dlq".into()),
        visibility_timeout_ms: 1_000,
        ..QueueAttributes::default()
    };
    svc.create_queue("q", attrs).await.unwrap();
    svc.enqueue("q", vec![msg("poison")]).await.unwrap();
    svc.receive("q", recv(1)).await.unwrap();
    svc.close().await.unwrap();

    let svc = node.start().await.unwrap();
    let d = svc.receive("q", recv(1)).await.unwrap();
    assert_eq!(d[0].delivery_count, 2);
    node.clock.advance(1_000);
    assert!(svc.receive("q", recv(1)).await.unwrap().is_empty());
    assert_eq!(svc.receive("dlq", recv(1)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn delayed_and_prioritised_messages_keep_their_state_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::new(tmp.path().to_path_buf(), Arc::new(StdDisk));
    let svc = node.start().await.unwrap();
    svc.create_queue("q", QueueAttributes { max_priority: Some(9), ..QueueAttributes::default() })
        .await
        .unwrap();
    svc.enqueue(
        "q",
        vec![
            msg("plain"),
            NewMessage { priority: Some(7), ..msg("urgent") },
            NewMessage { delay_ms: Some(5_000), ..msg("later") },
        ],
    )
    .await
    .unwrap();
    svc.close().await.unwrap();

    let svc = node.start().await.unwrap();
    let now: Vec<String> = svc.receive("q", recv(10)).await.unwrap().iter().map(text).collect();
    assert_eq!(now, ["urgent", "plain"]);
    node.clock.advance(5_000);
    let later: Vec<String> = svc.receive("q", recv(10)).await.unwrap().iter().map(text).collect();
    assert_eq!(later, ["later"]);
}

/// What a workload was told: enqueues acknowledged (by body), deletes acknowledged, and deletes
/// attempted (a failed delete may still have happened).
#[derive(Default)]
struct Acked {
    enqueued: BTreeSet<String>,
    deleted: BTreeSet<String>,
    attempted: BTreeSet<String>,
}

/// Enqueues, receives and deletes until the disk fails; returns what was acknowledged.
async fn workload(svc: &QueueService, acked: &mut Acked) {
    for round in 0..6 {
        let bodies: Vec<String> = (0..4).map(|i| format!("r{round}m{i}")).collect();
        match svc.enqueue("q", bodies.iter().map(|b| msg(b)).collect()).await {
            Ok(rs) => {
                for (b, r) in bodies.iter().zip(rs) {
                    if r.is_ok() {
                        acked.enqueued.insert(b.clone());
                    }
                }
            }
            Err(_) => return,
        }
        let Ok(ds) = svc.receive("q", recv(3)).await else { return };
        for d in ds.iter().step_by(2) {
            acked.attempted.insert(text(d));
            match svc.ack("q", d.receipt).await {
                Ok(()) => {
                    acked.deleted.insert(text(d));
                }
                Err(_) => return,
            }
        }
        // A failed delivery goes back with a delay: it must survive as any other message.
        if let Some(d) = ds.get(1)
            && svc.nack("q", d.receipt, NackMode::Delay(500)).await.is_err()
        {
            return;
        }
        if round == 3 {
            // Everything enqueued so far may be gone from here on, and must be once purged.
            let before: Vec<String> = acked.enqueued.iter().cloned().collect();
            acked.attempted.extend(before.iter().cloned());
            match svc.purge("q").await {
                Ok(()) => acked.deleted.extend(before),
                Err(_) => return,
            }
        }
    }
}

#[tokio::test]
async fn a_crash_at_any_point_keeps_acknowledged_enqueues_and_deletes() {
    crash_at_every_point(true).await;
}

#[tokio::test]
async fn a_crash_at_any_point_keeps_acknowledged_enqueues_with_deferred_deletes() {
    crash_at_every_point(false).await;
}

#[tokio::test]
async fn deferred_deletes_reach_the_disk_without_a_close() {
    let disk = Arc::new(FaultyDisk::new(5));
    let node = Node::new(PathBuf::from("/data"), disk.clone());
    let svc = node.start().await.unwrap();
    svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    assert!(!svc.queue_attributes("q").unwrap().settles_synchronously());
    svc.enqueue("q", (0..20).map(|i| msg(&format!("m{i}"))).collect()).await.unwrap();
    let ds = svc.receive("q", recv(20)).await.unwrap();
    let receipts: Vec<Receipt> = ds.iter().take(15).map(|d| d.receipt).collect();
    for r in svc.ack_batch("q", &receipts[..10]).await.unwrap() {
        r.unwrap();
    }
    for r in &receipts[10..] {
        svc.ack("q", *r).await.unwrap();
    }
    svc.sync_settlements().await.unwrap();
    // Power cut without closing anything: only what reached the disk counts.
    disk.crash(false);

    let svc = node.start().await.unwrap();
    node.clock.advance(60_000);
    let mut left: Vec<String> = svc.receive("q", recv(100)).await.unwrap().iter().map(text).collect();
    left.sort();
    assert_eq!(left, ["m15", "m16", "m17", "m18", "m19"]);
}

/// Runs [`workload`] with the power cut at every point, then checks what recovery kept: every
/// acknowledged enqueue, and (when settlements are synchronous) no acknowledged delete.
async fn crash_at_every_point(sync_settlements: bool) {
    let mut crash_points = 0;
    for fail_after in (0..400).step_by(3) {
        for torn in [false, true] {
            let disk = Arc::new(FaultyDisk::new(fail_after + 7));
            let mut node = Node::new(PathBuf::from("/data"), disk.clone());
            node.config.journal_checkpoint_bytes = 120;
            node.config.segment_bytes = 1024;
            let svc = node.start().await.unwrap();
            svc.create_queue(
                "q",
                QueueAttributes {
                    visibility_timeout_ms: 1_000,
                    sync_settlements: Some(sync_settlements),
                    ..QueueAttributes::default()
                },
            )
            .await
            .unwrap();
            disk.fail_after(fail_after);
            let mut acked = Acked::default();
            workload(&svc, &mut acked).await;
            if !disk.power_is_cut() {
                continue;
            }
            crash_points += 1;
            let _ = svc.close().await;
            disk.crash(torn);

            let svc = node.start().await.unwrap_or_else(|e| panic!("recovery after op {fail_after}: {e}"));
            node.clock.advance(1_000);
            let left: BTreeSet<String> = match svc.receive("q", recv(1_000)).await {
                Ok(ds) => ds.iter().map(text).collect(),
                // The queue's creation itself was lost: nothing was acknowledged then.
                Err(QueueError::NoSuchQueue(_)) => BTreeSet::new(),
                Err(e) => panic!("receive after recovery: {e}"),
            };
            for b in acked.enqueued.difference(&acked.attempted) {
                assert!(
                    left.contains(b),
                    "crash after {fail_after} ops (torn {torn}) lost enqueued {b}: acked {:?} deleted {:?} left {left:?}",
                    acked.enqueued,
                    acked.deleted
                );
            }
            // A deferred delete lost in the crash only means one more delivery.
            for b in acked.deleted.iter().filter(|_| sync_settlements) {
                assert!(
                    !left.contains(b),
                    "crash after {fail_after} ops (torn {torn}) resurrected deleted {b}"
                );
            }
        }
    }
    assert!(crash_points > 50, "the workload should cross many crash points, crossed {crash_points}");
}

#[tokio::test]
async fn messages_bodies_survive_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::new(tmp.path().to_path_buf(), Arc::new(StdDisk));
    let svc = node.start().await.unwrap();
    svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    let body = Bytes::from((0..=255u8).collect::<Vec<u8>>());
    svc.enqueue("q", vec![NewMessage { body: body.clone(), ..NewMessage::default() }]).await.unwrap();
    svc.close().await.unwrap();
    let svc = node.start().await.unwrap();
    assert_eq!(svc.receive("q", recv(1)).await.unwrap()[0].body, body);
}

#[derive(Clone, Debug)]
enum ROp {
    Enqueue { priority: u8, delay_ms: u64 },
    Receive(usize),
    Ack(usize),
    Nack(usize),
    Advance(u64),
    Restart,
}

fn rop() -> impl proptest::strategy::Strategy<Value = ROp> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0u8..3, prop_oneof![3 => Just(0u64), 1 => 1u64..3_000])
            .prop_map(|(priority, delay_ms)| ROp::Enqueue { priority, delay_ms }),
        3 => (1usize..4).prop_map(ROp::Receive),
        2 => (0usize..16).prop_map(ROp::Ack),
        1 => (0usize..16).prop_map(ROp::Nack),
        1 => (1u64..2_000).prop_map(ROp::Advance),
        1 => Just(ROp::Restart),
    ]
}

/// Live messages by body: (delayed until, leased) as the model sees them.
async fn run_with_restarts(ops: Vec<ROp>) {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(tmp.path().to_path_buf(), Arc::new(StdDisk));
    node.config.journal_checkpoint_bytes = 100;
    node.config.segment_bytes = 2048;
    let mut svc = node.start().await.unwrap();
    let attrs =
        QueueAttributes { max_priority: Some(5), visibility_timeout_ms: 1_000, ..QueueAttributes::default() };
    svc.create_queue("q", attrs).await.unwrap();
    let mut live: BTreeSet<String> = BTreeSet::new();
    let mut receipts: Vec<(String, Receipt)> = Vec::new();
    let mut n = 0;
    for op in ops {
        match op {
            ROp::Enqueue { priority, delay_ms } => {
                let body = format!("m{n}");
                n += 1;
                let m = NewMessage { priority: Some(priority), delay_ms: Some(delay_ms), ..msg(&body) };
                svc.enqueue("q", vec![m]).await.unwrap().remove(0).unwrap();
                live.insert(body);
            }
            ROp::Receive(max) => {
                for d in svc.receive("q", recv(max)).await.unwrap() {
                    assert!(live.contains(&text(&d)), "received {} which is not live", text(&d));
                    receipts.push((text(&d), d.receipt));
                }
            }
            ROp::Ack(i) => {
                if let Some((body, r)) = receipts.get(i % receipts.len().max(1)).cloned()
                    && svc.ack("q", r).await.is_ok()
                {
                    live.remove(&body);
                }
            }
            ROp::Nack(i) => {
                if let Some((_, r)) = receipts.get(i % receipts.len().max(1)).cloned() {
                    let _ = svc.nack("q", r, NackMode::Requeue).await;
                }
            }
            ROp::Advance(ms) => node.clock.advance(ms),
            ROp::Restart => {
                svc.close().await.unwrap();
                svc = node.start().await.unwrap();
            }
        }
        let s = svc.queue_stats("q").unwrap();
        assert_eq!(s.ready + s.delayed + s.in_flight, live.len() as u64, "{s:?}");
    }
    // Everything live comes out once leases and delays are over, and nothing else.
    node.clock.advance(10_000);
    let mut drained = BTreeSet::new();
    loop {
        let d = svc.receive("q", recv(100)).await.unwrap();
        if d.is_empty() {
            break;
        }
        for x in d {
            drained.insert(text(&x));
            svc.ack("q", x.receipt).await.unwrap();
        }
    }
    assert_eq!(drained, live);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    #[test]
    fn restarts_anywhere_keep_exactly_the_live_messages(ops in proptest::collection::vec(rop(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run_with_restarts(ops));
    }
}
