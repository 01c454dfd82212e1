//! Dead-lettering with a death history, through a queue target or an exchange's routes.

use std::collections::HashMap;
use std::sync::Arc;

use super::tests::{env, msg};
use super::*;
use crate::message::{DeathCause, Envelope};

/// Routes by exchange and routing key from a fixed table, as a router would.
struct Routes(HashMap<(String, String), Vec<String>>);

impl DeadLetterRouter for Routes {
    fn route(&self, exchange: &str, routing_key: &str, _: &[MessageAttribute]) -> Vec<String> {
        self.0.get(&(exchange.to_string(), routing_key.to_string())).cloned().unwrap_or_default()
    }
}

fn published(body: &str, exchange: &str, key: &str) -> NewMessage {
    NewMessage {
        envelope: Envelope {
            exchange: Some(exchange.into()),
            routing_key: Some(key.into()),
            ..Envelope::default()
        },
        ..msg(body)
    }
}

/// Waits (in real time: the timer task fsyncs on blocking threads) until `cond` holds.
async fn until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen within 5 s");
}

async fn one(svc: &QueueService, q: &str) -> Delivery {
    let d = svc.receive(q, ReceiveOptions { max_messages: 1, ..Default::default() }).await.unwrap();
    assert_eq!(d.len(), 1, "expected one message in {q}");
    d.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_rejected_message_reaches_the_queue_its_dead_letter_exchange_routes_to_with_its_death() {
    let e = env().await;
    e.svc.set_dead_letter_router(Arc::new(Routes(HashMap::from([(
        ("dlx".to_string(), "orders.new".to_string()),
        vec!["dead".to_string()],
    )]))));
    e.svc.create_queue("dead", QueueAttributes::default()).await.unwrap();
    let attrs = QueueAttributes { dead_letter_exchange: Some("dlx".into()), ..QueueAttributes::default() };
    e.svc.create_queue("work", attrs).await.unwrap();
    e.svc.enqueue("work", vec![published("order", "shop", "orders.new")]).await.unwrap();
    let d = one(&e.svc, "work").await;
    e.svc.nack("work", d.receipt, NackMode::DeadLetter).await.unwrap();

    let dead = one(&e.svc, "dead").await;
    assert_eq!(&dead.body[..], b"order");
    let death = &dead.envelope.deaths[0];
    assert_eq!((death.queue.as_str(), death.cause, death.count), ("work", DeathCause::Rejected, 1));
    assert_eq!(death.exchange.as_deref(), Some("shop"));
    assert_eq!(death.routing_keys, ["orders.new"]);
    assert_eq!(dead.envelope.exchange.as_deref(), Some("dlx"));
    assert_eq!(e.svc.queue_stats("work").unwrap().dead_lettered_total, 1);
}

#[tokio::test]
async fn the_dead_letter_routing_key_replaces_the_messages_own() {
    let e = env().await;
    e.svc.set_dead_letter_router(Arc::new(Routes(HashMap::from([(
        ("".to_string(), "parking".to_string()),
        vec!["parking".to_string()],
    )]))));
    e.svc.create_queue("parking", QueueAttributes::default()).await.unwrap();
    let attrs = QueueAttributes {
        dead_letter_exchange: Some(String::new()),
        dead_letter_routing_key: Some("parking".into()),
        message_ttl_ms: Some(1_000),
        ..QueueAttributes::default()
    };
    e.svc.create_queue("short", attrs).await.unwrap();
    e.svc.enqueue("short", vec![published("stale", "", "short")]).await.unwrap();
    tokio::task::yield_now().await;
    e.clock.advance(1_500);
    until("expiry into parking", || e.svc.queue_stats("parking").unwrap().ready == 1).await;
    let dead = one(&e.svc, "parking").await;
    assert_eq!(dead.envelope.deaths[0].cause, DeathCause::Expired);
    assert_eq!(dead.envelope.routing_key.as_deref(), Some("parking"));
}

#[tokio::test]
async fn a_routed_dead_letter_cycle_without_rejection_drops_the_message() {
    let e = env().await;
    // a expires into b, b expires back into a: RabbitMQ drops the message the second time round.
    e.svc.set_dead_letter_router(Arc::new(Routes(HashMap::from([
        (("x".to_string(), "to-b".to_string()), vec!["b".to_string()]),
        (("x".to_string(), "to-a".to_string()), vec!["a".to_string()]),
    ]))));
    let to = |key: &str| QueueAttributes {
        dead_letter_exchange: Some("x".into()),
        dead_letter_routing_key: Some(key.into()),
        message_ttl_ms: Some(1_000),
        ..QueueAttributes::default()
    };
    e.svc.create_queue("a", to("to-b")).await.unwrap();
    e.svc.create_queue("b", to("to-a")).await.unwrap();
    e.svc.enqueue("a", vec![msg("circling")]).await.unwrap();
    tokio::task::yield_now().await;
    e.clock.advance(1_500);
    until("expiry from a into b", || e.svc.queue_stats("b").unwrap().ready == 1).await;
    e.clock.advance(1_500);
    until("expiry out of b", || e.svc.queue_stats("b").unwrap().ready == 0).await;
    let (a, b) = (e.svc.queue_stats("a").unwrap(), e.svc.queue_stats("b").unwrap());
    assert_eq!((a.ready, b.ready), (0, 0), "the cycle was not broken: {a:?} {b:?}");
    assert_eq!(b.dropped_total, 1);
}

#[tokio::test]
async fn a_queue_named_as_target_keeps_counting_deaths_per_queue_and_cause() {
    let e = env().await;
    e.svc.create_queue("dlq", QueueAttributes::default()).await.unwrap();
    let attrs = QueueAttributes {
        dead_letter: Some("dlq".into()),
        max_deliveries: Some(1),
        ..QueueAttributes::default()
    };
    e.svc.create_queue("q", attrs).await.unwrap();
    e.svc.enqueue("q", vec![msg("poison")]).await.unwrap();
    let d = one(&e.svc, "q").await;
    e.svc.nack("q", d.receipt, NackMode::Requeue).await.unwrap();
    let dead = one(&e.svc, "dlq").await;
    assert_eq!(dead.dead_letter_source.as_deref(), Some("q"));
    assert_eq!(dead.envelope.deaths.len(), 1);
    assert_eq!(dead.envelope.deaths[0].cause, DeathCause::DeliveryLimit);
}

#[tokio::test]
async fn a_publish_refused_by_a_full_reject_new_dead_letter_queue_is_dead_lettered_as_maxlen() {
    let e = env().await;
    e.svc.set_dead_letter_router(Arc::new(Routes(HashMap::from([(
        ("dlx".to_string(), "jobs".to_string()),
        vec!["dead".to_string()],
    )]))));
    e.svc.create_queue("dead", QueueAttributes::default()).await.unwrap();
    let attrs = QueueAttributes {
        max_length: Some(1),
        overflow: OverflowPolicy::RejectNewDeadLetter,
        dead_letter_exchange: Some("dlx".into()),
        ..QueueAttributes::default()
    };
    e.svc.create_queue("work", attrs).await.unwrap();
    let results = e
        .svc
        .enqueue("work", vec![published("first", "", "jobs"), published("second", "", "jobs")])
        .await
        .unwrap();
    assert!(results[0].is_ok());
    assert!(matches!(&results[1], Err(QueueError::Overflow(q)) if q == "work"), "{:?}", results[1]);

    let dead = one(&e.svc, "dead").await;
    assert_eq!(&dead.body[..], b"second");
    let death = &dead.envelope.deaths[0];
    assert_eq!((death.queue.as_str(), death.cause), ("work", DeathCause::MaxLength));
    assert_eq!(&one(&e.svc, "work").await.body[..], b"first");
}

#[tokio::test]
async fn a_publish_refused_by_a_full_reject_new_queue_is_not_dead_lettered() {
    let e = env().await;
    e.svc.create_queue("dead", QueueAttributes::default()).await.unwrap();
    let attrs = QueueAttributes {
        max_length: Some(1),
        overflow: OverflowPolicy::RejectNew,
        dead_letter: Some("dead".into()),
        ..QueueAttributes::default()
    };
    e.svc.create_queue("work", attrs).await.unwrap();
    let results = e.svc.enqueue("work", vec![msg("first"), msg("second")]).await.unwrap();
    assert!(matches!(&results[1], Err(QueueError::Overflow(_))));
    assert_eq!(e.svc.queue_stats("dead").unwrap().ready, 0);
}
