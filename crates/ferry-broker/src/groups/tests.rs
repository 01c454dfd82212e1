//! Behaviour of the coordinator, driven through its public API with a manual clock.

use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::*;
use crate::clock::ManualClock;
use crate::metadata::{MemoryStore, RedbStore};

const SESSION_MS: i64 = 10_000;
const REBALANCE_MS: i64 = 30_000;

struct Harness {
    clock: ManualClock,
    meta: Arc<dyn MetadataStore>,
    coordinator: Arc<GroupCoordinator>,
}

fn config(initial_delay_ms: i64) -> GroupConfig {
    GroupConfig { group_initial_rebalance_delay_ms: initial_delay_ms, ..GroupConfig::default() }
}

impl Harness {
    fn new(initial_delay_ms: i64) -> Harness {
        Harness::with_store(Arc::new(MemoryStore::new()), config(initial_delay_ms))
    }

    fn with_store(meta: Arc<dyn MetadataStore>, config: GroupConfig) -> Harness {
        let clock = ManualClock::new(1_000_000);
        let coordinator = GroupCoordinator::open(meta.clone(), Arc::new(clock.clone()), config).unwrap();
        Harness { clock, meta, coordinator }
    }

    fn spawn_join(&self, req: JoinRequest) -> JoinHandle<Result<JoinResponse, JoinError>> {
        let coordinator = self.coordinator.clone();
        tokio::spawn(async move { coordinator.join(req).await })
    }

    fn spawn_sync(&self, req: SyncRequest) -> JoinHandle<Result<SyncResponse, SyncError>> {
        let coordinator = self.coordinator.clone();
        tokio::spawn(async move { coordinator.sync(req).await })
    }

    /// Joins through the MEMBER_ID_REQUIRED round trip, returning the held second join.
    async fn join_new(&self, group: &str, client: &str) -> JoinHandle<Result<JoinResponse, JoinError>> {
        let first = self.coordinator.join(join_req(group, "", client)).await;
        let Err(JoinError::MemberIdRequired { member_id }) = first else {
            panic!("expected MEMBER_ID_REQUIRED, got {first:?}");
        };
        assert!(member_id.starts_with(client), "member id {member_id} is prefixed with the client id");
        let handle = self.spawn_join(join_req(group, &member_id, client));
        settle().await;
        handle
    }

    async fn advance(&self, ms: u64) {
        self.clock.advance(ms);
        settle().await;
    }
}

/// Lets spawned tasks (joins, the timer task) run until they block again.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

fn join_req(group: &str, member_id: &str, client: &str) -> JoinRequest {
    JoinRequest {
        group_id: group.to_string(),
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: client.to_string(),
        client_host: "/127.0.0.1".to_string(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer".to_string(),
        protocols: vec![protocol("range", &format!("sub-{client}"), &["orders"])],
        require_known_member_id: true,
    }
}

fn protocol(name: &str, metadata: &str, topics: &[&str]) -> MemberProtocol {
    MemberProtocol {
        name: name.to_string(),
        metadata: Bytes::from(metadata.to_string()),
        topics: Some(topics.iter().map(|t| t.to_string()).collect()),
    }
}

fn sync_req(group: &str, joined: &JoinResponse, assignments: Vec<(String, Bytes)>) -> SyncRequest {
    SyncRequest {
        group_id: group.to_string(),
        member_id: joined.member_id.clone(),
        group_instance_id: None,
        generation_id: joined.generation_id,
        protocol_type: Some("consumer".to_string()),
        protocol_name: joined.protocol_name.clone(),
        assignments,
    }
}

fn member(joined: &JoinResponse) -> MemberRef {
    MemberRef {
        member_id: joined.member_id.clone(),
        group_instance_id: None,
        generation_id: joined.generation_id,
    }
}

fn commit(offset: i64, metadata: &str) -> OffsetCommit {
    OffsetCommit { offset, leader_epoch: Some(0), metadata: Some(metadata.to_string()) }
}

/// Forms a stable one-member group and returns its join answer.
async fn stable_single(h: &Harness, group: &str, client: &str) -> JoinResponse {
    let joined = h.join_new(group, client).await.await.unwrap().unwrap();
    let assignment = vec![(joined.member_id.clone(), Bytes::from_static(b"all"))];
    h.coordinator.sync(sync_req(group, &joined, assignment)).await.unwrap();
    joined
}

#[tokio::test]
async fn first_join_is_answered_member_id_required_and_the_rejoin_forms_generation_one() {
    let h = Harness::new(0);
    let joined = h.join_new("g", "c1").await.await.unwrap().unwrap();
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader_id, joined.member_id);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].metadata, Bytes::from_static(b"sub-c1"));
    let synced = h
        .coordinator
        .sync(sync_req("g", &joined, vec![(joined.member_id.clone(), Bytes::from_static(b"p0"))]))
        .await
        .unwrap();
    assert_eq!(synced.assignment, Bytes::from_static(b"p0"));
    assert_eq!(h.coordinator.describe("g").unwrap().state, GroupState::Stable);
}

