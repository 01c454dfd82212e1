//! The consumer group protocol (KIP-848) at the wire level: topic ids in assignments, the error
//! codes clients react to, and how the group APIs show groups of both protocols.

mod common;

use bytes::Bytes;
use common::TestBroker;
use common::raw::RawClient;
use ferry_broker::topics::TopicConfig;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, DescribeGroupsRequest, GroupId, JoinGroupRequest, ListGroupsRequest,
    OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

fn join(group: &str, member: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(topics.iter().map(|t| TopicName(s(t))).collect()))
        .with_subscribed_topic_regex(Some(s("")))
        .with_topic_partitions(Some(Vec::new()))
}

fn beat(
    group: &str,
    member: &str,
    epoch: i32,
    owned: Option<Vec<TopicPartitions>>,
) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(-1)
        .with_topic_partitions(owned)
}

/// The answer's assignment as (topic id, partitions) pairs, echoed back as owned partitions.
fn owned(answer: &ConsumerGroupHeartbeatResponse) -> Vec<TopicPartitions> {
    answer
        .assignment
        .as_ref()
        .map(|a| {
            a.topic_partitions
                .iter()
                .map(|t| {
                    TopicPartitions::default().with_topic_id(t.topic_id).with_partitions(t.partitions.clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn count(answer: &ConsumerGroupHeartbeatResponse) -> usize {
    answer.assignment.as_ref().map_or(0, |a| a.topic_partitions.iter().map(|t| t.partitions.len()).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_assign_by_topic_id_and_fence_wrong_epochs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let info = broker.topics.create_topic("clicks", 4, TopicConfig::default()).expect("create topic");
    let mut client = RawClient::connect(&broker.bootstrap).await;

    let versions = client.call(3, &ApiVersionsRequest::default()).await;
    let advertised =
        |api: ApiKey| versions.api_keys.iter().find(|k| k.api_key == api as i16).map(|k| k.max_version);
    assert_eq!(advertised(ApiKey::ConsumerGroupHeartbeat), Some(1));
    assert_eq!(advertised(ApiKey::ConsumerGroupDescribe), Some(1));

    let first = client.call(1, &join("clicks-g", "member-a", &["clicks"])).await;
    assert_eq!(first.error_code, 0);
    assert_eq!(first.member_id.as_deref(), Some("member-a"));
    assert_eq!(first.member_epoch, 1);
    assert_eq!(first.heartbeat_interval_ms, 5_000);
    let assignment = first.assignment.as_ref().expect("an assignment");
    assert_eq!(assignment.topic_partitions[0].topic_id, Uuid::from_u128(info.id));
    assert_eq!(assignment.topic_partitions[0].partitions, vec![0, 1, 2, 3]);

    let second = client.call(1, &join("clicks-g", "member-b", &["clicks"])).await;
    assert_eq!((second.member_epoch, count(&second)), (2, 0), "nothing until member-a revokes");
    let revoke = client.call(1, &beat("clicks-g", "member-a", 1, Some(owned(&first)))).await;
    assert_eq!((revoke.member_epoch, count(&revoke)), (1, 2), "member-a keeps two, in its epoch");
    let moved = client.call(1, &beat("clicks-g", "member-a", 1, Some(owned(&revoke)))).await;
    assert_eq!(moved.member_epoch, 2);
    let taken = client.call(1, &beat("clicks-g", "member-b", 2, Some(Vec::new()))).await;
    assert_eq!(count(&taken), 2);

    let fenced = client.call(1, &beat("clicks-g", "member-a", 7, None)).await;
    assert_eq!(fenced.error_code, ResponseError::FencedMemberEpoch.code());
    let unknown = client.call(1, &beat("clicks-g", "stranger", 3, None)).await;
    assert_eq!(unknown.error_code, ResponseError::UnknownMemberId.code());
    let bad_regex =
        client.call(1, &join("clicks-g", "member-c", &[]).with_subscribed_topic_regex(Some(s("(")))).await;
    assert_eq!(bad_regex.error_code, ResponseError::InvalidRegularExpression.code());
    let bad_assignor = client
        .call(1, &join("clicks-g", "member-c", &["clicks"]).with_server_assignor(Some(s("sticky"))))
        .await;
    assert_eq!(bad_assignor.error_code, ResponseError::UnsupportedAssignor.code());

    let described = client
        .call(1, &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("clicks-g"))]))
        .await;
    let group = &described.groups[0];
    assert_eq!((group.error_code, group.group_state.as_str()), (0, "Stable"));
    assert_eq!((group.group_epoch, group.assignment_epoch, group.assignor_name.as_str()), (2, 2, "uniform"));
    assert_eq!(group.members.len(), 2);
    assert!(
        group
            .members
            .iter()
            .all(|m| m.member_type == 1 && m.assignment.topic_partitions[0].partitions.len() == 2)
    );

    let left = client.call(1, &beat("clicks-g", "member-b", -1, None)).await;
    assert_eq!((left.error_code, left.member_epoch), (0, -1));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_carry_the_member_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    broker.topics.create_topic("orders", 1, TopicConfig::default()).expect("create topic");
    let mut client = RawClient::connect(&broker.bootstrap).await;
    let joined = client.call(1, &join("orders-g", "m", &["orders"])).await;
    assert_eq!(joined.member_epoch, 1);

    let commit = |epoch: i32| {
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s("orders-g")))
            .with_member_id(s("m"))
            .with_generation_id_or_member_epoch(epoch)
            .with_topics(vec![
                OffsetCommitRequestTopic::default().with_name(TopicName(s("orders"))).with_partitions(vec![
                    OffsetCommitRequestPartition::default().with_partition_index(0).with_committed_offset(5),
                ]),
            ])
    };
    let stale = client.call(9, &commit(0)).await;
    assert_eq!(stale.topics[0].partitions[0].error_code, ResponseError::StaleMemberEpoch.code());
    let fine = client.call(9, &commit(1)).await;
    assert_eq!(fine.topics[0].partitions[0].error_code, 0);

    let fetch = |epoch: i32| {
        OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s("orders-g")))
                .with_member_id(Some(s("m")))
                .with_member_epoch(epoch)
                .with_topics(None),
        ])
    };
    let stale = client.call(9, &fetch(0)).await;
    assert_eq!(stale.groups[0].error_code, ResponseError::StaleMemberEpoch.code());
    let fetched = client.call(9, &fetch(1)).await;
    assert_eq!(fetched.groups[0].topics[0].partitions[0].committed_offset, 5);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_id_speaks_one_protocol_and_both_kinds_are_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    broker.topics.create_topic("audit", 1, TopicConfig::default()).expect("create topic");
    let mut client = RawClient::connect(&broker.bootstrap).await;

    let classic_join = |group: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(b"sub")),
            ])
    };
    let classic = client.call(3, &classic_join("old-style")).await;
    assert_eq!(classic.error_code, 0);
    let refused = client.call(1, &join("old-style", "m", &["audit"])).await;
    assert_eq!(refused.error_code, ResponseError::GroupIdNotFound.code());

    let joined = client.call(1, &join("new-style", "m", &["audit"])).await;
    assert_eq!(joined.error_code, 0);
    let refused = client.call(3, &classic_join("new-style")).await;
    assert_eq!(refused.error_code, ResponseError::InconsistentGroupProtocol.code());

    let listed = client.call(5, &ListGroupsRequest::default()).await;
    let kinds: Vec<(&str, &str, &str)> = listed
        .groups
        .iter()
        .map(|g| (g.group_id.as_str(), g.group_type.as_str(), g.group_state.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![("new-style", "consumer", "Stable"), ("old-style", "classic", "CompletingRebalance")]
    );
    let only_new = client.call(5, &ListGroupsRequest::default().with_types_filter(vec![s("consumer")])).await;
    assert_eq!(only_new.groups.len(), 1);

    let described = client
        .call(
            5,
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s("new-style")), GroupId(s("old-style"))]),
        )
        .await;
    assert_eq!(
        described.groups[0].group_state.as_str(),
        "Dead",
        "a consumer-protocol group, as Kafka answers v5"
    );
    assert_eq!(described.groups[1].members.len(), 1);
    let described = client
        .call(
            0,
            &ConsumerGroupDescribeRequest::default()
                .with_group_ids(vec![GroupId(s("old-style")), GroupId(s("nothing"))]),
        )
        .await;
    assert!(described.groups.iter().all(|g| g.error_code == ResponseError::GroupIdNotFound.code()));
    broker.stop().await;
}
