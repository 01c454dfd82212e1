//! Exactly-once through rdkafka (librdkafka) against `ferry serve`, killed with SIGKILL once in the
//! middle of a transaction and once between two: a consume-transform-produce loop that aborts every
//! fourth transaction on purpose leaves each input record exactly once in the read_committed output.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const RECORDS: usize = 600;
const PARTITIONS: i32 = 2;
const INPUT: &str = "eos-input";
const OUTPUT: &str = "eos-output";
const TIMEOUT: Duration = Duration::from_secs(30);

struct Ferry {
    child: Child,
    kafka: String,
}

impl Ferry {
    /// Starts `ferry serve` over `dir` with its Kafka listener on `kafka` (port 0: any).
    fn start(dir: &Path, kafka: &str) -> Ferry {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["serve", "--kafka-listen", kafka])
            .args([
                "--sqs-listen",
                "127.0.0.1:0",
                "--amqp-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(dir)
            .env("FERRY_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ferry serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut address = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read stdout");
            if let Some(rest) = line.strip_prefix("kafka listening on ") {
                address = Some(rest.trim().to_string());
            }
            if line.contains("serving from") {
                break;
            }
        }
        Ferry { child, kafka: address.expect("kafka listener address") }
    }

    /// kill -9, then a new process on the same data and port.
    fn kill_and_restart(&mut self, dir: &Path) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
        *self = Ferry::start(dir, &self.kafka.clone());
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    // With one broker, a kill is "every broker down"; librdkafka then re-bootstraps and may
    // forget the coordinators it waits on (librdkafka issue 5511). Keep the brokers it knows.
    config.set("metadata.recovery.strategy", "none");
    config
}

fn setup(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> = config(bootstrap).create().expect("admin");
    let topics = [INPUT, OUTPUT].map(|name| NewTopic::new(name, PARTITIONS, TopicReplication::Fixed(1)));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    for result in runtime.block_on(admin.create_topics(&topics, &AdminOptions::new())).expect("create topics")
    {
        result.expect("topic created");
    }
    let producer: BaseProducer =
        config(bootstrap).set("enable.idempotence", "true").create().expect("producer");
    for i in 0..RECORDS {
        let value = format!("v-{i:04}");
        let partition = (i % PARTITIONS as usize) as i32;
        producer.send(BaseRecord::to(INPUT).key(&value).payload(&value).partition(partition)).expect("queue");
    }
    producer.flush(TIMEOUT).expect("input acknowledged");
}

fn consumed(positions: &TopicPartitionList) -> usize {
    positions.elements().iter().map(|e| if let Offset::Offset(o) = e.offset() { o as usize } else { 0 }).sum()
}

/// Runs the application until every input record is committed; kills the broker at the
/// transactions named in `kill_at` (mid-transaction) and `kill_after` (between two).
fn run_application(ferry: &mut Ferry, dir: &Path, kill_at: &[usize], kill_after: &[usize]) -> (usize, usize) {
    let bootstrap = ferry.kafka.clone();
    let (mut transactions, mut aborts, mut restarts) = (0usize, 0usize, 0usize);
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        assert!(Instant::now() < deadline, "the application did not finish");
        let consumer: BaseConsumer = config(&bootstrap)
            .set("group.id", "eos-group")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("session.timeout.ms", "6000")
            .create()
            .expect("consumer");
        consumer.subscribe(&[INPUT]).expect("subscribe");
        let producer: BaseProducer = config(&bootstrap)
            .set("transactional.id", "eos-app")
            .set("transaction.timeout.ms", "20000")
            .create()
            .expect("producer");
        if let Err(e) = producer.init_transactions(TIMEOUT) {
            eprintln!("init_transactions: {e}; starting over");
            restarts += 1;
            continue;
        }
        // One transaction per batch; any error starts the application over from the committed offsets.
        let outcome: rdkafka::error::KafkaResult<bool> = (|| loop {
            let mut batch = Vec::new();
            let until = Instant::now() + Duration::from_millis(300);
            while batch.len() < 50 && Instant::now() < until {
                if let Some(message) = consumer.poll(Duration::from_millis(50)) {
                    let message = message?;
                    let value = message.payload().map(|p| p.to_vec()).unwrap_or_default();
                    batch.push((message.partition(), value));
                }
            }
            assert!(Instant::now() < deadline, "no progress after {transactions} transactions");
            if batch.is_empty() {
                continue;
            }
            transactions += 1;
            producer.begin_transaction()?;
            for (partition, value) in &batch {
                let out = [b"out:".as_slice(), value].concat();
                producer
                    .send(BaseRecord::<[u8], [u8]>::to(OUTPUT).payload(&out).partition(*partition))
                    .map_err(|(e, _)| e)?;
            }
            if transactions % 4 == 0 {
                // An injected failure: abort, and start over from the committed offsets.
                producer.flush(TIMEOUT)?;
                producer.abort_transaction(TIMEOUT)?;
                aborts += 1;
                return Ok(false);
            }
            if kill_at.contains(&transactions) {
                producer.flush(TIMEOUT)?;
                ferry.kill_and_restart(dir);
            }
            let positions = consumer.position()?;
            let metadata = consumer.group_metadata().expect("group metadata");
            producer.send_offsets_to_transaction(&positions, &metadata, TIMEOUT)?;
            producer.commit_transaction(TIMEOUT)?;
            if kill_after.contains(&transactions) {
                ferry.kill_and_restart(dir);
            }
            // Positions of partitions not fetched since a seek are unknown; the group's committed
            // offsets say how far the application got.
            if consumed(&consumer.committed(TIMEOUT)?) >= RECORDS {
                return Ok(true);
            }
        })();
        match outcome {
            Ok(true) => return (aborts, restarts),
            Ok(false) => restarts += 1,
            Err(e) => {
                eprintln!("transaction {transactions} failed: {e}; starting over");
                restarts += 1;
            }
        }
    }
}

fn read_output(bootstrap: &str, isolation: &str) -> Vec<String> {
    let consumer: BaseConsumer = config(bootstrap)
        .set("group.id", format!("verify-{isolation}"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment.add_partition_offset(OUTPUT, p, Offset::Beginning).expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    let mut values = Vec::new();
    let mut quiet_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while quiet_since.elapsed() < Duration::from_secs(3) && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("fetch");
            values.push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned());
            quiet_since = Instant::now();
        }
    }
    values
}

#[test]
fn consume_transform_produce_is_exactly_once_through_aborts_and_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ferry = Ferry::start(dir.path(), "127.0.0.1:0");
    setup(&ferry.kafka);
    let (aborts, restarts) = run_application(&mut ferry, dir.path(), &[3], &[6]);
    assert!(aborts >= 2, "aborts injected: {aborts}");

    let output = read_output(&ferry.kafka, "read_committed");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for value in &output {
        *counts.entry(value.as_str()).or_default() += 1;
    }
    let duplicates: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).map(|(v, _)| *v).collect();
    assert!(
        duplicates.is_empty(),
        "{} records twice or more, e.g. {:?}",
        duplicates.len(),
        &duplicates[..duplicates.len().min(5)]
    );
    let missing: Vec<String> =
        (0..RECORDS).map(|i| format!("out:v-{i:04}")).filter(|v| !counts.contains_key(v.as_str())).collect();
    assert!(
        missing.is_empty(),
        "{} records missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(output.len(), RECORDS);
    // The aborted transactions' records are in the log, hidden from read_committed only.
    let everything = read_output(&ferry.kafka, "read_uncommitted");
    assert!(
        everything.len() > RECORDS,
        "read_uncommitted sees the aborted records too ({} restarts)",
        restarts
    );
}
