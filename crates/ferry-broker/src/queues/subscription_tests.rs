//! Push consumers: credit, sharing a queue, settlement, exclusivity, deletion, and the message
//! envelope with typed headers surviving the log.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::tests::{env, msg};
use super::*;
use crate::message::{Envelope, Properties, Value};

async fn next(s: &mut Subscription) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("a delivery within 5 s")
        .expect("open")
}

async fn nothing_within(s: &mut Subscription, ms: u64) -> bool {
    tokio::time::timeout(Duration::from_millis(ms), s.next()).await.is_err()
}

#[tokio::test]
async fn a_subscription_holds_at_most_its_prefetch_until_deliveries_are_settled() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    e.svc.enqueue("q", (0..5).map(|i| msg(&format!("m{i}"))).collect()).await.unwrap();
    let mut s = e.svc.subscribe("q", SubscribeOptions { prefetch: 2, ..Default::default() }).unwrap();
    let a = next(&mut s).await;
    let b = next(&mut s).await;
    assert_eq!((&a.body[..], &b.body[..]), (&b"m0"[..], &b"m1"[..]));
    assert!(nothing_within(&mut s, 100).await, "a third delivery arrived past a prefetch of 2");
    e.svc.ack("q", a.receipt).await.unwrap();
    s.settled(1);
    assert_eq!(&next(&mut s).await.body[..], b"m2");
    let st = e.svc.queue_stats("q").unwrap();
    assert_eq!((st.ready, st.in_flight), (2, 2));
}

#[tokio::test]
async fn messages_enqueued_after_subscribing_are_pushed() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    let mut s = e.svc.subscribe("q", SubscribeOptions::default()).unwrap();
    assert!(nothing_within(&mut s, 50).await);
    e.svc.enqueue("q", vec![msg("late")]).await.unwrap();
    assert_eq!(&next(&mut s).await.body[..], b"late");
}

#[tokio::test]
async fn two_consumers_of_one_queue_share_its_messages_without_duplicates() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    let mut a = e.svc.subscribe("q", SubscribeOptions { prefetch: 1, ..Default::default() }).unwrap();
    let mut b = e.svc.subscribe("q", SubscribeOptions { prefetch: 1, ..Default::default() }).unwrap();
    assert_eq!(e.svc.consumer_count("q"), 2);
    e.svc.enqueue("q", (0..10).map(|i| msg(&i.to_string())).collect()).await.unwrap();
    let mut seen = Vec::new();
    let (mut from_a, mut from_b) = (0, 0);
    while seen.len() < 10 {
        tokio::select! {
            d = a.next() => { let d = d.unwrap(); e.svc.ack("q", d.receipt).await.unwrap(); a.settled(1); from_a += 1; seen.push(d.body) }
            d = b.next() => { let d = d.unwrap(); e.svc.ack("q", d.receipt).await.unwrap(); b.settled(1); from_b += 1; seen.push(d.body) }
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 10);
    assert!(from_a > 0 && from_b > 0, "one consumer got everything: {from_a} / {from_b}");
}

#[tokio::test]
async fn a_nacked_delivery_comes_back_redelivered() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    e.svc.enqueue("q", vec![msg("again")]).await.unwrap();
    let mut s = e.svc.subscribe("q", SubscribeOptions::default()).unwrap();
    let d = next(&mut s).await;
    assert!(!d.redelivered);
    e.svc.nack("q", d.receipt, NackMode::Requeue).await.unwrap();
    s.settled(1);
    let d = next(&mut s).await;
    assert!(d.redelivered && d.delivery_count == 2);
}

#[tokio::test]
async fn an_exclusive_consumer_excludes_others_until_it_is_dropped() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    let x = e.svc.subscribe("q", SubscribeOptions { exclusive: true, ..Default::default() }).unwrap();
    assert!(matches!(
        e.svc.subscribe("q", SubscribeOptions::default()),
        Err(QueueError::ConsumerExclusive(_))
    ));
    drop(x);
    let plain = e.svc.subscribe("q", SubscribeOptions::default()).unwrap();
    assert!(matches!(
        e.svc.subscribe("q", SubscribeOptions { exclusive: true, ..Default::default() }),
        Err(QueueError::ConsumerExclusive(_))
    ));
    drop(plain);
    assert_eq!(e.svc.consumer_count("q"), 0);
}