#[tokio::test]
async fn old_clients_join_without_the_member_id_round_trip() {
    let h = Harness::new(0);
    let req = JoinRequest { require_known_member_id: false, ..join_req("g", "", "old") };
    let joined = h.coordinator.join(req).await.unwrap();
    assert_eq!(joined.generation_id, 1);
    assert!(joined.member_id.starts_with("old-"));
}

#[tokio::test]
async fn members_joining_within_the_initial_delay_share_the_first_generation() {
    let h = Harness::new(300);
    let a = h.join_new("g", "a").await;
    h.advance(200).await;
    let b = h.join_new("g", "b").await;
    h.advance(100).await;
    assert!(!a.is_finished(), "the second member extended the initial delay");
    h.advance(299).await;
    assert!(!a.is_finished());
    h.advance(1).await;
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    assert_eq!((a.generation_id, b.generation_id), (1, 1));
    assert_eq!(a.leader_id, a.member_id);
    assert_eq!(a.members.len(), 2, "the leader sees every member");
    assert!(b.members.is_empty(), "followers see no member list");
}

#[tokio::test]
async fn followers_wait_for_the_leaders_assignment() {
    let h = Harness::new(100);
    let a = h.join_new("g", "a").await;
    let b = h.join_new("g", "b").await;
    h.advance(100).await;
    h.advance(100).await;
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    let follower = h.spawn_sync(sync_req("g", &b, vec![]));
    settle().await;
    assert!(!follower.is_finished());
    let assignments = vec![
        (a.member_id.clone(), Bytes::from_static(b"p0")),
        (b.member_id.clone(), Bytes::from_static(b"p1")),
    ];
    let leader = h.coordinator.sync(sync_req("g", &a, assignments)).await.unwrap();
    assert_eq!(leader.assignment, Bytes::from_static(b"p0"));
    assert_eq!(follower.await.unwrap().unwrap().assignment, Bytes::from_static(b"p1"));
    let described = h.coordinator.describe("g").unwrap();
    assert_eq!(described.members.len(), 2);
    assert_eq!(described.members[1].assignment, Bytes::from_static(b"p1"));
}

#[tokio::test]
async fn a_new_member_puts_the_group_into_rebalance_until_everyone_rejoins() {
    let h = Harness::new(0);
    let a = stable_single(&h, "g", "a").await;
    let b = h.join_new("g", "b").await;
    assert_eq!(h.coordinator.describe("g").unwrap().state, GroupState::PreparingRebalance);
    assert_eq!(h.coordinator.heartbeat("g", &member(&a)), Err(HeartbeatError::RebalanceInProgress));
    assert!(!b.is_finished(), "the join waits for the existing member");
    let a2 = h.coordinator.join(join_req("g", &a.member_id, "a")).await.unwrap();
    let b = b.await.unwrap().unwrap();
    assert_eq!((a2.generation_id, b.generation_id), (2, 2));
    assert_eq!(a2.leader_id, a.member_id, "the longest-standing member stays leader");
}

