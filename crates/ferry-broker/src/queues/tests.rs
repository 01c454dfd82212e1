//! Behaviour of the queue engine through [`QueueService`], with a manual clock.

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::metadata::MemoryStore;

pub(super) struct Env {
    pub svc: Arc<QueueService>,
    pub clock: ManualClock,
    pub _dir: tempfile::TempDir,
}

pub(super) async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let svc = QueueService::open(
        dir.path().to_path_buf(),
        Arc::new(MemoryStore::new()),
        Arc::new(clock.clone()) as Arc<dyn Clock>,
        QueueServiceConfig::default(),
    )
    .await
    .unwrap();
    Env { svc, clock, _dir: dir }
}

pub(super) fn msg(body: &str) -> NewMessage {
    NewMessage { body: Bytes::from(body.to_string()), ..NewMessage::default() }
}

fn recv(max: usize) -> ReceiveOptions {
    ReceiveOptions { max_messages: max, wait_ms: Some(0), ..ReceiveOptions::default() }
}

fn bodies(d: &[Delivery]) -> Vec<String> {
    d.iter().map(|d| String::from_utf8_lossy(&d.body).into_owned()).collect()
}

async fn put(e: &Env, q: &str, bodies: &[&str]) {
    let r = e.svc.enqueue(q, bodies.iter().map(|b| msg(b)).collect()).await.unwrap();
    assert!(r.iter().all(|r| r.is_ok()), "{r:?}");
}

#[tokio::test]
async fn messages_are_received_in_order_and_deleted_by_ack() {
    let e = env().await;
    assert_eq!(e.svc.create_queue("q", QueueAttributes::default()).await.unwrap(), CreateOutcome::Created);
    put(&e, "q", &["a", "b", "c"]).await;
    let d = e.svc.receive("q", recv(2)).await.unwrap();
    assert_eq!(bodies(&d), ["a", "b"]);
    assert!(d.iter().all(|d| d.delivery_count == 1 && !d.redelivered));
    for x in &d {
        e.svc.ack("q", x.receipt).await.unwrap();
    }
    let s = e.svc.queue_stats("q").unwrap();
    assert_eq!((s.ready, s.in_flight), (1, 0));
    assert_eq!(bodies(&e.svc.receive("q", recv(10)).await.unwrap()), ["c"]);
    assert!(e.svc.receive("q", recv(10)).await.unwrap().is_empty());
}

#[tokio::test]
async fn creating_an_existing_queue_reports_whether_attributes_match() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    assert_eq!(
        e.svc.create_queue("q", QueueAttributes::default()).await.unwrap(),
        CreateOutcome::Exists { same_attributes: true }
    );
    let other = QueueAttributes { delay_ms: 5, ..QueueAttributes::default() };
    assert_eq!(
        e.svc.create_queue("q", other).await.unwrap(),
        CreateOutcome::Exists { same_attributes: false }
    );
    assert_eq!(e.svc.list_queues(None), ["q"]);
    e.svc.delete_queue("q").await.unwrap();
    assert!(matches!(e.svc.enqueue("q", vec![msg("x")]).await, Err(QueueError::NoSuchQueue(_))));
    assert!(e.svc.list_queues(Some("q")).is_empty());
}

