//! Exchanges and bindings against the real listener and broker, with lapin: each exchange type,
//! exchange-to-exchange bindings, and the errors RabbitMQ answers.

mod common;

use common::Server;
use ferry_amqp::AmqpConfig;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeBindOptions, ExchangeDeclareOptions,
    ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

async fn channel(server: &Server) -> (Connection, Channel) {
    let connection = Connection::connect(&server.uri("guest", "guest", ""), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    (connection, channel)
}

async fn queues(channel: &Channel, names: &[&str]) {
    for name in names {
        channel.queue_declare(name, QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    }
}

async fn publish(channel: &Channel, exchange: &str, key: &str, headers: FieldTable) {
    let properties = BasicProperties::default().with_headers(headers);
    channel
        .basic_publish(exchange, key, BasicPublishOptions::default(), b"m", properties)
        .await
        .unwrap()
        .await
        .unwrap();
}

async fn count(channel: &Channel, queue: &str) -> usize {
    let mut n = 0;
    while channel.basic_get(queue, BasicGetOptions { no_ack: true }).await.unwrap().is_some() {
        n += 1;
    }
    n
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str, arguments: FieldTable) {
    channel.queue_bind(queue, exchange, key, QueueBindOptions::default(), arguments).await.unwrap();
}

#[tokio::test]
async fn direct_fanout_and_topic_exchanges_route_as_rabbitmq_does() {
    let server = Server::start(AmqpConfig::default()).await;
    let (_connection, channel) = channel(&server).await;
    queues(&channel, &["d", "f1", "f2", "t1", "t2"]).await;
    let declare = ExchangeDeclareOptions { durable: true, ..Default::default() };
    channel.exchange_declare("fan", ExchangeKind::Fanout, declare, FieldTable::default()).await.unwrap();
    channel.exchange_declare("logs", ExchangeKind::Topic, declare, FieldTable::default()).await.unwrap();
    bind(&channel, "d", "amq.direct", "orders", FieldTable::default()).await;
    bind(&channel, "f1", "fan", "", FieldTable::default()).await;
    bind(&channel, "f2", "fan", "", FieldTable::default()).await;
    bind(&channel, "t1", "logs", "*.error", FieldTable::default()).await;
    bind(&channel, "t2", "logs", "app.#", FieldTable::default()).await;
    publish(&channel, "amq.direct", "orders", FieldTable::default()).await;
    publish(&channel, "amq.direct", "other", FieldTable::default()).await;
    publish(&channel, "fan", "anything", FieldTable::default()).await;
    publish(&channel, "logs", "app.error", FieldTable::default()).await;
    publish(&channel, "logs", "app.web.info", FieldTable::default()).await;
    publish(&channel, "logs", "db.error", FieldTable::default()).await;
    assert_eq!(count(&channel, "d").await, 1);
    assert_eq!((count(&channel, "f1").await, count(&channel, "f2").await), (1, 1));
    assert_eq!((count(&channel, "t1").await, count(&channel, "t2").await), (2, 2));
}

#[tokio::test]
async fn a_headers_exchange_matches_all_or_any() {
    let server = Server::start(AmqpConfig::default()).await;
    let (_connection, channel) = channel(&server).await;
    queues(&channel, &["all", "any"]).await;
    let mut all = FieldTable::default();
    all.insert("x-match".into(), AMQPValue::LongString("all".into()));
    all.insert("format".into(), AMQPValue::LongString("pdf".into()));
    all.insert("type".into(), AMQPValue::LongString("report".into()));
    let mut any = all.clone();
    any.insert("x-match".into(), AMQPValue::LongString("any".into()));
    bind(&channel, "all", "amq.headers", "", all).await;
    bind(&channel, "any", "amq.headers", "", any).await;
    let mut pdf = FieldTable::default();
    pdf.insert("format".into(), AMQPValue::LongString("pdf".into()));
    publish(&channel, "amq.headers", "", pdf.clone()).await;
    pdf.insert("type".into(), AMQPValue::LongString("report".into()));
    publish(&channel, "amq.headers", "", pdf).await;
    assert_eq!((count(&channel, "all").await, count(&channel, "any").await), (1, 2));
}

#[tokio::test]
async fn exchange_to_exchange_bindings_and_unbinding() {
    let server = Server::start(AmqpConfig::default()).await;
    let (_connection, channel) = channel(&server).await;
    queues(&channel, &["q"]).await;
    channel
        .exchange_declare("front", ExchangeKind::Direct, Default::default(), FieldTable::default())
        .await
        .unwrap();
    channel
        .exchange_bind("amq.fanout", "front", "k", ExchangeBindOptions::default(), FieldTable::default())
        .await
        .unwrap();
    bind(&channel, "q", "amq.fanout", "", FieldTable::default()).await;
    publish(&channel, "front", "k", FieldTable::default()).await;
    assert_eq!(count(&channel, "q").await, 1);
    channel.queue_unbind("q", "amq.fanout", "", FieldTable::default()).await.unwrap();
    publish(&channel, "front", "k", FieldTable::default()).await;
    assert_eq!(count(&channel, "q").await, 0);
}

#[tokio::test]
async fn publishing_to_a_missing_exchange_closes_the_channel_with_404() {
    let server = Server::start(AmqpConfig::default()).await;
    let (connection, channel) = channel(&server).await;
    let confirm = channel
        .basic_publish("nowhere", "k", BasicPublishOptions::default(), b"m", BasicProperties::default())
        .await
        .unwrap()
        .await;
    assert!(confirm.is_err() || !channel.status().connected());
    let other = connection.create_channel().await.unwrap();
    let e = other
        .exchange_declare(
            "nowhere",
            ExchangeKind::Direct,
            ExchangeDeclareOptions { passive: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("NOT_FOUND - no exchange 'nowhere' in vhost '/'"), "{e}");
}

#[tokio::test]
async fn exchange_declare_errors_are_rabbitmqs() {
    let server = Server::start(AmqpConfig::default()).await;
    let (connection, channel) = channel(&server).await;
    channel
        .exchange_declare("x", ExchangeKind::Direct, Default::default(), FieldTable::default())
        .await
        .unwrap();
    let e = channel
        .exchange_declare("x", ExchangeKind::Fanout, Default::default(), FieldTable::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("PRECONDITION_FAILED - inequivalent arg 'type'"), "{e}");
    let channel = connection.create_channel().await.unwrap();
    let e = channel
        .exchange_declare("amq.mine", ExchangeKind::Direct, Default::default(), FieldTable::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ACCESS_REFUSED"), "{e}");
    let channel = connection.create_channel().await.unwrap();
    queues(&channel, &["bound"]).await;
    bind(&channel, "bound", "x", "k", FieldTable::default()).await;
    let e = channel
        .exchange_delete("x", ExchangeDeleteOptions { if_unused: true, ..Default::default() })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("PRECONDITION_FAILED"), "{e}");
    let channel = connection.create_channel().await.unwrap();
    channel.exchange_delete("x", ExchangeDeleteOptions::default()).await.unwrap();
    let e = channel
        .queue_bind("bound", "x", "k", QueueBindOptions::default(), FieldTable::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("NOT_FOUND"), "{e}");
}

#[tokio::test]
async fn an_unknown_exchange_type_closes_the_channel_with_406_and_the_connection_carries_on() {
    let server = Server::start(AmqpConfig::default()).await;
    let (connection, channel) = channel(&server).await;
    let e = channel
        .exchange_declare(
            "odd",
            ExchangeKind::Custom("x-unknown".into()),
            Default::default(),
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("PRECONDITION_FAILED"), "{e}");
    assert!(connection.status().connected());
    assert!(connection.create_channel().await.is_ok());
}
