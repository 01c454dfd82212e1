//! The connection class against the real listener: handshake, authentication, tuning, virtual
//! hosts, heartbeats and timeouts, with lapin where a real client can show it and a raw client
//! where only a misbehaving one can.

mod common;

use std::time::{Duration, Instant};

use amq_protocol::frame::AMQPFrame;
use amq_protocol::protocol::{AMQPClass, connection};
use amq_protocol::types::AMQPValue;
use common::{Raw, Server, start_ok, tune_ok};
use ferry_amqp::AmqpConfig;
use lapin::{Connection, ConnectionProperties};

#[tokio::test]
async fn lapin_connects_opens_a_channel_and_closes() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = Connection::connect(&server.uri("guest", "guest", ""), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    assert!(channel.status().connected());
    channel.close(200, "done").await.unwrap();
    connection.close(200, "done").await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn start_names_ferry_and_its_capabilities() {
    let server = Server::start(AmqpConfig::default()).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.send_bytes(b"AMQP\x00\x00\x09\x01").await;
    let AMQPClass::Connection(connection::AMQPMethod::Start(start)) = raw.recv_method().await else {
        panic!("no connection.start");
    };
    assert_eq!((start.version_major, start.version_minor), (0, 9));
    let properties = start.server_properties.inner();
    assert_eq!(properties.get("product"), Some(&AMQPValue::LongString("ferry".into())));
    let Some(AMQPValue::FieldTable(capabilities)) = properties.get("capabilities") else {
        panic!("no capabilities")
    };
    for name in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ] {
        assert_eq!(capabilities.inner().get(name), Some(&AMQPValue::Boolean(true)), "{name}");
    }
    assert_eq!(start.mechanisms.to_string(), "PLAIN AMQPLAIN");
    assert_eq!(start.locales.to_string(), "en_US");
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_access_refused() {
    let server = Server::start(AmqpConfig::default()).await;
    let e = Connection::connect(&server.uri("guest", "nope", ""), ConnectionProperties::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ACCESS_REFUSED"), "{e}");
}

#[tokio::test]
async fn amqplain_logs_in_a_configured_user() {
    let mut config = AmqpConfig::default();
    config.users.push(ferry_amqp::AmqpUser {
        name: "app".into(),
        password: "s3cret".into(),
        loopback_only: false,
    });
    let server = Server::start(config).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.send_bytes(b"AMQP\x00\x00\x09\x01").await;
    raw.recv_method().await;
    let credentials = amq_protocol::auth::Credentials::new("app".into(), "s3cret".into());
    let response = credentials.sasl_auth_string(amq_protocol::uri::SASLMechanism::AMQPlain);
    raw.send_method(0, start_ok("AMQPLAIN", std::str::from_utf8(response.as_bytes()).unwrap())).await;
    assert!(matches!(raw.recv_method().await, AMQPClass::Connection(connection::AMQPMethod::Tune(_))));
}

#[tokio::test]
async fn a_client_without_authentication_failure_close_sees_the_socket_close() {
    let server = Server::start(AmqpConfig::default()).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.send_bytes(b"AMQP\x00\x00\x09\x01").await;
    raw.recv_method().await;
    let plain = AMQPClass::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
        mechanism: "PLAIN".into(),
        response: "\0guest\0wrong".into(),
        ..Default::default()
    }));
    raw.send_method(0, plain).await;
    assert_eq!(raw.recv().await, None);
}

#[tokio::test]
async fn an_unknown_virtual_host_is_not_allowed() {
    let server = Server::start(AmqpConfig::default()).await;
    let uri = format!("amqp://guest:guest@{}/elsewhere", server.addr);
    let e = Connection::connect(&uri, ConnectionProperties::default()).await.unwrap_err();
    assert!(e.to_string().contains("NOT_ALLOWED"), "{e}");
}