#[tokio::test]
async fn deleting_the_queue_ends_its_subscriptions() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    let mut s = e.svc.subscribe("q", SubscribeOptions::default()).unwrap();
    e.svc.delete_queue("q").await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), s.next()).await.expect("ends within 5 s");
    assert!(end.is_none());
}

#[tokio::test]
async fn dropping_a_subscription_returns_deliveries_it_never_handed_out() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    e.svc.enqueue("q", (0..3).map(|i| msg(&i.to_string())).collect()).await.unwrap();
    let s = e.svc.subscribe("q", SubscribeOptions { prefetch: 3, ..Default::default() }).unwrap();
    // Let the task lease all three into the channel, none taken.
    for _ in 0..100 {
        if e.svc.queue_stats("q").unwrap().in_flight == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(s);
    for _ in 0..100 {
        if e.svc.queue_stats("q").unwrap().ready == 3 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("untaken deliveries did not come back: {:?}", e.svc.queue_stats("q").unwrap());
}

#[tokio::test]
async fn envelope_and_typed_headers_come_back_exactly_as_enqueued() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    let headers = vec![
        ("i8".to_string(), Value::I8(-3)),
        ("u64".to_string(), Value::U64(u64::MAX)),
        ("f64".to_string(), Value::F64(0.25)),
        ("dec".to_string(), Value::Decimal { scale: 3, value: 12_345 }),
        ("ts".to_string(), Value::Timestamp(1_700_000_000)),
        ("bin".to_string(), Value::Bytes(Bytes::from_static(&[0, 255]))),
        (
            "nested".to_string(),
            Value::Table(vec![("list".into(), Value::Array(vec![Value::Bool(true), Value::Void]))]),
        ),
    ];
    let envelope = Envelope {
        properties: Properties {
            content_type: Some("application/json".into()),
            content_encoding: Some("utf-8".into()),
            delivery_mode: Some(2),
            correlation_id: Some("c-1".into()),
            reply_to: Some("replies".into()),
            expiration: Some("60000".into()),
            message_type: Some("order".into()),
            user_id: Some("guest".into()),
            app_id: Some("shop".into()),
            timestamp_s: Some(1_700_000_001),
            cluster_id: Some("".into()),
            message_id: Some("m-1".into()),
        },
        exchange: Some("orders".into()),
        routing_key: Some("eu.new".into()),
        deaths: Vec::new(),
    };
    let attributes = headers
        .iter()
        .map(|(k, v)| MessageAttribute {
            name: k.clone(),
            data_type: TYPED.into(),
            value: AttrValue::Typed(v.clone()),
        })
        .collect();
    e.svc
        .enqueue("q", vec![NewMessage { attributes, envelope: envelope.clone(), ..msg("typed") }])
        .await
        .unwrap();
    let d = e.svc.receive("q", ReceiveOptions { max_messages: 1, ..Default::default() }).await.unwrap();
    let back: Vec<(String, Value)> = d[0]
        .attributes
        .iter()
        .map(|a| match &a.value {
            AttrValue::Typed(v) => (a.name.clone(), v.clone()),
            other => panic!("{} came back untyped: {other:?}", a.name),
        })
        .collect();
    assert_eq!(back, headers);
    assert_eq!(d[0].envelope, envelope);
}