#[tokio::test]
async fn leaving_member_triggers_a_rebalance_for_the_rest() {
    let h = Harness::new(100);
    let a = h.join_new("g", "a").await;
    let b = h.join_new("g", "b").await;
    h.advance(100).await;
    h.advance(100).await;
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    let follower = h.spawn_sync(sync_req("g", &b, vec![]));
    h.coordinator.sync(sync_req("g", &a, vec![])).await.unwrap();
    follower.await.unwrap().unwrap();

    let left = h
        .coordinator
        .leave("g", &[LeavingMember { member_id: b.member_id.clone(), group_instance_id: None }]);
    assert_eq!(left, vec![Ok(())]);
    assert_eq!(h.coordinator.heartbeat("g", &member(&a)), Err(HeartbeatError::RebalanceInProgress));
    let a2 = h.coordinator.join(join_req("g", &a.member_id, "a")).await.unwrap();
    assert_eq!(a2.generation_id, 2);
    assert_eq!(a2.members.len(), 1);
    let gone = h.coordinator.heartbeat("g", &member(&b));
    assert_eq!(gone, Err(HeartbeatError::UnknownMemberId));
}

#[tokio::test]
async fn a_member_without_heartbeats_expires_and_the_group_rebalances() {
    let h = Harness::new(100);
    let a = h.join_new("g", "a").await;
    let b = h.join_new("g", "b").await;
    h.advance(100).await;
    h.advance(100).await;
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    let follower = h.spawn_sync(sync_req("g", &b, vec![]));
    h.coordinator.sync(sync_req("g", &a, vec![])).await.unwrap();
    follower.await.unwrap().unwrap();

    for _ in 0..2 {
        h.advance(SESSION_MS as u64 / 2 - 1).await;
        assert_eq!(h.coordinator.heartbeat("g", &member(&a)), Ok(()));
    }
    h.advance(SESSION_MS as u64 / 2).await;
    assert_eq!(h.coordinator.describe("g").unwrap().state, GroupState::PreparingRebalance, "b expired");
    assert_eq!(h.coordinator.heartbeat("g", &member(&a)), Err(HeartbeatError::RebalanceInProgress));
    let a2 = h.coordinator.join(join_req("g", &a.member_id, "a")).await.unwrap();
    assert_eq!(a2.generation_id, 2);
    assert_eq!(a2.members.len(), 1);
    assert_eq!(h.coordinator.heartbeat("g", &member(&b)), Err(HeartbeatError::UnknownMemberId));
}

#[tokio::test]
async fn a_member_that_does_not_rejoin_is_dropped_when_the_rebalance_times_out() {
    let h = Harness::new(0);
    let a = stable_single(&h, "g", "a").await;
    let b = h.join_new("g", "b").await;
    // a keeps heartbeating (told to rejoin) but never rejoins.
    for _ in 0..(REBALANCE_MS / 5_000) {
        assert_eq!(h.coordinator.heartbeat("g", &member(&a)), Err(HeartbeatError::RebalanceInProgress));
        h.advance(5_000).await;
    }
    let b = b.await.unwrap().unwrap();
    assert_eq!(b.generation_id, 2);
    assert_eq!(b.leader_id, b.member_id, "leadership passed to the member that rejoined");
    assert_eq!(b.members.len(), 1);
    assert_eq!(h.coordinator.heartbeat("g", &member(&a)), Err(HeartbeatError::UnknownMemberId));
}

#[tokio::test]
async fn stale_generations_are_fenced() {
    let h = Harness::new(0);
    let a = stable_single(&h, "g", "a").await;
    let b = h.join_new("g", "b").await;
    let a2 = h.coordinator.join(join_req("g", &a.member_id, "a")).await.unwrap();
    b.await.unwrap().unwrap();
    assert_eq!(a2.generation_id, a.generation_id + 1);
    assert_eq!(h.coordinator.heartbeat("g", &member(&a)), Err(HeartbeatError::IllegalGeneration));
    assert_eq!(h.coordinator.sync(sync_req("g", &a, vec![])).await, Err(SyncError::IllegalGeneration));
    let offsets = vec![(TopicPartition::new("orders", 0), commit(5, ""))];
    let stale = h.coordinator.commit_offsets("g", &member(&a), None, offsets).await;
    assert!(matches!(stale, Err(CommitError::RebalanceInProgress)), "{stale:?}");
}

