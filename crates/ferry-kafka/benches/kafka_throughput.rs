//! Kafka-protocol figures with librdkafka clients (rdkafka crate) against an in-process broker at
//! fsync=always, next to the raw fsync'd bandwidth of the same disk measured in the same run.
//!
//! Run: `cargo bench -p ferry-kafka --bench kafka_throughput`
//!
//! Environment (all optional):
//! - `FERRY_BENCH_DIR`: data directory (default `target/ferry-kafka-bench`); must be on the disk
//!   to measure, not a tmpfs.
//! - `FERRY_BENCH_SECS`: seconds per throughput case (default 5).
//! - `FERRY_BENCH_LATENCY_SECS`: seconds of the fixed-rate latency case (default 10).

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferry_broker::clock::SystemClock;
use ferry_broker::groups::{GroupConfig, GroupCoordinator};
use ferry_broker::metadata::{MetadataStore, RedbStore};
use ferry_broker::topics::{TopicConfig, TopicService, TopicServiceConfig};
use ferry_kafka::{KafkaConfig, KafkaContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

struct Settings {
    dir: PathBuf,
    secs: f64,
    latency_secs: f64,
}

fn settings() -> Settings {
    let env = |k: &str| std::env::var(k).ok();
    Settings {
        dir: env("FERRY_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ferry-kafka-bench")),
        secs: env("FERRY_BENCH_SECS").and_then(|s| s.parse().ok()).unwrap_or(5.0),
        latency_secs: env("FERRY_BENCH_LATENCY_SECS").and_then(|s| s.parse().ok()).unwrap_or(10.0),
    }
}

/// Sequential 1 MiB `pwrite` + `fdatasync` for `secs`: the best a fsync-per-write loop gets.
fn raw_fsync_mb_per_s(dir: &Path, secs: f64) -> f64 {
    let path = dir.join("raw.bin");
    let file =
        OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path).expect("raw file");
    let chunk = vec![0x5au8; 1 << 20];
    let started = Instant::now();
    let mut written = 0u64;
    while started.elapsed().as_secs_f64() < secs && written < (2 << 30) {
        file.write_all_at(&chunk, written).expect("pwrite");
        file.sync_data().expect("fdatasync");
        written += chunk.len() as u64;
    }
    let rate = written as f64 / started.elapsed().as_secs_f64() / 1e6;
    drop(file);
    let _ = std::fs::remove_file(&path);
    rate
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    failed: AtomicU64,
}

struct Counting(Arc<Counts>);

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.0.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

fn producer(bootstrap: &str, linger_ms: &str, counts: &Arc<Counts>) -> ThreadedProducer<Counting> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", linger_ms)
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("compression.codec", "none")
        .set("socket.nagle.disable", "true")
        .create_with_context(Counting(Arc::clone(counts)))
        .expect("producer")
}

/// Sends `size`-byte messages as fast as the producer queue takes them for `secs`; returns
/// (messages acknowledged, elapsed seconds until the last acknowledgement).
fn produce(bootstrap: &str, topic: &str, size: usize, secs: f64) -> (u64, f64) {
    let counts = Arc::new(Counts::default());
    let producer = producer(bootstrap, "5", &counts);
    let payload = vec![b'p'; size];
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed().as_secs_f64() < secs {
        match producer.send(BaseRecord::<(), _>::to(topic).payload(&payload).partition(0)) {
            Ok(()) => sent += 1,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                std::thread::sleep(Duration::from_micros(200))
            }
            Err((e, _)) => panic!("produce failed: {e}"),
        }
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(counts.failed.load(Ordering::Relaxed), 0, "deliveries failed");
    assert_eq!(counts.ok.load(Ordering::Relaxed), sent);
    (sent, elapsed)
}

fn consumer(bootstrap: &str, topic: &str, offset: Offset) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-assign-only")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.max.messages.kbytes", "1048576")
        .set("fetch.wait.max.ms", "10")
        // librdkafka stops prefetching at 100,000 queued messages by default: 10 MB of 100 B
        // messages, about one fetch, which would serialize fetches with the application's polls.
        .set("queued.min.messages", "10000000")
        .set("socket.nagle.disable", "true")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, offset).expect("assign");
    consumer.assign(&assignment).expect("assign");
    consumer
}

/// Reads `count` messages from the beginning; returns elapsed seconds from the first message.
fn consume(bootstrap: &str, topic: &str, count: u64) -> f64 {
    let consumer = consumer(bootstrap, topic, Offset::Beginning);
    let mut read = 0u64;
    let mut started = None;
    while read < count {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(_)) => {
                started.get_or_insert_with(Instant::now);
                read += 1;
            }
            Some(Err(e)) => panic!("consume failed: {e}"),
            None => panic!("consumer stalled after {read} of {count}"),
        }
    }
    started.map_or(0.0, |s| s.elapsed().as_secs_f64())
}

/// Produces at `rate` msg/s for `secs` while a consumer measures send-to-receive latency.
fn latency(bootstrap: &str, topic: &str, rate: u64, secs: f64) -> Vec<Duration> {
    let epoch = Instant::now();
    let total = (rate as f64 * secs) as u64;
    let consumer_bootstrap = bootstrap.to_owned();
    let consumer_topic = topic.to_owned();
    let reader = std::thread::spawn(move || {
        let consumer = consumer(&consumer_bootstrap, &consumer_topic, Offset::End);
        let mut samples = Vec::with_capacity(total as usize);
        let deadline = Instant::now() + Duration::from_secs_f64(secs + 60.0);
        while (samples.len() as u64) < total && Instant::now() < deadline {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                let sent_ns = message
                    .payload()
                    .and_then(|p| p.get(..8))
                    .map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap_or_default()));
                let now_ns = epoch.elapsed().as_nanos() as u64;
                samples.push(Duration::from_nanos(now_ns.saturating_sub(sent_ns)));
            }
        }
        samples
    });
    // Give the consumer time to connect and position itself at the end.
    std::thread::sleep(Duration::from_secs(2));
    let counts = Arc::new(Counts::default());
    let producer = producer(bootstrap, "0", &counts);
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut payload = vec![b'l'; 100];
    for i in 0..total {
        let due = started + interval * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        payload[..8].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_be_bytes());
        if let Err((e, _)) = producer.send(BaseRecord::<(), _>::to(topic).payload(&payload).partition(0)) {
            panic!("produce failed: {e}");
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let mut samples = reader.join().expect("reader");
    samples.sort();
    samples
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1e3
}

