//! Persistence: what survives `Router::open`, what a failed commit leaves, stored keys.

use std::sync::Arc;

use super::binding::BindingId;
use super::tests::{args, declare, def, names, q, route, text, x};
use super::*;
use crate::metadata::{MemoryStore, MetadataStore, RedbStore, Table as MetaTable};

// ---- persistence ----

fn populate(r: &Router) {
    let ae = args(&[(ALTERNATE_EXCHANGE, text("ae"))]);
    r.declare_exchange(ExchangeDef { arguments: ae, ..def("durable", ExchangeKind::Topic) }, false).unwrap();
    declare(r, "ae", ExchangeKind::Fanout);
    let delayed = args(&[(DELAYED_TYPE, text("headers"))]);
    let kind = ExchangeKind::parse(DELAYED_MESSAGE, &delayed).unwrap();
    r.declare_exchange(ExchangeDef { arguments: delayed, ..def("later", kind) }, false).unwrap();
    r.declare_exchange(ExchangeDef { durable: false, ..def("transient", ExchangeKind::Fanout) }, false)
        .unwrap();
    r.declare_exchange(ExchangeDef { auto_delete: true, ..def("auto", ExchangeKind::Fanout) }, false)
        .unwrap();

    r.bind("durable", q("orders"), "orders.#", Table::new()).unwrap();
    r.bind("durable", x("later"), "*.late", Table::new()).unwrap();
    r.bind("ae", q("lost"), "", Table::new()).unwrap();
    r.bind("amq.topic", Destination::Topic("events".into()), "events.*", Table::new()).unwrap();
    let typed =
        args(&[(X_MATCH, text("any")), ("n", Value::U16(7)), ("f", Value::F64(1.5)), ("v", Value::Void)]);
    r.bind("later", q("typed"), "", typed).unwrap();
    // Not stored: a transient source, a transient destination exchange, a transient queue.
    r.bind("transient", q("orders"), "", Table::new()).unwrap();
    r.bind("durable", x("transient"), "t.*", Table::new()).unwrap();
    r.bind_transient("durable", q("exclusive"), "#", Table::new()).unwrap();
    // Stored, then removed with its queue and the auto-delete exchange it leaves unbound.
    r.bind("auto", q("gone"), "", Table::new()).unwrap();
    r.remove_destination(&q("gone")).unwrap();
}

fn check_recovered(r: &Router) {
    let user: Vec<String> = r
        .list_exchanges()
        .into_iter()
        .map(|d| d.name)
        .filter(|n| !n.is_empty() && !n.starts_with("amq."))
        .collect();
    assert_eq!(user, ["ae", "durable", "later"]);
    let later = r.exchange("later").unwrap();
    assert_eq!(later.kind, ExchangeKind::DelayedMessage { inner: Box::new(ExchangeKind::Headers) });
    assert_eq!(r.exchange("durable").unwrap().alternate_exchange(), Some("ae"));
    assert_eq!(r.binding_count(), 5);
    assert_eq!(route(r, "durable", "orders.eu"), ["orders"]);
    assert_eq!(route(r, "durable", "payments"), ["lost"]);
    assert_eq!(names(r.route("durable", "x.late", &args(&[("n", Value::I64(7))])).unwrap()), ["typed"]);
    assert_eq!(names(r.route("later", "", &args(&[("v", text("any"))])).unwrap()), ["typed"]);
    assert_eq!(r.route("amq.topic", "events.new", &[]).unwrap().targets, [Target::Topic("events".into())]);
    let typed = &r.bindings_of(&q("typed"))[0];
    assert_eq!(typed.arguments[2], ("f".to_string(), Value::F64(1.5)));
    assert!(r.bindings_of(&q("exclusive")).is_empty());
}

#[test]
fn durable_exchanges_and_bindings_survive_reopening_a_memory_store() {
    let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    populate(&Router::open(Arc::clone(&meta)).unwrap());
    check_recovered(&Router::open(meta).unwrap());
}

