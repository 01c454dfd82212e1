//! Test harness: the real SQS listener on 127.0.0.1:0 over a real queue engine, driven by the
//! AWS SDK for Rust. The engine runs on a manual clock so leases and delays end when a test says.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::sync::Arc;

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use ferry_broker::Broker;
use ferry_broker::clock::{Clock, ManualClock};
use ferry_sqs::SqsConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running server; stops when dropped.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The engine's clock.
    pub clock: ManualClock,
    /// An SDK client for this server.
    pub client: aws_sdk_sqs::Client,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestServer {
    /// Moves the engine's time forward and lets its timers run.
    pub async fn advance_secs(&self, secs: f64) {
        self.clock.advance((secs * 1000.0) as u64);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    /// Creates a queue and returns its URL.
    pub async fn queue(&self, name: &str, attributes: &[(&str, &str)]) -> String {
        let mut req = self.client.create_queue().queue_name(name);
        for (k, v) in attributes {
            req = req.attributes((*k).into(), (*v).to_owned());
        }
        req.send().await.expect("create queue").queue_url.expect("queue url")
    }
}

/// Starts the listener over a fresh engine.
pub async fn start() -> TestServer {
    start_with(SqsConfig::default()).await
}

/// Starts the listener with `config` (its `listen` is ignored) over a fresh engine.
pub async fn start_with(config: SqsConfig) -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = ManualClock::new(1_700_000_000_000);
    let broker = broker(dir.path(), Arc::new(clock.clone())).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(ferry_sqs::serve(listener, config, broker, async move {
        let _ = stopped.await;
    }));
    let client = client(&endpoint);
    TestServer { endpoint, clock, client, stop: Some(stop), _dir: dir }
}

/// Every service of a node over `dir` on `clock`, with an in-memory metadata store.
pub async fn broker(dir: &std::path::Path, clock: Arc<dyn Clock>) -> Arc<Broker> {
    Arc::new(Broker::open_for_tests(dir, clock, 0, Default::default()).await.expect("open the broker"))
}

/// An SDK client with throwaway credentials (any are accepted) and plain HTTP.
pub fn client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}
