//! The Kafka protocol through librdkafka (the rdkafka crate), as Kafka's own clients use it: a
//! producer with `acks=all`, consumers in a consumer group that commit their offsets.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::target::{Ack, Consumer, Plan, Producer, Target};

pub struct Kafka {
    bootstrap: String,
}

impl Kafka {
    pub fn new(bootstrap: &str) -> Kafka {
        Kafka { bootstrap: bootstrap.to_owned() }
    }

    fn admin(&self) -> Result<AdminClient<DefaultClientContext>> {
        Ok(ClientConfig::new().set("bootstrap.servers", &self.bootstrap).create()?)
    }
}

/// Topics are created and deleted this many at a time.
const ADMIN_CHUNK: usize = 100;

#[async_trait]
impl Target for Kafka {
    async fn prepare(&self, plan: &Plan) -> Result<()> {
        let admin = self.admin()?;
        let names = plan.destination_names();
        for chunk in names.chunks(ADMIN_CHUNK) {
            let topics: Vec<NewTopic> = chunk
                .iter()
                .map(|n| NewTopic::new(n, plan.partitions as i32, TopicReplication::Fixed(1)))
                .collect();
            for result in admin.create_topics(&topics, &AdminOptions::new()).await? {
                if let Err((topic, code)) = result {
                    bail!("creating topic {topic}: {code}");
                }
            }
        }
        Ok(())
    }

    async fn producer(&self, plan: &Plan) -> Result<Box<dyn Producer>> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("acks", "all")
            .set("linger.ms", "1")
            .set("compression.codec", "none")
            .set("socket.nagle.disable", "true")
            .set("queue.buffering.max.messages", "1000000")
            .create()
            .context("creating the Kafka producer")?;
        let topics = plan.destination_names();
        Ok(Box::new(KafkaProducer { producer, topics }))
    }

    async fn consumer(
        &self,
        plan: &Plan,
        destination: usize,
        subscription: usize,
    ) -> Result<Box<dyn Consumer>> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", plan.subscription(destination, subscription))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("socket.nagle.disable", "true")
            .set("fetch.wait.max.ms", "100")
            .create()
            .context("creating the Kafka consumer")?;
        consumer.subscribe(&[&plan.destination(destination)])?;
        Ok(Box::new(KafkaConsumer { consumer, prefetch: plan.prefetch.max(1) }))
    }

    async fn cleanup(&self, plan: &Plan) -> Result<()> {
        let admin = self.admin()?;
        let names = plan.destination_names();
        for chunk in names.chunks(ADMIN_CHUNK) {
            let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
            admin.delete_topics(&chunk, &AdminOptions::new()).await?;
        }
        Ok(())
    }
}

struct KafkaProducer {
    producer: FutureProducer,
    topics: Vec<String>,
}

#[async_trait]
impl Producer for KafkaProducer {
    async fn send(&mut self, destination: usize, payloads: Vec<Vec<u8>>) -> Result<Ack> {
        let topic = &self.topics[destination];
        let mut deliveries = Vec::with_capacity(payloads.len());
        for payload in &payloads {
            loop {
                match self.producer.send_result(FutureRecord::<(), _>::to(topic).payload(payload)) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        tokio::time::sleep(Duration::from_micros(500)).await;
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            }
        }
        Ok(async move {
            for delivery in deliveries {
                match delivery.await {
                    Ok(Ok(_)) => {}
                    Ok(Err((e, _))) => return Err(e.into()),
                    Err(_) => bail!("the producer went away before the delivery report"),
                }
            }
            Ok(())
        }
        .boxed())
    }
}

struct KafkaConsumer {
    consumer: StreamConsumer,
    prefetch: usize,
}

#[async_trait]
impl Consumer for KafkaConsumer {
    async fn receive(
        &mut self,
        wait: Duration,
        seen: &mut (dyn for<'p> FnMut(&'p [u8]) + Send),
    ) -> Result<usize> {
        let first = match tokio::time::timeout(wait, self.consumer.recv()).await {
            Err(_) => return Ok(0),
            Ok(message) => message?,
        };
        seen(first.payload().unwrap_or_default());
        drop(first);
        let mut count = 1;
        while count < self.prefetch {
            match self.consumer.recv().now_or_never() {
                Some(message) => seen(message?.payload().unwrap_or_default()),
                None => break,
            }
            count += 1;
        }
        Ok(count)
    }
}
