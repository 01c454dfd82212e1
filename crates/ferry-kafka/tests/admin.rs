//! Topic administration through librdkafka's admin client (rdkafka crate).

mod common;

use std::time::Duration;

use common::TestBroker;
use rdkafka::ClientConfig;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::FromClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    AdminClient::from_config(&config).expect("admin client")
}

fn partition_count(bootstrap: &str, topic: &str) -> usize {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()
        .expect("consumer");
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    metadata.topics().iter().find(|t| t.name() == topic).map_or(0, |t| t.partitions().len())
}

fn config_value(desc: &rdkafka::admin::ConfigResource, name: &str) -> Option<String> {
    desc.get(name).and_then(|entry| entry.value.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_creates_describes_alters_and_deletes_topics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let admin = admin(&broker.bootstrap);
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));

    let topic = NewTopic::new("orders", 3, TopicReplication::Fixed(1)).set("retention.ms", "3600000");
    let created = admin.create_topics([&topic], &options).await.expect("create request");
    assert_eq!(created, vec![Ok("orders".to_owned())]);
    assert_eq!(partition_count(&broker.bootstrap, "orders"), 3);

    let again = admin.create_topics([&topic], &options).await.expect("create request");
    assert_eq!(again, vec![Err(("orders".to_owned(), RDKafkaErrorCode::TopicAlreadyExists))]);

    let bad = NewTopic::new("no spaces allowed", 1, TopicReplication::Fixed(1));
    let refused = admin.create_topics([&bad], &options).await.expect("create request");
    assert_eq!(refused, vec![Err(("no spaces allowed".to_owned(), RDKafkaErrorCode::InvalidTopic))]);

    let described =
        admin.describe_configs([&ResourceSpecifier::Topic("orders")], &options).await.expect("describe");
    let resource = described[0].as_ref().expect("topic config");
    assert_eq!(config_value(resource, "retention.ms").as_deref(), Some("3600000"));
    assert_eq!(config_value(resource, "cleanup.policy").as_deref(), Some("delete"));

    let alter = AlterConfig::new(ResourceSpecifier::Topic("orders"))
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "1048576");
    let altered = admin.alter_configs([&alter], &options).await.expect("alter");
    assert!(altered[0].is_ok(), "{altered:?}");
    let described =
        admin.describe_configs([&ResourceSpecifier::Topic("orders")], &options).await.expect("describe");
    let resource = described[0].as_ref().expect("topic config");
    assert_eq!(config_value(resource, "cleanup.policy").as_deref(), Some("compact"));
    assert_eq!(config_value(resource, "segment.bytes").as_deref(), Some("1048576"));
    // AlterConfigs replaces the whole set: what was not named returns to its default.
    assert_eq!(config_value(resource, "retention.ms").as_deref(), Some("604800000"));

    // The rdkafka crate drops per-resource AlterConfigs errors, so check the refusal took no effect.
    let invalid = AlterConfig::new(ResourceSpecifier::Topic("orders")).set("retention.ms", "soon");
    admin.alter_configs([&invalid], &options).await.expect("alter");
    let described =
        admin.describe_configs([&ResourceSpecifier::Topic("orders")], &options).await.expect("describe");
    let resource = described[0].as_ref().expect("topic config");
    assert_eq!(config_value(resource, "cleanup.policy").as_deref(), Some("compact"));

    let grown = admin.create_partitions([&NewPartitions::new("orders", 5)], &options).await.expect("grow");
    assert_eq!(grown, vec![Ok("orders".to_owned())]);
    assert_eq!(partition_count(&broker.bootstrap, "orders"), 5);
    let shrunk = admin.create_partitions([&NewPartitions::new("orders", 2)], &options).await.expect("shrink");
    assert_eq!(shrunk, vec![Err(("orders".to_owned(), RDKafkaErrorCode::InvalidPartitions))]);

    let deleted = admin.delete_topics(&["orders"], &options).await.expect("delete");
    assert_eq!(deleted, vec![Ok("orders".to_owned())]);
    assert_eq!(partition_count(&broker.bootstrap, "orders"), 0);
    let missing = admin.delete_topics(&["orders"], &options).await.expect("delete");
    assert_eq!(missing, vec![Err(("orders".to_owned(), RDKafkaErrorCode::UnknownTopicOrPartition))]);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let topic = NewTopic::new("kept", 2, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
    admin(&broker.bootstrap).create_topics([&topic], &options).await.expect("create");
    let cluster_id = broker.topics.cluster_id().to_owned();
    broker.stop().await;

    let broker = TestBroker::start(dir.path()).await;
    assert_eq!(broker.topics.cluster_id(), cluster_id);
    assert_eq!(partition_count(&broker.bootstrap, "kept"), 2);
    let described = admin(&broker.bootstrap)
        .describe_configs([&ResourceSpecifier::Topic("kept")], &options)
        .await
        .expect("describe");
    let resource = described[0].as_ref().expect("topic config");
    assert_eq!(config_value(resource, "cleanup.policy").as_deref(), Some("compact"));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_only_creation_checks_what_creation_checks_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let admin = admin(&broker.bootstrap);
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let dry_run = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))).validate_only(true);

    let fine = NewTopic::new("planned", 2, TopicReplication::Fixed(1));
    let validated = admin.create_topics([&fine], &dry_run).await.expect("validate request");
    assert_eq!(validated, vec![Ok("planned".to_owned())]);
    assert_eq!(partition_count(&broker.bootstrap, "planned"), 0);

    let too_many = NewTopic::new("huge", 50_000, TopicReplication::Fixed(1));
    let refused = admin.create_topics([&too_many], &dry_run).await.expect("validate request");
    assert_eq!(refused, vec![Err(("huge".to_owned(), RDKafkaErrorCode::InvalidPartitions))]);

    let existing = NewTopic::new("taken", 1, TopicReplication::Fixed(1));
    admin.create_topics([&existing], &options).await.expect("create request");
    let clash = admin.create_topics([&existing], &dry_run).await.expect("validate request");
    assert_eq!(clash, vec![Err(("taken".to_owned(), RDKafkaErrorCode::TopicAlreadyExists))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_bounded_per_topic_and_in_total() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut topics_config = common::test_service_config(dir.path());
    topics_config.limits =
        ferry_broker::topics::PartitionLimits { partitions_per_topic_max: 8, partitions_max: 12 };
    let kafka_config = ferry_kafka::KafkaConfig { default_partitions: 2, ..Default::default() };
    let broker = TestBroker::start_with_topics(dir.path(), kafka_config, topics_config).await;
    let admin = admin(&broker.bootstrap);
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let dry_run = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))).validate_only(true);
    let create =
        |name: &'static str, partitions: i32| NewTopic::new(name, partitions, TopicReplication::Fixed(1));

    // Per topic: creation and growth past 8 are INVALID_PARTITIONS, dry run or not.
    let refused = admin.create_topics([&create("wide", 9)], &options).await.expect("create request");
    assert_eq!(refused, vec![Err(("wide".to_owned(), RDKafkaErrorCode::InvalidPartitions))]);
    let created = admin.create_topics([&create("first", 6)], &options).await.expect("create request");
    assert_eq!(created, vec![Ok("first".to_owned())]);
    for opts in [&options, &dry_run] {
        let grown = admin.create_partitions([&NewPartitions::new("first", 9)], opts).await.expect("grow");
        assert_eq!(grown, vec![Err(("first".to_owned(), RDKafkaErrorCode::InvalidPartitions))]);
    }

    // In total: 6 + 6 fills the 12 allowed; anything more is POLICY_VIOLATION.
    let created = admin.create_topics([&create("second", 6)], &options).await.expect("create request");
    assert_eq!(created, vec![Ok("second".to_owned())]);
    for opts in [&options, &dry_run] {
        let refused = admin.create_topics([&create("third", 1)], opts).await.expect("create request");
        assert_eq!(refused, vec![Err(("third".to_owned(), RDKafkaErrorCode::PolicyViolation))]);
        let grown = admin.create_partitions([&NewPartitions::new("first", 7)], opts).await.expect("grow");
        assert_eq!(grown, vec![Err(("first".to_owned(), RDKafkaErrorCode::PolicyViolation))]);
    }
    assert_eq!(partition_count(&broker.bootstrap, "first"), 6);

    // Auto-creation is refused the same way, and creates nothing.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("allow.auto.create.topics", "true")
        .create()
        .expect("consumer");
    let metadata = consumer.fetch_metadata(Some("auto"), Duration::from_secs(10)).expect("metadata");
    let auto = metadata.topics().iter().find(|t| t.name() == "auto").expect("topic in the answer");
    assert_eq!(auto.error().map(RDKafkaErrorCode::from), Some(RDKafkaErrorCode::PolicyViolation));
    assert!(broker.topics.topic("auto").is_none());

    // Deleting a topic makes room again.
    admin.delete_topics(&["second"], &options).await.expect("delete");
    let created = admin.create_topics([&create("third", 1)], &options).await.expect("create request");
    assert_eq!(created, vec![Ok("third".to_owned())]);
    broker.stop().await;
}