#[tokio::test]
async fn lease_expiry_redelivers_and_counts() {
    let e = env().await;
    let attrs = QueueAttributes { visibility_timeout_ms: 1_000, ..QueueAttributes::default() };
    e.svc.create_queue("q", attrs).await.unwrap();
    put(&e, "q", &["a"]).await;
    let first = e.svc.receive("q", recv(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    e.clock.advance(999);
    assert!(e.svc.receive("q", recv(1)).await.unwrap().is_empty());
    e.clock.advance(1);
    let second = e.svc.receive("q", recv(1)).await.unwrap();
    assert_eq!(bodies(&second), ["a"]);
    assert_eq!(second[0].delivery_count, 2);
    assert!(second[0].redelivered);
    assert_eq!(second[0].first_received_ms, first[0].first_received_ms);
    assert_eq!(
        e.svc.ack("q", first[0].receipt).await,
        Err(QueueError::ReceiptSuperseded(first[0].receipt.to_string()))
    );
    // The superseded receipt deleted nothing: the message stays leased under the latest one.
    assert_eq!(e.svc.queue_stats("q").unwrap().in_flight, 1);
    e.svc.ack("q", second[0].receipt).await.unwrap();
    assert_eq!(e.svc.queue_stats("q").unwrap().in_flight, 0);
    // Deleting twice with the latest receipt is harmless.
    e.svc.ack("q", second[0].receipt).await.unwrap();
}

#[tokio::test]
async fn max_deliveries_dead_letters_to_the_target() {
    let e = env().await;
    e.svc.create_queue("dlq", QueueAttributes::default()).await.unwrap();
    let attrs = QueueAttributes {
        visibility_timeout_ms: 100,
        max_deliveries: Some(2),
        dead_letter: Some("dlq".into()),
        ..QueueAttributes::default()
    };
    e.svc.create_queue("q", attrs).await.unwrap();
    put(&e, "q", &["poison"]).await;
    for _ in 0..2 {
        assert_eq!(e.svc.receive("q", recv(1)).await.unwrap().len(), 1);
        e.clock.advance(100);
    }
    assert!(e.svc.receive("q", recv(1)).await.unwrap().is_empty());
    let d = e.svc.receive("dlq", recv(1)).await.unwrap();
    assert_eq!(bodies(&d), ["poison"]);
    assert_eq!(d[0].dead_letter_source.as_deref(), Some("q"));
    assert_eq!(e.svc.queue_stats("q").unwrap().dead_lettered_total, 1);
    assert_eq!(e.svc.dead_letter_sources("dlq"), ["q"]);
}

#[tokio::test]
async fn backoff_delays_a_nacked_message() {
    let e = env().await;
    let attrs = QueueAttributes {
        retry_backoff: Some(Backoff { base_ms: 1_000, cap_ms: 3_000, jitter: false, linear: false }),
        ..QueueAttributes::default()
    };
    e.svc.create_queue("q", attrs).await.unwrap();
    put(&e, "q", &["a"]).await;
    for expected_delay in [1_000, 2_000, 3_000, 3_000] {
        let d = e.svc.receive("q", recv(1)).await.unwrap();
        e.svc.nack("q", d[0].receipt, NackMode::Backoff).await.unwrap();
        assert_eq!(e.svc.queue_stats("q").unwrap().delayed, 1);
        e.clock.advance(expected_delay - 1);
        assert!(e.svc.receive("q", recv(1)).await.unwrap().is_empty());
        e.clock.advance(1);
        e.svc.peek("q", 1).await.unwrap().first().expect("ready after its backoff");
    }
}

#[tokio::test]
async fn nack_requeue_makes_the_message_ready_at_once() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    put(&e, "q", &["a", "b"]).await;
    let d = e.svc.receive("q", recv(1)).await.unwrap();
    e.svc.nack("q", d[0].receipt, NackMode::Requeue).await.unwrap();
    let again = e.svc.receive("q", recv(2)).await.unwrap();
    assert_eq!(bodies(&again), ["a", "b"]);
    assert!(again[0].redelivered);
}

#[tokio::test]
async fn change_lease_extends_or_releases_a_message() {
    let e = env().await;
    let attrs = QueueAttributes { visibility_timeout_ms: 1_000, ..QueueAttributes::default() };
    e.svc.create_queue("q", attrs).await.unwrap();
    put(&e, "q", &["a"]).await;
    let d = e.svc.receive("q", recv(1)).await.unwrap();
    e.svc.change_lease("q", d[0].receipt, 5_000).await.unwrap();
    e.clock.advance(4_999);
    assert!(e.svc.receive("q", recv(1)).await.unwrap().is_empty());
    e.svc.change_lease("q", d[0].receipt, 0).await.unwrap();
    let again = e.svc.receive("q", recv(1)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        e.svc.change_lease("q", d[0].receipt, 10).await,
        Err(QueueError::ReceiptSuperseded(d[0].receipt.to_string()))
    );
    assert!(matches!(Receipt::parse("garbage"), Err(QueueError::InvalidReceipt(_))));
}

#[tokio::test]
async fn long_poll_is_woken_by_an_enqueue() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    let svc = e.svc.clone();
    let waiter = tokio::spawn(async move {
        svc.receive("q", ReceiveOptions { max_messages: 1, wait_ms: Some(20_000), ..Default::default() })
            .await
    });
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    put(&e, "q", &["wake"]).await;
    let d = waiter.await.unwrap().unwrap();
    assert_eq!(bodies(&d), ["wake"]);
}

