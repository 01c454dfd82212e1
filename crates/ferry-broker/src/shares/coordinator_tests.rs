use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::broker::Broker;
use crate::clock::{Clock, ManualClock};
use crate::message::DeathCause;
use crate::queues::codec::{StoredMessage, encode_batch};
use crate::queues::{QueueAttributes, QueueServiceConfig};

use super::*;

const GROUP: &str = "workers";

struct Setup {
    _dir: tempfile::TempDir,
    clock: ManualClock,
    broker: Broker,
    shares: Arc<ShareCoordinator>,
    tp: TopicPartition,
}

fn config() -> ShareGroupConfig {
    ShareGroupConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        dead_letter_queue: Some("dlq".to_owned()),
        session_timeout_ms: 10_000,
        ..ShareGroupConfig::default()
    }
}

/// A broker with topic `jobs` holding `values`, queue `dlq`, and a share coordinator.
async fn setup(values: &[&str]) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(1_000_000);
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let broker = Broker::open_for_tests(dir.path(), Arc::clone(&shared), 0, QueueServiceConfig::default())
        .await
        .expect("broker");
    let info = broker.topics().create_topic("jobs", 1, Default::default()).expect("topic");
    let msgs: Vec<StoredMessage> = values
        .iter()
        .map(|v| StoredMessage { body: Bytes::copy_from_slice(v.as_bytes()), ..StoredMessage::default() })
        .collect();
    let appended = broker.topics().produce("jobs", 0, &encode_batch(&msgs)).expect("produce");
    appended.durable().await.expect("durable");
    broker.queues().create_queue("dlq", QueueAttributes::default()).await.expect("dlq");
    let shares = ShareCoordinator::open(
        dir.path().to_owned(),
        Arc::new(ferry_log::StdDisk),
        Arc::clone(broker.topics()),
        Arc::clone(broker.queues()),
        shared,
    );
    Setup { _dir: dir, clock, broker, shares, tp: (info.id, 0) }
}

fn join(s: &Setup, member: &str) {
    let joined = s
        .shares
        .heartbeat_blocking(
            GROUP,
            member,
            0,
            Some(vec!["jobs".to_owned()]),
            None,
            (String::new(), String::new()),
            config(),
        )
        .expect("join");
    assert_eq!(joined.assignment.expect("assigned").get(&s.tp.0), Some(&vec![0]));
}

fn offsets(a: &Acquisition) -> Vec<(u64, u64, u32)> {
    a.ranges.iter().map(|r| (r.first, r.last, r.delivery_count)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_record_is_moved_into_the_dead_letter_queue_with_its_death() {
    let s = setup(&["one", "two"]).await;
    join(&s, "a");
    let got = s.shares.acquire_blocking(GROUP, "a", s.tp, 10).expect("acquire");
    assert_eq!(offsets(&got), vec![(0, 1, 1)]);
    assert!(!got.records.is_empty());
    let refused =
        s.shares.acknowledge_blocking(GROUP, "a", s.tp, &vec![(0, 0, vec![AckKind::Reject])]).expect("ack");
    assert_eq!(refused, None);
    let mut delivered = Vec::new();
    for _ in 0..200 {
        delivered = s.broker.queues().peek("dlq", 10).await.expect("peek");
        if !delivered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(delivered.len(), 1);
    assert_eq!(&delivered[0].body[..], b"one");
    let death = &delivered[0].envelope.deaths[0];
    assert_eq!((death.queue.as_str(), death.cause), ("jobs-0", DeathCause::Rejected));
    let (_, _, _, stats) = s.shares.stats().into_iter().next().expect("one share-partition");
    // Archived: the start offset moved past it; "two" is still acquired.
    assert_eq!((stats.start_offset, stats.acquired, stats.dead_lettered), (1, 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_heartbeating_loses_its_records_to_the_others() {
    let s = setup(&["one", "two"]).await;
    join(&s, "a");
    assert_eq!(offsets(&s.shares.acquire_blocking(GROUP, "a", s.tp, 10).expect("acquire")), vec![(0, 1, 1)]);
    join(&s, "b");
    assert!(s.shares.acquire_blocking(GROUP, "b", s.tp, 10).expect("acquire").ranges.is_empty());
    // `a` stays silent past its session timeout; `b` heartbeats on.
    let heartbeat = |member: &str| {
        s.shares
            .heartbeat_blocking(GROUP, member, 1, None, None, (String::new(), String::new()), config())
            .expect("heartbeat")
    };
    s.clock.advance(config().session_timeout_ms / 2);
    heartbeat("b");
    s.clock.advance(config().session_timeout_ms / 2 + 1);
    heartbeat("b");
    let members = s.shares.describe(GROUP).expect("group").members;
    assert_eq!(members.iter().map(|m| m.member_id.as_str()).collect::<Vec<_>>(), vec!["b"]);
    assert_eq!(offsets(&s.shares.acquire_blocking(GROUP, "b", s.tp, 10).expect("acquire")), vec![(0, 1, 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_offset_and_acceptances_survive_a_new_coordinator() {
    let s = setup(&["one", "two", "three"]).await;
    join(&s, "a");
    s.shares.acquire_blocking(GROUP, "a", s.tp, 2).expect("acquire");
    s.shares.acknowledge_blocking(GROUP, "a", s.tp, &vec![(0, 0, vec![AckKind::Accept])]).expect("ack");
    let again = ShareCoordinator::open(
        s._dir.path().to_owned(),
        Arc::new(ferry_log::StdDisk),
        Arc::clone(s.broker.topics()),
        Arc::clone(s.broker.queues()),
        Arc::new(s.clock.clone()),
    );
    let stored = again.offsets_blocking(GROUP).expect("offsets");
    assert_eq!(stored.iter().map(|(tp, st)| (*tp, st.start_offset)).collect::<Vec<_>>(), vec![(s.tp, 1)]);
    again
        .heartbeat_blocking(
            GROUP,
            "c",
            0,
            Some(vec!["jobs".to_owned()]),
            None,
            (String::new(), String::new()),
            config(),
        )
        .expect("join");
    // Offset 1 was acquired (its delivery counted, lock lost with the coordinator); 2 never was.
    assert_eq!(
        offsets(&again.acquire_blocking(GROUP, "c", s.tp, 10).expect("acquire")),
        vec![(1, 1, 2), (2, 2, 1)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_partitions_of_a_group_without_members_are_closed_and_reopened() {
    let s = setup(&["one", "two"]).await;
    join(&s, "a");
    s.shares.acquire_blocking(GROUP, "a", s.tp, 1).expect("acquire");
    s.shares.acknowledge_blocking(GROUP, "a", s.tp, &vec![(0, 0, vec![AckKind::Accept])]).expect("ack");
    s.shares
        .heartbeat_blocking(GROUP, "a", -1, None, None, (String::new(), String::new()), config())
        .expect("leave");
    s.shares.sweep_blocking();
    assert!(s.shares.stats().is_empty(), "closed");
    let described = s.shares.describe(GROUP).expect("known by its stored state");
    assert!(described.members.is_empty());
    let stored = s.shares.offsets_blocking(GROUP).expect("offsets");
    assert_eq!(stored.iter().map(|(tp, st)| (*tp, st.start_offset)).collect::<Vec<_>>(), vec![(s.tp, 1)]);
    join(&s, "b");
    assert_eq!(offsets(&s.shares.acquire_blocking(GROUP, "b", s.tp, 10).expect("acquire")), vec![(1, 1, 1)]);
}
