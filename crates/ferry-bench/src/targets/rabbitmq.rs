//! RabbitMQ through lapin (AMQP 0-9-1), as its users run durable work: durable queues of one
//! type (classic, quorum or stream), persistent publishes with publisher confirms, consumers
//! with a prefetch window that acknowledge each message on its own.
//!
//! Every producer and consumer has its own connection with one channel on it.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use futures::FutureExt;
use futures::future::try_join_all;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::publisher_confirm::{Confirmation, PublisherConfirm};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::target::{Ack, Consumer, Plan, Producer, Target, ready_items};

/// AMQP's delivery mode of a message written to disk.
const PERSISTENT: u8 = 2;

/// The queue type every queue of a run is declared with (`x-queue-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueType {
    Classic,
    Quorum,
    Stream,
}

impl QueueType {
    fn argument(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
            QueueType::Stream => "stream",
        }
    }
}

/// Which queues and exchanges a plan needs on RabbitMQ, and where producers publish.
///
/// A classic or quorum queue hands each message to one consumer, so a fan-out plan gets a
/// fanout exchange per destination (named after it) with one queue per subscription bound to
/// it. A stream already is a fan-out: every consumer reads all of it from an offset of its own,
/// so each destination is one stream and each subscription one consumer starting at its first
/// message, whatever the plan's subscriptions.
#[derive(Clone, Copy, Debug)]
struct Layout {
    /// A fanout exchange and a queue per subscription.
    fanout: bool,
}

impl Layout {
    fn new(queue_type: QueueType, plan: &Plan) -> Layout {
        Layout { fanout: plan.subscriptions > 1 && queue_type != QueueType::Stream }
    }

    /// The fanout exchange of `destination`, if the layout has one.
    fn exchange(self, plan: &Plan, destination: usize) -> Option<String> {
        self.fanout.then(|| plan.destination(destination))
    }

    /// The queue that `subscription` of `destination` consumes from.
    fn queue(self, plan: &Plan, destination: usize, subscription: usize) -> String {
        if self.fanout { plan.subscription(destination, subscription) } else { plan.destination(destination) }
    }

    /// Every queue of `destination`.
    fn queues(self, plan: &Plan, destination: usize) -> Vec<String> {
        if self.fanout {
            (0..plan.subscriptions).map(|s| plan.subscription(destination, s)).collect()
        } else {
            vec![plan.destination(destination)]
        }
    }

    /// Exchange and routing key of a publish to `destination`: the fanout exchange, or the
    /// default exchange, which routes by queue name.
    fn publish_to(self, plan: &Plan, destination: usize) -> (String, String) {
        match self.exchange(plan, destination) {
            Some(exchange) => (exchange, String::new()),
            None => (String::new(), plan.destination(destination)),
        }
    }
}

pub struct Rabbitmq {
    uri: String,
    queue_type: QueueType,
    /// Stream subscriptions that already have their consumer: a second one would read every
    /// message again instead of sharing them.
    stream_readers: Mutex<HashSet<(usize, usize)>>,
}

impl Rabbitmq {
    pub fn new(uri: &str, queue_type: QueueType) -> Rabbitmq {
        Rabbitmq { uri: uri.to_owned(), queue_type, stream_readers: Mutex::new(HashSet::new()) }
    }

    async fn open(&self) -> Result<(Connection, Channel)> {
        let connection = Connection::connect(&self.uri, ConnectionProperties::default())
            .await
            .with_context(|| format!("connecting to {}", self.uri))?;
        let channel = connection.create_channel().await.context("opening a channel")?;
        Ok((connection, channel))
    }
}

#[async_trait]
impl Target for Rabbitmq {
    async fn prepare(&self, plan: &Plan) -> Result<()> {
        let layout = Layout::new(self.queue_type, plan);
        let (connection, channel) = self.open().await?;
        let mut arguments = FieldTable::default();
        arguments.insert("x-queue-type".into(), AMQPValue::LongString(self.queue_type.argument().into()));
        let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
        for d in 0..plan.destinations {
            let exchange = layout.exchange(plan, d);
            if let Some(exchange) = &exchange {
                let options = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
                channel
                    .exchange_declare(exchange, ExchangeKind::Fanout, options, FieldTable::default())
                    .await
                    .with_context(|| format!("declaring exchange {exchange}"))?;
            }
            for queue in layout.queues(plan, d) {
                channel
                    .queue_declare(&queue, durable, arguments.clone())
                    .await
                    .with_context(|| format!("declaring queue {queue}"))?;
                if let Some(exchange) = &exchange {
                    channel
                        .queue_bind(&queue, exchange, "", QueueBindOptions::default(), FieldTable::default())
                        .await
                        .with_context(|| format!("binding queue {queue} to {exchange}"))?;
                }
            }
        }
        connection.close(200, "prepared").await?;
        Ok(())
    }

    async fn producer(&self, plan: &Plan) -> Result<Box<dyn Producer>> {
        let layout = Layout::new(self.queue_type, plan);
        let (connection, channel) = self.open().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("enabling publisher confirms")?;
        let routes = (0..plan.destinations).map(|d| layout.publish_to(plan, d)).collect();
        Ok(Box::new(RabbitmqProducer { _connection: connection, channel, routes }))
    }