#[tokio::test]
async fn long_poll_is_woken_by_a_lease_expiry_and_times_out_empty() {
    let e = env().await;
    let attrs = QueueAttributes { visibility_timeout_ms: 1_000, ..QueueAttributes::default() };
    e.svc.create_queue("q", attrs).await.unwrap();
    put(&e, "q", &["a"]).await;
    e.svc.receive("q", recv(1)).await.unwrap();
    let svc = e.svc.clone();
    let waiter = tokio::spawn(async move {
        svc.receive("q", ReceiveOptions { max_messages: 1, wait_ms: Some(5_000), ..Default::default() }).await
    });
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    assert!(!waiter.is_finished());
    e.clock.advance(1_000);
    let d = waiter.await.unwrap().unwrap();
    assert_eq!(d[0].delivery_count, 2);
    e.svc.ack("q", d[0].receipt).await.unwrap();

    let svc = e.svc.clone();
    let empty = tokio::spawn(async move {
        svc.receive("q", ReceiveOptions { max_messages: 1, wait_ms: Some(5_000), ..Default::default() }).await
    });
    tokio::task::yield_now().await;
    e.clock.advance(5_000);
    assert!(empty.await.unwrap().unwrap().is_empty());
}

#[tokio::test]
async fn delayed_messages_wait_for_their_due_time() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes { delay_ms: 2_000, ..QueueAttributes::default() }).await.unwrap();
    put(&e, "q", &["late"]).await;
    e.svc.enqueue("q", vec![NewMessage { delay_ms: Some(0), ..msg("now") }]).await.unwrap();
    assert_eq!(e.svc.queue_stats("q").unwrap().delayed, 1);
    assert_eq!(bodies(&e.svc.receive("q", recv(10)).await.unwrap()), ["now"]);
    e.clock.advance(2_000);
    assert_eq!(bodies(&e.svc.receive("q", recv(10)).await.unwrap()), ["late"]);
}

#[tokio::test]
async fn expired_messages_are_dead_lettered_or_dropped_and_counted() {
    let e = env().await;
    e.svc.create_queue("dlq", QueueAttributes::default()).await.unwrap();
    let with_target = QueueAttributes {
        message_ttl_ms: Some(1_000),
        dead_letter: Some("dlq".into()),
        ..QueueAttributes::default()
    };
    e.svc.create_queue("q", with_target).await.unwrap();
    e.svc.create_queue("p", QueueAttributes::default()).await.unwrap();
    put(&e, "q", &["queue-ttl"]).await;
    e.svc.enqueue("p", vec![NewMessage { ttl_ms: Some(500), ..msg("own-ttl") }, msg("keeps")]).await.unwrap();
    e.clock.advance(1_000);
    assert!(e.svc.receive("q", recv(10)).await.unwrap().is_empty());
    assert_eq!(bodies(&e.svc.receive("dlq", recv(10)).await.unwrap()), ["queue-ttl"]);
    assert_eq!(e.svc.queue_stats("q").unwrap().expired_total, 1);
    assert_eq!(bodies(&e.svc.receive("p", recv(10)).await.unwrap()), ["keeps"]);
    let s = e.svc.queue_stats("p").unwrap();
    assert_eq!((s.expired_total, s.dead_lettered_total), (1, 0));
}

#[tokio::test]
async fn overflow_reject_new_refuses_messages_past_max_length() {
    let e = env().await;
    e.svc
        .create_queue("q", QueueAttributes { max_length: Some(2), ..QueueAttributes::default() })
        .await
        .unwrap();
    let r = e.svc.enqueue("q", vec![msg("a"), msg("b"), msg("c")]).await.unwrap();
    assert!(r[0].is_ok() && r[1].is_ok());
    assert_eq!(r[2], Err(QueueError::Overflow("q".into())));
    assert_eq!(e.svc.queue_stats("q").unwrap().ready, 2);
}

#[tokio::test]
async fn overflow_drop_oldest_keeps_the_newest() {
    let e = env().await;
    let attrs = QueueAttributes {
        max_length: Some(2),
        overflow: OverflowPolicy::DropOldest,
        ..QueueAttributes::default()
    };
    e.svc.create_queue("q", attrs).await.unwrap();
    put(&e, "q", &["a", "b", "c"]).await;
    put(&e, "q", &["d"]).await;
    assert_eq!(bodies(&e.svc.receive("q", recv(10)).await.unwrap()), ["c", "d"]);
    assert_eq!(e.svc.queue_stats("q").unwrap().dropped_total, 2);
}

