//! Push consumers against the real listener and broker, with lapin: deliveries, prefetch,
//! acknowledgements, cancellation, and what closing a channel gives back.

mod common;

use std::time::Duration;

use common::Server;
use ferry_amqp::AmqpConfig;
use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions,
    BasicQosOptions, ChannelFlowOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};

async fn connect(server: &Server) -> Connection {
    Connection::connect(&server.uri("guest", "guest", ""), ConnectionProperties::default()).await.unwrap()
}

async fn queue_with(channel: &Channel, queue: &str, messages: usize) {
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    channel.queue_declare(queue, QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    for n in 0..messages {
        let body = format!("m{n}");
        channel
            .basic_publish(
                "",
                queue,
                BasicPublishOptions::default(),
                body.as_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

async fn next(consumer: &mut Consumer) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), consumer.next())
        .await
        .expect("no delivery in time")
        .unwrap()
        .unwrap()
}

async fn nothing_within(consumer: &mut Consumer, wait: Duration) {
    if let Ok(Some(d)) = tokio::time::timeout(wait, consumer.next()).await {
        panic!("unexpected delivery {d:?}");
    }
}

#[tokio::test]
async fn a_consumer_receives_every_message_in_order_and_acks_them() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    queue_with(&channel, "jobs", 5).await;
    let mut consumer = channel
        .basic_consume("jobs", "worker", BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    for n in 0..5 {
        let delivery = next(&mut consumer).await;
        assert_eq!(delivery.data, format!("m{n}").as_bytes());
        assert_eq!(delivery.delivery_tag, n + 1);
        assert!(!delivery.redelivered);
        delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.broker.queues().queue_stats("jobs").unwrap().in_flight, 0);
}

#[tokio::test]
async fn prefetch_bounds_what_a_consumer_holds_unacknowledged() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    queue_with(&channel, "bounded", 5).await;
    channel.basic_qos(2, BasicQosOptions::default()).await.unwrap();
    let mut consumer = channel
        .basic_consume("bounded", "", BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    let first = next(&mut consumer).await;
    let second = next(&mut consumer).await;
    nothing_within(&mut consumer, Duration::from_millis(300)).await;
    first.ack(BasicAckOptions::default()).await.unwrap();
    let third = next(&mut consumer).await;
    assert_eq!(third.data, b"m2");
    nothing_within(&mut consumer, Duration::from_millis(300)).await;
    second.ack(BasicAckOptions { multiple: false }).await.unwrap();
    third.ack(BasicAckOptions::default()).await.unwrap();
    next(&mut consumer).await;
}

#[tokio::test]
async fn no_ack_deliveries_are_settled_as_they_go() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    queue_with(&channel, "fire", 3).await;
    channel.basic_qos(1, BasicQosOptions::default()).await.unwrap();
    let options = BasicConsumeOptions { no_ack: true, ..Default::default() };
    let mut consumer = channel.basic_consume("fire", "", options, FieldTable::default()).await.unwrap();
    for _ in 0..3 {
        next(&mut consumer).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = server.broker.queues().queue_stats("fire").unwrap();
    assert_eq!((stats.ready, stats.in_flight), (0, 0));
}

#[tokio::test]
async fn closing_a_channel_requeues_its_unacknowledged_deliveries_as_redelivered() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    queue_with(&channel, "unfinished", 2).await;
    let mut consumer = channel
        .basic_consume("unfinished", "", BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    next(&mut consumer).await;
    next(&mut consumer).await;
    channel.close(200, "crash").await.unwrap();
    let other = connection.create_channel().await.unwrap();
    for _ in 0..2 {
        let message =
            other.basic_get("unfinished", BasicGetOptions::default()).await.unwrap().expect("requeued");
        assert!(message.delivery.redelivered);
    }
}

#[tokio::test]
async fn a_cancelled_consumer_gets_nothing_more() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    queue_with(&channel, "paused", 1).await;
    let mut consumer = channel
        .basic_consume("paused", "c1", BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    next(&mut consumer).await.ack(BasicAckOptions::default()).await.unwrap();
    channel.basic_cancel("c1", BasicCancelOptions::default()).await.unwrap();
    let publisher = connection.create_channel().await.unwrap();
    queue_with(&publisher, "paused", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.broker.queues().queue_stats("paused").unwrap().ready, 1);
}

#[tokio::test]
async fn deleting_the_queue_cancels_its_consumers() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    queue_with(&channel, "doomed", 0).await;
    let mut consumer = channel
        .basic_consume("doomed", "", BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    let admin = connection.create_channel().await.unwrap();
    admin.queue_delete("doomed", QueueDeleteOptions::default()).await.unwrap();
    let end =
        tokio::time::timeout(Duration::from_secs(5), consumer.next()).await.expect("consumer not cancelled");
    assert!(end.is_none(), "{end:?}");
}

#[tokio::test]
async fn an_exclusive_consumer_keeps_others_out() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    queue_with(&channel, "solo", 0).await;
    let options = BasicConsumeOptions { exclusive: true, ..Default::default() };
    // lapin cancels a consumer it drops: keep this one.
    let _only = channel.basic_consume("solo", "only", options, FieldTable::default()).await.unwrap();
    let other = connection.create_channel().await.unwrap();
    let e = other
        .basic_consume("solo", "second", BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ACCESS_REFUSED"), "{e}");
}

#[tokio::test]
async fn flow_off_holds_deliveries_until_flow_is_on_again() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    queue_with(&channel, "gated", 0).await;
    let mut consumer = channel
        .basic_consume("gated", "", BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    assert!(!channel.channel_flow(ChannelFlowOptions { active: false }).await.unwrap());
    let publisher = connection.create_channel().await.unwrap();
    queue_with(&publisher, "gated", 2).await;
    nothing_within(&mut consumer, Duration::from_millis(300)).await;
    assert!(channel.channel_flow(ChannelFlowOptions { active: true }).await.unwrap());
    assert_eq!(next(&mut consumer).await.data, b"m0");
    assert_eq!(next(&mut consumer).await.data, b"m1");
}
