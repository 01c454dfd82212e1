//! Starts the real Kafka listener on an ephemeral port over a temporary data directory.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_broker::clock::SystemClock;
use ferry_broker::metadata::{MetadataStore, RedbStore};
use ferry_broker::topics::{TopicService, TopicServiceConfig};
use ferry_kafka::{KafkaConfig, KafkaContext};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running broker; dropped or [`TestBroker::stop`]ped at the end of a test.
pub struct TestBroker {
    pub bootstrap: String,
    pub topics: Arc<TopicService>,
    pub data_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestBroker {
    /// A broker with default settings over `data_dir`.
    pub async fn start(data_dir: &Path) -> TestBroker {
        TestBroker::start_with(data_dir, KafkaConfig::default()).await
    }

    /// A broker with `config` (its listen address is replaced by an ephemeral port).
    pub async fn start_with(data_dir: &Path, config: KafkaConfig) -> TestBroker {
        let store: Arc<dyn MetadataStore> =
            Arc::new(RedbStore::open(data_dir.join("metadata.redb")).expect("metadata store opens"));
        let topics = Arc::new(
            TopicService::open(test_service_config(data_dir), store, SystemClock::shared())
                .expect("topics open"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let bootstrap = listener.local_addr().expect("local addr").to_string();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let ctx = KafkaContext { topics: Arc::clone(&topics) };
        let task = tokio::spawn(ferry_kafka::serve(listener, config, ctx, async move {
            let _ = stop_rx.await;
        }));
        TestBroker { bootstrap, topics, data_dir: data_dir.to_owned(), stop: Some(stop_tx), task: Some(task) }
    }

    /// Stops the listener and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("listener task").expect("listener stops cleanly");
        }
    }
}

pub fn test_service_config(data_dir: &Path) -> TopicServiceConfig {
    TopicServiceConfig { data_dir: data_dir.to_owned(), durability: ferry_log::Durability::Always }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Client helpers over the rdkafka crate (librdkafka).
pub mod clients {
    use std::time::Duration;

    use rdkafka::ClientConfig;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::{Headers, Message, OwnedMessage};
    use rdkafka::producer::FutureProducer;
    use rdkafka::{Offset, TopicPartitionList};

    /// A producer with `extra` settings on top of acks=all.
    pub fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> FutureProducer {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", bootstrap).set("acks", "all").set("linger.ms", "5");
        for (k, v) in extra {
            config.set(*k, *v);
        }
        config.create().expect("producer")
    }

    /// A consumer without a group, assigned to `topic`/`partition` from `offset`.
    pub fn consumer(bootstrap: &str, topic: &str, partition: i32, offset: Offset) -> StreamConsumer {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("enable.auto.commit", "false")
            .set("group.id", "ferry-tests-unused")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "100")
            .create()
            .expect("consumer");
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(topic, partition, offset).expect("assign offset");
        consumer.assign(&assignment).expect("assign");
        consumer
    }

    /// Reads `count` messages, failing if they do not arrive within 30 s.
    pub async fn read(consumer: &StreamConsumer, count: usize) -> Vec<OwnedMessage> {
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            match tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await {
                Ok(Ok(message)) => out.push(message.detach()),
                Ok(Err(e)) => panic!("consumer error after {} messages: {e}", out.len()),
                Err(_) => panic!("only {} of {count} messages arrived", out.len()),
            }
        }
        out
    }

    /// The message's value as text.
    pub fn text(message: &OwnedMessage) -> String {
        String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned()
    }

    /// The message's headers as (name, value) text pairs.
    pub fn headers(message: &OwnedMessage) -> Vec<(String, String)> {
        message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|header| {
                        (
                            header.key.to_owned(),
                            String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
