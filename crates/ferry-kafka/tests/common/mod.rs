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
    TopicServiceConfig { data_dir: data_dir.to_owned() }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
