//! Wire-level behaviour that real clients rarely trigger: error codes, bad frames, acks=0,
//! version negotiation, long-polling, producer sequence checks across a restart.

mod common;

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use common::TestBroker;
use common::raw::{RawClient, batch};
use ferry_broker::topics::TopicConfig;
use ferry_kafka::KafkaConfig;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchRequest, InitProducerIdRequest, MetadataRequest,
    ProduceRequest, ProduceResponse, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default().with_acks(acks).with_timeout_ms(5_000).with_topic_data(vec![
        TopicProduceData::default().with_name(name(topic)).with_partition_data(vec![
            PartitionProduceData::default().with_index(partition).with_records(Some(records)),
        ]),
    ])
}

/// (error code, base offset) of the single partition of a produce response.
fn outcome(response: &ProduceResponse) -> (i16, i64) {
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

async fn produce(client: &mut RawClient, topic: &str, records: Bytes) -> (i16, i64) {
    outcome(&client.call(9, &produce_request(topic, 0, records, -1)).await)
}

fn create(broker: &TestBroker, topic: &str, config: TopicConfig) {
    broker.topics.create_topic(topic, 1, config).expect("create topic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_newer_than_ours_get_the_v0_answer_with_our_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let mut client = RawClient::connect(&broker.bootstrap).await;
    // ApiVersions v99 with an empty body: header v2 (flexible) is what a future client would send.
    let mut body = BytesMut::new();
    body.put_i16(ApiKey::ApiVersions as i16);
    body.put_i16(99);
    body.put_i32(42);
    body.put_i16(-1);
    body.put_u8(0);
    client.send_frame(&body).await;
    let mut frame = client.receive_frame().await.expect("an answer");
    let correlation_id = i32::from_be_bytes(frame[..4].try_into().expect("4 bytes"));
    assert_eq!(correlation_id, 42);
    let _ = frame.split_to(4);
    let response = ApiVersionsResponse::decode(&mut frame, 0).expect("v0 body");
    assert_eq!(response.error_code, ResponseError::UnsupportedVersion.code());
    let produce =
        response.api_keys.iter().find(|k| k.api_key == ApiKey::Produce as i16).expect("Produce listed");
    assert!(produce.min_version <= 3 && produce.max_version >= 9);
    // The classic transaction protocol, not transactions v2 (KIP-890: EndTxn v5, AddPartitionsToTxn v4+).
    for api in [ApiKey::AddPartitionsToTxn, ApiKey::EndTxn, ApiKey::AddOffsetsToTxn, ApiKey::TxnOffsetCommit]
    {
        let listed = response.api_keys.iter().find(|k| k.api_key == api as i16).expect("listed");
        assert_eq!((listed.min_version, listed.max_version), (0, 3), "{api:?}");
    }

    let current = client.call(3, &ApiVersionsRequest::default()).await;
    assert_eq!(current.error_code, 0);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_errors_are_reported_per_partition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create(&broker, "small", TopicConfig { max_message_bytes: 200, ..TopicConfig::default() });
    let mut client = RawClient::connect(&broker.bootstrap).await;

    assert_eq!(produce(&mut client, "small", batch(&["fits"], -1, -1, -1)).await, (0, 0));
    let (code, _) = produce(&mut client, "nowhere", batch(&["x"], -1, -1, -1)).await;
    assert_eq!(code, ResponseError::UnknownTopicOrPartition.code());
    let big = "x".repeat(500);
    let (code, _) = produce(&mut client, "small", batch(&[&big], -1, -1, -1)).await;
    assert_eq!(code, ResponseError::MessageTooLarge.code());
    let mut corrupt = BytesMut::from(&batch(&["bit flip"], -1, -1, -1)[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let (code, _) = produce(&mut client, "small", corrupt.freeze()).await;
    assert_eq!(code, ResponseError::CorruptMessage.code());
    // The connection survives partition-level errors.
    assert_eq!(produce(&mut client, "small", batch(&["still here"], -1, -1, -1)).await, (0, 1));

    let fetch = FetchRequest::default().with_max_wait_ms(0).with_max_bytes(1 << 20).with_topics(vec![
        FetchTopic::default().with_topic(name("small")).with_partitions(vec![
            FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(99)
                .with_partition_max_bytes(1 << 20),
        ]),
    ]);
    let response = client.call(11, &fetch).await;
    assert_eq!(response.responses[0].partitions[0].error_code, ResponseError::OffsetOutOfRange.code());
    assert_eq!(response.responses[0].partitions[0].high_watermark, 2);

    let metadata = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name("bad name!")))]))
        .with_allow_auto_topic_creation(true);
    let response = client.call(9, &metadata).await;
    assert_eq!(response.topics[0].error_code, ResponseError::InvalidTopicException.code());
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_gets_no_response_and_later_answers_keep_their_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create(&broker, "fire", TopicConfig::default());
    let mut client = RawClient::connect(&broker.bootstrap).await;
    client.send(9, &produce_request("fire", 0, batch(&["a"], -1, -1, -1), 0)).await;
    let after = client.send(9, &MetadataRequest::default().with_topics(None)).await;
    let (correlation_id, _) = client.receive::<MetadataRequest>(9).await;
    assert_eq!(correlation_id, after);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = KafkaConfig { max_frame_bytes: 4096, ..KafkaConfig::default() };
    let broker = TestBroker::start_with(dir.path(), config).await;
    let mut healthy = RawClient::connect(&broker.bootstrap).await;
    healthy.call(3, &ApiVersionsRequest::default()).await;

    let mut negative = RawClient::connect(&broker.bootstrap).await;
    negative.stream_write_i32(-5).await;
    assert!(negative.is_closed().await, "a negative frame size closes the connection");

    let mut oversize = RawClient::connect(&broker.bootstrap).await;
    oversize.stream_write_i32(8192).await;
    assert!(oversize.is_closed().await, "a frame over max_frame_bytes closes the connection");

    let mut unknown = RawClient::connect(&broker.bootstrap).await;
    unknown.send_frame(&[0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff]).await;
    assert!(unknown.is_closed().await, "an unknown API key closes the connection");

    let mut garbage = RawClient::connect(&broker.bootstrap).await;
    let mut body = BytesMut::new();
    body.put_i16(ApiKey::Produce as i16);
    body.put_i16(9);
    body.put_i32(7);
    body.put_slice(&[0xff; 6]);
    garbage.send_frame(&body).await;
    assert!(garbage.is_closed().await, "an undecodable body closes the connection");

    // Metadata v1 claiming 2^31 - 1 topics in a 16-byte frame: refused without allocating for them.
    let mut forged = RawClient::connect(&broker.bootstrap).await;
    let mut body = BytesMut::new();
    body.put_i16(ApiKey::Metadata as i16);
    body.put_i16(1);
    body.put_i32(8);
    body.put_i16(-1);
    body.put_i32(i32::MAX);
    forged.send_frame(&body).await;
    assert!(forged.is_closed().await, "a forged array length closes the connection");
    // The same through a compact (flexible-version) array.
    let mut forged = RawClient::connect(&broker.bootstrap).await;
    let mut body = BytesMut::new();
    body.put_i16(ApiKey::Metadata as i16);
    body.put_i16(9);
    body.put_i32(9);
    body.put_i16(-1);
    body.put_u8(0);
    body.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    forged.send_frame(&body).await;
    assert!(forged.is_closed().await, "a forged compact array length closes the connection");

    healthy.call(3, &ApiVersionsRequest::default()).await;
    let mut fresh = RawClient::connect(&broker.bootstrap).await;
    fresh.call(3, &ApiVersionsRequest::default()).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fetch_wakes_when_data_arrives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create(&broker, "wake", TopicConfig::default());
    let mut consumer = RawClient::connect(&broker.bootstrap).await;
    let fetch = FetchRequest::default()
        .with_max_wait_ms(20_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default().with_topic(name("wake")).with_partitions(vec![
                FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20),
            ])]);
    let started = Instant::now();
    consumer.send(11, &fetch).await;
    let bootstrap = broker.bootstrap.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut producer = RawClient::connect(&bootstrap).await;
        produce(&mut producer, "wake", batch(&["hello"], -1, -1, -1)).await;
    });
    let (_, response) = consumer.receive::<FetchRequest>(11).await;
    let records = response.responses[0].partitions[0].records.clone().unwrap_or_default();
    assert!(!records.is_empty(), "the fetch returned the new batch");
    assert!(started.elapsed() < Duration::from_secs(10), "woken by the append, not by max_wait_ms");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_sequences_are_checked_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create(&broker, "seq", TopicConfig::default());
    let mut client = RawClient::connect(&broker.bootstrap).await;
    let init = client
        .call(
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .await;
    assert_eq!(init.error_code, 0);
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);

    assert_eq!(produce(&mut client, "seq", batch(&["a", "b"], pid, epoch, 0)).await, (0, 0));
    assert_eq!(produce(&mut client, "seq", batch(&["c"], pid, epoch, 2)).await, (0, 2));
    // A retry is answered with the original offsets and not appended again.
    assert_eq!(produce(&mut client, "seq", batch(&["a", "b"], pid, epoch, 0)).await, (0, 0));
    let (code, _) = produce(&mut client, "seq", batch(&["gap"], pid, epoch, 7)).await;
    assert_eq!(code, ResponseError::OutOfOrderSequenceNumber.code());
    drop(client);
    broker.stop().await;

    let broker = TestBroker::start(dir.path()).await;
    let mut client = RawClient::connect(&broker.bootstrap).await;
    assert_eq!(
        produce(&mut client, "seq", batch(&["c"], pid, epoch, 2)).await,
        (0, 2),
        "retry after restart"
    );
    let (code, _) = produce(&mut client, "seq", batch(&["gap"], pid, epoch, 9)).await;
    assert_eq!(code, ResponseError::OutOfOrderSequenceNumber.code());
    assert_eq!(produce(&mut client, "seq", batch(&["d"], pid, epoch, 3)).await, (0, 3));

    let bumped = client
        .call(
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
        )
        .await;
    assert_eq!((bumped.error_code, bumped.producer_id.0, bumped.producer_epoch), (0, pid, epoch + 1));
    assert_eq!(produce(&mut client, "seq", batch(&["new epoch"], pid, epoch + 1, 0)).await, (0, 4));
    let (code, _) = produce(&mut client, "seq", batch(&["fenced"], pid, epoch, 4)).await;
    assert_eq!(code, ResponseError::InvalidProducerEpoch.code());

    let fresh = client
        .call(
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .await;
    assert_ne!(fresh.producer_id.0, pid, "producer ids are not reused after a restart");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_init_producer_id_bumps_the_epoch_of_the_same_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let mut client = RawClient::connect(&broker.bootstrap).await;
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx-1"))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let first = client.call(4, &request).await;
    assert_eq!((first.error_code, first.producer_epoch), (0, 0));
    assert!(first.producer_id.0 >= 0);
    let second = client.call(4, &request).await;
    assert_eq!((second.error_code, second.producer_id, second.producer_epoch), (0, first.producer_id, 1));
    let too_long = client.call(4, &request.with_transaction_timeout_ms(i32::MAX)).await;
    assert_eq!(too_long.error_code, ResponseError::InvalidTransactionTimeout.code());
    assert_eq!(too_long.producer_id.0, -1);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_supported_version_of_every_api_answers_decodably() {
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{
        CreatePartitionsRequest, CreateTopicsRequest, DeleteRecordsRequest, DeleteTopicsRequest,
        DescribeConfigsRequest, ListOffsetsRequest,
    };

    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create(&broker, "versions", TopicConfig::default());
    let mut client = RawClient::connect(&broker.bootstrap).await;
    for v in 0..=3 {
        assert_eq!(client.call(v, &ApiVersionsRequest::default()).await.error_code, 0, "ApiVersions v{v}");
    }
    for v in 0..=12 {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name("versions")))]))
            .with_allow_auto_topic_creation(true);
        let response = client.call(v, &request).await;
        assert_eq!(response.topics[0].error_code, 0, "Metadata v{v}");
        assert_eq!(response.topics[0].partitions.len(), 1, "Metadata v{v}");
    }
    for v in 3..=9 {
        let response = client.call(v, &produce_request("versions", 0, batch(&["v"], -1, -1, -1), -1)).await;
        assert_eq!(outcome(&response), (0, i64::from(v) - 3), "Produce v{v}");
    }
    for v in 4..=12 {
        let fetch = FetchRequest::default().with_max_wait_ms(0).with_max_bytes(1 << 20).with_topics(vec![
            FetchTopic::default().with_topic(name("versions")).with_partitions(vec![
                FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20),
            ]),
        ]);
        let response = client.call(v, &fetch).await;
        let partition = &response.responses[0].partitions[0];
        assert_eq!((partition.error_code, partition.high_watermark), (0, 7), "Fetch v{v}");
        assert!(partition.records.as_ref().is_some_and(|r| !r.is_empty()), "Fetch v{v}");
    }
    for v in 1..=6 {
        let request = ListOffsetsRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default().with_name(name("versions")).with_partitions(
                vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)],
            )]);
        let response = client.call(v, &request).await;
        assert_eq!(response.topics[0].partitions[0].offset, 7, "ListOffsets v{v}");
    }
    for v in 1..=4 {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("versions"))
                .with_configuration_keys(None),
        ]);
        let response = client.call(v, &request).await;
        assert!(response.results[0].configs.len() >= 8, "DescribeConfigs v{v}");
    }
    for v in 0..=2 {
        let request = DeleteRecordsRequest::default().with_timeout_ms(5_000).with_topics(vec![
            DeleteRecordsTopic::default().with_name(name("versions")).with_partitions(vec![
                DeleteRecordsPartition::default().with_partition_index(0).with_offset(1),
            ]),
        ]);
        let response = client.call(v, &request).await;
        assert_eq!(response.topics[0].partitions[0].low_watermark, 1, "DeleteRecords v{v}");
    }
    for v in 0..=4 {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        assert_eq!(client.call(v, &request).await.error_code, 0, "InitProducerId v{v}");
    }
    for v in 2..=7 {
        let topic = format!("created-v{v}");
        let request = CreateTopicsRequest::default().with_timeout_ms(5_000).with_topics(vec![
            CreatableTopic::default()
                .with_name(name(&topic))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
        let response = client.call(v, &request).await;
        assert_eq!(response.topics[0].error_code, 0, "CreateTopics v{v}");
        let grow = CreatePartitionsRequest::default().with_timeout_ms(5_000).with_topics(vec![
            CreatePartitionsTopic::default().with_name(name(&topic)).with_count(2).with_assignments(None),
        ]);
        let grown = client.call((v - 2).min(3), &grow).await;
        assert_eq!(grown.results[0].error_code, 0, "CreatePartitions v{}", (v - 2).min(3));
        let delete_version = v - 1;
        let delete = if delete_version >= 6 {
            DeleteTopicsRequest::default()
                .with_topics(vec![DeleteTopicState::default().with_name(Some(name(&topic)))])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![name(&topic)])
        }
        .with_timeout_ms(5_000);
        let deleted = client.call(delete_version, &delete).await;
        assert_eq!(deleted.responses[0].error_code, 0, "DeleteTopics v{delete_version}");
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_stays_within_max_bytes_except_for_the_first_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    broker.topics.create_topic("wide", 3, TopicConfig::default()).expect("create topic");
    let mut client = RawClient::connect(&broker.bootstrap).await;
    let value = "v".repeat(1000);
    let one_batch = batch(&[value.as_str()], -1, -1, -1).len();
    for partition in 0..3 {
        for _ in 0..3 {
            let request = produce_request("wide", partition, batch(&[value.as_str()], -1, -1, -1), -1);
            assert_eq!(outcome(&client.call(9, &request).await).0, 0);
        }
    }
    let fetch = |max_bytes: i32, partition_max_bytes: i32| {
        FetchRequest::default().with_max_wait_ms(0).with_max_bytes(max_bytes).with_topics(vec![
            FetchTopic::default().with_topic(name("wide")).with_partitions(
                (0..3)
                    .map(|p| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(0)
                            .with_partition_max_bytes(partition_max_bytes)
                    })
                    .collect(),
            ),
        ])
    };
    let sizes = |response: &kafka_protocol::messages::FetchResponse| -> Vec<usize> {
        response.responses[0].partitions.iter().map(|p| p.records.as_ref().map_or(0, |r| r.len())).collect()
    };

    // Two batches fit in the response; the third partition's first batch would not.
    let response = client.call(12, &fetch((2 * one_batch + one_batch / 2) as i32, 1 << 20)).await;
    assert_eq!(sizes(&response), vec![2 * one_batch, 0, 0]);

    // Room for one batch and a half per partition: each partition gets one.
    let response = client.call(12, &fetch(1 << 20, (one_batch + one_batch / 2) as i32)).await;
    assert_eq!(sizes(&response), vec![one_batch, one_batch, one_batch]);
    let response = client.call(12, &fetch((one_batch + one_batch / 2) as i32, 1 << 20)).await;
    assert_eq!(sizes(&response), vec![one_batch, 0, 0]);

    // Limits below one batch: only the first partition's first batch goes out, whole.
    let response = client.call(12, &fetch(100, 1 << 20)).await;
    assert_eq!(sizes(&response), vec![one_batch, 0, 0]);
    let response = client.call(12, &fetch(1 << 20, 100)).await;
    assert_eq!(sizes(&response), vec![one_batch, 0, 0]);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_requests_are_answered_security_disabled() {
    use kafka_protocol::messages::create_acls_request::AclCreation;
    use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
    use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};

    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let mut client = RawClient::connect(&broker.bootstrap).await;
    let versions = client.call(3, &ApiVersionsRequest::default()).await;
    for key in [ApiKey::DescribeAcls, ApiKey::CreateAcls, ApiKey::DeleteAcls] {
        let advertised = versions.api_keys.iter().find(|k| k.api_key == key as i16).expect("advertised");
        assert_eq!((advertised.min_version, advertised.max_version), (1, 3), "{key:?}");
    }
    let disabled = ResponseError::SecurityDisabled.code();
    let principal = StrBytes::from_static_str("User:alice");
    let host = StrBytes::from_static_str("*");
    for v in 1..=3 {
        // Resource type 2 (topic), pattern type 3 (literal), operation 2 (all), permission 3 (allow).
        let describe = DescribeAclsRequest::default()
            .with_resource_type_filter(2)
            .with_pattern_type_filter(3)
            .with_operation(2)
            .with_permission_type(3);
        let response = client.call(v, &describe).await;
        assert_eq!(response.error_code, disabled, "DescribeAcls v{v}");
        assert!(response.error_message.is_some_and(|m| m.contains("authorizer")), "DescribeAcls v{v}");
        assert!(response.resources.is_empty());

        let creation = AclCreation::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("orders"))
            .with_resource_pattern_type(3)
            .with_principal(principal.clone())
            .with_host(host.clone())
            .with_operation(2)
            .with_permission_type(3);
        let create = CreateAclsRequest::default().with_creations(vec![creation.clone(), creation]);
        let response = client.call(v, &create).await;
        let codes: Vec<i16> = response.results.iter().map(|r| r.error_code).collect();
        assert_eq!(codes, vec![disabled, disabled], "CreateAcls v{v}");

        let filter = DeleteAclsFilter::default()
            .with_resource_type_filter(2)
            .with_pattern_type_filter(3)
            .with_operation(2)
            .with_permission_type(3);
        let response = client.call(v, &DeleteAclsRequest::default().with_filters(vec![filter])).await;
        let codes: Vec<i16> = response.filter_results.iter().map(|r| r.error_code).collect();
        assert_eq!(codes, vec![disabled], "DeleteAcls v{v}");
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_settings_kafka_4_removed_are_refused_as_invalid_config() {
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    use kafka_protocol::messages::{
        AlterConfigsRequest, CreateTopicsRequest, IncrementalAlterConfigsRequest, alter_configs_request,
        incremental_alter_configs_request,
    };

    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create(&broker, "existing", TopicConfig::default());
    let mut client = RawClient::connect(&broker.bootstrap).await;
    let invalid = ResponseError::InvalidConfig.code();
    let format = StrBytes::from_static_str("message.format.version");
    let old_format = Some(StrBytes::from_static_str("2.8-IV1"));
    let actionable = |message: Option<StrBytes>| {
        message.is_some_and(|m| m.contains("message.format.version") && m.contains("removed in Kafka 4.0"))
    };

    let create_request = CreateTopicsRequest::default().with_timeout_ms(5_000).with_topics(vec![
        CreatableTopic::default()
            .with_name(name("legacy"))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![
                CreatableTopicConfig::default().with_name(format.clone()).with_value(old_format.clone()),
            ]),
    ]);
    let response = client.call(7, &create_request).await;
    assert_eq!(response.topics[0].error_code, invalid, "CreateTopics");
    assert!(actionable(response.topics[0].error_message.clone()), "CreateTopics");
    assert!(broker.topics.topic("legacy").is_none(), "no topic was created");

    let alter = AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("existing"))
            .with_configs(vec![
                alter_configs_request::AlterableConfig::default()
                    .with_name(format.clone())
                    .with_value(old_format.clone()),
            ]),
    ]);
    let response = client.call(2, &alter).await;
    assert_eq!(response.responses[0].error_code, invalid, "AlterConfigs");
    assert!(actionable(response.responses[0].error_message.clone()), "AlterConfigs");

    let incremental = |operation: i8, value: Option<StrBytes>| {
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("existing"))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(format.clone())
                        .with_config_operation(operation)
                        .with_value(value),
                ]),
        ])
    };
    // Operation 0 sets, 1 deletes: setting is refused, removing the setting is allowed.
    let response = client.call(1, &incremental(0, old_format.clone())).await;
    assert_eq!(response.responses[0].error_code, invalid, "IncrementalAlterConfigs set");
    assert!(actionable(response.responses[0].error_message.clone()), "IncrementalAlterConfigs set");
    let response = client.call(1, &incremental(1, None)).await;
    assert_eq!(response.responses[0].error_code, 0, "IncrementalAlterConfigs delete");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_unless_owed_an_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = KafkaConfig { connections_max_idle_ms: 500, ..KafkaConfig::default() };
    let broker = TestBroker::start_with(dir.path(), config).await;
    create(&broker, "quiet", TopicConfig::default());

    // Never a request.
    let mut silent = RawClient::connect(&broker.bootstrap).await;
    let started = Instant::now();
    assert!(silent.is_closed().await, "a silent connection is closed");
    assert!(started.elapsed() >= Duration::from_millis(400), "not before it has been idle");

    // A request, then silence: idleness counts from the answer.
    let mut client = RawClient::connect(&broker.bootstrap).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.call(3, &ApiVersionsRequest::default()).await.error_code, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.call(3, &ApiVersionsRequest::default()).await.error_code, 0, "still open");

    // A long poll longer than the idle timeout: the connection waits for its answer.
    let fetch = FetchRequest::default()
        .with_max_wait_ms(1_500)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default().with_topic(name("quiet")).with_partitions(vec![
                FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20),
            ])]);
    let started = Instant::now();
    let response = client.call(11, &fetch).await;
    assert_eq!(response.responses[0].partitions[0].error_code, 0);
    assert!(started.elapsed() >= Duration::from_millis(1_400), "the fetch waited its full time");
    let started = Instant::now();
    assert!(client.is_closed().await, "idle again after the answer");
    assert!(started.elapsed() >= Duration::from_millis(400));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_that_stops_arriving_midway_closes_its_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = KafkaConfig { frame_stall_timeout_ms: 300, ..KafkaConfig::default() };
    let broker = TestBroker::start_with(dir.path(), config).await;

    // A size and part of a body, then nothing: closed although far from idle.
    let mut stalled = RawClient::connect(&broker.bootstrap).await;
    stalled.stream_write_i32(100).await;
    stalled.stream_write_i32(0x0012_0003).await;
    assert!(stalled.is_closed().await, "a stalled frame closes its connection");

    // Half a size prefix is a frame begun too.
    let mut stalled = RawClient::connect(&broker.bootstrap).await;
    tokio::io::AsyncWriteExt::write_all(&mut stalled.stream, &[0, 0]).await.expect("write");
    assert!(stalled.is_closed().await, "a stalled size prefix closes its connection");

    // A whole request sent slowly, each piece within the limit, is served.
    let mut slow = RawClient::connect(&broker.bootstrap).await;
    let mut body = BytesMut::new();
    kafka_protocol::messages::RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions as i16)
        .with_request_api_version(0)
        .with_correlation_id(7)
        .encode(&mut body, 1)
        .expect("header");
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    for piece in frame.chunks(3) {
        tokio::io::AsyncWriteExt::write_all(&mut slow.stream, piece).await.expect("write");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let (correlation_id, response) = slow.receive::<ApiVersionsRequest>(0).await;
    assert_eq!((correlation_id, response.error_code), (7, 0));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_grants_every_operation_when_asked_as_kafka_without_an_authorizer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create(&broker, "described", TopicConfig::default());
    let mut client = RawClient::connect(&broker.bootstrap).await;
    let request = |include: bool| {
        MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name("described")))]))
            .with_include_cluster_authorized_operations(include)
            .with_include_topic_authorized_operations(include)
    };
    // Read, write, create, delete, alter, describe, describe and alter configs (bits 3-8, 10, 11).
    let topic_operations = 0b1101_1111_1000;
    // Create, alter, describe, cluster action, describe and alter configs, idempotent write.
    let cluster_operations = 0b1_1111_1010_0000;

    let response = client.call(8, &request(true)).await;
    assert_eq!(response.topics[0].topic_authorized_operations, topic_operations);
    assert_eq!(response.cluster_authorized_operations, cluster_operations);
    // From v11 the cluster's operations are DescribeCluster's to tell.
    let response = client.call(12, &request(true).with_include_cluster_authorized_operations(false)).await;
    assert_eq!(response.topics[0].topic_authorized_operations, topic_operations);

    let response = client.call(10, &request(false)).await;
    assert_eq!(response.topics[0].topic_authorized_operations, i32::MIN, "not asked for");
    assert_eq!(response.cluster_authorized_operations, i32::MIN, "not asked for");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_offsets_max_timestamp_finds_the_newest_record_inside_a_compressed_batch() {
    use kafka_protocol::messages::ListOffsetsRequest;
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create(&broker, "times", TopicConfig::default());
    create(&broker, "empty", TopicConfig::default());
    let mut client = RawClient::connect(&broker.bootstrap).await;
    let max_timestamp = |topic: &str| {
        ListOffsetsRequest::default().with_replica_id(kafka_protocol::messages::BrokerId(-1)).with_topics(
            vec![ListOffsetsTopic::default().with_name(name(topic)).with_partitions(vec![
                ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-3),
            ])],
        )
    };
    let response = client.call(7, &max_timestamp("empty")).await;
    let answer = &response.topics[0].partitions[0];
    assert_eq!((answer.error_code, answer.offset, answer.timestamp), (0, -1, -1), "no record yet");

    let producer: FutureProducer =
        common::clients::producer(&broker.bootstrap, &[("compression.type", "gzip"), ("linger.ms", "200")]);
    // Two gzip batches; the newest timestamp is the second record of the first, and the second
    // batch repeats it (the first record holding it is the answer, as in Kafka).
    for batch in [[1_000, 9_000, 3_000], [2_000, 9_000, 4_000]] {
        let sends: Vec<_> = batch
            .iter()
            .map(|ts| {
                let record = FutureRecord::<(), str>::to("times").partition(0).payload("v").timestamp(*ts);
                producer.send_result(record).map_err(|(e, _)| e).expect("queued")
            })
            .collect();
        for send in sends {
            send.await.expect("delivery").expect("produced");
        }
    }
    let response = client.call(7, &max_timestamp("times")).await;
    let answer = &response.topics[0].partitions[0];
    assert_eq!((answer.error_code, answer.offset, answer.timestamp), (0, 1, 9_000));
    broker.stop().await;
}