    async fn consumer(
        &self,
        plan: &Plan,
        destination: usize,
        subscription: usize,
    ) -> Result<Box<dyn Consumer>> {
        let layout = Layout::new(self.queue_type, plan);
        let mut arguments = FieldTable::default();
        if self.queue_type == QueueType::Stream {
            if !self.stream_readers.lock().expect("stream readers lock").insert((destination, subscription)) {
                bail!(
                    "consumers of a RabbitMQ stream do not share its messages: use one consumer per subscription"
                );
            }
            arguments.insert("x-stream-offset".into(), AMQPValue::LongString("first".into()));
        }
        let prefetch = u16::try_from(plan.prefetch.max(1)).context("AMQP's prefetch is at most 65535")?;
        let (connection, channel) = self.open().await?;
        channel.basic_qos(prefetch, BasicQosOptions::default()).await.context("setting the prefetch")?;
        let queue = layout.queue(plan, destination, subscription);
        let deliveries = channel
            .basic_consume(&queue, "", BasicConsumeOptions::default(), arguments)
            .await
            .with_context(|| format!("consuming from {queue}"))?;
        Ok(Box::new(RabbitmqConsumer {
            _connection: connection,
            channel,
            deliveries,
            prefetch: usize::from(prefetch),
        }))
    }

    async fn cleanup(&self, plan: &Plan) -> Result<()> {
        let layout = Layout::new(self.queue_type, plan);
        let (connection, channel) = self.open().await?;
        for d in 0..plan.destinations {
            for queue in layout.queues(plan, d) {
                channel
                    .queue_delete(&queue, QueueDeleteOptions::default())
                    .await
                    .with_context(|| format!("deleting queue {queue}"))?;
            }
            if let Some(exchange) = layout.exchange(plan, d) {
                channel
                    .exchange_delete(&exchange, ExchangeDeleteOptions::default())
                    .await
                    .with_context(|| format!("deleting exchange {exchange}"))?;
            }
        }
        connection.close(200, "cleaned up").await?;
        Ok(())
    }
}

struct RabbitmqProducer {
    /// Kept so that the connection lives as long as its channel.
    _connection: Connection,
    channel: Channel,
    /// Exchange and routing key by destination.
    routes: Vec<(String, String)>,
}

#[async_trait]
impl Producer for RabbitmqProducer {
    async fn send(&mut self, destination: usize, payloads: Vec<Vec<u8>>) -> Result<Ack> {
        let (exchange, routing_key) = &self.routes[destination];
        let properties = BasicProperties::default().with_delivery_mode(PERSISTENT);
        let mut confirms: Vec<PublisherConfirm> = Vec::with_capacity(payloads.len());
        for payload in &payloads {
            // Returns once the frames are written; the confirm comes later.
            let confirm = self
                .channel
                .basic_publish(
                    exchange,
                    routing_key,
                    BasicPublishOptions::default(),
                    payload,
                    properties.clone(),
                )
                .await
                .context("publishing")?;
            confirms.push(confirm);
        }
        Ok(async move {
            for confirm in confirms {
                match confirm.await.context("waiting for the publisher confirm")? {
                    Confirmation::Ack(_) => {}
                    Confirmation::Nack(_) => bail!("the broker refused a publish (basic.nack)"),
                    Confirmation::NotRequested => bail!("the channel is not in confirm mode"),
                }
            }
            Ok(())
        }
        .boxed())
    }
}

struct RabbitmqConsumer {
    _connection: Connection,
    channel: Channel,
    deliveries: lapin::Consumer,
    prefetch: usize,
}

#[async_trait]
impl Consumer for RabbitmqConsumer {
    async fn receive(
        &mut self,
        wait: Duration,
        seen: &mut (dyn for<'p> FnMut(&'p [u8]) + Send),
    ) -> Result<usize> {
        let mut tags = Vec::new();
        for delivery in ready_items(&mut self.deliveries, wait, self.prefetch).await? {
            let delivery = delivery?;
            seen(&delivery.data);
            tags.push(delivery.delivery_tag);
        }
        let acks = tags.iter().map(|&tag| self.channel.basic_ack(tag, BasicAckOptions { multiple: false }));
        try_join_all(acks).await.context("acknowledging")?;
        Ok(tags.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(subscriptions: usize) -> Plan {
        Plan { run: "r".into(), destinations: 2, subscriptions, partitions: 1, prefetch: 10, size: 100 }
    }

    #[test]
    fn work_queue_publishes_through_the_default_exchange() {
        let layout = Layout::new(QueueType::Quorum, &plan(1));
        assert_eq!(layout.exchange(&plan(1), 1), None);
        assert_eq!(layout.queues(&plan(1), 1), ["r-1"]);
        assert_eq!(layout.queue(&plan(1), 1, 0), "r-1");
        assert_eq!(layout.publish_to(&plan(1), 1), (String::new(), "r-1".to_owned()));
    }

    #[test]
    fn fan_out_binds_a_queue_per_subscription_to_a_fanout_exchange() {
        let layout = Layout::new(QueueType::Classic, &plan(3));
        assert_eq!(layout.exchange(&plan(3), 1).as_deref(), Some("r-1"));
        assert_eq!(layout.queues(&plan(3), 1), ["r-1-s0", "r-1-s1", "r-1-s2"]);
        assert_eq!(layout.queue(&plan(3), 1, 2), "r-1-s2");
        assert_eq!(layout.publish_to(&plan(3), 1), ("r-1".to_owned(), String::new()));
    }

    #[test]
    fn stream_fan_out_reads_one_stream_from_every_subscription() {
        let layout = Layout::new(QueueType::Stream, &plan(3));
        assert_eq!(layout.exchange(&plan(3), 0), None);
        assert_eq!(layout.queues(&plan(3), 0), ["r-0"]);
        assert_eq!(layout.queue(&plan(3), 0, 2), "r-0");
        assert_eq!(layout.publish_to(&plan(3), 0), (String::new(), "r-0".to_owned()));
    }
}
