//! Channels and content against the real listener: numbers out of range, methods on channels
//! that are not open, content out of order or too large, and errors that close one channel or
//! one connection while the rest carry on.

mod common;

use std::time::Duration;

use amq_protocol::frame::{AMQPContentHeader, AMQPFrame};
use amq_protocol::protocol::{AMQPClass, BasicProperties, basic, channel, connection};
use common::{Raw, Server, tune_ok};
use ferry_amqp::AmqpConfig;
use futures_lite::StreamExt;
use lapin::options::{BasicPublishOptions, ChannelFlowOptions};
use lapin::{Connection, ConnectionProperties, Event};

fn channel_open() -> AMQPClass {
    AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {}))
}

async fn lapin(server: &Server) -> Connection {
    Connection::connect(&server.uri("guest", "guest", ""), ConnectionProperties::default()).await.unwrap()
}

#[tokio::test]
async fn a_channel_above_channel_max_is_a_channel_error() {
    let server = Server::start(AmqpConfig { channel_max: 4, ..AmqpConfig::default() }).await;
    let mut raw = Raw::handshake(server.addr, tune_ok()).await;
    raw.send_method(4, channel_open()).await;
    assert!(matches!(raw.recv_method().await, AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))));
    raw.send_method(5, channel_open()).await;
    let close = raw.expect_connection_close().await;
    assert_eq!(close.reply_code, 504);
    assert!(close.reply_text.as_str().contains("channel_max"), "{}", close.reply_text);
    raw.expect_eof().await;
}

#[tokio::test]
async fn a_method_on_a_channel_not_open_is_a_channel_error() {
    let server = Server::start(AmqpConfig::default()).await;
    let mut raw = Raw::handshake(server.addr, tune_ok()).await;
    let qos = basic::Qos { prefetch_count: 10, ..Default::default() };
    raw.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Qos(qos))).await;
    let close = raw.expect_connection_close().await;
    assert_eq!(close.reply_code, 504);
    assert!(close.reply_text.as_str().contains("expected 'channel.open'"), "{}", close.reply_text);
}

#[tokio::test]
async fn opening_an_open_channel_again_is_a_channel_error() {
    let server = Server::start(AmqpConfig::default()).await;
    let mut raw = Raw::handshake(server.addr, tune_ok()).await;
    raw.send_method(1, channel_open()).await;
    raw.recv_method().await;
    raw.send_method(1, channel_open()).await;
    let close = raw.expect_connection_close().await;
    assert_eq!((close.reply_code, close.class_id, close.method_id), (504, 20, 10));
}

#[tokio::test]
async fn a_content_body_without_its_method_is_an_unexpected_frame() {
    let server = Server::start(AmqpConfig::default()).await;
    let mut raw = Raw::handshake(server.addr, tune_ok()).await;
    raw.send_method(1, channel_open()).await;
    raw.recv_method().await;
    raw.send(&AMQPFrame::Body(1, b"stray".to_vec())).await;
    assert_eq!(raw.expect_connection_close().await.reply_code, 505);
}

#[tokio::test]
async fn a_method_in_the_middle_of_content_is_an_unexpected_frame() {
    let server = Server::start(AmqpConfig::default()).await;
    let mut raw = Raw::handshake(server.addr, tune_ok()).await;
    raw.send_method(1, channel_open()).await;
    raw.recv_method().await;
    let publish = basic::Publish { routing_key: "q".into(), ..Default::default() };
    raw.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Publish(publish))).await;
    raw.send(&AMQPFrame::Header(
        1,
        AMQPContentHeader { class_id: 60, body_size: 4, properties: BasicProperties::default() },
    ))
    .await;
    raw.send_method(1, AMQPClass::Channel(channel::AMQPMethod::Flow(channel::Flow { active: true }))).await;
    let close = raw.expect_connection_close().await;
    assert_eq!(close.reply_code, 505);
    assert!(close.reply_text.as_str().contains("expected content"), "{}", close.reply_text);
}

#[tokio::test]
async fn a_message_over_max_message_bytes_closes_only_its_channel() {
    let server = Server::start(AmqpConfig { max_message_bytes: 16, ..AmqpConfig::default() }).await;
    let connection = lapin(&server).await;
    let publisher = connection.create_channel().await.unwrap();
    let bystander = connection.create_channel().await.unwrap();
    let mut events = connection.events_listener();
    let _ = publisher
        .basic_publish("", "q", BasicPublishOptions::default(), &[0u8; 17], Default::default())
        .await;
    let error = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.next().await {
                Some(Event::Error(e)) => return e.to_string(),
                Some(_) => {}
                None => panic!("no error event"),
            }
        }
    })
    .await
    .expect("the publishing channel stayed open");
    assert!(
        error.contains("PRECONDITION_FAILED - message size 17 is larger than configured max size 16"),
        "{error}"
    );
    assert!(!publisher.status().connected());
    assert!(bystander.channel_flow(ChannelFlowOptions { active: true }).await.unwrap());
    assert!(connection.status().connected());
    let again = connection.create_channel().await.unwrap();
    again.close(200, "done").await.unwrap();
}