#[tokio::test]
async fn commits_are_refused_from_unknown_members_and_old_generations() {
    let h = Harness::new(0);
    let a = stable_single(&h, "g", "a").await;
    let tp = TopicPartition::new("orders", 0);
    let stranger = MemberRef { member_id: "nobody".into(), group_instance_id: None, generation_id: 1 };
    let refused = h.coordinator.commit_offsets("g", &stranger, None, vec![(tp.clone(), commit(1, ""))]).await;
    assert!(matches!(refused, Err(CommitError::UnknownMemberId)));
    let old = MemberRef { generation_id: 0, ..member(&a) };
    let refused = h.coordinator.commit_offsets("g", &old, None, vec![(tp.clone(), commit(1, ""))]).await;
    assert!(matches!(refused, Err(CommitError::IllegalGeneration)));
    let outside = MemberRef { member_id: String::new(), group_instance_id: None, generation_id: -1 };
    let refused = h.coordinator.commit_offsets("g", &outside, None, vec![(tp, commit(1, ""))]).await;
    assert!(
        matches!(refused, Err(CommitError::UnknownMemberId)),
        "a group with members refuses outside commits"
    );
}

#[tokio::test]
async fn committed_offsets_and_metadata_are_fetched_back() {
    let h = Harness::new(0);
    let a = stable_single(&h, "g", "a").await;
    let offsets = vec![
        (TopicPartition::new("orders", 0), commit(42, "m0")),
        (TopicPartition::new("orders", 1), commit(7, "m1")),
    ];
    let results = h.coordinator.commit_offsets("g", &member(&a), None, offsets).await.unwrap();
    assert!(results.iter().all(|(_, r)| r.is_ok()));
    let wanted = [TopicPartition::new("orders", 1), TopicPartition::new("orders", 9)];
    let fetched = h.coordinator.fetch_offsets("g", Some(&wanted));
    assert_eq!(fetched[0].1.as_ref().map(|o| (o.offset, o.metadata.as_deref())), Some((7, Some("m1"))));
    assert_eq!(fetched[1].1, None);
    let all = h.coordinator.fetch_offsets("g", None);
    assert_eq!(all.len(), 2);
    assert_eq!(h.coordinator.fetch_offsets("missing", None), vec![]);
}

#[tokio::test]
async fn oversized_offset_metadata_is_refused_per_partition() {
    let h = Harness::new(0);
    let outside = MemberRef { member_id: String::new(), group_instance_id: None, generation_id: -1 };
    let big = "x".repeat(GroupConfig::default().offset_metadata_max_bytes + 1);
    let offsets =
        vec![(TopicPartition::new("t", 0), commit(1, &big)), (TopicPartition::new("t", 1), commit(2, "ok"))];
    let results = h.coordinator.commit_offsets("solo", &outside, None, offsets).await.unwrap();
    assert_eq!(results[0].1, Err(CommitPartitionError::OffsetMetadataTooLarge));
    assert_eq!(results[1].1, Ok(()));
    assert_eq!(h.coordinator.fetch_offsets("solo", None).len(), 1);
}

#[tokio::test]
async fn offsets_survive_a_restart_of_the_coordinator() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    {
        let meta: Arc<dyn MetadataStore> = Arc::new(RedbStore::open(&path).unwrap());
        let h = Harness::with_store(meta, config(0));
        let a = stable_single(&h, "g", "a").await;
        let offsets = vec![(TopicPartition::new("orders", 3), commit(99, "kept"))];
        h.coordinator.commit_offsets("g", &member(&a), None, offsets).await.unwrap();
    }
    settle().await;
    let meta: Arc<dyn MetadataStore> = Arc::new(RedbStore::open(&path).unwrap());
    let h = Harness::with_store(meta, config(0));
    let fetched = h.coordinator.fetch_offsets("g", None);
    assert_eq!(fetched.len(), 1);
    let offset = fetched[0].1.clone().unwrap();
    assert_eq!((offset.offset, offset.metadata.as_deref()), (99, Some("kept")));
    let described = h.coordinator.describe("g").unwrap();
    assert_eq!(described.state, GroupState::Empty);
    assert_eq!(described.protocol_type.as_deref(), Some("consumer"));
    assert!(described.generation_id >= 1, "the generation is not reused after a restart");
}