#[test]
fn durable_exchanges_and_bindings_survive_reopening_a_redb_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    populate(&Router::open(Arc::new(RedbStore::open(&path).unwrap())).unwrap());
    check_recovered(&Router::open(Arc::new(RedbStore::open(&path).unwrap())).unwrap());
}

#[test]
fn deleted_exchanges_and_unbound_bindings_stay_gone_after_reopening() {
    let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    {
        let r = Router::open(Arc::clone(&meta)).unwrap();
        populate(&r);
        r.delete_exchange("later", false).unwrap();
        r.unbind("durable", q("orders"), "orders.#", Table::new()).unwrap();
    }
    let r = Router::open(Arc::clone(&meta)).unwrap();
    assert!(r.exchange("later").is_none());
    assert!(r.bindings_of(&q("orders")).is_empty());
    assert!(r.bindings_of(&q("typed")).is_empty());
    assert_eq!(r.binding_count(), 2);
    assert_eq!(meta.scan_prefix(MetaTable::Bindings, "").unwrap().len(), 2);
}

#[test]
fn stored_binding_keys_tell_apart_parts_that_concatenate_alike() {
    let id = |source: &str, dest: Destination, key: &str| {
        BindingId::of(&Binding {
            source: source.into(),
            destination: dest,
            routing_key: key.into(),
            arguments: Table::new(),
        })
    };
    let pairs = [
        (id("a", q("bc"), ""), id("ab", q("c"), "")),
        (id("a", q("b"), "c"), id("a", q("bc"), "")),
        (id("a", q("b"), ""), id("a", x("b"), "")),
        (id("1:a", q(""), ""), id("", q("1:a"), "")),
    ];
    for (one, other) in pairs {
        assert_ne!(store::binding_key(&one), store::binding_key(&other), "{one:?} / {other:?}");
    }
}

// ---- failures and concurrency ----

/// A store whose commits fail while `failing` is set.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryStore,
    failing: std::sync::atomic::AtomicBool,
}

impl MetadataStore for FlakyStore {
    fn get(&self, table: MetaTable, key: &str) -> Result<Option<Vec<u8>>, crate::metadata::MetadataError> {
        self.inner.get(table, key)
    }

    fn scan_prefix(
        &self,
        table: MetaTable,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, crate::metadata::MetadataError> {
        self.inner.scan_prefix(table, prefix)
    }

    fn commit(&self, ops: &[crate::metadata::MetaOp]) -> Result<(), crate::metadata::MetadataError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::metadata::MetadataError::Storage("disk full".into()));
        }
        self.inner.commit(ops)
    }
}

#[test]
fn a_failed_commit_changes_nothing() {
    let store = Arc::new(FlakyStore::default());
    let r = Router::open(Arc::clone(&store) as Arc<dyn MetadataStore>).unwrap();
    r.declare_exchange(ExchangeDef { auto_delete: true, ..def("kept", ExchangeKind::Fanout) }, false)
        .unwrap();
    r.bind("kept", q("a"), "", Table::new()).unwrap();
    store.failing.store(true, std::sync::atomic::Ordering::SeqCst);

    let storage =
        |res: Result<(), RoutingError>| assert!(matches!(res, Err(RoutingError::Storage(_))), "{res:?}");
    storage(r.declare_exchange(def("new", ExchangeKind::Direct), false).map(|_| ()));
    storage(r.bind("kept", q("b"), "", Table::new()));
    storage(r.unbind("kept", q("a"), "", Table::new()));
    storage(r.remove_destination(&q("a")));
    storage(r.delete_exchange("kept", false));
    assert!(r.exchange("new").is_none());
    assert!(r.exchange("kept").is_some());
    assert_eq!(route(&r, "kept", ""), ["a"]);
    // Transient things touch no store and still work.
    r.declare_exchange(ExchangeDef { durable: false, ..def("mem", ExchangeKind::Fanout) }, false).unwrap();
    r.bind("mem", q("b"), "", Table::new()).unwrap();

    store.failing.store(false, std::sync::atomic::Ordering::SeqCst);
    let reopened = Router::open(store).unwrap();
    assert_eq!(route(&reopened, "kept", ""), ["a"]);
    assert!(reopened.exchange("new").is_none());
}
