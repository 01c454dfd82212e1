//! Queues, publishing, get and settlements against the real listener and broker, with lapin.

mod common;

use std::time::Duration;

use common::Server;
use ferry_amqp::AmqpConfig;
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, BasicRejectOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Event};

async fn connect(server: &Server) -> Connection {
    Connection::connect(&server.uri("guest", "guest", ""), ConnectionProperties::default()).await.unwrap()
}

async fn publish(channel: &Channel, queue: &str, body: &[u8], properties: BasicProperties) {
    let confirm = channel
        .basic_publish("", queue, BasicPublishOptions::default(), body, properties)
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(matches!(confirm, Confirmation::Ack(_) | Confirmation::NotRequested), "{confirm:?}");
}

/// The reply text of the next error in `events` (a channel or connection close).
async fn next_error(events: impl futures_lite::Stream<Item = Event>) -> String {
    let mut events = std::pin::pin!(events);
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Event::Error(e)) = events.next().await {
                return e.to_string();
            }
        }
    })
    .await
    .expect("no error reported")
}

#[tokio::test]
async fn a_published_message_comes_back_from_get_with_its_properties_and_headers() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    let declared = channel
        .queue_declare(
            "work",
            QueueDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!((declared.message_count(), declared.consumer_count()), (0, 0));
    let mut headers = FieldTable::default();
    headers.insert("attempt".into(), AMQPValue::LongInt(3));
    headers.insert("small".into(), AMQPValue::ShortShortUInt(7));
    headers.insert("flag".into(), AMQPValue::Boolean(true));
    let properties = BasicProperties::default()
        .with_content_type("text/plain".into())
        .with_correlation_id("c-1".into())
        .with_reply_to("replies".into())
        .with_message_id("m-1".into())
        .with_delivery_mode(2)
        .with_headers(headers.clone());
    publish(&channel, "work", b"hello", properties).await;
    let message = channel.basic_get("work", BasicGetOptions::default()).await.unwrap().expect("a message");
    assert_eq!(message.delivery.data, b"hello");
    assert_eq!(message.message_count, 0);
    assert!(!message.delivery.redelivered);
    assert_eq!(message.delivery.routing_key.as_str(), "work");
    let got = &message.delivery.properties;
    assert_eq!(got.content_type().as_ref().map(|s| s.as_str()), Some("text/plain"));
    assert_eq!(got.correlation_id().as_ref().map(|s| s.as_str()), Some("c-1"));
    assert_eq!(got.reply_to().as_ref().map(|s| s.as_str()), Some("replies"));
    assert_eq!(got.message_id().as_ref().map(|s| s.as_str()), Some("m-1"));
    assert_eq!(*got.delivery_mode(), Some(2));
    assert_eq!(got.headers().as_ref(), Some(&headers));
    message.delivery.acker.ack(BasicAckOptions::default()).await.unwrap();
    assert!(channel.basic_get("work", BasicGetOptions::default()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_nacked_message_comes_back_redelivered_and_a_rejected_one_is_dropped() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    channel.queue_declare("retry", QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    publish(&channel, "retry", b"one", BasicProperties::default()).await;
    let first = channel.basic_get("retry", BasicGetOptions::default()).await.unwrap().unwrap();
    first.delivery.acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await.unwrap();
    let again = channel.basic_get("retry", BasicGetOptions::default()).await.unwrap().unwrap();
    assert!(again.delivery.redelivered);
    again.delivery.acker.reject(BasicRejectOptions { requeue: false }).await.unwrap();
    assert!(channel.basic_get("retry", BasicGetOptions::default()).await.unwrap().is_none());
}

#[tokio::test]
async fn what_a_closed_channel_held_goes_back_to_its_queue() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let first = connection.create_channel().await.unwrap();
    first.queue_declare("held", QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    publish(&first, "held", b"x", BasicProperties::default()).await;
    let taken = first.basic_get("held", BasicGetOptions::default()).await.unwrap().unwrap();
    assert!(!taken.delivery.redelivered);
    first.close(200, "bye").await.unwrap();
    let second = connection.create_channel().await.unwrap();
    let back = second.basic_get("held", BasicGetOptions::default()).await.unwrap().expect("requeued");
    assert!(back.delivery.redelivered);
}

#[tokio::test]
async fn acking_an_unknown_delivery_tag_closes_the_channel_with_406() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    let events = connection.events_listener();
    channel.basic_ack(42, BasicAckOptions::default()).await.unwrap();
    let error = next_error(events).await;
    assert!(error.contains("PRECONDITION_FAILED - unknown delivery tag 42"), "{error}");
}

#[tokio::test]
async fn an_unroutable_mandatory_message_is_returned_and_still_confirmed() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    let confirm = channel
        .basic_publish(
            "",
            "nowhere",
            BasicPublishOptions { mandatory: true, ..Default::default() },
            b"lost",
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let Confirmation::Ack(Some(returned)) = confirm else { panic!("{confirm:?}") };
    assert_eq!(returned.reply_code, 312);
    assert_eq!(returned.data, b"lost");
}

#[tokio::test]
async fn redeclaring_with_other_properties_is_refused_and_passive_finds_only_existing_queues() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    channel
        .queue_declare(
            "orders",
            QueueDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .queue_declare(
            "orders",
            QueueDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let passive = channel
        .queue_declare(
            "orders",
            QueueDeclareOptions { passive: true, ..Default::default() },
            FieldTable::default(),
        )
        .await;
    assert!(passive.is_ok());
    let e = channel
        .queue_declare("orders", QueueDeclareOptions::default(), FieldTable::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("inequivalent arg 'durable'"), "{e}");
    let channel = connection.create_channel().await.unwrap();
    let e = channel
        .queue_declare(
            "missing",
            QueueDeclareOptions { passive: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("NOT_FOUND - no queue 'missing'"), "{e}");
}

#[tokio::test]
async fn a_server_named_exclusive_queue_is_locked_to_its_connection_and_deleted_with_it() {
    let server = Server::start(AmqpConfig::default()).await;
    let owner = connect(&server).await;
    let channel = owner.create_channel().await.unwrap();
    let declared = channel
        .queue_declare(
            "",
            QueueDeclareOptions { exclusive: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let name = declared.name().as_str().to_owned();
    assert!(name.starts_with("amq.gen-"), "{name}");
    let other = connect(&server).await;
    let intruder = other.create_channel().await.unwrap();
    let e = intruder.basic_get(&name, BasicGetOptions::default()).await.unwrap_err();
    assert!(e.to_string().contains("RESOURCE_LOCKED"), "{e}");
    owner.close(200, "bye").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while server.broker.queues().queue_stats(&name).is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the exclusive queue outlived its connection");
}

#[tokio::test]
async fn purge_and_delete_answer_the_message_counts() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    channel.queue_declare("counted", QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    for _ in 0..3 {
        publish(&channel, "counted", b"m", BasicProperties::default()).await;
    }
    let declared = channel
        .queue_declare("counted", QueueDeclareOptions::default(), FieldTable::default())
        .await
        .unwrap();
    assert_eq!(declared.message_count(), 3);
    assert_eq!(channel.queue_purge("counted", QueuePurgeOptions::default()).await.unwrap(), 3);
    publish(&channel, "counted", b"m", BasicProperties::default()).await;
    let e = channel
        .queue_delete("counted", QueueDeleteOptions { if_empty: true, ..Default::default() })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("is not empty"), "{e}");
    let channel = connection.create_channel().await.unwrap();
    assert_eq!(channel.queue_delete("counted", QueueDeleteOptions::default()).await.unwrap(), 1);
    assert_eq!(channel.queue_delete("counted", QueueDeleteOptions::default()).await.unwrap(), 0);
}

#[tokio::test]
async fn declaring_a_reserved_name_is_access_refused() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    let e = channel
        .queue_declare("amq.mine", QueueDeclareOptions::default(), FieldTable::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ACCESS_REFUSED"), "{e}");
}

#[tokio::test]
async fn a_transaction_applies_publishes_and_acks_at_commit_and_drops_them_at_rollback() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    channel.queue_declare("txq", QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    channel.tx_select().await.unwrap();
    publish(&channel, "txq", b"dropped", BasicProperties::default()).await;
    assert_eq!(server.broker.queues().queue_stats("txq").unwrap().ready, 0);
    channel.tx_rollback().await.unwrap();
    publish(&channel, "txq", b"kept", BasicProperties::default()).await;
    channel.tx_commit().await.unwrap();
    assert_eq!(server.broker.queues().queue_stats("txq").unwrap().ready, 1);
    let message = channel.basic_get("txq", BasicGetOptions::default()).await.unwrap().unwrap();
    assert_eq!(message.delivery.data, b"kept");
    message.delivery.acker.ack(BasicAckOptions::default()).await.unwrap();
    channel.tx_rollback().await.unwrap();
    assert_eq!(server.broker.queues().queue_stats("txq").unwrap().in_flight, 1);
    channel.basic_ack(message.delivery.delivery_tag, BasicAckOptions::default()).await.unwrap();
    channel.tx_commit().await.unwrap();
    let stats = server.broker.queues().queue_stats("txq").unwrap();
    assert_eq!((stats.ready, stats.in_flight), (0, 0));
    let e = channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap_err();
    assert!(e.to_string().contains("cannot switch from tx to confirm mode"), "{e}");
}

#[tokio::test]
async fn a_publisher_is_told_it_is_blocked_and_nothing_is_enqueued_while_the_disk_alarm_is_raised() {
    let server = Server::start_with_disk_limit(AmqpConfig::default(), u64::MAX).await;
    let connection = connect(&server).await;
    let events = connection.events_listener();
    let channel = connection.create_channel().await.unwrap();
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    channel.queue_declare("full", QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    publish(&channel, "full", b"before", BasicProperties::default()).await;
    server.broker.disk_alarm().check().unwrap();
    let mut events = std::pin::pin!(events);
    let blocked = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Event::ConnectionBlocked(reason)) = events.next().await {
                return reason;
            }
        }
    })
    .await
    .expect("not told it is blocked");
    assert_eq!(blocked, "low on disk");
    // lapin itself holds publishes while blocked; either way nothing reaches the queue.
    let held = tokio::time::timeout(Duration::from_millis(300), async {
        channel
            .basic_publish("", "full", BasicPublishOptions::default(), b"held", BasicProperties::default())
            .await?
            .await
    })
    .await;
    assert!(held.is_err(), "confirmed while blocked: {held:?}");
    assert_eq!(server.broker.queues().queue_stats("full").unwrap().ready, 1);
}

#[tokio::test]
async fn pipelined_publishes_are_all_confirmed_and_stored_in_order() {
    let server = Server::start(AmqpConfig::default()).await;
    let connection = connect(&server).await;
    let channel = connection.create_channel().await.unwrap();
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    channel.queue_declare("burst", QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    let mut confirms = Vec::new();
    for n in 0..300u32 {
        let body = n.to_be_bytes();
        confirms.push(
            channel
                .basic_publish("", "burst", BasicPublishOptions::default(), &body, BasicProperties::default())
                .await
                .unwrap(),
        );
    }
    for confirm in confirms {
        assert!(matches!(confirm.await.unwrap(), Confirmation::Ack(None)));
    }
    let declared =
        channel.queue_declare("burst", QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    assert_eq!(declared.message_count(), 300);
    for n in 0..300u32 {
        let message = channel.basic_get("burst", BasicGetOptions { no_ack: true }).await.unwrap().unwrap();
        assert_eq!(message.delivery.data, n.to_be_bytes());
    }
}