#[tokio::test]
async fn overflow_dead_letter_oldest_moves_the_head_to_the_target() {
    let e = env().await;
    e.svc.create_queue("dlq", QueueAttributes::default()).await.unwrap();
    let attrs = QueueAttributes {
        max_bytes: Some(2),
        overflow: OverflowPolicy::DeadLetterOldest,
        dead_letter: Some("dlq".into()),
        ..QueueAttributes::default()
    };
    e.svc.create_queue("q", attrs).await.unwrap();
    put(&e, "q", &["a", "b", "c"]).await;
    assert_eq!(bodies(&e.svc.receive("q", recv(10)).await.unwrap()), ["b", "c"]);
    assert_eq!(bodies(&e.svc.receive("dlq", recv(10)).await.unwrap()), ["a"]);
}

#[tokio::test]
async fn higher_priorities_are_delivered_first_then_arrival_order() {
    let e = env().await;
    e.svc
        .create_queue("q", QueueAttributes { max_priority: Some(5), ..QueueAttributes::default() })
        .await
        .unwrap();
    let p = |b: &str, p: u8| NewMessage { priority: Some(p), ..msg(b) };
    e.svc
        .enqueue("q", vec![msg("plain1"), p("p9", 9), p("p2", 2), msg("plain2"), p("p5", 5), p("p2b", 2)])
        .await
        .unwrap();
    let d = e.svc.receive("q", recv(10)).await.unwrap();
    // 9 is capped to the queue's max priority 5 and keeps its arrival order among 5s.
    assert_eq!(bodies(&d), ["p9", "p5", "p2", "p2b", "plain1", "plain2"]);
}

fn fifo_msg(body: &str, group: &str) -> NewMessage {
    NewMessage { group_id: Some(group.into()), dedup_id: Some(body.into()), ..msg(body) }
}

#[tokio::test]
async fn a_fifo_group_with_a_message_in_flight_delivers_nothing_else() {
    let e = env().await;
    let attrs = QueueAttributes { fifo: true, visibility_timeout_ms: 1_000, ..QueueAttributes::default() };
    e.svc.create_queue("q.fifo", attrs).await.unwrap();
    e.svc
        .enqueue(
            "q.fifo",
            vec![fifo_msg("a1", "a"), fifo_msg("b1", "b"), fifo_msg("a2", "a"), fifo_msg("b2", "b")],
        )
        .await
        .unwrap();
    let first = e.svc.receive("q.fifo", recv(1)).await.unwrap();
    assert_eq!(bodies(&first), ["a1"]);
    // Group a is blocked while a1 is in flight; group b delivers in order.
    let next = e.svc.receive("q.fifo", recv(10)).await.unwrap();
    assert_eq!(bodies(&next), ["b1", "b2"]);
    assert!(e.svc.receive("q.fifo", recv(10)).await.unwrap().is_empty());
    // a1's lease ends: a1 comes again before a2.
    e.clock.advance(1_000);
    let again = e.svc.receive("q.fifo", recv(10)).await.unwrap();
    assert_eq!(bodies(&again)[0], "a1");
    assert!(
        again[0].sequence_number.unwrap() < again.get(1).and_then(|d| d.sequence_number).unwrap_or(u64::MAX)
    );
}

#[tokio::test]
async fn fifo_order_holds_across_deletes() {
    let e = env().await;
    e.svc.create_queue("q.fifo", QueueAttributes { fifo: true, ..QueueAttributes::default() }).await.unwrap();
    e.svc.enqueue("q.fifo", (0..5).map(|i| fifo_msg(&format!("m{i}"), "g")).collect()).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let d = e.svc.receive("q.fifo", recv(2)).await.unwrap();
        if d.is_empty() {
            break;
        }
        // Only after deleting everything received does the group deliver again.
        assert!(e.svc.receive("q.fifo", recv(2)).await.unwrap().is_empty());
        for x in &d {
            e.svc.ack("q.fifo", x.receipt).await.unwrap();
        }
        seen.extend(bodies(&d));
    }
    assert_eq!(seen, ["m0", "m1", "m2", "m3", "m4"]);
}

#[tokio::test]
async fn fifo_rules_are_enforced() {
    let e = env().await;
    e.svc.create_queue("q.fifo", QueueAttributes { fifo: true, ..QueueAttributes::default() }).await.unwrap();
    let r = e
        .svc
        .enqueue(
            "q.fifo",
            vec![
                msg("no group"),
                NewMessage { group_id: Some("g".into()), ..msg("no dedup") },
                NewMessage { delay_ms: Some(5), ..fifo_msg("delayed", "g") },
            ],
        )
        .await
        .unwrap();
    assert_eq!(r[0], Err(QueueError::FifoRequiresGroupId));
    assert_eq!(r[1], Err(QueueError::DedupIdRequired));
    assert_eq!(r[2], Err(QueueError::DelayNotAllowedOnFifo));
}

