//! `Router::route` through a topic exchange holding 100,000 bindings.
//!
//! The patterns mix the shapes topic users write: exact words, `*` in the middle, `#` at the
//! end and `#` at the start (the costly one: it is tried at every position of the key). One
//! case per shape that matches, and one key that matches nothing.
//!
//! `cargo bench -p ferry-broker --bench topic_routing`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ferry_broker::message::Table;
use ferry_broker::metadata::MemoryStore;
use ferry_broker::routing::{Destination, ExchangeDef, ExchangeKind, Router};

const BINDINGS: usize = 100_000;

/// The pattern of binding `i`: 100 regions × 1,000 services, one shape per region modulo 4.
fn pattern(i: usize) -> String {
    let (region, service) = (i % 100, i / 100);
    match region % 4 {
        0 => format!("r{region}.s{service}.created"),
        1 => format!("r{region}.*.s{service}"),
        2 => format!("r{region}.s{service}.#"),
        _ => format!("#.s{service}.r{region}"),
    }
}

fn router() -> Router {
    let router = Router::open(Arc::new(MemoryStore::new())).expect("router");
    // Transient, so the setup measures nothing of the store.
    let def = ExchangeDef { durable: false, ..ExchangeDef::new("bench", ExchangeKind::Topic) };
    router.declare_exchange(def, false).expect("declare");
    for i in 0..BINDINGS {
        router.bind("bench", Destination::Queue(format!("q{i}")), &pattern(i), Table::new()).expect("bind");
    }
    assert_eq!(router.binding_count(), BINDINGS);
    router
}

fn topic_routing(c: &mut Criterion) {
    let router = router();
    let cases = [
        ("exact words", "r4.s7.created", 1),
        ("star in the middle", "r5.anything.s7", 1),
        ("hash at the end", "r6.s7.a.b.c", 1),
        ("hash at the start", "a.b.c.s7.r3", 1),
        ("no match", "nothing.here.at.all", 0),
    ];
    let mut group = c.benchmark_group(format!("route, topic exchange with {BINDINGS} bindings"));
    for (name, key, expected) in cases {
        assert_eq!(router.route("bench", key, &[]).expect("route").targets.len(), expected, "{key}");
        group.bench_function(name, |b| b.iter(|| router.route("bench", black_box(key), &[]).expect("route")));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = topic_routing
}
criterion_main!(benches);