#[tokio::test]
async fn a_raw_oversized_message_gets_406_from_its_header_alone() {
    let server = Server::start(AmqpConfig { max_message_bytes: 16, ..AmqpConfig::default() }).await;
    let mut raw = Raw::handshake(server.addr, tune_ok()).await;
    raw.send_method(1, channel_open()).await;
    raw.recv_method().await;
    raw.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish::default()))).await;
    let header =
        AMQPContentHeader { class_id: 60, body_size: 1 << 40, properties: BasicProperties::default() };
    raw.send(&AMQPFrame::Header(1, header)).await;
    let AMQPClass::Channel(channel::AMQPMethod::Close(close)) = raw.recv_method().await else {
        panic!("expected channel.close");
    };
    assert_eq!((close.reply_code, close.class_id, close.method_id), (406, 60, 40));
    // The body frames still on their way are dropped until close-ok frees the channel.
    raw.send(&AMQPFrame::Body(1, vec![0; 100])).await;
    raw.send_method(1, AMQPClass::Channel(channel::AMQPMethod::CloseOk(channel::CloseOk {}))).await;
    raw.send_method(1, channel_open()).await;
    assert!(matches!(raw.recv_method().await, AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))));
}

#[tokio::test]
async fn channel_flow_is_acknowledged_with_its_state() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = lapin(&server).await;
    let channel = connection.create_channel().await.unwrap();
    assert!(!channel.channel_flow(ChannelFlowOptions { active: false }).await.unwrap());
    assert!(channel.channel_flow(ChannelFlowOptions { active: true }).await.unwrap());
}

#[tokio::test]
async fn a_frame_over_frame_max_closes_only_its_connection() {
    let server = Server::start(AmqpConfig::default()).await;
    let bystander = lapin(&server).await;
    let mut raw = Raw::handshake(server.addr, connection::TuneOk { frame_max: 4096, ..tune_ok() }).await;
    raw.send_method(1, channel_open()).await;
    raw.recv_method().await;
    // A body frame of 5000 bytes, announced in its header; the broker need not read the rest.
    raw.send_bytes(&[3, 0, 1, 0, 0, 0x13, 0x88]).await;
    let close = raw.expect_connection_close().await;
    assert_eq!(close.reply_code, 501);
    assert!(close.reply_text.as_str().contains("frame_max of 4096"), "{}", close.reply_text);
    raw.expect_eof().await;
    let channel = bystander.create_channel().await.unwrap();
    assert!(channel.channel_flow(ChannelFlowOptions { active: true }).await.unwrap());
}

#[tokio::test]
async fn malformed_frames_close_their_connection_with_a_reason() {
    let server = Server::start(AmqpConfig::default()).await;
    // An unknown frame type.
    let mut raw = Raw::handshake(server.addr, tune_ok()).await;
    raw.send_bytes(&[9, 0, 0, 0, 0, 0, 0, 0xCE]).await;
    let close = raw.expect_connection_close().await;
    assert_eq!(close.reply_code, 501);
    assert!(close.reply_text.as_str().contains("unknown frame type 9"), "{}", close.reply_text);
    raw.expect_eof().await;
    // A method whose fields do not decode: channel.open-ok is 4 bytes of ids and a long string.
    let mut raw = Raw::handshake(server.addr, tune_ok()).await;
    raw.send_bytes(&[1, 0, 0, 0, 0, 0, 6, 0, 20, 0, 10, 0xFF, 0xFF, 0xCE]).await;
    let close = raw.expect_connection_close().await;
    assert_eq!((close.reply_code, close.class_id, close.method_id), (502, 20, 10));
    // Garbage where a frame end octet belongs.
    let mut raw = Raw::handshake(server.addr, tune_ok()).await;
    raw.send_bytes(&[8, 0, 0, 0, 0, 0, 0, 0x00]).await;
    assert_eq!(raw.expect_connection_close().await.reply_code, 501);
    // The listener still serves new clients.
    let connection = lapin(&server).await;
    connection.create_channel().await.unwrap();
}

#[tokio::test]
async fn unfinished_messages_of_a_connection_are_bounded_together() {
    let server = Server::start(AmqpConfig { max_message_bytes: 100, ..AmqpConfig::default() }).await;
    let mut raw = Raw::handshake(server.addr, tune_ok()).await;
    for channel in 1..=5 {
        raw.send_method(channel, channel_open()).await;
        raw.recv_method().await;
        raw.send_method(channel, AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish::default())))
            .await;
        let header =
            AMQPContentHeader { class_id: 60, body_size: 100, properties: BasicProperties::default() };
        raw.send(&AMQPFrame::Header(channel, header)).await;
    }
    // Four messages of 100 bytes are the bound (4 x max_message_bytes): the fifth is refused.
    let AMQPClass::Channel(channel::AMQPMethod::Close(close)) = raw.recv_method().await else {
        panic!("expected channel.close");
    };
    assert_eq!(close.reply_code, 406);
    assert!(close.reply_text.as_str().contains("unfinished messages"), "{}", close.reply_text);
    // The others carry on, and the connection serves new channels.
    raw.send(&AMQPFrame::Body(1, vec![0; 100])).await;
    raw.send_method(6, channel_open()).await;
    assert!(matches!(raw.recv_method().await, AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))));
}