#[tokio::test]
async fn dedup_window_holds_after_the_first_copy_is_deleted() {
    let e = env().await;
    e.svc.create_queue("q.fifo", QueueAttributes { fifo: true, ..QueueAttributes::default() }).await.unwrap();
    let first = e.svc.enqueue("q.fifo", vec![fifo_msg("x", "g")]).await.unwrap().remove(0).unwrap();
    assert!(!first.duplicate);
    let d = e.svc.receive("q.fifo", recv(1)).await.unwrap();
    e.svc.ack("q.fifo", d[0].receipt).await.unwrap();
    e.clock.advance(299_999);
    let dup = e.svc.enqueue("q.fifo", vec![fifo_msg("x", "g")]).await.unwrap().remove(0).unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.message_id, first.message_id);
    assert_eq!(dup.sequence_number, first.sequence_number);
    assert!(e.svc.receive("q.fifo", recv(1)).await.unwrap().is_empty());
    e.clock.advance(1);
    let fresh = e.svc.enqueue("q.fifo", vec![fifo_msg("x", "g")]).await.unwrap().remove(0).unwrap();
    assert!(!fresh.duplicate);
}

#[tokio::test]
async fn content_based_dedup_hashes_the_body() {
    let e = env().await;
    let attrs = QueueAttributes { fifo: true, content_based_dedup: true, ..QueueAttributes::default() };
    e.svc.create_queue("q.fifo", attrs).await.unwrap();
    let g = |b: &str| NewMessage { group_id: Some("g".into()), ..msg(b) };
    let r = e.svc.enqueue("q.fifo", vec![g("same"), g("same"), g("other")]).await.unwrap();
    let dup: Vec<bool> = r.iter().map(|r| r.as_ref().unwrap().duplicate).collect();
    assert_eq!(dup, [false, true, false]);
    assert_eq!(e.svc.queue_stats("q.fifo").unwrap().ready, 2);
}

#[tokio::test]
async fn purge_removes_ready_and_in_flight_messages() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    put(&e, "q", &["a", "b", "c"]).await;
    let d = e.svc.receive("q", recv(1)).await.unwrap();
    e.svc.purge("q").await.unwrap();
    let s = e.svc.queue_stats("q").unwrap();
    assert_eq!((s.ready, s.in_flight), (0, 0));
    assert!(e.svc.receive("q", recv(10)).await.unwrap().is_empty());
    e.svc.ack("q", d[0].receipt).await.unwrap();
    put(&e, "q", &["d"]).await;
    assert_eq!(bodies(&e.svc.receive("q", recv(10)).await.unwrap()), ["d"]);
}

#[tokio::test]
async fn peek_shows_ready_messages_without_leasing_them() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    put(&e, "q", &["a", "b"]).await;
    assert_eq!(bodies(&e.svc.peek("q", 10).await.unwrap()), ["a", "b"]);
    assert_eq!(e.svc.queue_stats("q").unwrap().in_flight, 0);
    assert_eq!(bodies(&e.svc.receive("q", recv(10)).await.unwrap()), ["a", "b"]);
}