#[tokio::test]
async fn groups_with_members_cannot_be_deleted_and_empty_ones_lose_their_offsets() {
    let h = Harness::new(0);
    let a = stable_single(&h, "g", "a").await;
    let offsets = vec![(TopicPartition::new("orders", 0), commit(1, ""))];
    h.coordinator.commit_offsets("g", &member(&a), None, offsets).await.unwrap();
    assert!(matches!(h.coordinator.delete_group("g").await, Err(DeleteGroupError::NonEmptyGroup)));
    assert!(matches!(h.coordinator.delete_group("nope").await, Err(DeleteGroupError::GroupIdNotFound)));
    h.coordinator.leave("g", &[LeavingMember { member_id: a.member_id.clone(), group_instance_id: None }]);
    assert_eq!(h.coordinator.describe("g").unwrap().state, GroupState::Empty);
    h.coordinator.delete_group("g").await.unwrap();
    assert!(h.coordinator.describe("g").is_none());
    assert_eq!(h.coordinator.fetch_offsets("g", None), vec![]);
    assert!(h.meta.scan_prefix(Table::GroupOffsets, "").unwrap().is_empty());
}

#[tokio::test]
async fn offsets_of_subscribed_topics_are_kept_by_offset_delete() {
    let h = Harness::new(0);
    let a = stable_single(&h, "g", "a").await;
    let offsets = vec![
        (TopicPartition::new("orders", 0), commit(1, "")),
        (TopicPartition::new("old", 0), commit(2, "")),
    ];
    h.coordinator.commit_offsets("g", &member(&a), None, offsets).await.unwrap();
    let results = h
        .coordinator
        .delete_offsets("g", vec![TopicPartition::new("orders", 0), TopicPartition::new("old", 0)])
        .await
        .unwrap();
    assert_eq!(results[0].1, Err(OffsetDeletePartitionError::GroupSubscribedToTopic));
    assert_eq!(results[1].1, Ok(()));
    let left: Vec<String> =
        h.coordinator.fetch_offsets("g", None).into_iter().map(|(tp, _)| tp.topic).collect();
    assert_eq!(left, vec!["orders"]);
}

#[tokio::test]
async fn session_timeouts_outside_the_bounds_are_refused() {
    let h = Harness::new(0);
    let req = JoinRequest { session_timeout_ms: 10, ..join_req("g", "", "c") };
    assert_eq!(h.coordinator.join(req).await, Err(JoinError::InvalidSessionTimeout));
    assert!(h.coordinator.describe("g").is_none(), "a refused join leaves no group behind");
}

#[tokio::test]
async fn members_without_a_common_protocol_are_refused() {
    let h = Harness::new(0);
    stable_single(&h, "g", "a").await;
    let req =
        JoinRequest { protocols: vec![protocol("roundrobin", "x", &["orders"])], ..join_req("g", "", "b") };
    assert_eq!(h.coordinator.join(req).await, Err(JoinError::InconsistentGroupProtocol));
    let req = JoinRequest { protocol_type: "connect".into(), ..join_req("g", "", "b") };
    assert_eq!(h.coordinator.join(req).await, Err(JoinError::InconsistentGroupProtocol));
}

#[tokio::test]
async fn the_protocol_most_members_prefer_is_chosen() {
    let h = Harness::new(100);
    let both = |first: &str, second: &str| vec![protocol(first, "m", &["t"]), protocol(second, "m", &["t"])];
    let mut handles = Vec::new();
    for (client, protocols) in
        [("a", both("range", "sticky")), ("b", both("sticky", "range")), ("c", both("sticky", "range"))]
    {
        let first = h
            .coordinator
            .join(JoinRequest { protocols: protocols.clone(), ..join_req("g", "", client) })
            .await;
        let Err(JoinError::MemberIdRequired { member_id }) = first else { panic!("{first:?}") };
        handles.push(h.spawn_join(JoinRequest { protocols, ..join_req("g", &member_id, client) }));
        settle().await;
    }
    h.advance(100).await;
    h.advance(100).await;
    for handle in handles {
        assert_eq!(handle.await.unwrap().unwrap().protocol_name.as_deref(), Some("sticky"));
    }
}