struct Broker {
    bootstrap: String,
    topics: Arc<TopicService>,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts a broker over `dir` on an ephemeral port in `runtime`.
fn start(runtime: &tokio::runtime::Runtime, dir: &Path, durability: ferry_log::Durability) -> Broker {
    let _entered = runtime.enter();
    std::fs::create_dir_all(dir).expect("bench dir");
    let store: Arc<dyn MetadataStore> =
        Arc::new(RedbStore::open(dir.join("metadata.redb")).expect("metadata store"));
    let topics = Arc::new(
        TopicService::open(
            TopicServiceConfig {
                data_dir: dir.to_owned(),
                durability,
                default_config: TopicConfig::default(),
                limits: Default::default(),
            },
            Arc::clone(&store),
            SystemClock::shared(),
        )
        .expect("topics"),
    );
    let queues = runtime
        .block_on(ferry_broker::queues::QueueService::open(
            dir.to_owned(),
            Arc::clone(&store),
            SystemClock::shared(),
            Default::default(),
        ))
        .expect("queues");
    let shares = {
        let _in_runtime = runtime.enter();
        ferry_broker::shares::ShareCoordinator::open(
            dir.to_owned(),
            Arc::new(ferry_log::StdDisk),
            Arc::clone(&topics),
            queues,
            SystemClock::shared(),
        )
    };
    let groups = runtime.block_on(async {
        GroupCoordinator::open(Arc::clone(&store), SystemClock::shared(), GroupConfig::default())
            .expect("groups")
    });
    let transactions = runtime.block_on(async {
        ferry_broker::transactions::TransactionCoordinator::open(
            store,
            Arc::clone(&topics),
            Arc::clone(&groups),
            SystemClock::shared(),
            Default::default(),
        )
        .expect("transactions")
    });
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let bootstrap = listener.local_addr().expect("addr").to_string();
    let ctx = KafkaContext {
        topics: Arc::clone(&topics),
        groups,
        shares,
        transactions,
        telemetry: ferry_broker::telemetry::Telemetry::new(),
    };
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(ferry_kafka::serve(listener, KafkaConfig::default(), ctx, async move {
        let _ = stop_rx.await;
    }));
    Broker { bootstrap, topics, stop, server }
}

impl Broker {
    fn stop(self, runtime: &tokio::runtime::Runtime) {
        let _ = self.stop.send(());
        let _ = runtime.block_on(self.server);
    }
}

fn main() {
    let settings = settings();
    let _ = std::fs::remove_dir_all(&settings.dir);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let broker = start(&runtime, &settings.dir.join("always"), ferry_log::Durability::Always);
    let (bootstrap, topics) = (broker.bootstrap.clone(), Arc::clone(&broker.topics));

    println!("| case | messages | seconds | msg/s | MB/s | raw fsync MB/s (same run) | ratio |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for size in [100usize, 1024] {
        let topic = format!("produce-{size}");
        topics.create_topic(&topic, 1, TopicConfig::default()).expect("topic");
        let _ = std::process::Command::new("sync").status();
        let raw = raw_fsync_mb_per_s(&settings.dir, settings.secs.min(3.0));
        let (count, secs) = produce(&bootstrap, &topic, size, settings.secs);
        let mb = count as f64 * size as f64 / secs / 1e6;
        println!(
            "| produce {size} B, acks=all, fsync=always | {count} | {secs:.2} | {:.0} | {mb:.1} | {raw:.1} | {:.2} |",
            count as f64 / secs,
            mb / raw
        );
        let secs = consume(&bootstrap, &topic, count);
        println!(
            "| consume {size} B (from disk cache) | {count} | {secs:.2} | {:.0} | {:.1} | | |",
            count as f64 / secs,
            count as f64 * size as f64 / secs / 1e6
        );
    }
    println!();
    println!(
        "| end-to-end latency, 100 B at 10,000 msg/s, acks=all | samples | p50 ms | p99 ms | p99.9 ms | max ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    topics.create_topic("latency", 1, TopicConfig::default()).expect("topic");
    let samples = latency(&bootstrap, "latency", 10_000, settings.latency_secs);
    print_latency("fsync=always", &samples);
    broker.stop(&runtime);

    // The same path without fsync separates the broker's own latency from the disk's.
    let broker = start(&runtime, &settings.dir.join("never"), ferry_log::Durability::Never);
    broker.topics.create_topic("latency", 1, TopicConfig::default()).expect("topic");
    let samples = latency(&broker.bootstrap, "latency", 10_000, settings.latency_secs);
    print_latency("fsync=never", &samples);
    broker.stop(&runtime);
    let _ = std::fs::remove_dir_all(&settings.dir);
}

fn print_latency(case: &str, samples: &[Duration]) {
    println!(
        "| {case}: librdkafka producer (linger.ms=0) -> ferry -> librdkafka consumer | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
        samples.len(),
        percentile(samples, 0.50),
        percentile(samples, 0.99),
        percentile(samples, 0.999),
        samples.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3),
    );
}
