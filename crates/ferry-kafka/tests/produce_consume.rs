//! Produce and consume through librdkafka (rdkafka crate): keys, headers, timestamps, codecs,
//! offsets by timestamp, DeleteRecords, restart.

mod common;

use std::time::Duration;

use common::TestBroker;
use common::clients::{consumer, headers, producer, read, text};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::{ClientConfig, Offset, Timestamp, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

async fn create_topic(bootstrap: &str, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin");
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let result = admin.create_topics([&topic], &AdminOptions::new()).await.expect("create topics");
    assert_eq!(result, vec![Ok(name.to_owned())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_keep_keys_headers_and_timestamps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create_topic(&broker.bootstrap, "events", 2, &[]).await;
    let producer = producer(&broker.bootstrap, &[]);
    for i in 0..20i64 {
        let key = format!("key-{i}");
        let value = format!("value-{i}");
        let record = FutureRecord::to("events")
            .partition((i % 2) as i32)
            .key(&key)
            .payload(&value)
            .timestamp(1_700_000_000_000 + i)
            .headers(OwnedHeaders::new().insert(Header { key: "n", value: Some(&i.to_string()) }));
        let delivery = producer.send(record, TIMEOUT).await.expect("delivered");
        assert_eq!(delivery.partition, (i % 2) as i32);
    }
    let consumer = consumer(&broker.bootstrap, "events", 1, Offset::Beginning);
    let messages = read(&consumer, 10).await;
    for (n, message) in messages.iter().enumerate() {
        let i = 2 * n as i64 + 1;
        assert_eq!(message.offset(), n as i64);
        assert_eq!(message.key(), Some(format!("key-{i}").as_bytes()));
        assert_eq!(text(message), format!("value-{i}"));
        assert_eq!(message.timestamp(), Timestamp::CreateTime(1_700_000_000_000 + i));
        assert_eq!(headers(message), vec![("n".to_owned(), i.to_string())]);
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compression_codec_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        let producer = producer(&broker.bootstrap, &[("compression.codec", codec), ("linger.ms", "50")]);
        let sends: Vec<_> = (0..50)
            .map(|i| {
                let value = format!("{codec} message {i} {}", "x".repeat(100));
                let producer = producer.clone();
                let topic = topic.clone();
                async move { producer.send(FutureRecord::<(), _>::to(&topic).payload(&value), TIMEOUT).await }
            })
            .collect();
        for send in sends {
            send.await.expect("delivered");
        }
        let consumer = consumer(&broker.bootstrap, &topic, 0, Offset::Beginning);
        let messages = read(&consumer, 50).await;
        let mut values: Vec<String> = messages.iter().map(text).collect();
        values.sort();
        let mut expected: Vec<String> =
            (0..50).map(|i| format!("{codec} message {i} {}", "x".repeat(100))).collect();
        expected.sort();
        assert_eq!(values, expected, "codec {codec}");
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_for_times_finds_the_first_message_at_or_after_a_timestamp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create_topic(&broker.bootstrap, "timeline", 1, &[]).await;
    let producer = producer(&broker.bootstrap, &[("linger.ms", "0")]);
    for i in 0..10i64 {
        let value = format!("t{i}");
        let record = FutureRecord::<(), _>::to("timeline").payload(&value).timestamp(1_000_000 + i * 1000);
        producer.send(record, TIMEOUT).await.expect("delivered");
    }
    let consumer = consumer(&broker.bootstrap, "timeline", 0, Offset::Beginning);
    let mut query = TopicPartitionList::new();
    query.add_partition_offset("timeline", 0, Offset::Offset(1_004_500)).expect("query");
    let found = consumer.offsets_for_times(query, TIMEOUT).expect("offsets for times");
    let offset = found.find_partition("timeline", 0).expect("partition").offset();
    assert_eq!(offset, Offset::Offset(5));

    let mut seek = TopicPartitionList::new();
    seek.add_partition_offset("timeline", 0, offset).expect("seek");
    consumer.assign(&seek).expect("assign");
    let messages = read(&consumer, 1).await;
    assert_eq!(text(&messages[0]), "t5");

    let mut late = TopicPartitionList::new();
    late.add_partition_offset("timeline", 0, Offset::Offset(9_999_999_999)).expect("query");
    let found = consumer.offsets_for_times(late, TIMEOUT).expect("offsets for times");
    assert_eq!(found.find_partition("timeline", 0).expect("partition").offset(), Offset::End);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_for_times_finds_a_record_inside_a_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    for codec in ["none", "lz4", "zstd"] {
        let topic = format!("batched-{codec}");
        create_topic(&broker.bootstrap, &topic, 1, &[]).await;
        // Ten records one second apart, sent together so that they travel in one batch.
        let producer = producer(&broker.bootstrap, &[("linger.ms", "200"), ("compression.codec", codec)]);
        let values: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        let deliveries: Vec<_> = (0..10i64)
            .map(|i| {
                let record = FutureRecord::<(), _>::to(&topic)
                    .payload(&values[i as usize])
                    .timestamp(1_000_000 + i * 1000);
                producer.send_result(record).map_err(|(e, _)| e).expect("queued")
            })
            .collect();
        for delivery in deliveries {
            delivery.await.expect("delivery report").expect("delivered");
        }
        let batches =
            broker.topics.partition(&topic, 0).expect("partition").read(0, 1 << 20, true).expect("read");
        assert_eq!(ferry_log::batches(&batches.records).count(), 1, "{codec}: one batch");

        let consumer = consumer(&broker.bootstrap, &topic, 0, Offset::Beginning);
        for (asked, expected) in [(1_005_000, 5), (1_004_001, 5), (999_000, 0), (1_009_000, 9)] {
            let mut query = TopicPartitionList::new();
            query.add_partition_offset(&topic, 0, Offset::Offset(asked)).expect("query");
            let found = consumer.offsets_for_times(query, TIMEOUT).expect("offsets for times");
            let offset = found.find_partition(&topic, 0).expect("partition").offset();
            assert_eq!(offset, Offset::Offset(expected), "{codec}: first record at or after {asked}");
        }
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_moves_the_low_watermark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create_topic(&broker.bootstrap, "trimmed", 1, &[]).await;
    let producer = producer(&broker.bootstrap, &[("linger.ms", "0")]);
    for i in 0..10 {
        let value = format!("m{i}");
        producer
            .send(FutureRecord::<(), _>::to("trimmed").payload(&value), TIMEOUT)
            .await
            .expect("delivered");
    }
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &broker.bootstrap).create().expect("admin");
    let mut before = TopicPartitionList::new();
    before.add_partition_offset("trimmed", 0, Offset::Offset(6)).expect("offset");
    let result = admin.delete_records(&before, &AdminOptions::new()).await.expect("delete records");
    assert_eq!(result.find_partition("trimmed", 0).expect("partition").offset(), Offset::Offset(6));

    let consumer = consumer(&broker.bootstrap, "trimmed", 0, Offset::Beginning);
    let (low, high) = consumer.fetch_watermarks("trimmed", 0, TIMEOUT).expect("watermarks");
    assert_eq!((low, high), (6, 10));
    let messages = read(&consumer, 4).await;
    assert_eq!(messages.iter().map(text).collect::<Vec<_>>(), ["m6", "m7", "m8", "m9"]);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_broker_keeps_topics_and_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create_topic(&broker.bootstrap, "durable", 1, &[]).await;
    let first = producer(&broker.bootstrap, &[]);
    for i in 0..100 {
        let value = format!("d{i}");
        first.send(FutureRecord::<(), _>::to("durable").payload(&value), TIMEOUT).await.expect("delivered");
    }
    drop(first);
    broker.stop().await;

    let broker = TestBroker::start(dir.path()).await;
    let consumer = consumer(&broker.bootstrap, "durable", 0, Offset::Beginning);
    let messages = read(&consumer, 100).await;
    let expected: Vec<String> = (0..100).map(|i| format!("d{i}")).collect();
    assert_eq!(messages.iter().map(text).collect::<Vec<_>>(), expected);
    let again = producer(&broker.bootstrap, &[]);
    let delivery =
        again.send(FutureRecord::<(), _>::to("durable").payload("after"), TIMEOUT).await.expect("delivered");
    assert_eq!(delivery.offset, 100);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_from_the_beginning_sees_the_compacted_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    let configs = [("cleanup.policy", "compact"), ("segment.bytes", "1024"), ("min.compaction.lag.ms", "0")];
    create_topic(&broker.bootstrap, "latest", 1, &configs).await;
    let producer = producer(&broker.bootstrap, &[("linger.ms", "0")]);
    const KEYS: usize = 5;
    const ROUNDS: usize = 20;
    for round in 0..ROUNDS {
        for key in 0..KEYS {
            let key = format!("k{key}");
            let value = format!("{key}@{round}");
            let record = FutureRecord::to("latest").key(&key).payload(&value);
            producer.send(record, TIMEOUT).await.expect("delivered");
        }
    }
    let topics = std::sync::Arc::clone(&broker.topics);
    tokio::task::spawn_blocking(move || topics.run_maintenance()).await.expect("maintenance");

    let end = broker.topics.partition("latest", 0).expect("partition").offsets().high_watermark;
    assert_eq!(end, (KEYS * ROUNDS) as u64, "offsets are stable under compaction");
    let consumer = consumer(&broker.bootstrap, "latest", 0, Offset::Beginning);
    let mut seen = Vec::new();
    while seen.last().map(|m: &rdkafka::message::OwnedMessage| m.offset()) != Some(end as i64 - 1) {
        seen.extend(read(&consumer, 1).await);
    }
    assert!(seen.len() < KEYS * ROUNDS, "compaction removed superseded records ({} remain)", seen.len());
    assert!(seen.windows(2).all(|w| w[0].offset() < w[1].offset()));
    let mut latest = std::collections::BTreeMap::new();
    for message in &seen {
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        latest.insert(key, text(message));
    }
    for key in 0..KEYS {
        assert_eq!(latest[&format!("k{key}")], format!("k{key}@{}", ROUNDS - 1));
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_topic_refuses_records_without_a_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create_topic(&broker.bootstrap, "latest-by-key", 1, &[("cleanup.policy", "compact")]).await;
    let producer = producer(&broker.bootstrap, &[("linger.ms", "0"), ("message.send.max.retries", "0")]);
    let refused = producer
        .send(FutureRecord::<(), _>::to("latest-by-key").payload("no key"), TIMEOUT)
        .await
        .expect_err("a keyless record is refused");
    assert_eq!(refused.0.rdkafka_error_code(), Some(rdkafka::types::RDKafkaErrorCode::InvalidRecord));
    let stored = producer
        .send(FutureRecord::to("latest-by-key").key("k").payload("keyed"), TIMEOUT)
        .await
        .expect("a keyed record is stored");
    assert_eq!(stored.offset, 0, "the refused record took no offset");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_compacted_batch_names_its_records_without_a_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TestBroker::start(dir.path()).await;
    create_topic(&broker.bootstrap, "named-faults", 1, &[("cleanup.policy", "compact")]).await;
    // One batch of five (linger), two of them without a key: the batch is refused whole, and
    // KIP-467's record errors let the client fail only those two as invalid.
    let producer = producer(&broker.bootstrap, &[("linger.ms", "200"), ("message.send.max.retries", "0")]);
    let sends: Vec<_> = (0..5)
        .map(|i| {
            let producer = producer.clone();
            tokio::spawn(async move {
                let (payload, key) = (format!("m{i}"), format!("k{i}"));
                let record = FutureRecord::to("named-faults").payload(&payload);
                let record = if i % 2 == 1 { record } else { record.key(&key) };
                producer.send(record, TIMEOUT).await.map(|_| ()).map_err(|(e, _)| e.rdkafka_error_code())
            })
        })
        .collect();
    let mut results = Vec::new();
    for send in sends {
        results.push(send.await.expect("send task"));
    }
    let invalid =
        results.iter().filter(|r| **r == Err(Some(rdkafka::types::RDKafkaErrorCode::InvalidRecord))).count();
    assert_eq!(invalid, 2, "only the keyless records are invalid: {results:?}");
    assert!(results.iter().all(|r| r.is_err()), "the whole batch is refused: {results:?}");
    broker.stop().await;
}