#[tokio::test]
async fn unused_member_ids_lapse_after_the_session_timeout() {
    let h = Harness::new(0);
    let first = h.coordinator.join(join_req("g", "", "c")).await;
    let Err(JoinError::MemberIdRequired { member_id }) = first else { panic!("{first:?}") };
    h.advance(SESSION_MS as u64 + 1).await;
    let late = h.coordinator.join(join_req("g", &member_id, "c")).await;
    assert_eq!(late, Err(JoinError::UnknownMemberId));
}

/// A join of static member `instance-<client>` in group "g".
fn static_req(member_id: &str, client: &str) -> JoinRequest {
    JoinRequest { group_instance_id: Some(format!("instance-{client}")), ..join_req("g", member_id, client) }
}

/// Forms a stable group "g" of static members a (the leader, assigned "pa") and b ("pb").
async fn stable_static_pair(h: &Harness) -> (JoinResponse, JoinResponse) {
    let a = h.spawn_join(static_req("", "a"));
    settle().await;
    let b = h.spawn_join(static_req("", "b"));
    settle().await;
    h.advance(100).await;
    h.advance(100).await;
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    let follower = h.spawn_sync(SyncRequest {
        group_instance_id: Some("instance-b".into()),
        ..sync_req("g", &b, vec![])
    });
    let assignments = vec![
        (a.member_id.clone(), Bytes::from_static(b"pa")),
        (b.member_id.clone(), Bytes::from_static(b"pb")),
    ];
    h.coordinator
        .sync(SyncRequest { group_instance_id: Some("instance-a".into()), ..sync_req("g", &a, assignments) })
        .await
        .unwrap();
    follower.await.unwrap().unwrap();
    (a, b)
}

#[tokio::test]
async fn a_returning_static_member_takes_its_place_without_a_rebalance() {
    let h = Harness::new(100);
    let (_, b) = stable_static_pair(&h).await;

    // b restarts: same instance id, no member id.
    let b2 = h.coordinator.join(static_req("", "b")).await.unwrap();
    assert_ne!(b2.member_id, b.member_id);
    assert_eq!(b2.generation_id, b.generation_id, "no rebalance");
    assert_eq!(h.coordinator.describe("g").unwrap().state, GroupState::Stable);
    let synced = h
        .coordinator
        .sync(SyncRequest { group_instance_id: Some("instance-b".into()), ..sync_req("g", &b2, vec![]) })
        .await
        .unwrap();
    assert_eq!(synced.assignment, Bytes::from_static(b"pb"), "the assignment carried over");
    // The replaced instance is fenced (fatal for the client), not merely unknown: a client told
    // "unknown member" would rejoin and replace its own replacement.
    let old = MemberRef { group_instance_id: Some("instance-b".into()), ..member(&b) };
    assert_eq!(h.coordinator.heartbeat("g", &old), Err(HeartbeatError::FencedInstanceId));
    let old_commit = h
        .coordinator
        .commit_offsets("g", &old, None, vec![(TopicPartition::new("t", 0), commit(1, ""))])
        .await;
    assert!(matches!(old_commit, Err(CommitError::FencedInstanceId)), "{old_commit:?}");
    let old_sync = h
        .coordinator
        .sync(SyncRequest { group_instance_id: Some("instance-b".into()), ..sync_req("g", &b, vec![]) })
        .await;
    assert_eq!(old_sync, Err(SyncError::FencedInstanceId));
    let old_join = h.coordinator.join(static_req(&b.member_id, "b")).await;
    assert!(matches!(old_join, Err(JoinError::FencedInstanceId)), "{old_join:?}");
    // Without an instance id the old member id is simply unknown.
    assert_eq!(h.coordinator.heartbeat("g", &member(&b)), Err(HeartbeatError::UnknownMemberId));
}