#[tokio::test]
async fn an_auto_delete_queue_goes_with_its_last_consumer() {
    let e = env().await;
    let attrs = QueueAttributes { auto_delete: true, ..QueueAttributes::default() };
    e.svc.create_queue("q", attrs).await.unwrap();
    let a = e.svc.subscribe("q", SubscribeOptions::default()).unwrap();
    let b = e.svc.subscribe("q", SubscribeOptions::default()).unwrap();
    drop(a);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(e.svc.queue_stats("q").is_ok(), "deleted while a consumer remained");
    drop(b);
    for _ in 0..100 {
        if e.svc.queue_stats("q").is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the auto-delete queue outlived its last consumer");
}

#[tokio::test]
async fn an_expiring_queue_is_deleted_after_going_unused_and_kept_while_consumed() {
    let e = env().await;
    let attrs = QueueAttributes { expires_ms: Some(1_000), ..QueueAttributes::default() };
    e.svc.create_queue("idle", attrs.clone()).await.unwrap();
    e.svc.create_queue("busy", attrs).await.unwrap();
    let _consumer = e.svc.subscribe("busy", SubscribeOptions::default()).unwrap();
    tokio::task::yield_now().await;
    e.clock.advance(1_500);
    for _ in 0..100 {
        if e.svc.queue_stats("idle").is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(e.svc.queue_stats("idle").is_err(), "the unused queue did not expire");
    assert!(e.svc.queue_stats("busy").is_ok(), "a consumed queue expired");
}

#[tokio::test]
async fn transient_queues_are_gone_after_a_restart_and_durable_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let meta: Arc<dyn crate::metadata::MetadataStore> = Arc::new(crate::metadata::MemoryStore::new());
    let open = || {
        QueueService::open(
            dir.path().to_path_buf(),
            meta.clone(),
            Arc::new(crate::clock::ManualClock::new(1_000_000)) as Arc<dyn crate::clock::Clock>,
            QueueServiceConfig::default(),
        )
    };
    let svc = open().await.unwrap();
    svc.create_queue("kept", QueueAttributes::default()).await.unwrap();
    svc.create_queue("transient", QueueAttributes { durable: false, ..QueueAttributes::default() })
        .await
        .unwrap();
    svc.enqueue("kept", vec![msg("stays")]).await.unwrap();
    svc.close().await.unwrap();
    drop(svc);
    let svc = open().await.unwrap();
    assert_eq!(svc.list_queues(None), ["kept"]);
    assert_eq!(svc.queue_stats("kept").unwrap().ready, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_returned_one_at_a_time_brings_as_many_deliveries() {
    for round in 0..50 {
        let e = env().await;
        e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
        e.svc.enqueue("q", (0..5).map(|i| msg(&i.to_string())).collect()).await.unwrap();
        let mut s = e.svc.subscribe("q", SubscribeOptions { prefetch: 2, ..Default::default() }).unwrap();
        let a = next(&mut s).await;
        let b = next(&mut s).await;
        // As a front-end does: the credit goes back first, then the acks are applied.
        s.settled(1);
        s.settled(1);
        for d in [a, b] {
            e.svc.ack("q", d.receipt).await.unwrap();
        }
        let c = next(&mut s).await;
        let d = tokio::time::timeout(Duration::from_secs(2), s.next()).await;
        assert!(d.is_ok(), "round {round}: only {:?} came after two credits", c.body);
    }
}

#[tokio::test]
async fn with_a_single_active_consumer_only_the_oldest_receives_until_it_goes() {
    let e = env().await;
    let attrs = QueueAttributes { single_active_consumer: true, ..QueueAttributes::default() };
    e.svc.create_queue("q", attrs).await.unwrap();
    e.svc.enqueue("q", (0..4).map(|i| msg(&i.to_string())).collect()).await.unwrap();
    let mut first = e.svc.subscribe("q", SubscribeOptions { prefetch: 1, ..Default::default() }).unwrap();
    let mut second = e.svc.subscribe("q", SubscribeOptions { prefetch: 10, ..Default::default() }).unwrap();
    let d = next(&mut first).await;
    e.svc.ack("q", d.receipt).await.unwrap();
    first.settled(1);
    assert_eq!(&next(&mut first).await.body[..], b"1");
    assert!(nothing_within(&mut second, 100).await, "a waiting consumer received");
    drop(first);
    // The first one's unsettled delivery ("1") comes back when its lease ends; "2" and "3" go
    // to the consumer that took over.
    assert_eq!(&next(&mut second).await.body[..], b"2");
    assert_eq!(&next(&mut second).await.body[..], b"3");
}

/// Every delivery waiting in `s` now (after giving the dispatcher a moment).
async fn drain(s: &mut Subscription) -> Vec<String> {
    let mut got = Vec::new();
    while let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(200), s.next()).await {
        got.push(String::from_utf8_lossy(&d.body).into_owned());
    }
    got
}

#[tokio::test]
async fn messages_are_dealt_round_robin_one_at_a_time() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    let opts = SubscribeOptions { prefetch: 100, ..Default::default() };
    let mut subs: Vec<Subscription> = (0..3).map(|_| e.svc.subscribe("q", opts.clone()).unwrap()).collect();
    e.svc.enqueue("q", (0..30).map(|i| msg(&i.to_string())).collect()).await.unwrap();
    let mut got = Vec::new();
    for s in &mut subs {
        got.push(drain(s).await);
    }
    // Consumer k gets messages k, k+3, k+6...: one at a time in turn, not a run each.
    let mut turns: Vec<Vec<String>> = got.clone();
    turns.sort_by_key(|g| g.first().and_then(|m| m.parse::<u32>().ok()));
    for (k, g) in turns.iter().enumerate() {
        let expected: Vec<String> = (0..10).map(|i| (k + 3 * i).to_string()).collect();
        assert_eq!(g, &expected, "consumer {k}'s share: {got:?}");
    }
}

#[tokio::test]
async fn a_higher_priority_consumer_receives_while_it_has_credit() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    let mut low = e.svc.subscribe("q", SubscribeOptions { prefetch: 10, ..Default::default() }).unwrap();
    let mut high =
        e.svc.subscribe("q", SubscribeOptions { prefetch: 2, priority: 5, ..Default::default() }).unwrap();
    e.svc.enqueue("q", (0..5).map(|i| msg(&i.to_string())).collect()).await.unwrap();
    assert_eq!(drain(&mut high).await, ["0", "1"]);
    assert_eq!(drain(&mut low).await, ["2", "3", "4"]);
    // Credit back to the high one: the next messages are its again.
    high.settled(2);
    e.svc.enqueue("q", vec![msg("5"), msg("6")]).await.unwrap();
    assert_eq!(drain(&mut high).await, ["5", "6"]);
    assert!(nothing_within(&mut low, 100).await);
}

