//! The config APIs on resources other than topics: the broker (its id, or the cluster default)
//! and groups (Kafka 4's GROUP resource).

mod common;

use common::TestBroker;
use common::raw::RawClient;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::{
    AlterConfigsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest, alter_configs_request,
    incremental_alter_configs_request,
};
use kafka_protocol::protocol::StrBytes;

const BROKER: i8 = 4;
const GROUP: i8 = 32;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

async fn incremental(
    client: &mut RawClient,
    resource_type: i8,
    name: &str,
    changes: &[(&str, i8, &str)],
) -> (i16, Option<StrBytes>) {
    let configs = changes
        .iter()
        .map(|(n, op, v)| {
            incremental_alter_configs_request::AlterableConfig::default()
                .with_name(s(n))
                .with_config_operation(*op)
                .with_value(Some(s(v)))
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(configs),
    ]);
    let response = client.call(1, &request).await;
    (response.responses[0].error_code, response.responses[0].error_message.clone())
}

async fn describe(client: &mut RawClient, resource_type: i8, name: &str) -> DescribeConfigsResult {
    let request = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configuration_keys(None),
    ]);
    client.call(4, &request).await.results.remove(0)
}

/// (value, source, read_only) of setting `name`.
fn setting(result: &DescribeConfigsResult, name: &str) -> Option<(String, i8, bool)> {
    result
        .configs
        .iter()
        .find(|c| c.name.as_str() == name)
        .map(|c| (c.value.as_deref().unwrap_or_default().to_owned(), c.config_source, c.read_only))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_broker_settings_are_kept_and_ferrys_own_are_read_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let mut client = RawClient::connect(&broker.bootstrap).await;

    // ferry's own settings are listed, read-only, from its configuration.
    let described = describe(&mut client, BROKER, "0").await;
    assert_eq!(described.error_code, 0);
    assert_eq!(setting(&described, "node.id"), Some(("0".to_owned(), 4, true)));
    assert_eq!(setting(&described, "log.segment.bytes").map(|(_, _, ro)| ro), Some(true));
    assert!(
        setting(&described, "listeners").is_some_and(|(v, _, _)| v.starts_with("PLAINTEXT://127.0.0.1:"))
    );

    // What librdkafka's admin test sets on broker "0" with AlterConfigs.
    let alter = AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(BROKER)
            .with_resource_name(s("0"))
            .with_configs(vec![
                alter_configs_request::AlterableConfig::default()
                    .with_name(s("sasl.kerberos.min.time.before.relogin"))
                    .with_value(Some(s("58000"))),
            ]),
    ]);
    assert_eq!(client.call(2, &alter).await.responses[0].error_code, 0);
    let described = describe(&mut client, BROKER, "0").await;
    assert_eq!(
        setting(&described, "sasl.kerberos.min.time.before.relogin"),
        Some(("58000".to_owned(), 2, false)),
        "a per-broker dynamic setting"
    );

    // Incremental changes, on the node and on the cluster default (the empty name).
    let changes = [("background.threads", SET, "9"), ("log.cleanup.policy", APPEND, "compact")];
    assert_eq!(incremental(&mut client, BROKER, "0", &changes).await.0, 0);
    assert_eq!(incremental(&mut client, BROKER, "", &[("num.io.threads", SET, "4")]).await.0, 0);
    let described = describe(&mut client, BROKER, "0").await;
    assert_eq!(setting(&described, "background.threads").map(|(v, _, _)| v).as_deref(), Some("9"));
    assert_eq!(setting(&described, "log.cleanup.policy").map(|(v, _, _)| v).as_deref(), Some("compact"));
    assert_eq!(setting(&described, "num.io.threads"), Some(("4".to_owned(), 3, false)), "cluster default");
    let changes = [("background.threads", DELETE, ""), ("log.cleanup.policy", SUBTRACT, "compact")];
    assert_eq!(incremental(&mut client, BROKER, "0", &changes).await.0, 0);
    let described = describe(&mut client, BROKER, "0").await;
    assert_eq!(setting(&described, "background.threads"), None);
    assert_eq!(setting(&described, "log.cleanup.policy"), None);

    // ferry's own settings cannot change at run time, as Kafka's static ones cannot.
    let (code, message) = incremental(&mut client, BROKER, "0", &[("log.segment.bytes", SET, "1024")]).await;
    assert_eq!(code, ResponseError::InvalidRequest.code());
    assert!(
        message.is_some_and(|m| m.contains("Cannot update these configs dynamically: log.segment.bytes"))
    );

    // Another broker's id is not this node.
    let (code, _) = incremental(&mut client, BROKER, "7", &[("background.threads", SET, "9")]).await;
    assert_eq!(code, ResponseError::InvalidRequest.code());
    assert_eq!(describe(&mut client, BROKER, "7").await.error_code, ResponseError::InvalidRequest.code());
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_settings_are_described_and_checked_against_the_session_timeout_bounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let mut client = RawClient::connect(&broker.bootstrap).await;

    // A group that does not exist has Kafka 4's defaults.
    let described = describe(&mut client, GROUP, "my-group").await;
    assert_eq!(described.error_code, 0);
    assert_eq!(setting(&described, "consumer.session.timeout.ms"), Some(("45000".to_owned(), 5, false)));
    assert_eq!(setting(&described, "consumer.heartbeat.interval.ms"), Some(("5000".to_owned(), 5, false)));

    let set = [("consumer.session.timeout.ms", SET, "50000")];
    assert_eq!(incremental(&mut client, GROUP, "my-group", &set).await.0, 0);
    let described = describe(&mut client, GROUP, "my-group").await;
    assert_eq!(setting(&described, "consumer.session.timeout.ms"), Some(("50000".to_owned(), 8, false)));
    let delete = [("consumer.session.timeout.ms", DELETE, "")];
    assert_eq!(incremental(&mut client, GROUP, "my-group", &delete).await.0, 0);
    let described = describe(&mut client, GROUP, "my-group").await;
    assert_eq!(setting(&described, "consumer.session.timeout.ms").map(|(_, source, _)| source), Some(5));

    // Out of [groups] bounds (6 s to 30 min by default), unknown, or not below the session timeout.
    let invalid = ResponseError::InvalidConfig.code();
    for refused in [
        ("consumer.session.timeout.ms", SET, "1000"),
        ("consumer.session.timeout.ms", SET, "1800001"),
        ("consumer.heartbeat.interval.ms", SET, "45000"),
        ("consumer.heartbeat.interval.ms", SET, "soon"),
        ("consumer.no.such.setting", SET, "1"),
    ] {
        let (code, message) = incremental(&mut client, GROUP, "my-group", &[refused]).await;
        assert_eq!(code, invalid, "{refused:?}");
        assert!(message.is_some(), "{refused:?}");
    }
    let described = describe(&mut client, GROUP, "my-group").await;
    assert_eq!(setting(&described, "consumer.session.timeout.ms").map(|(_, source, _)| source), Some(5));
    broker.stop().await;
}
