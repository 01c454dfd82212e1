//! How long one `/metrics` page takes to gather and render with 10,000 queues, each holding a
//! message (so the age of its oldest message is read), plus 64 topic partitions.
//!
//! The queues keep their messages in memory (`QueueStorage::Memory`): a queue on disk holds four
//! files open (log, two indexes, journal), and 10,000 of them need more descriptors than a
//! default `ulimit -n` allows. The page reads the same figures either way, except that the age
//! of a disk queue's oldest message may be read from its log.
//!
//! `cargo bench -p ferry-http --bench metrics_scrape` (FERRY_BENCH_QUEUES changes the count).

use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use ferry_broker::Broker;
use ferry_broker::clock::SystemClock;
use ferry_broker::queues::{NewMessage, QueueAttributes, QueueServiceConfig, QueueStorage};

fn queues() -> usize {
    std::env::var("FERRY_BENCH_QUEUES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

fn scrape(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let broker: Arc<Broker> = runtime.block_on(async {
        let config = QueueServiceConfig { storage: QueueStorage::Memory, ..QueueServiceConfig::default() };
        let broker = Arc::new(
            Broker::open_for_tests(dir.path(), SystemClock::shared(), 0, config).await.expect("broker"),
        );
        for i in 0..queues() {
            let name = format!("queue-{i:05}");
            broker.queues().create_queue(&name, QueueAttributes::default()).await.expect("create");
            let message = NewMessage { body: Bytes::from_static(b"waiting"), ..NewMessage::default() };
            broker.queues().enqueue(&name, vec![message]).await.expect("enqueue");
        }
        broker.topics().create_topic("events", 64, Default::default()).expect("topic");
        broker
    });
    let mut group = c.benchmark_group("metrics");
    group.sample_size(20);
    group.bench_function(format!("page_{}_queues", queues()), |b| {
        b.iter(|| ferry_http::metrics_page(&broker, false).len());
    });
    group.finish();
    drop(runtime);
}

criterion_group!(benches, scrape);
criterion_main!(benches);
