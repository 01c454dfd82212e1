//! The Kafka protocol through librdkafka (the rdkafka crate), as Kafka's own clients use it: a
//! producer with `acks=all`, consumers in a consumer group that commit their offsets.
//!
//! With `--transaction-ms`, each producer is transactional: its sends go into the open
//! transaction, which a task of its own commits every so many milliseconds (and begins the
//! next); a send is acknowledged once its records are delivered and their transaction has
//! committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use tokio::sync::{RwLock, watch};

use crate::target::{Ack, Consumer, Plan, Producer, Target};

pub struct Kafka {
    bootstrap: String,
    transaction_ms: Option<u64>,
    producers: AtomicU64,
}

impl Kafka {
    pub fn new(bootstrap: &str, transaction_ms: Option<u64>) -> Kafka {
        Kafka { bootstrap: bootstrap.to_owned(), transaction_ms, producers: AtomicU64::new(0) }
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
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("acks", "all")
            .set("linger.ms", "1")
            .set("compression.codec", "none")
            .set("socket.nagle.disable", "true")
            .set("queue.buffering.max.messages", "1000000");
        let topics = plan.destination_names();
        let Some(every_ms) = self.transaction_ms else {
            let producer: FutureProducer = config.create().context("creating the Kafka producer")?;
            return Ok(Box::new(KafkaProducer { producer, topics, transaction: None }));
        };
        let n = self.producers.fetch_add(1, Ordering::Relaxed);
        config.set("transactional.id", format!("{}-producer-{n}", plan.run));
        let producer: FutureProducer = config.create().context("creating the Kafka producer")?;
        let p = producer.clone();
        tokio::task::spawn_blocking(move || {
            p.init_transactions(Duration::from_secs(30))?;
            p.begin_transaction()
        })
        .await?
        .context("starting the first transaction")?;
        let transaction = Transactions::start(producer.clone(), Duration::from_millis(every_ms));
        Ok(Box::new(KafkaProducer { producer, topics, transaction: Some(transaction) }))
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
    transaction: Option<Transactions>,
}

/// The transactions of one producer: sends hold `gate` shared; the committer holds it alone
/// while it commits the open transaction and begins the next, then publishes how many
/// transactions have committed.
#[derive(Clone)]
struct Transactions {
    gate: Arc<RwLock<u64>>,
    committed: watch::Receiver<u64>,
}

impl Transactions {
    fn start(producer: FutureProducer, every: Duration) -> Transactions {
        let gate = Arc::new(RwLock::new(0u64));
        let (tx, committed) = watch::channel(0u64);
        let weak = Arc::downgrade(&gate);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(gate) = weak.upgrade() else { return };
                let mut open = gate.write().await;
                let p = producer.clone();
                let result = tokio::task::spawn_blocking(move || {
                    p.commit_transaction(Duration::from_secs(30))?;
                    p.begin_transaction()
                })
                .await;
                match result {
                    Ok(Ok(())) => {
                        *open += 1;
                        tx.send_replace(*open);
                    }
                    // The sends of this transaction never complete; the run reports them lost.
                    Ok(Err(e)) => {
                        eprintln!("transaction commit failed: {e}");
                        return;
                    }
                    Err(e) => {
                        eprintln!("transaction task failed: {e}");
                        return;
                    }
                }
            }
        });
        Transactions { gate, committed }
    }
}

#[async_trait]
impl Producer for KafkaProducer {
    async fn send(&mut self, destination: usize, payloads: Vec<Vec<u8>>) -> Result<Ack> {
        let topic = &self.topics[destination];
        // Sends and the committer take turns: a send lands in the transaction that is open.
        let (guard, mut committed) = match &self.transaction {
            Some(t) => (Some(t.gate.clone().read_owned().await), Some(t.committed.clone())),
            None => (None, None),
        };
        let transaction = guard.as_deref().copied();
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
        drop(guard);
        Ok(async move {
            for delivery in deliveries {
                match delivery.await {
                    Ok(Ok(_)) => {}
                    Ok(Err((e, _))) => return Err(e.into()),
                    Err(_) => bail!("the producer went away before the delivery report"),
                }
            }
            if let (Some(open), Some(committed)) = (transaction, committed.as_mut()) {
                committed.wait_for(|done| *done > open).await.context("the transaction did not commit")?;
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