#[tokio::test]
async fn a_foreign_protocol_header_is_answered_with_ours_and_closed() {
    let server = Server::start(AmqpConfig::default()).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.send_bytes(b"AMQP\x01\x01\x00\x0a").await;
    let Some(AMQPFrame::ProtocolHeader(version)) = raw.recv().await else { panic!("no protocol header") };
    assert_eq!((version.major, version.minor, version.revision), (0, 9, 1));
    assert_eq!(raw.recv().await, None);
}

#[tokio::test]
async fn tuning_above_the_servers_channel_max_is_not_allowed() {
    let config = AmqpConfig { channel_max: 16, ..AmqpConfig::default() };
    let server = Server::start(config).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.send_bytes(b"AMQP\x00\x00\x09\x01").await;
    raw.recv_method().await;
    raw.send_method(0, start_ok("PLAIN", "\0guest\0guest")).await;
    raw.recv_method().await;
    let greedy = connection::TuneOk { channel_max: 17, frame_max: 0, heartbeat: 0 };
    raw.send_method(0, AMQPClass::Connection(connection::AMQPMethod::TuneOk(greedy))).await;
    let close = raw.expect_connection_close().await;
    assert_eq!((close.reply_code, close.class_id, close.method_id), (530, 10, 31));
    assert!(close.reply_text.as_str().contains("channel_max = 17"), "{}", close.reply_text);
    raw.expect_eof().await;
}

#[tokio::test]
async fn lapin_with_short_heartbeats_stays_connected() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection =
        Connection::connect(&server.uri("guest", "guest", "heartbeat=1"), ConnectionProperties::default())
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert!(connection.status().connected());
    let channel = connection.create_channel().await.unwrap();
    channel.close(200, "done").await.unwrap();
    connection.close(200, "done").await.unwrap();
}

#[tokio::test]
async fn the_server_sends_heartbeats_and_closes_a_silent_peer() {
    let server = Server::start(AmqpConfig::default()).await;
    let mut raw = Raw::handshake(server.addr, connection::TuneOk { heartbeat: 1, ..tune_ok() }).await;
    let started = Instant::now();
    assert_eq!(raw.recv().await, Some(AMQPFrame::Heartbeat));
    assert!(started.elapsed() < Duration::from_millis(900), "first heartbeat after {:?}", started.elapsed());
    // The client never sends anything: two intervals later the server gives up on it.
    raw.expect_eof().await;
    let silent = started.elapsed();
    assert!(
        silent >= Duration::from_millis(1_500) && silent < Duration::from_secs(4),
        "closed after {silent:?}"
    );
}

#[tokio::test]
async fn a_client_slower_than_the_handshake_timeout_is_disconnected() {
    let config = AmqpConfig { handshake_timeout_ms: 300, ..AmqpConfig::default() };
    let server = Server::start(config).await;
    let mut silent = Raw::connect(server.addr).await;
    let mut stalled = Raw::connect(server.addr).await;
    stalled.send_bytes(b"AMQP\x00\x00\x09\x01").await;
    let started = Instant::now();
    silent.expect_eof().await;
    stalled.expect_eof().await;
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_method_out_of_handshake_order_is_command_invalid() {
    let server = Server::start(AmqpConfig::default()).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.send_bytes(b"AMQP\x00\x00\x09\x01").await;
    raw.recv_method().await;
    raw.send_method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open { virtual_host: "/".into() })),
    )
    .await;
    let close = raw.expect_connection_close().await;
    assert_eq!((close.reply_code, close.class_id, close.method_id), (503, 10, 40));
}

#[tokio::test]
async fn stopping_the_listener_closes_connections_with_connection_forced() {
    let server = Server::start(AmqpConfig::default()).await;
    let mut raw = Raw::handshake(server.addr, tune_ok()).await;
    let stopping = tokio::spawn(server.stop());
    let close = raw.expect_connection_close().await;
    assert_eq!(close.reply_code, 320);
    stopping.await.unwrap();
}