#[tokio::test]
async fn consumers_without_credit_leave_messages_ready_and_get_them_with_credit() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    let mut s = e.svc.subscribe("q", SubscribeOptions { prefetch: 1, ..Default::default() }).unwrap();
    e.svc.enqueue("q", (0..3).map(|i| msg(&i.to_string())).collect()).await.unwrap();
    assert_eq!(drain(&mut s).await, ["0"]);
    assert_eq!(e.svc.queue_stats("q").unwrap().ready, 2, "messages beyond the credit stay ready");
    s.settled(1);
    assert_eq!(drain(&mut s).await, ["1"]);
}

#[tokio::test]
async fn a_consumer_that_takes_nothing_is_handed_a_bounded_number_whatever_its_credit() {
    let e = env().await;
    e.svc.create_queue("q", QueueAttributes::default()).await.unwrap();
    let mut s = e.svc.subscribe("q", SubscribeOptions::default()).unwrap();
    e.svc.enqueue("q", (0..300).map(|i| msg(&i.to_string())).collect()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = e.svc.queue_stats("q").unwrap();
    assert!(stats.in_flight <= 64 && stats.ready >= 236, "{stats:?}");
    // Taking them makes room: every message arrives, in order.
    let mut got = Vec::new();
    while got.len() < 300 {
        got.push(String::from_utf8_lossy(&next(&mut s).await.body).into_owned());
    }
    assert_eq!(got, (0..300).map(|i| i.to_string()).collect::<Vec<_>>());
}