#[tokio::test]
async fn a_move_task_redrives_dead_letters_to_their_source() {
    let e = env().await;
    e.svc.create_queue("dlq", QueueAttributes::default()).await.unwrap();
    let attrs = QueueAttributes {
        max_deliveries: Some(1),
        dead_letter: Some("dlq".into()),
        ..QueueAttributes::default()
    };
    e.svc.create_queue("q", attrs).await.unwrap();
    put(&e, "q", &["a", "b"]).await;
    for d in e.svc.receive("q", recv(10)).await.unwrap() {
        e.svc.nack("q", d.receipt, NackMode::Requeue).await.unwrap();
    }
    assert_eq!(e.svc.queue_stats("dlq").unwrap().ready, 2);
    let task = e.svc.start_move("dlq", None, None).unwrap();
    assert_eq!(task.to_move, 2);
    // The task runs in the background (with blocking fsync waits): give it real time.
    for _ in 0..500 {
        if e.svc.list_moves("dlq")[0].status != MoveStatus::Running {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let info = &e.svc.list_moves("dlq")[0];
    assert_eq!((info.status, info.moved), (MoveStatus::Completed, 2));
    assert_eq!(bodies(&e.svc.receive("q", recv(10)).await.unwrap()), ["a", "b"]);
}

#[tokio::test]
async fn oversized_messages_and_reserved_attribute_names_are_refused() {
    let e = env().await;
    e.svc
        .create_queue("q", QueueAttributes { max_message_bytes: 16, ..QueueAttributes::default() })
        .await
        .unwrap();
    let attr = MessageAttribute {
        name: "ferry.x".into(),
        data_type: "String".into(),
        value: AttrValue::Text("".into()),
    };
    let big = "x".repeat(17);
    let r =
        e.svc.enqueue("q", vec![msg(&big), NewMessage { attributes: vec![attr], ..msg("1") }]).await.unwrap();
    assert_eq!(r[0], Err(QueueError::MessageTooLarge { size: 17, max: 16 }));
    assert!(matches!(r[1], Err(QueueError::InvalidAttribute(_))));
}

#[tokio::test]
async fn a_receipt_naming_a_delivery_that_never_happened_is_invalid() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    put(&e, "q", &["a"]).await;
    let d = e.svc.receive("q", recv(1)).await.unwrap();
    // Same queue and offset, but a delivery count from the future.
    let forged = Receipt { count: 9, ..d[0].receipt };
    assert!(matches!(e.svc.ack("q", forged).await, Err(QueueError::InvalidReceipt(_))));
    let zero = Receipt { count: 0, ..d[0].receipt };
    assert!(matches!(e.svc.ack("q", zero).await, Err(QueueError::InvalidReceipt(_))));
    let other = Receipt { incarnation: d[0].receipt.incarnation + 1, ..d[0].receipt };
    assert!(matches!(e.svc.ack("q", other).await, Err(QueueError::InvalidReceipt(_))));
    assert_eq!(e.svc.queue_stats("q").unwrap().in_flight, 1);
}

#[test]
fn receipts_read_back_what_they_write_and_refuse_anything_else() {
    let r = Receipt { incarnation: 0x1f, offset: 42, count: 3 };
    assert_eq!(Receipt::parse(&r.to_string()).unwrap(), r);
    for bad in ["", "junk", "1-2", "1-2-3-4", "1-x-3", "1-2-100000000"] {
        assert!(matches!(Receipt::parse(bad), Err(QueueError::InvalidReceipt(_))), "{bad:?} was read");
    }
}

#[tokio::test]
async fn ack_batch_deletes_each_and_reports_bad_receipts() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    put(&e, "q", &["a", "b"]).await;
    let d = e.svc.receive("q", recv(2)).await.unwrap();
    let junk = Receipt { incarnation: d[0].receipt.incarnation + 1, ..d[0].receipt };
    let r = e.svc.ack_batch("q", &[d[0].receipt, junk, d[1].receipt]).await.unwrap();
    assert!(r[0].is_ok() && r[2].is_ok());
    assert!(matches!(r[1], Err(QueueError::InvalidReceipt(_))));
    assert_eq!(e.svc.queue_stats("q").unwrap().in_flight, 0);
}

#[tokio::test]
async fn long_poll_is_woken_when_a_delay_ends() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    e.svc.enqueue("q", vec![NewMessage { delay_ms: Some(3_000), ..msg("later") }]).await.unwrap();
    let svc = e.svc.clone();
    let waiter = tokio::spawn(async move {
        svc.receive("q", ReceiveOptions { max_messages: 1, wait_ms: Some(10_000), ..Default::default() })
            .await
    });
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    assert!(!waiter.is_finished());
    e.clock.advance(3_000);
    assert_eq!(bodies(&waiter.await.unwrap().unwrap()), ["later"]);
}

