//! Consumer-group APIs at the wire level: the error codes clients react to, and the version
//! differences (MEMBER_ID_REQUIRED from JoinGroup v4, batched FindCoordinator and LeaveGroup,
//! OffsetFetch of every partition, grouped OffsetFetch from v8).

mod common;

use bytes::Bytes;
use common::TestBroker;
use common::raw::RawClient;
use ferry_broker::topics::TopicConfig;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
    SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

fn group(value: &str) -> GroupId {
    GroupId(s(value))
}

fn join_request(
    group_id: &str,
    member_id: &str,
    protocol: &str,
    session_timeout_ms: i32,
) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(group(group_id))
        .with_member_id(s(member_id))
        .with_session_timeout_ms(session_timeout_ms)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s(protocol))
                .with_metadata(Bytes::from_static(b"sub")),
        ])
}

/// Joins through the MEMBER_ID_REQUIRED round trip at JoinGroup v5; returns the completed join.
async fn join(client: &mut RawClient, group_id: &str) -> JoinGroupResponse {
    let first = client.call(5, &join_request(group_id, "", "range", 10_000)).await;
    assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
    assert!(!first.member_id.is_empty(), "the member id to come back with");
    let joined = client.call(5, &join_request(group_id, &first.member_id, "range", 10_000)).await;
    assert_eq!(joined.error_code, 0);
    joined
}

