//! Starts the real Kafka listener on an ephemeral port over a temporary data directory.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_broker::clock::SystemClock;
use ferry_broker::groups::{GroupConfig, GroupCoordinator};
use ferry_broker::metadata::{MetadataStore, RedbStore};
use ferry_broker::topics::{TopicService, TopicServiceConfig};
use ferry_broker::transactions::{TransactionConfig, TransactionCoordinator};
use ferry_kafka::{KafkaConfig, KafkaContext};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running broker; dropped or [`TestBroker::stop`]ped at the end of a test.
pub struct TestBroker {
    pub bootstrap: String,
    pub topics: Arc<TopicService>,
    pub groups: Arc<GroupCoordinator>,
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
        TestBroker::start_with_topics(data_dir, config, test_service_config(data_dir)).await
    }

    /// A broker with `config` whose topics run with `topics_config`.
    pub async fn start_with_topics(
        data_dir: &Path,
        config: KafkaConfig,
        topics_config: TopicServiceConfig,
    ) -> TestBroker {
        let store: Arc<dyn MetadataStore> =
            Arc::new(RedbStore::open(data_dir.join("metadata.redb")).expect("metadata store opens"));
        let topics = Arc::new(
            TopicService::open(topics_config, Arc::clone(&store), SystemClock::shared())
                .expect("topics open"),
        );
        let groups =
            GroupCoordinator::open(Arc::clone(&store), SystemClock::shared(), GroupConfig::default())
                .expect("groups open");
        let transactions = TransactionCoordinator::open(
            Arc::clone(&store),
            Arc::clone(&topics),
            Arc::clone(&groups),
            SystemClock::shared(),
            TransactionConfig::default(),
        )
        .expect("transactions open");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let bootstrap = listener.local_addr().expect("local addr").to_string();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let queues = ferry_broker::queues::QueueService::open(
            data_dir.to_owned(),
            Arc::clone(&store),
            SystemClock::shared(),
            Default::default(),
        )
        .await
        .expect("queues open");
        let shares = ferry_broker::shares::ShareCoordinator::open(
            data_dir.to_owned(),
            Arc::new(ferry_log::StdDisk),
            Arc::clone(&topics),
            queues,
            SystemClock::shared(),
        );
        let ctx = KafkaContext {
            topics: Arc::clone(&topics),
            groups: Arc::clone(&groups),
            shares,
            transactions,
            telemetry: ferry_broker::telemetry::Telemetry::new(),
        };
        let task = tokio::spawn(ferry_kafka::serve(listener, config, ctx, async move {
            let _ = stop_rx.await;
        }));
        TestBroker {
            bootstrap,
            topics,
            groups,
            data_dir: data_dir.to_owned(),
            stop: Some(stop_tx),
            task: Some(task),
        }
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
    TopicServiceConfig {
        data_dir: data_dir.to_owned(),
        durability: ferry_log::Durability::Always,
        default_config: ferry_broker::topics::TopicConfig::default(),
        limits: ferry_broker::topics::PartitionLimits::default(),
    }
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

/// A bare Kafka protocol client over `kafka-protocol`, for what real clients never send.
pub mod raw {
    use bytes::{Buf, BufMut, Bytes, BytesMut};
    use kafka_protocol::messages::{RequestHeader, ResponseHeader};
    use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// One connection.
    pub struct RawClient {
        pub stream: TcpStream,
        next_correlation: i32,
    }

    impl RawClient {
        pub async fn connect(addr: &str) -> RawClient {
            RawClient { stream: TcpStream::connect(addr).await.expect("connect"), next_correlation: 1 }
        }

        /// Sends `request` at `version`; returns its correlation id.
        pub async fn send<R: Request>(&mut self, version: i16, request: &R) -> i32 {
            let correlation_id = self.next_correlation;
            self.next_correlation += 1;
            let header = RequestHeader::default()
                .with_request_api_key(R::KEY)
                .with_request_api_version(version)
                .with_correlation_id(correlation_id)
                .with_client_id(Some(StrBytes::from_static_str("raw-test")));
            let mut body = BytesMut::new();
            header.encode(&mut body, R::header_version(version)).expect("encode header");
            request
                .encode(&mut body, version)
                .unwrap_or_else(|e| panic!("encode request {} v{version}: {e}", R::KEY));
            self.send_frame(&body).await;
            correlation_id
        }

        /// Writes a bare 4-byte big-endian integer (a frame size with no frame).
        pub async fn stream_write_i32(&mut self, value: i32) {
            self.stream.write_i32(value).await.expect("write");
        }

        /// Writes one length-prefixed frame.
        pub async fn send_frame(&mut self, body: &[u8]) {
            let mut frame = BytesMut::with_capacity(4 + body.len());
            frame.put_i32(body.len() as i32);
            frame.extend_from_slice(body);
            self.stream.write_all(&frame).await.expect("write");
        }

        /// Reads one response frame; `None` if the broker closed the connection.
        pub async fn receive_frame(&mut self) -> Option<Bytes> {
            let size = self.stream.read_i32().await.ok()?;
            let mut body = vec![0u8; size as usize];
            self.stream.read_exact(&mut body).await.ok()?;
            Some(Bytes::from(body))
        }

        /// Reads the answer to a request of type `R` sent at `version`: (correlation id, response).
        pub async fn receive<R: Request>(&mut self, version: i16) -> (i32, R::Response) {
            let mut frame = self.receive_frame().await.expect("a response");
            let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))
                .expect("response header");
            let response = R::Response::decode(&mut frame, version).expect("response body");
            assert!(!frame.has_remaining(), "trailing bytes in the response");
            (header.correlation_id, response)
        }

        /// Sends `request` and returns its response.
        pub async fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
            let sent = self.send(version, request).await;
            let (received, response) = self.receive::<R>(version).await;
            assert_eq!(sent, received, "responses come back in request order");
            response
        }

        /// Whether the broker has closed the connection (reads EOF within 5 s).
        pub async fn is_closed(&mut self) -> bool {
            let mut buf = [0u8; 1];
            matches!(
                tokio::time::timeout(std::time::Duration::from_secs(5), self.stream.read(&mut buf)).await,
                Ok(Ok(0)) | Ok(Err(_))
            )
        }
    }

    /// One RecordBatch v2 of `values`, numbered for producer `producer_id`/`epoch` from `sequence`.
    pub fn batch(values: &[&str], producer_id: i64, epoch: i16, sequence: i32) -> Bytes {
        let records: Vec<Record> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id,
                producer_epoch: epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: if sequence < 0 { -1 } else { sequence + i as i32 },
                timestamp: 1_700_000_000_000,
                key: None,
                value: Some(Bytes::copy_from_slice(v.as_bytes())),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions { version: 2, compression: Compression::None },
        )
        .expect("encode batch");
        buf.freeze()
    }
}