#[tokio::test]
async fn fifo_order_holds_across_retries_dead_letters_and_redrive() {
    let e = env().await;
    let fifo = QueueAttributes { fifo: true, visibility_timeout_ms: 1_000, ..QueueAttributes::default() };
    e.svc.create_queue("dlq.fifo", fifo.clone()).await.unwrap();
    let attrs = QueueAttributes { max_deliveries: Some(2), dead_letter: Some("dlq.fifo".into()), ..fifo };
    e.svc.create_queue("q.fifo", attrs).await.unwrap();
    e.svc.enqueue("q.fifo", (0..4).map(|i| fifo_msg(&format!("m{i}"), "g")).collect()).await.unwrap();
    // Every delivery fails: first a nack (retry), then a lease expiry; each message then leaves
    // for the dead-letter queue in group order.
    for _ in 0..4 {
        let d = e.svc.receive("q.fifo", recv(1)).await.unwrap();
        e.svc.nack("q.fifo", d[0].receipt, NackMode::Requeue).await.unwrap();
        let again = e.svc.receive("q.fifo", recv(1)).await.unwrap();
        assert_eq!(again[0].message_id, d[0].message_id, "a retry comes before the rest of its group");
        e.clock.advance(1_000);
    }
    assert!(e.svc.receive("q.fifo", recv(10)).await.unwrap().is_empty());
    assert_eq!(bodies(&e.svc.peek("dlq.fifo", 10).await.unwrap()), ["m0", "m1", "m2", "m3"]);
    e.svc.start_move("dlq.fifo", None, None).unwrap();
    for _ in 0..500 {
        if e.svc.list_moves("dlq.fifo")[0].status != MoveStatus::Running {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut seen = Vec::new();
    loop {
        let d = e.svc.receive("q.fifo", recv(10)).await.unwrap();
        if d.is_empty() {
            break;
        }
        for x in &d {
            e.svc.ack("q.fifo", x.receipt).await.unwrap();
        }
        seen.extend(bodies(&d));
    }
    assert_eq!(seen, ["m0", "m1", "m2", "m3"]);
}

#[tokio::test]
async fn retention_drops_old_messages_silently_even_with_a_dead_letter_target() {
    let e = env().await;
    e.svc.create_queue("dlq", QueueAttributes::default()).await.unwrap();
    let attrs = QueueAttributes {
        retention_ms: 10_000,
        max_priority: Some(3),
        dead_letter: Some("dlq".into()),
        ..QueueAttributes::default()
    };
    e.svc.create_queue("q", attrs).await.unwrap();
    e.svc
        .enqueue("q", vec![msg("plain"), NewMessage { priority: Some(2), ..msg("prioritised") }])
        .await
        .unwrap();
    e.clock.advance(5_000);
    put(&e, "q", &["young"]).await;
    e.clock.advance(5_000);
    assert_eq!(bodies(&e.svc.receive("q", recv(10)).await.unwrap()), ["young"]);
    let s = e.svc.queue_stats("q").unwrap();
    assert_eq!((s.dropped_total, s.dead_lettered_total, s.expired_total), (2, 0, 0));
    assert!(e.svc.receive("dlq", recv(10)).await.unwrap().is_empty());
}

#[test]
fn backoff_doubles_up_to_its_cap_and_full_jitter_stays_below_it() {
    use super::service::backoff_ms;
    let b = Backoff { base_ms: 100, cap_ms: 1_000, jitter: false, linear: false };
    let plain: Vec<u64> = (1..=6).map(|n| backoff_ms(&b, n)).collect();
    assert_eq!(plain, [100, 200, 400, 800, 1_000, 1_000]);
    assert_eq!(backoff_ms(&b, u32::MAX), 1_000);
    let j = Backoff { jitter: true, ..b };
    let draws: Vec<u64> = (0..200).map(|_| backoff_ms(&j, 3)).collect();
    assert!(draws.iter().all(|&d| d <= 400));
    assert!(draws.iter().any(|&d| d != draws[0]), "full jitter draws vary");
}

#[test]
fn linear_backoff_grows_by_its_base_per_delivery_up_to_its_cap() {
    use super::service::backoff_ms;
    let b = Backoff { base_ms: 1_000, cap_ms: 3_500, jitter: false, linear: true };
    let delays: Vec<u64> = (1..=5).map(|n| backoff_ms(&b, n)).collect();
    assert_eq!(delays, [1_000, 2_000, 3_000, 3_500, 3_500]);
    assert_eq!(backoff_ms(&b, u32::MAX), 3_500);
}

#[tokio::test]
async fn a_retried_receive_attempt_gets_the_same_messages_and_receipts() {
    let e = env().await;
    let attrs = QueueAttributes { fifo: true, visibility_timeout_ms: 1_000, ..QueueAttributes::default() };
    e.svc.create_queue("q.fifo", attrs).await.unwrap();
    e.svc.enqueue("q.fifo", vec![fifo_msg("a", "g1"), fifo_msg("b", "g2")]).await.unwrap();
    let opts = || ReceiveOptions {
        max_messages: 1,
        wait_ms: Some(0),
        receive_request_attempt_id: Some("attempt-1".into()),
        ..ReceiveOptions::default()
    };
    let first = e.svc.receive("q.fifo", opts()).await.unwrap();
    let retry = e.svc.receive("q.fifo", opts()).await.unwrap();
    assert_eq!(bodies(&first), ["a"]);
    assert_eq!(first[0].receipt, retry[0].receipt);
    // Once the lease ended the attempt id no longer pins those messages.
    e.clock.advance(1_000);
    let later = e.svc.receive("q.fifo", opts()).await.unwrap();
    assert_eq!((bodies(&later), later[0].delivery_count), (vec!["a".to_string()], 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_producers_and_consumers_see_each_message_exactly_once() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let svc = e.svc.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    let batch = (0..5).map(|j| msg(&format!("p{p}-{i}-{j}"))).collect();
                    for r in svc.enqueue("q", batch).await.unwrap() {
                        r.unwrap();
                    }
                }
            })
        })
        .collect();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let svc = e.svc.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut idle = 0;
                while idle < 50 {
                    let d = svc.receive("q", recv(7)).await.unwrap();
                    if d.is_empty() {
                        idle += 1;
                        tokio::task::yield_now().await;
                        continue;
                    }
                    idle = 0;
                    for x in d {
                        svc.ack("q", x.receipt).await.unwrap();
                        seen.lock().unwrap().push(String::from_utf8_lossy(&x.body).into_owned());
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
    for c in consumers {
        c.await.unwrap();
    }
    // Whatever the consumers gave up on before the producers finished is still there, once.
    for d in e.svc.receive("q", recv(1_000)).await.unwrap() {
        seen.lock().unwrap().push(String::from_utf8_lossy(&d.body).into_owned());
    }
    let mut all = seen.lock().unwrap().clone();
    all.sort();
    let total = all.len();
    all.dedup();
    assert_eq!(all.len(), total, "no message delivered twice");
    assert_eq!(total, 4 * 50 * 5, "no message lost");
}

#[tokio::test]
async fn the_timer_task_dead_letters_expired_messages_without_any_receive() {
    let e = env().await;
    e.svc.create_queue("dlq", QueueAttributes::default()).await.unwrap();
    let attrs = QueueAttributes { dead_letter: Some("dlq".into()), ..QueueAttributes::default() };
    e.svc.create_queue("q", attrs).await.unwrap();
    e.svc.enqueue("q", vec![NewMessage { ttl_ms: Some(2_000), ..msg("short-lived") }]).await.unwrap();
    tokio::task::yield_now().await;
    e.clock.advance(2_000);
    // The timer task runs on its own (with blocking fsync waits): give it real time.
    for _ in 0..500 {
        if e.svc.queue_stats("dlq").unwrap().ready == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(e.svc.queue_stats("dlq").unwrap().ready, 1);
    let s = e.svc.queue_stats("q").unwrap();
    assert_eq!((s.ready, s.expired_total, s.dead_lettered_total), (0, 1, 1));
}

#[tokio::test]
async fn deleted_names_are_held_only_for_their_cooldown() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let open = |cooldown_ms| {
        QueueService::open(
            dir.path().to_path_buf(),
            Arc::new(MemoryStore::new()),
            Arc::new(clock.clone()) as Arc<dyn Clock>,
            QueueServiceConfig { deleted_name_cooldown_ms: cooldown_ms, ..QueueServiceConfig::default() },
        )
    };
    let churn = |svc: Arc<QueueService>, names: std::ops::Range<u32>| async move {
        for i in names {
            let name = format!("q{i}");
            svc.create_queue(&name, QueueAttributes::default()).await.unwrap();
            svc.delete_queue(&name).await.unwrap();
        }
    };

    let without = open(0).await.unwrap();
    churn(without.clone(), 0..50).await;
    assert_eq!(without.deleted.lock().unwrap().len(), 0);
    without.close().await.unwrap();

    let with = open(60_000).await.unwrap();
    churn(with.clone(), 0..50).await;
    assert!(matches!(
        with.create_queue("q7", QueueAttributes::default()).await,
        Err(QueueError::QueueDeletedRecently(_))
    ));
    clock.advance(60_000);
    churn(with.clone(), 100..103).await;
    assert_eq!(with.deleted.lock().unwrap().len(), 3, "names past their cooldown are forgotten");
    with.create_queue("q7", QueueAttributes::default()).await.unwrap();
}
