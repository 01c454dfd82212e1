//! Share groups on the wire: the offset admin APIs around a member that joins, fetches and
//! acknowledges, and the versions ApiVersions advertises.

mod common;

use common::TestBroker;
use common::raw::{RawClient, batch};
use ferry_broker::topics::TopicConfig;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_share_group_offsets_request::{
    AlterShareGroupOffsetsRequestPartition, AlterShareGroupOffsetsRequestTopic,
};
use kafka_protocol::messages::delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic;
use kafka_protocol::messages::describe_share_group_offsets_request::{
    DescribeShareGroupOffsetsRequestGroup, DescribeShareGroupOffsetsRequestTopic,
};
use kafka_protocol::messages::share_acknowledge_request::{
    AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch,
};
use kafka_protocol::messages::share_fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    AlterShareGroupOffsetsRequest, ApiKey, ApiVersionsRequest, DeleteShareGroupOffsetsRequest,
    DescribeShareGroupOffsetsRequest, GroupId, ShareAcknowledgeRequest, ShareFetchRequest,
    ShareGroupHeartbeatRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

const GROUP: &str = "workers";
const MEMBER: &str = "member-one";

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

async fn start_offset(client: &mut RawClient, topic: &str) -> i64 {
    let request = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
        DescribeShareGroupOffsetsRequestGroup::default().with_group_id(GroupId(text(GROUP))).with_topics(
            Some(vec![
                DescribeShareGroupOffsetsRequestTopic::default()
                    .with_topic_name(TopicName(text(topic)))
                    .with_partitions(vec![0]),
            ]),
        ),
    ]);
    let response = client.call(0, &request).await;
    let group = &response.groups[0];
    assert_eq!(group.error_code, 0);
    group.topics[0].partitions[0].start_offset
}