#[tokio::test]
async fn a_returning_static_leader_with_new_metadata_keeps_the_generation() {
    let h = Harness::new(100);
    let (a, b) = stable_static_pair(&h).await;
    assert_eq!(a.leader_id, a.member_id, "the first member leads");

    // The leader restarts, and its subscription metadata differs (it owns nothing yet).
    let returning = JoinRequest {
        protocols: vec![protocol("range", "sub-a-restarted", &["orders"])],
        ..static_req("", "a")
    };
    let a2 = h.coordinator.join(returning).await.unwrap();
    assert_eq!(a2.generation_id, a.generation_id, "no rebalance");
    assert_eq!(a2.leader_id, a.member_id, "the leader is named as it was, so a2 computes nothing");
    assert!(a2.members.is_empty());
    assert_eq!(h.coordinator.describe("g").unwrap().state, GroupState::Stable);
    let synced = h
        .coordinator
        .sync(SyncRequest { group_instance_id: Some("instance-a".into()), ..sync_req("g", &a2, vec![]) })
        .await
        .unwrap();
    assert_eq!(synced.assignment, Bytes::from_static(b"pa"), "the assignment carried over");
    let other = MemberRef { group_instance_id: Some("instance-b".into()), ..member(&b) };
    assert_eq!(h.coordinator.heartbeat("g", &other), Ok(()), "the other member is not asked to rejoin");
}

#[tokio::test]
async fn offsets_of_an_emptied_group_expire_after_the_retention() {
    let retention_ms = 20_000;
    let h = Harness::with_store(
        Arc::new(MemoryStore::new()),
        GroupConfig { offsets_retention_ms: retention_ms, ..config(0) },
    );
    let a = stable_single(&h, "g", "a").await;
    let offsets = vec![(TopicPartition::new("orders", 0), commit(1, ""))];
    h.coordinator.commit_offsets("g", &member(&a), None, offsets).await.unwrap();
    for _ in 0..8 {
        h.advance(SESSION_MS as u64 / 2).await;
        assert_eq!(h.coordinator.heartbeat("g", &member(&a)), Ok(()));
    }
    assert_eq!(
        h.coordinator.fetch_offsets("g", None).len(),
        1,
        "offsets of a group with members never expire"
    );
    h.advance(SESSION_MS as u64).await;
    assert_eq!(h.coordinator.describe("g").unwrap().state, GroupState::Empty, "the member's session ran out");
    h.advance(retention_ms as u64 - 1).await;
    assert_eq!(h.coordinator.fetch_offsets("g", None).len(), 1);
    h.advance(1).await;
    assert_eq!(h.coordinator.fetch_offsets("g", None), vec![]);
    assert!(h.coordinator.describe("g").is_none(), "a group with nothing left is forgotten");
    for _ in 0..200 {
        if h.meta.scan_prefix(Table::GroupOffsets, "").unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("expired offsets were not deleted from the store");
}

#[tokio::test]
async fn groups_are_listed_with_their_state_and_type() {
    let h = Harness::new(0);
    stable_single(&h, "b", "x").await;
    let outside = MemberRef { member_id: String::new(), group_instance_id: None, generation_id: -1 };
    h.coordinator
        .commit_offsets("a", &outside, None, vec![(TopicPartition::new("t", 0), commit(1, ""))])
        .await
        .unwrap();
    let listed = h.coordinator.list();
    assert_eq!(
        listed,
        vec![
            GroupListing {
                group_id: "a".into(),
                protocol_type: String::new(),
                state: GroupState::Empty,
                group_type: GroupType::Classic
            },
            GroupListing {
                group_id: "b".into(),
                protocol_type: "consumer".into(),
                state: GroupState::Stable,
                group_type: GroupType::Classic
            },
        ]
    );
}

#[tokio::test]
async fn no_group_is_created_past_the_configured_number_of_groups() {
    let h = Harness::with_store(Arc::new(MemoryStore::new()), GroupConfig { groups_max: 1, ..config(0) });
    stable_single(&h, "first", "a").await;
    let refused = h.coordinator.join(join_req("second", "", "b")).await;
    assert_eq!(refused, Err(JoinError::CoordinatorNotAvailable));
    let outside = MemberRef { member_id: String::new(), group_instance_id: None, generation_id: -1 };
    let refused = h
        .coordinator
        .commit_offsets("second", &outside, None, vec![(TopicPartition::new("t", 0), commit(1, ""))])
        .await;
    assert!(matches!(refused, Err(CommitError::CoordinatorNotAvailable)), "{refused:?}");
    assert!(h.coordinator.describe("second").is_none());
}
