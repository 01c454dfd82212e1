//! Requests pipelined on one connection take effect in request order (librdkafka through rdkafka):
//! a producer with many requests in flight finds every value at its offset, and async offset
//! commits leave the last one committed.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::TestBroker;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

/// Messages per producer variant; five variants make a million.
const MESSAGES: u64 = 200_000;

/// Counts failed deliveries, so that a gap in the log is told apart from a lost send.
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Retries could reorder a plain producer's batches on the client's side; these tests pin the
/// broker's order only.
const NO_RETRIES: (&str, &str) = ("message.send.max.retries", "0");

/// Produces `MESSAGES` values 0, 1, 2, ... (8 bytes each) to partition 0 of `topic`, with many small
/// requests in flight, then reads the partition back and checks that offset n holds value n.
fn produce_then_check_order(bootstrap: &str, topic: &str, settings: &[(&str, &str)]) {
    let started = Instant::now();
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("linger.ms", "0").set("batch.num.messages", "64");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    let producer: ThreadedProducer<Deliveries> =
        config.create_with_context(Deliveries::default()).expect("producer");
    for n in 0..MESSAGES {
        let value = n.to_be_bytes();
        let mut record = BaseRecord::to(topic).partition(0).payload(&value[..]);
        loop {
            match producer.send::<[u8], [u8]>(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    // The local queue is full: let the in-flight requests drain it.
                    record = returned;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).expect("every message delivered");
    assert_eq!(producer.context().failed.load(Ordering::Relaxed), 0, "no delivery failed");

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "ordering-check")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Beginning).expect("assign offset");
    consumer.assign(&assignment).expect("assign");
    let mut expected = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while expected < MESSAGES {
        assert!(Instant::now() < deadline, "only {expected} of {MESSAGES} messages read back");
        let Some(message) = consumer.poll(Duration::from_millis(500)) else { continue };
        let message = message.expect("fetch");
        let value = u64::from_be_bytes(message.payload().expect("a value").try_into().expect("8 bytes"));
        assert_eq!(
            (message.offset() as u64, value),
            (expected, expected),
            "value {value} stored at offset {} ({settings:?})",
            message.offset()
        );
        expected += 1;
    }
    eprintln!("{settings:?}: {MESSAGES} messages in order, {:?}", started.elapsed());
}

async fn check_variant(topic: &str, settings: &'static [(&'static str, &'static str)]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    broker.topics.create_topic(topic, 1, Default::default()).expect("topic");
    let bootstrap = broker.bootstrap.clone();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || produce_then_check_order(&bootstrap, &topic, settings))
        .await
        .expect("producer thread");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_acks_1_batches_are_stored_in_send_order() {
    check_variant("acks1-inflight5", &[("acks", "1"), ("max.in.flight", "5"), NO_RETRIES]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_acks_1_batches_with_1000_in_flight_are_stored_in_send_order() {
    check_variant("acks1-inflight1000", &[("acks", "1"), ("max.in.flight", "1000"), NO_RETRIES]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_acks_all_batches_are_stored_in_send_order() {
    check_variant("acksall-inflight5", &[("acks", "all"), ("max.in.flight", "5"), NO_RETRIES]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_acks_all_batches_with_1000_in_flight_are_stored_in_send_order() {
    check_variant("acksall-inflight1000", &[("acks", "all"), ("max.in.flight", "1000"), NO_RETRIES]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_idempotent_batches_are_stored_in_send_order() {
    // librdkafka caps max.in.flight at 5 for an idempotent producer.
    check_variant(
        "idempotent-inflight5",
        &[("enable.idempotence", "true"), ("acks", "all"), ("max.in.flight", "5")],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_offset_commits_are_applied_in_commit_order() {
    const COMMITS: i64 = 2_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    broker.topics.create_topic("commits", 1, Default::default()).expect("topic");
    let bootstrap = broker.bootstrap.clone();
    let committed = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "async-commits")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        // A first commit that is waited for: librdkafka holds commits until it knows the
        // coordinator, and may answer committed() before it sends held ones.
        let mut first = TopicPartitionList::new();
        first.add_partition_offset("commits", 0, Offset::Offset(0)).expect("offset");
        consumer.commit(&first, CommitMode::Sync).expect("first commit");
        for offset in 1..=COMMITS {
            let mut position = TopicPartitionList::new();
            position.add_partition_offset("commits", 0, Offset::Offset(offset)).expect("offset");
            consumer.commit(&position, CommitMode::Async).expect("commit queued");
        }
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition("commits", 0);
        let committed = consumer.committed_offsets(wanted, Duration::from_secs(30)).expect("committed");
        committed.find_partition("commits", 0).expect("partition").offset()
    })
    .await
    .expect("consumer thread");
    assert_eq!(committed, Offset::Offset(COMMITS), "committed() returns the last async commit");
    let stored = broker.groups.fetch_offsets("async-commits", None);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1.as_ref().map(|o| o.offset), Some(COMMITS), "the store holds the last commit");
    broker.stop().await;
}