async fn alter(client: &mut RawClient, topic: &str, offset: i64) -> (i16, i16) {
    let request =
        AlterShareGroupOffsetsRequest::default().with_group_id(GroupId(text(GROUP))).with_topics(vec![
            AlterShareGroupOffsetsRequestTopic::default()
                .with_topic_name(TopicName(text(topic)))
                .with_partitions(vec![
                    AlterShareGroupOffsetsRequestPartition::default()
                        .with_partition_index(0)
                        .with_start_offset(offset),
                ]),
        ]);
    let response = client.call(0, &request).await;
    (response.error_code, response.responses.first().map_or(0, |t| t.partitions[0].error_code))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_are_described_altered_and_deleted_around_a_member() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    broker.topics.create_topic("jobs", 1, TopicConfig::default()).expect("create topic");
    let topic_id = uuid::Uuid::from_u128(broker.topics.topic("jobs").expect("topic").id);
    let appended =
        broker.topics.produce("jobs", 0, &batch(&["a", "b", "c", "d"], -1, -1, -1)).expect("produce");
    appended.durable().await.expect("durable");
    let mut client = RawClient::connect(&broker.bootstrap).await;

    // No state yet: -1. An empty group's start offset can be set before anyone reads.
    assert_eq!(start_offset(&mut client, "jobs").await, -1);
    assert_eq!(alter(&mut client, "jobs", 1).await, (0, 0));
    assert_eq!(start_offset(&mut client, "jobs").await, 1);

    let joined = client
        .call(
            1,
            &ShareGroupHeartbeatRequest::default()
                .with_group_id(GroupId(text(GROUP)))
                .with_member_id(text(MEMBER))
                .with_member_epoch(0)
                .with_subscribed_topic_names(Some(vec![TopicName(text("jobs"))])),
        )
        .await;
    assert_eq!(joined.error_code, 0);
    let assignment = joined.assignment.expect("an assignment");
    assert_eq!(assignment.topic_partitions[0].topic_id, topic_id);
    assert_eq!(assignment.topic_partitions[0].partitions, vec![0]);

    let fetched = client
        .call(
            1,
            &ShareFetchRequest::default()
                .with_group_id(Some(GroupId(text(GROUP))))
                .with_member_id(Some(text(MEMBER)))
                .with_share_session_epoch(0)
                .with_max_wait_ms(1_000)
                .with_max_bytes(1 << 20)
                .with_max_records(10)
                .with_topics(vec![FetchTopic::default().with_topic_id(topic_id).with_partitions(vec![
                    FetchPartition::default().with_partition_index(0).with_partition_max_bytes(1 << 20),
                ])]),
        )
        .await;
    assert_eq!(fetched.error_code, 0);
    let part = &fetched.responses[0].partitions[0];
    assert_eq!(part.error_code, 0);
    let acquired: Vec<(i64, i64, i16)> =
        part.acquired_records.iter().map(|r| (r.first_offset, r.last_offset, r.delivery_count)).collect();
    assert_eq!(acquired, vec![(1, 3, 1)]);
    assert!(!part.records.as_ref().expect("records").is_empty());

    // A member in the group: the offsets stay as they are.
    assert_eq!(alter(&mut client, "jobs", 0).await.0, ResponseError::NonEmptyGroup.code());

    let acked = client
        .call(
            1,
            &ShareAcknowledgeRequest::default()
                .with_group_id(Some(GroupId(text(GROUP))))
                .with_member_id(Some(text(MEMBER)))
                .with_share_session_epoch(1)
                .with_topics(vec![AcknowledgeTopic::default().with_topic_id(topic_id).with_partitions(
                    vec![
                        AcknowledgePartition::default().with_partition_index(0).with_acknowledgement_batches(
                            vec![
                                AcknowledgementBatch::default()
                                    .with_first_offset(1)
                                    .with_last_offset(2)
                                    .with_acknowledge_types(vec![1]),
                                // Offset 0 was never acquired by this member.
                                AcknowledgementBatch::default()
                                    .with_first_offset(0)
                                    .with_last_offset(0)
                                    .with_acknowledge_types(vec![1]),
                            ],
                        ),
                    ],
                )]),
        )
        .await;
    assert_eq!(acked.responses[0].partitions[0].error_code, ResponseError::InvalidRecordState.code());
    assert_eq!(start_offset(&mut client, "jobs").await, 3);

    let left = client
        .call(
            1,
            &ShareGroupHeartbeatRequest::default()
                .with_group_id(GroupId(text(GROUP)))
                .with_member_id(text(MEMBER))
                .with_member_epoch(-1),
        )
        .await;
    assert_eq!((left.error_code, left.member_epoch), (0, -1));

    let deleted = client
        .call(
            0,
            &DeleteShareGroupOffsetsRequest::default().with_group_id(GroupId(text(GROUP))).with_topics(vec![
                DeleteShareGroupOffsetsRequestTopic::default().with_topic_name(TopicName(text("jobs"))),
            ]),
        )
        .await;
    assert_eq!((deleted.error_code, deleted.responses[0].error_code), (0, 0));
    assert_eq!(start_offset(&mut client, "jobs").await, -1);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_advertises_the_share_apis_librdkafka_asks_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let mut client = RawClient::connect(&broker.bootstrap).await;
    let response = client.call(3, &ApiVersionsRequest::default()).await;
    let version = |api: ApiKey| {
        response.api_keys.iter().find(|k| k.api_key == api as i16).map(|k| (k.min_version, k.max_version))
    };
    // librdkafka's share consumer sends v1 of these four and nothing else.
    for api in [
        ApiKey::ShareGroupHeartbeat,
        ApiKey::ShareGroupDescribe,
        ApiKey::ShareFetch,
        ApiKey::ShareAcknowledge,
    ] {
        assert_eq!(version(api), Some((1, 1)), "{api:?}");
    }
    // The share coordinator's inter-broker APIs are not for clients.
    assert_eq!(version(ApiKey::ReadShareGroupState), None);
    broker.stop().await;
}
