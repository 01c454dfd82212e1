//! Consumer groups through librdkafka (rdkafka crate): partitions split between members,
//! rebalance when a member leaves, commits that a restarted consumer (and a restarted broker)
//! resume from.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::TestBroker;
use common::clients::{producer, text};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureRecord;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let result = admin.create_topics([&topic], &AdminOptions::new()).await.expect("create topics");
    assert_eq!(result, vec![Ok(name.to_owned())]);
}

/// Sends `count` messages round-robin over `partitions`, values `{prefix}-{i}`.
async fn produce(bootstrap: &str, topic: &str, partitions: i32, prefix: &str, count: i32) {
    let producer = producer(bootstrap, &[]);
    for i in 0..count {
        let value = format!("{prefix}-{i}");
        let record = FutureRecord::<(), _>::to(topic).partition(i % partitions).payload(&value);
        producer.send(record, TIMEOUT).await.expect("delivered");
    }
}

/// A consumer of `group` subscribed to `topic`, committing only when told to.
fn group_consumer(bootstrap: &str, group: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100")
        .set("enable.partition.eof", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

fn assigned(consumer: &StreamConsumer) -> BTreeSet<i32> {
    consumer.assignment().expect("assignment").elements().iter().map(|e| e.partition()).collect()
}

/// Polls every consumer (their rebalances progress only while they are polled) until `done`
/// holds, collecting what they receive; fails after 30 s.
async fn poll_until(
    consumers: &[&StreamConsumer],
    received: &mut Vec<(usize, OwnedMessage)>,
    mut done: impl FnMut(&[(usize, OwnedMessage)]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !done(received) {
        assert!(tokio::time::Instant::now() < deadline, "condition not reached; received {}", received.len());
        for (n, consumer) in consumers.iter().enumerate() {
            if let Ok(Ok(message)) = tokio::time::timeout(Duration::from_millis(50), consumer.recv()).await {
                received.push((n, message.detach()));
            }
        }
    }
}

fn values(received: &[(usize, OwnedMessage)]) -> BTreeSet<String> {
    received.iter().map(|(_, m)| text(m)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_split_partitions_and_resume_from_commits_after_a_leave() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create_topic(&broker.bootstrap, "orders", 4).await;

    let a = group_consumer(&broker.bootstrap, "billing", "orders");
    let b = group_consumer(&broker.bootstrap, "billing", "orders");
    let mut received = Vec::new();
    poll_until(&[&a, &b], &mut received, |_| assigned(&a).len() == 2 && assigned(&b).len() == 2).await;
    let (part_a, part_b) = (assigned(&a), assigned(&b));
    assert!(part_a.is_disjoint(&part_b), "{part_a:?} and {part_b:?} overlap");
    assert_eq!(part_a.union(&part_b).count(), 4);

    produce(&broker.bootstrap, "orders", 4, "first", 40).await;
    poll_until(&[&a, &b], &mut received, |r| values(r).len() == 40).await;
    assert_eq!(received.len(), 40, "nothing was delivered twice");
    for (n, message) in &received {
        let owner = if *n == 0 { &part_a } else { &part_b };
        assert!(owner.contains(&message.partition()), "a message came from a partition of the other member");
    }
    a.commit_consumer_state(CommitMode::Sync).expect("a commits");
    b.commit_consumer_state(CommitMode::Sync).expect("b commits");
    let committed: BTreeMap<i32, Offset> = a
        .committed(TIMEOUT)
        .expect("committed")
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect();
    assert_eq!(committed.len(), 2);
    assert!(committed.values().all(|o| *o == Offset::Offset(10)), "{committed:?}");

    // a leaves: b is rebalanced onto every partition and starts where a committed.
    drop(a);
    let mut after_leave = Vec::new();
    poll_until(&[&b], &mut after_leave, |_| assigned(&b).len() == 4).await;
    produce(&broker.bootstrap, "orders", 4, "second", 8).await;
    poll_until(&[&b], &mut after_leave, |r| values(r).len() == 8).await;
    let expected: BTreeSet<String> = (0..8).map(|i| format!("second-{i}")).collect();
    assert_eq!(values(&after_leave), expected, "no committed message was read again");
    b.commit_consumer_state(CommitMode::Sync).expect("b commits");
    drop(b);

    // A consumer starting afresh in the group resumes from the commits.
    produce(&broker.bootstrap, "orders", 4, "third", 4).await;
    let c = group_consumer(&broker.bootstrap, "billing", "orders");
    let mut resumed = Vec::new();
    poll_until(&[&c], &mut resumed, |r| values(r).len() == 4).await;
    let expected: BTreeSet<String> = (0..4).map(|i| format!("third-{i}")).collect();
    assert_eq!(values(&resumed), expected);
    assert!(resumed.iter().all(|(_, m)| m.offset() == 12), "each partition resumed at offset 12");
    drop(c);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_and_metadata_survive_a_broker_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create_topic(&broker.bootstrap, "audit", 1).await;
    produce(&broker.bootstrap, "audit", 1, "m", 10).await;
    {
        let consumer = group_consumer(&broker.bootstrap, "auditors", "audit");
        let mut received = Vec::new();
        poll_until(&[&consumer], &mut received, |r| r.len() >= 6).await;
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset("audit", 0, Offset::Offset(6)).expect("offset");
        if let Some(mut elem) = offsets.find_partition("audit", 0) {
            elem.set_metadata("checkpoint-6");
        }
        consumer.commit(&offsets, CommitMode::Sync).expect("commit");
    }
    broker.stop().await;

    let broker = TestBroker::start(dir.path()).await;
    let consumer = group_consumer(&broker.bootstrap, "auditors", "audit");
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("audit", 0);
    let committed = consumer.committed_offsets(wanted, TIMEOUT).expect("committed");
    let elem = committed.find_partition("audit", 0).expect("partition 0");
    assert_eq!(elem.offset(), Offset::Offset(6));
    assert_eq!(elem.metadata(), "checkpoint-6");
    let mut received = Vec::new();
    poll_until(&[&consumer], &mut received, |r| !r.is_empty()).await;
    assert_eq!(received[0].1.offset(), 6);
    assert_eq!(text(&received[0].1), "m-6");
    drop(consumer);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_lists_describes_and_deletes_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create_topic(&broker.bootstrap, "jobs", 2).await;
    let consumer = group_consumer(&broker.bootstrap, "workers", "jobs");
    let mut received = Vec::new();
    poll_until(&[&consumer], &mut received, |_| assigned(&consumer).len() == 2).await;

    let groups = consumer.fetch_group_list(Some("workers"), TIMEOUT).expect("group list");
    let group = &groups.groups()[0];
    assert_eq!(group.name(), "workers");
    assert_eq!(group.state(), "Stable");
    assert_eq!(group.protocol_type(), "consumer");
    assert_eq!(group.members().len(), 1);
    assert!(group.members()[0].assignment().is_some_and(|a| !a.is_empty()));

    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &broker.bootstrap).create().expect("admin");
    let refused = admin.delete_groups(&["workers"], &AdminOptions::new()).await.expect("delete groups");
    assert!(refused[0].is_err(), "a group with members is not deleted");
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset("jobs", 0, Offset::Offset(0)).expect("offset");
    consumer.commit(&offsets, CommitMode::Sync).expect("commit");
    drop(consumer);
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let deleted = admin.delete_groups(&["workers"], &AdminOptions::new()).await.expect("delete groups");
        if deleted[0].is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the group never emptied: {deleted:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(broker.groups.describe("workers").is_none());
    let again = admin.delete_groups(&["workers"], &AdminOptions::new()).await.expect("delete groups");
    assert!(again[0].is_err(), "a deleted group is gone");
    broker.stop().await;
}

/// Counts the partitions a consumer had revoked (eager rebalances revoke everything).
#[derive(Default)]
struct Revocations(std::sync::atomic::AtomicUsize);

impl rdkafka::ClientContext for Revocations {}

impl rdkafka::consumer::ConsumerContext for Revocations {
    fn pre_rebalance(
        &self,
        _: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        if let rdkafka::consumer::Rebalance::Revoke(partitions) = rebalance {
            self.0.fetch_add(partitions.count(), std::sync::atomic::Ordering::SeqCst);
        }
    }
}

fn static_consumer(bootstrap: &str, group: &str, topic: &str, instance: &str) -> StreamConsumer<Revocations> {
    let consumer: StreamConsumer<Revocations> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("group.instance.id", instance)
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100")
        .create_with_context(Revocations::default())
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

fn partitions_of(consumer: &StreamConsumer<Revocations>) -> BTreeSet<i32> {
    consumer.assignment().expect("assignment").elements().iter().map(|e| e.partition()).collect()
}

/// Polls until every consumer holds one partition.
async fn until_one_partition_each(consumers: &[&StreamConsumer<Revocations>]) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !consumers.iter().all(|c| partitions_of(c).len() == 1) {
        assert!(tokio::time::Instant::now() < deadline, "partitions not assigned");
        for consumer in consumers {
            let _ = tokio::time::timeout(Duration::from_millis(50), consumer.recv()).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_static_member_gets_its_partitions_back_without_a_rebalance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create_topic(&broker.bootstrap, "steady", 2).await;
    let first = static_consumer(&broker.bootstrap, "steady-group", "steady", "w1");
    let second = static_consumer(&broker.bootstrap, "steady-group", "steady", "w2");
    until_one_partition_each(&[&first, &second]).await;
    let generation = broker.groups.describe("steady-group").expect("group").generation_id;
    let (first_partitions, second_partitions) = (partitions_of(&first), partitions_of(&second));

    // Each restarts in turn (so the leader does too); the one staying never loses its partition.
    drop(second);
    let second = static_consumer(&broker.bootstrap, "steady-group", "steady", "w2");
    until_one_partition_each(&[&first, &second]).await;
    assert_eq!(partitions_of(&second), second_partitions, "w2 is back on its partition");
    assert_eq!(first.context().0.load(std::sync::atomic::Ordering::SeqCst), 0, "w1 kept its partition");
    drop(first);
    let first = static_consumer(&broker.bootstrap, "steady-group", "steady", "w1");
    until_one_partition_each(&[&first, &second]).await;
    assert_eq!(partitions_of(&first), first_partitions, "w1 is back on its partition");

    let described = broker.groups.describe("steady-group").expect("group");
    assert_eq!(described.generation_id, generation, "no rebalance");
    assert_eq!(second.context().0.load(std::sync::atomic::Ordering::SeqCst), 0, "w2 kept its partition");
    broker.stop().await;
}