fn heartbeat(group_id: &str, joined: &JoinGroupResponse, generation_id: i32) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(group(group_id))
        .with_member_id(joined.member_id.clone())
        .with_generation_id(generation_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_joins_need_a_member_id_from_v4_and_not_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let mut client = RawClient::connect(&broker.bootstrap).await;
    let joined = join(&mut client, "modern").await;
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(joined.protocol_name, Some(s("range")));
    assert_eq!(joined.members.len(), 1);

    let old = client.call(0, &join_request("legacy", "", "range", 10_000)).await;
    assert_eq!(old.error_code, 0, "v0 clients are admitted on their first join");
    assert_eq!(old.generation_id, 1);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_errors_carry_kafkas_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let mut a = RawClient::connect(&broker.bootstrap).await;

    let too_short = a.call(5, &join_request("g", "", "range", 1_000)).await;
    assert_eq!(too_short.error_code, ResponseError::InvalidSessionTimeout.code());
    let nobody = a.call(4, &heartbeat("nowhere", &too_short, 1)).await;
    assert_eq!(nobody.error_code, ResponseError::UnknownMemberId.code());

    let joined = join(&mut a, "g").await;
    let stale = SyncGroupRequest::default()
        .with_group_id(group("g"))
        .with_member_id(joined.member_id.clone())
        .with_generation_id(joined.generation_id - 1);
    assert_eq!(a.call(5, &stale).await.error_code, ResponseError::IllegalGeneration.code());
    let synced = a.call(5, &stale.with_generation_id(joined.generation_id)).await;
    assert_eq!(synced.error_code, 0);
    assert_eq!(a.call(4, &heartbeat("g", &joined, joined.generation_id)).await.error_code, 0);

    let mut b = RawClient::connect(&broker.bootstrap).await;
    let other_protocol = b.call(5, &join_request("g", "", "roundrobin", 10_000)).await;
    assert_eq!(other_protocol.error_code, ResponseError::InconsistentGroupProtocol.code());
    let first = b.call(5, &join_request("g", "", "range", 10_000)).await;
    // b's second join is held until a rejoins: send it without waiting for the answer.
    b.send(5, &join_request("g", &first.member_id, "range", 10_000)).await;
    let mut rebalancing = 0;
    for _ in 0..50 {
        rebalancing = a.call(4, &heartbeat("g", &joined, joined.generation_id)).await.error_code;
        if rebalancing != 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(rebalancing, ResponseError::RebalanceInProgress.code());

    let deleted =
        a.call(2, &DeleteGroupsRequest::default().with_groups_names(vec![group("g"), group("none")])).await;
    assert_eq!(deleted.results[0].error_code, ResponseError::NonEmptyGroup.code());
    assert_eq!(deleted.results[1].error_code, ResponseError::GroupIdNotFound.code());
    let no_offsets = a.call(0, &OffsetDeleteRequest::default().with_group_id(group("none"))).await;
    assert_eq!(no_offsets.error_code, ResponseError::GroupIdNotFound.code());
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_fetch_without_topics_returns_every_committed_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    broker.topics.create_topic("events", 2, TopicConfig::default()).expect("create topic");
    let mut client = RawClient::connect(&broker.bootstrap).await;
    let partitions = (0..2)
        .map(|p| {
            OffsetCommitRequestPartition::default()
                .with_partition_index(p)
                .with_committed_offset(10 + i64::from(p))
                .with_committed_metadata(Some(s(&format!("meta-{p}"))))
        })
        .collect();
    let commit = OffsetCommitRequest::default()
        .with_group_id(group("solo"))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default().with_name(TopicName(s("events"))).with_partitions(partitions),
            OffsetCommitRequestTopic::default().with_name(TopicName(s("missing"))).with_partitions(vec![
                OffsetCommitRequestPartition::default().with_partition_index(0).with_committed_offset(1),
            ]),
        ]);
    let committed = client.call(8, &commit).await;
    assert!(committed.topics[0].partitions.iter().all(|p| p.error_code == 0));
    assert_eq!(committed.topics[1].partitions[0].error_code, ResponseError::UnknownTopicOrPartition.code());

    let fetched =
        client.call(7, &OffsetFetchRequest::default().with_group_id(group("solo")).with_topics(None)).await;
    let all: Vec<(i32, i64, String)> = fetched.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (p.partition_index, p.committed_offset, p.metadata.as_deref().unwrap_or_default().to_string())
        })
        .collect();
    assert_eq!(all, vec![(0, 10, "meta-0".to_string()), (1, 11, "meta-1".to_string())]);

    let grouped = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default().with_group_id(group("solo")).with_topics(None),
        OffsetFetchRequestGroup::default().with_group_id(group("unknown")).with_topics(None),
    ]);
    let fetched = client.call(8, &grouped).await;
    assert_eq!(fetched.groups[0].topics[0].partitions.len(), 2);
    assert!(fetched.groups[1].topics.is_empty());
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_requests_answer_each_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let mut client = RawClient::connect(&broker.bootstrap).await;

    for version in 0..=3 {
        let found = client.call(version, &FindCoordinatorRequest::default().with_key(s("g"))).await;
        assert_eq!((found.error_code, found.node_id.0), (0, 0), "v{version}");
        assert_eq!(found.port.to_string(), broker.bootstrap.rsplit(':').next().unwrap_or_default());
    }
    let batch = FindCoordinatorRequest::default().with_coordinator_keys(vec![s("a"), s("b")]);
    let found = client.call(4, &batch).await;
    assert_eq!(found.coordinators.len(), 2);
    assert!(found.coordinators.iter().all(|c| c.error_code == 0 && c.node_id.0 == 0));
    // Transactional ids (key type 1) are coordinated by this node too.
    let transactional = client.call(4, &batch.with_key_type(1)).await;
    assert!(transactional.coordinators.iter().all(|c| c.error_code == 0 && c.node_id.0 == 0));

    let joined = join(&mut client, "leavers").await;
    let leave = LeaveGroupRequest::default().with_group_id(group("leavers")).with_members(vec![
        MemberIdentity::default().with_member_id(joined.member_id.clone()),
        MemberIdentity::default().with_member_id(s("stranger")),
    ]);
    let left = client.call(3, &leave).await;
    assert_eq!(left.error_code, 0);
    let codes: Vec<i16> = left.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, vec![0, ResponseError::UnknownMemberId.code()]);
    broker.stop().await;
}
