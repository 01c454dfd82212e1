use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;

use super::topic_trie::{TopicTrie, words};
use super::*;
use crate::metadata::{MemoryStore, MetadataStore, RedbStore, Table as MetaTable};

fn router() -> Router {
    Router::open(Arc::new(MemoryStore::new())).unwrap()
}

fn q(name: &str) -> Destination {
    Destination::Queue(name.to_string())
}

fn x(name: &str) -> Destination {
    Destination::Exchange(name.to_string())
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn args(pairs: &[(&str, Value)]) -> Table {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn def(name: &str, kind: ExchangeKind) -> ExchangeDef {
    ExchangeDef::new(name, kind)
}

fn declare(r: &Router, name: &str, kind: ExchangeKind) {
    assert_eq!(r.declare_exchange(def(name, kind), false).unwrap(), DeclareOutcome::Created);
}

fn names(routed: Routed) -> Vec<String> {
    routed.targets.iter().map(|t| t.name().to_string()).collect()
}

fn route(r: &Router, exchange: &str, key: &str) -> Vec<String> {
    names(r.route(exchange, key, &[]).unwrap())
}

fn route_headers(r: &Router, exchange: &str, headers: &[(&str, Value)]) -> Vec<String> {
    names(r.route(exchange, "", &args(headers)).unwrap())
}

// ---- exchange kinds ----

#[test]
fn unknown_exchange_type_is_refused_as_unknown() {
    let e = ExchangeKind::parse("x-consistent-hash", &[]).unwrap_err();
    assert!(
        matches!(e, RoutingError::UnknownExchangeType { ref type_name } if type_name == "x-consistent-hash")
    );
    assert!(e.to_string().contains("x-consistent-hash"));
}

#[test]
fn plain_kinds_parse_by_name() {
    for (name, kind) in [
        ("direct", ExchangeKind::Direct),
        ("fanout", ExchangeKind::Fanout),
        ("topic", ExchangeKind::Topic),
        ("headers", ExchangeKind::Headers),
    ] {
        assert_eq!(ExchangeKind::parse(name, &[]).unwrap(), kind);
        assert_eq!(kind.type_name(), name);
    }
}

#[test]
fn delayed_message_exchange_routes_as_its_delayed_type() {
    let a = args(&[(DELAYED_TYPE, text("topic"))]);
    let kind = ExchangeKind::parse(DELAYED_MESSAGE, &a).unwrap();
    assert_eq!(kind, ExchangeKind::DelayedMessage { inner: Box::new(ExchangeKind::Topic) });
    let r = router();
    r.declare_exchange(ExchangeDef { arguments: a, ..def("delayed", kind) }, false).unwrap();
    r.bind("delayed", q("eu"), "orders.eu.*", Table::new()).unwrap();
    assert_eq!(route(&r, "delayed", "orders.eu.new"), ["eu"]);
    assert!(route(&r, "delayed", "orders.us.new").is_empty());
}

#[test]
fn delayed_message_without_a_known_delayed_type_is_refused() {
    for a in [
        Table::new(),
        args(&[(DELAYED_TYPE, text("x-delayed-message"))]),
        args(&[(DELAYED_TYPE, Value::I32(1))]),
    ] {
        let e = ExchangeKind::parse(DELAYED_MESSAGE, &a).unwrap_err();
        assert!(
            matches!(e, RoutingError::InvalidArgument { ref argument, .. } if argument == DELAYED_TYPE),
            "{e}"
        );
    }
    // A definition whose kind disagrees with its own argument is refused too.
    let r = router();
    let kind = ExchangeKind::DelayedMessage { inner: Box::new(ExchangeKind::Direct) };
    let bad = ExchangeDef { arguments: args(&[(DELAYED_TYPE, text("fanout"))]), ..def("d", kind) };
    assert!(matches!(r.declare_exchange(bad, false), Err(RoutingError::InvalidArgument { .. })));
}

// ---- declare ----

#[test]
fn predeclared_exchanges_exist_from_the_start() {
    let r = router();
    let all: Vec<String> = r.list_exchanges().into_iter().map(|d| d.name).collect();
    assert_eq!(all, ["", "amq.direct", "amq.fanout", "amq.headers", "amq.match", "amq.topic"]);
    assert_eq!(r.exchange("amq.match").unwrap().kind, ExchangeKind::Headers);
    assert_eq!(r.exchange("amq.topic").unwrap().kind, ExchangeKind::Topic);
    assert!(r.exchange("").unwrap().durable);
}

#[test]
fn default_exchange_cannot_be_declared_deleted_bound_or_unbound() {
    let r = router();
    let refused = |res: Result<(), RoutingError>| {
        assert!(matches!(res, Err(RoutingError::DefaultExchange { .. })), "{res:?}");
    };
    for passive in [false, true] {
        refused(r.declare_exchange(def("", ExchangeKind::Direct), passive).map(|_| ()));
    }
    refused(r.delete_exchange("", false));
    refused(r.bind("", q("a"), "a", Table::new()));
    refused(r.bind("amq.direct", x(""), "a", Table::new()));
    refused(r.unbind("", q("a"), "a", Table::new()));
    refused(r.unbind("amq.direct", x(""), "a", Table::new()));
}

#[test]
fn names_starting_amq_cannot_be_declared() {
    let r = router();
    let e = r.declare_exchange(def("amq.mine", ExchangeKind::Direct), false).unwrap_err();
    assert!(matches!(e, RoutingError::ReservedName { ref exchange } if exchange == "amq.mine"));
    assert!(r.exchange("amq.mine").is_none());
}

#[test]
fn predeclared_exchange_may_be_redeclared_with_its_own_properties_only() {
    let r = router();
    assert_eq!(
        r.declare_exchange(def("amq.topic", ExchangeKind::Topic), false).unwrap(),
        DeclareOutcome::Existed
    );
    let e = r.declare_exchange(def("amq.topic", ExchangeKind::Direct), false).unwrap_err();
    assert!(matches!(e, RoutingError::Inequivalent { ref argument, .. } if argument == "type"));
}

#[test]
fn predeclared_exchanges_cannot_be_deleted() {
    let r = router();
    let e = r.delete_exchange("amq.fanout", false).unwrap_err();
    assert!(matches!(e, RoutingError::SystemExchange { ref exchange } if exchange == "amq.fanout"));
    assert!(r.exchange("amq.fanout").is_some());
}

#[test]
fn redeclare_with_equal_properties_changes_nothing() {
    let r = router();
    declare(&r, "logs", ExchangeKind::Fanout);
    assert_eq!(
        r.declare_exchange(def("logs", ExchangeKind::Fanout), false).unwrap(),
        DeclareOutcome::Existed
    );
}

#[test]
fn redeclare_with_other_properties_is_inequivalent_and_names_what_differs() {
    let r = router();
    let base = ExchangeDef {
        arguments: args(&[(ALTERNATE_EXCHANGE, text("ae"))]),
        ..def("logs", ExchangeKind::Fanout)
    };
    r.declare_exchange(base.clone(), false).unwrap();
    let cases: Vec<(&str, ExchangeDef)> = vec![
        ("type", ExchangeDef { kind: ExchangeKind::Topic, ..base.clone() }),
        ("durable", ExchangeDef { durable: false, ..base.clone() }),
        ("auto_delete", ExchangeDef { auto_delete: true, ..base.clone() }),
        ("internal", ExchangeDef { internal: true, ..base.clone() }),
        (ALTERNATE_EXCHANGE, ExchangeDef { arguments: Table::new(), ..base.clone() }),
        (
            ALTERNATE_EXCHANGE,
            ExchangeDef { arguments: args(&[(ALTERNATE_EXCHANGE, text("other"))]), ..base.clone() },
        ),
    ];
    for (what, redeclare) in cases {
        let e = r.declare_exchange(redeclare, false).unwrap_err();
        match &e {
            RoutingError::Inequivalent { exchange, argument, .. } => {
                assert_eq!((exchange.as_str(), argument.as_str()), ("logs", what))
            }
            other => panic!("{what}: {other:?}"),
        }
        assert!(e.to_string().contains("'logs'"), "{e}");
    }
    assert_eq!(r.exchange("logs").unwrap(), base);
}

#[test]
fn redeclare_of_a_delayed_exchange_with_another_delayed_type_is_inequivalent() {
    let r = router();
    let delayed = |inner: &str| {
        let a = args(&[(DELAYED_TYPE, text(inner))]);
        ExchangeDef {
            kind: ExchangeKind::parse(DELAYED_MESSAGE, &a).unwrap(),
            arguments: a,
            ..def("later", ExchangeKind::Direct)
        }
    };
    r.declare_exchange(delayed("direct"), false).unwrap();
    let e = r.declare_exchange(delayed("topic"), false).unwrap_err();
    assert!(matches!(e, RoutingError::Inequivalent { ref argument, .. } if argument == DELAYED_TYPE), "{e}");
}

#[test]
fn redeclare_ignores_arguments_that_do_not_change_routing() {
    let r = router();
    declare(&r, "logs", ExchangeKind::Fanout);
    let other = ExchangeDef {
        arguments: args(&[("x-note", text("kept aside"))]),
        ..def("logs", ExchangeKind::Fanout)
    };
    assert_eq!(r.declare_exchange(other, false).unwrap(), DeclareOutcome::Existed);
}

#[test]
fn passive_declare_finds_an_exchange_without_comparing_and_reports_a_missing_one() {
    let r = router();
    declare(&r, "logs", ExchangeKind::Fanout);
    assert_eq!(r.declare_exchange(def("logs", ExchangeKind::Topic), true).unwrap(), DeclareOutcome::Existed);
    let e = r.declare_exchange(def("nope", ExchangeKind::Topic), true).unwrap_err();
    assert!(matches!(e, RoutingError::ExchangeNotFound { ref exchange } if exchange == "nope"));
    assert!(r.exchange("nope").is_none());
}

#[test]
fn alternate_exchange_argument_must_be_text() {
    let r = router();
    let bad = ExchangeDef {
        arguments: args(&[(ALTERNATE_EXCHANGE, Value::I32(3))]),
        ..def("a", ExchangeKind::Direct)
    };
    let e = r.declare_exchange(bad, false).unwrap_err();
    assert!(
        matches!(e, RoutingError::InvalidArgument { ref argument, .. } if argument == ALTERNATE_EXCHANGE)
    );
}

// ---- delete, bind, unbind ----

#[test]
fn deleting_a_missing_exchange_succeeds() {
    router().delete_exchange("never-was", true).unwrap();
}

#[test]
fn delete_if_unused_keeps_an_exchange_that_is_a_source() {
    let r = router();
    declare(&r, "logs", ExchangeKind::Fanout);
    r.bind("logs", q("a"), "", Table::new()).unwrap();
    let e = r.delete_exchange("logs", true).unwrap_err();
    assert!(matches!(e, RoutingError::InUse { ref exchange, bindings: 1 } if exchange == "logs"));
    // Being a destination only does not count as used.
    declare(&r, "sink", ExchangeKind::Fanout);
    r.bind("logs", x("sink"), "", Table::new()).unwrap();
    r.delete_exchange("sink", true).unwrap();
    assert!(r.exchange("sink").is_none());
}

#[test]
fn deleting_an_exchange_drops_its_bindings_as_source_and_as_destination() {
    let r = router();
    declare(&r, "up", ExchangeKind::Fanout);
    declare(&r, "mid", ExchangeKind::Fanout);
    r.bind("up", x("mid"), "", Table::new()).unwrap();
    r.bind("mid", q("a"), "", Table::new()).unwrap();
    r.delete_exchange("mid", false).unwrap();
    assert!(r.bindings_from("up").is_empty());
    assert!(r.bindings_of(&q("a")).is_empty());
    assert_eq!(r.binding_count(), 0);
    assert!(route(&r, "up", "").is_empty());
}

#[test]
fn binding_to_or_from_a_missing_exchange_is_not_found() {
    let r = router();
    let e = r.bind("nope", q("a"), "k", Table::new()).unwrap_err();
    assert!(matches!(e, RoutingError::ExchangeNotFound { ref exchange } if exchange == "nope"));
    let e = r.bind("amq.direct", x("gone"), "k", Table::new()).unwrap_err();
    assert!(matches!(e, RoutingError::ExchangeNotFound { ref exchange } if exchange == "gone"));
    let e = r.unbind("nope", q("a"), "k", Table::new()).unwrap_err();
    assert!(matches!(e, RoutingError::ExchangeNotFound { .. }));
    let e = r.unbind("amq.direct", x("gone"), "k", Table::new()).unwrap_err();
    assert!(matches!(e, RoutingError::ExchangeNotFound { .. }));
}

#[test]
fn binding_twice_or_with_arguments_reordered_is_one_binding() {
    let r = router();
    let a = args(&[("a", Value::I8(1)), ("b", Value::I8(2))]);
    let b = args(&[("b", Value::I8(2)), ("a", Value::I8(1))]);
    r.bind("amq.direct", q("q"), "k", a.clone()).unwrap();
    r.bind("amq.direct", q("q"), "k", a).unwrap();
    r.bind("amq.direct", q("q"), "k", b.clone()).unwrap();
    assert_eq!(r.binding_count(), 1);
    r.unbind("amq.direct", q("q"), "k", b).unwrap();
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn bindings_differing_in_key_or_arguments_are_distinct() {
    let r = router();
    r.bind("amq.direct", q("q"), "k", Table::new()).unwrap();
    r.bind("amq.direct", q("q"), "k", args(&[("v", Value::I8(1))])).unwrap();
    r.bind("amq.direct", q("q"), "j", Table::new()).unwrap();
    assert_eq!(r.bindings_of(&q("q")).len(), 3);
    assert_eq!(r.bindings_from("amq.direct").len(), 3);
    // One of two bindings with key k gone, the queue is still reached by k.
    r.unbind("amq.direct", q("q"), "k", Table::new()).unwrap();
    assert_eq!(route(&r, "amq.direct", "k"), ["q"]);
}

#[test]
fn unbinding_what_is_not_bound_succeeds() {
    let r = router();
    r.unbind("amq.direct", q("q"), "k", Table::new()).unwrap();
}

#[test]
fn auto_delete_exchange_goes_with_its_last_binding_as_source() {
    let r = router();
    r.declare_exchange(ExchangeDef { auto_delete: true, ..def("temp", ExchangeKind::Direct) }, false)
        .unwrap();
    r.bind("temp", q("a"), "1", Table::new()).unwrap();
    r.bind("temp", q("b"), "2", Table::new()).unwrap();
    r.unbind("temp", q("a"), "1", Table::new()).unwrap();
    assert!(r.exchange("temp").is_some());
    r.unbind("temp", q("b"), "2", Table::new()).unwrap();
    assert!(r.exchange("temp").is_none());
}

#[test]
fn auto_delete_exchange_never_bound_stays() {
    let r = router();
    r.declare_exchange(ExchangeDef { auto_delete: true, ..def("temp", ExchangeKind::Direct) }, false)
        .unwrap();
    r.remove_destination(&q("a")).unwrap();
    r.unbind("temp", q("a"), "", Table::new()).unwrap();
    assert!(r.exchange("temp").is_some());
}

#[test]
fn removing_a_queue_drops_its_bindings_and_auto_deletes_exchanges_left_unbound() {
    let r = router();
    let auto = |name: &str| ExchangeDef { auto_delete: true, ..def(name, ExchangeKind::Fanout) };
    r.declare_exchange(auto("front"), false).unwrap();
    r.declare_exchange(auto("back"), false).unwrap();
    declare(&r, "keeper", ExchangeKind::Fanout);
    // front -> back -> a; keeper -> a; back also -> b.
    r.bind("front", x("back"), "", Table::new()).unwrap();
    r.bind("back", q("a"), "", Table::new()).unwrap();
    r.bind("keeper", q("a"), "", Table::new()).unwrap();
    r.bind("back", q("b"), "", Table::new()).unwrap();
    r.remove_destination(&q("a")).unwrap();
    assert!(r.bindings_of(&q("a")).is_empty());
    assert!(r.exchange("back").is_some(), "back still has its binding to b");
    assert!(r.exchange("keeper").is_some(), "keeper is not auto-delete");
    // Removing b empties back, which goes; its going empties front, which goes too.
    r.remove_destination(&q("b")).unwrap();
    assert!(r.exchange("back").is_none());
    assert!(r.exchange("front").is_none());
    assert_eq!(r.binding_count(), 0);
}

// ---- routing by kind ----

#[test]
fn direct_exchange_routes_the_exact_key_only() {
    let r = router();
    r.bind("amq.direct", q("a"), "orders", Table::new()).unwrap();
    r.bind("amq.direct", q("b"), "orders", Table::new()).unwrap();
    r.bind("amq.direct", q("c"), "orders.eu", Table::new()).unwrap();
    assert_eq!(route(&r, "amq.direct", "orders"), ["a", "b"]);
    assert_eq!(route(&r, "amq.direct", "orders.eu"), ["c"]);
    assert!(route(&r, "amq.direct", "Orders").is_empty());
    assert!(r.route("amq.direct", "other", &[]).unwrap().is_unroutable());
}

#[test]
fn fanout_exchange_routes_to_every_binding_whatever_the_key() {
    let r = router();
    r.bind("amq.fanout", q("a"), "x", Table::new()).unwrap();
    r.bind("amq.fanout", q("b"), "", Table::new()).unwrap();
    r.bind("amq.fanout", q("b"), "y", Table::new()).unwrap();
    assert_eq!(route(&r, "amq.fanout", "anything"), ["a", "b"]);
}

#[test]
fn topic_exchange_matches_words_with_star_and_hash() {
    let r = router();
    for (queue, pattern) in [
        ("star", "orders.*.created"),
        ("hash", "orders.#"),
        ("all", "#"),
        ("exact", "orders.eu.created"),
        ("mid", "orders.#.created"),
        ("empty", ""),
        ("twostar", "*.*"),
    ] {
        r.bind("amq.topic", q(queue), pattern, Table::new()).unwrap();
    }
    let cases: [(&str, &[&str]); 7] = [
        ("orders.eu.created", &["all", "exact", "hash", "mid", "star"]),
        ("orders.created", &["all", "hash", "mid", "twostar"]),
        ("orders", &["all", "hash"]),
        ("orders.eu.fr.created", &["all", "hash", "mid"]),
        ("", &["all", "empty"]),
        ("a.", &["all", "twostar"]),
        ("payments.eu", &["all", "twostar"]),
    ];
    for (key, expected) in cases {
        assert_eq!(route(&r, "amq.topic", key), expected, "key {key:?}");
    }
}

#[test]
fn topic_exchange_keeps_a_pattern_bound_by_another_binding_after_an_unbind() {
    let r = router();
    r.bind("amq.topic", q("a"), "k.*", Table::new()).unwrap();
    r.bind("amq.topic", q("a"), "k.*", args(&[("v", Value::I8(1))])).unwrap();
    r.unbind("amq.topic", q("a"), "k.*", Table::new()).unwrap();
    assert_eq!(route(&r, "amq.topic", "k.x"), ["a"]);
    r.unbind("amq.topic", q("a"), "k.*", args(&[("v", Value::I8(1))])).unwrap();
    assert!(route(&r, "amq.topic", "k.x").is_empty());
}

#[test]
fn headers_exchange_all_requires_every_argument_and_any_one() {
    let r = router();
    let fmt = ("format", text("pdf"));
    let kind = ("type", text("report"));
    r.bind("amq.headers", q("all"), "", args(&[(X_MATCH, text("all")), fmt.clone(), kind.clone()])).unwrap();
    r.bind("amq.headers", q("default"), "", args(&[fmt.clone(), kind.clone()])).unwrap();
    r.bind("amq.headers", q("any"), "", args(&[(X_MATCH, text("any")), fmt.clone(), kind.clone()])).unwrap();
    assert_eq!(route_headers(&r, "amq.headers", &[fmt.clone(), kind.clone()]), ["all", "any", "default"]);
    assert_eq!(route_headers(&r, "amq.headers", &[fmt.clone(), ("type", text("log"))]), ["any"]);
    assert_eq!(route_headers(&r, "amq.headers", &[("format", text("zip"))]), Vec::<String>::new());
}

#[test]
fn headers_exchange_ignores_x_arguments_unless_with_x() {
    let r = router();
    let tenant = ("x-tenant", text("blue"));
    let fmt = ("format", text("pdf"));
    r.bind("amq.headers", q("all"), "", args(&[(X_MATCH, text("all")), tenant.clone(), fmt.clone()]))
        .unwrap();
    r.bind(
        "amq.headers",
        q("all-x"),
        "",
        args(&[(X_MATCH, text("all-with-x")), tenant.clone(), fmt.clone()]),
    )
    .unwrap();
    r.bind("amq.headers", q("any"), "", args(&[(X_MATCH, text("any")), tenant.clone()])).unwrap();
    r.bind("amq.headers", q("any-x"), "", args(&[(X_MATCH, text("any-with-x")), tenant.clone()])).unwrap();
    assert_eq!(route_headers(&r, "amq.headers", std::slice::from_ref(&fmt)), ["all"]);
    assert_eq!(route_headers(&r, "amq.headers", &[fmt.clone(), tenant.clone()]), ["all", "all-x", "any-x"]);
}

#[test]
fn headers_all_without_compared_arguments_matches_everything_and_any_nothing() {
    let r = router();
    r.bind("amq.match", q("all"), "", Table::new()).unwrap();
    r.bind("amq.match", q("any"), "", args(&[(X_MATCH, text("any")), ("x-only", Value::I8(1))])).unwrap();
    assert_eq!(route_headers(&r, "amq.match", &[]), ["all"]);
    assert_eq!(route_headers(&r, "amq.match", &[("x-only", Value::I8(1))]), ["all"]);
}

#[test]
fn headers_void_binding_value_matches_on_presence() {
    let r = router();
    r.bind("amq.headers", q("has-trace"), "", args(&[("trace", Value::Void)])).unwrap();
    assert_eq!(route_headers(&r, "amq.headers", &[("trace", text("anything"))]), ["has-trace"]);
    assert_eq!(route_headers(&r, "amq.headers", &[("trace", Value::Void)]), ["has-trace"]);
    assert!(route_headers(&r, "amq.headers", &[("other", Value::Void)]).is_empty());
}

#[test]
fn headers_values_compare_by_value_across_numeric_types_as_rabbitmq_does() {
    let five = [
        Value::I8(5),
        Value::U8(5),
        Value::I16(5),
        Value::U16(5),
        Value::I32(5),
        Value::U32(5),
        Value::I64(5),
        Value::U64(5),
        Value::Timestamp(5),
        Value::F32(5.0),
        Value::F64(5.0),
    ];
    for a in &five {
        for b in &five {
            assert!(loosely_equal(a, b), "{a:?} == {b:?}");
        }
        assert!(!loosely_equal(a, &Value::I64(6)), "{a:?}");
        assert!(!loosely_equal(a, &text("5")), "{a:?}");
        assert!(!loosely_equal(a, &Value::Decimal { scale: 0, value: 5 }), "{a:?}");
    }
    assert!(!loosely_equal(&Value::F64(5.5), &Value::I32(5)));
    assert!(!loosely_equal(&Value::I64(-1), &Value::U64(u64::MAX)));
    assert!(loosely_equal(&text("ab"), &Value::Bytes(bytes::Bytes::from_static(b"ab"))));
    assert!(!loosely_equal(&Value::Bool(true), &Value::I8(1)));
    // Inside arrays the element types take part.
    assert!(!loosely_equal(&Value::Array(vec![Value::I8(5)]), &Value::Array(vec![Value::I32(5)])));
    assert!(loosely_equal(&Value::Array(vec![Value::I8(5)]), &Value::Array(vec![Value::I8(5)])));

    let r = router();
    r.bind("amq.headers", q("five"), "", args(&[("n", Value::U8(5))])).unwrap();
    assert_eq!(route_headers(&r, "amq.headers", &[("n", Value::I32(5))]), ["five"]);
    assert!(route_headers(&r, "amq.headers", &[("n", Value::I32(6))]).is_empty());
}

#[test]
fn headers_binding_with_an_unknown_x_match_is_refused() {
    let r = router();
    for bad in [text("some"), Value::I8(1)] {
        let e = r.bind("amq.headers", q("a"), "", args(&[(X_MATCH, bad)])).unwrap_err();
        assert!(
            matches!(e, RoutingError::InvalidArgument { ref argument, .. } if argument == X_MATCH),
            "{e}"
        );
        assert!(e.to_string().contains("queue 'a'"), "{e}");
    }
    // Other kinds do not read x-match.
    r.bind("amq.direct", q("a"), "", args(&[(X_MATCH, text("some"))])).unwrap();
}

#[test]
fn headers_binding_compares_the_first_of_repeated_message_headers() {
    let r = router();
    r.bind("amq.headers", q("a"), "", args(&[("k", Value::I8(1))])).unwrap();
    assert_eq!(route_headers(&r, "amq.headers", &[("k", Value::I8(1)), ("k", Value::I8(2))]), ["a"]);
    assert!(route_headers(&r, "amq.headers", &[("k", Value::I8(2)), ("k", Value::I8(1))]).is_empty());
}

// ---- the default exchange, chains, internal, alternates ----

#[test]
fn default_exchange_reaches_a_queue_by_its_name() {
    let r = router();
    assert_eq!(r.route("", "orders", &[]).unwrap().targets, [Target::Queue("orders".into())]);
    assert!(r.route("", "", &[]).unwrap().is_unroutable());
}

#[test]
fn default_exchange_asks_the_resolver_which_target_a_name_is() {
    let r = router();
    r.set_default_exchange_resolver(|name| match name {
        "events" => Some(Target::Topic(name.to_string())),
        "orders" => Some(Target::Queue(name.to_string())),
        _ => None,
    });
    assert_eq!(r.route("", "events", &[]).unwrap().targets, [Target::Topic("events".into())]);
    assert_eq!(r.route("", "orders", &[]).unwrap().targets, [Target::Queue("orders".into())]);
    assert!(r.route("", "missing", &[]).unwrap().is_unroutable());
}

#[test]
fn publishing_to_a_missing_exchange_is_not_found() {
    let e = router().route("nope", "k", &[]).unwrap_err();
    assert!(matches!(e, RoutingError::ExchangeNotFound { ref exchange } if exchange == "nope"));
}

#[test]
fn topic_destinations_route_to_topic_targets() {
    let r = router();
    r.bind("amq.fanout", Destination::Topic("stream".into()), "", Table::new()).unwrap();
    r.bind("amq.fanout", q("stream"), "", Table::new()).unwrap();
    let routed = r.route("amq.fanout", "", &[]).unwrap();
    assert_eq!(routed.targets, [Target::Queue("stream".into()), Target::Topic("stream".into())]);
}

#[test]
fn exchange_to_exchange_chains_resolve_to_each_final_target_once() {
    let r = router();
    declare(&r, "a", ExchangeKind::Fanout);
    declare(&r, "b", ExchangeKind::Topic);
    declare(&r, "c", ExchangeKind::Direct);
    r.bind("a", x("b"), "", Table::new()).unwrap();
    r.bind("a", x("c"), "", Table::new()).unwrap();
    r.bind("a", q("shared"), "", Table::new()).unwrap();
    r.bind("b", q("shared"), "#", Table::new()).unwrap();
    r.bind("b", q("eu"), "*.eu", Table::new()).unwrap();
    r.bind("c", q("shared"), "orders.eu", Table::new()).unwrap();
    r.bind("c", q("exact"), "orders.eu", Table::new()).unwrap();
    assert_eq!(route(&r, "a", "orders.eu"), ["eu", "exact", "shared"]);
    assert_eq!(route(&r, "a", "x"), ["shared"]);
}

#[test]
fn exchange_cycles_are_visited_once() {
    let r = router();
    declare(&r, "a", ExchangeKind::Fanout);
    declare(&r, "b", ExchangeKind::Fanout);
    r.bind("a", x("b"), "", Table::new()).unwrap();
    r.bind("b", x("a"), "", Table::new()).unwrap();
    r.bind("b", x("b"), "", Table::new()).unwrap();
    r.bind("b", q("end"), "", Table::new()).unwrap();
    assert_eq!(route(&r, "a", ""), ["end"]);
    assert_eq!(route(&r, "b", ""), ["end"]);
}

#[test]
fn internal_exchange_refuses_publishes_but_routes_through_a_binding() {
    let r = router();
    r.declare_exchange(ExchangeDef { internal: true, ..def("inner", ExchangeKind::Fanout) }, false).unwrap();
    r.bind("inner", q("a"), "", Table::new()).unwrap();
    r.bind("amq.fanout", x("inner"), "", Table::new()).unwrap();
    let e = r.route("inner", "", &[]).unwrap_err();
    assert!(matches!(e, RoutingError::InternalExchange { ref exchange } if exchange == "inner"));
    assert_eq!(route(&r, "amq.fanout", ""), ["a"]);
}

#[test]
fn alternate_exchange_takes_what_the_exchange_routes_nowhere() {
    let r = router();
    declare(&r, "ae", ExchangeKind::Fanout);
    r.bind("ae", q("unrouted"), "", Table::new()).unwrap();
    let main = ExchangeDef {
        arguments: args(&[(ALTERNATE_EXCHANGE, text("ae"))]),
        ..def("main", ExchangeKind::Direct)
    };
    r.declare_exchange(main, false).unwrap();
    r.bind("main", q("known"), "known", Table::new()).unwrap();
    assert_eq!(route(&r, "main", "known"), ["known"]);
    assert_eq!(route(&r, "main", "other"), ["unrouted"]);
}

#[test]
fn alternate_exchange_chains_stop_at_a_cycle_and_ignore_a_missing_one() {
    let r = router();
    let with_ae = |name: &str, ae: &str| ExchangeDef {
        arguments: args(&[(ALTERNATE_EXCHANGE, text(ae))]),
        ..def(name, ExchangeKind::Direct)
    };
    r.declare_exchange(with_ae("a", "b"), false).unwrap();
    r.declare_exchange(with_ae("b", "a"), false).unwrap();
    assert!(r.route("a", "k", &[]).unwrap().is_unroutable());
    r.declare_exchange(with_ae("c", "missing"), false).unwrap();
    assert!(r.route("c", "k", &[]).unwrap().is_unroutable());
    // The second alternate routes: a -> b -> d.
    declare(&r, "d", ExchangeKind::Fanout);
    r.bind("d", q("last"), "", Table::new()).unwrap();
    r.delete_exchange("b", false).unwrap();
    r.declare_exchange(with_ae("b", "d"), false).unwrap();
    assert_eq!(route(&r, "a", "k"), ["last"]);
}

#[test]
fn alternate_exchange_of_an_exchange_reached_by_binding_is_followed() {
    let r = router();
    declare(&r, "ae", ExchangeKind::Fanout);
    r.bind("ae", q("fallback"), "", Table::new()).unwrap();
    let inner = ExchangeDef {
        arguments: args(&[(ALTERNATE_EXCHANGE, text("ae"))]),
        ..def("inner", ExchangeKind::Direct)
    };
    r.declare_exchange(inner, false).unwrap();
    r.bind("amq.fanout", x("inner"), "", Table::new()).unwrap();
    r.bind("amq.fanout", q("direct"), "", Table::new()).unwrap();
    assert_eq!(route(&r, "amq.fanout", "k"), ["direct", "fallback"]);
}

// ---- limits ----

#[test]
fn exchanges_beyond_the_limit_are_refused() {
    let limits = RouterLimits { max_exchanges: 7, ..RouterLimits::default() };
    let r = Router::open_with_limits(Arc::new(MemoryStore::new()), limits).unwrap();
    declare(&r, "one", ExchangeKind::Direct);
    let e = r.declare_exchange(def("two", ExchangeKind::Direct), false).unwrap_err();
    assert!(matches!(e, RoutingError::TooManyExchanges { ref exchange, limit: 7 } if exchange == "two"));
    r.delete_exchange("one", false).unwrap();
    declare(&r, "two", ExchangeKind::Direct);
}

#[test]
fn bindings_beyond_the_limit_are_refused() {
    let limits = RouterLimits { max_bindings: 2, ..RouterLimits::default() };
    let r = Router::open_with_limits(Arc::new(MemoryStore::new()), limits).unwrap();
    r.bind("amq.direct", q("a"), "1", Table::new()).unwrap();
    r.bind("amq.direct", q("a"), "2", Table::new()).unwrap();
    // Binding again what exists is not a new binding.
    r.bind("amq.direct", q("a"), "2", Table::new()).unwrap();
    let e = r.bind("amq.direct", q("a"), "3", Table::new()).unwrap_err();
    assert!(matches!(e, RoutingError::TooManyBindings { limit: 2, .. }));
    assert!(e.to_string().contains("queue 'a'"), "{e}");
}

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

// ---- the topic trie against a reference matcher ----

/// The plain recursive definition of topic matching, to check the trie against.
fn naive_match(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|skip| naive_match(rest, &key[skip..])),
        Some((&"*", rest)) => !key.is_empty() && naive_match(rest, &key[1..]),
        Some((word, rest)) => key.first() == Some(word) && naive_match(rest, &key[1..]),
    }
}

fn dotted(words: impl Strategy<Value = String>, most: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(words, 0..most).prop_map(|w| w.join("."))
}

fn key_word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("a".into()),
        Just("b".into()),
        Just("ab".into()),
        Just("*".into()),
        Just("#".into())
    ]
}

fn pattern_word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("a".into()),
        Just("b".into()),
        Just("ab".into()),
        Just("*".into()),
        Just("#".into())
    ]
}

proptest! {
    #[test]
    fn topic_trie_agrees_with_the_reference_matcher(
        patterns in proptest::collection::vec(dotted(pattern_word(), 6), 1..12),
        keys in proptest::collection::vec(dotted(key_word(), 7), 1..8),
        removed in proptest::collection::vec(any::<bool>(), 12),
    ) {
        let mut trie = TopicTrie::new();
        for (i, p) in patterns.iter().enumerate() {
            trie.insert(p, i);
        }
        let mut kept: BTreeSet<usize> = (0..patterns.len()).collect();
        for (i, p) in patterns.iter().enumerate() {
            if removed[i] {
                prop_assert!(trie.remove(p, &i));
                kept.remove(&i);
            }
        }
        prop_assert!(!trie.remove("never.bound", &0));
        prop_assert_eq!(trie.len(), kept.len());
        for key in &keys {
            let key_words: Vec<&str> = words(key).collect();
            let mut found = Vec::new();
            trie.matches(key, &mut found);
            let got: Vec<usize> = found.into_iter().copied().collect();
            let unique: BTreeSet<usize> = got.iter().copied().collect();
            prop_assert_eq!(got.len(), unique.len(), "a value appended twice for {:?}", key);
            let expected: BTreeSet<usize> = kept
                .iter()
                .copied()
                .filter(|&i| naive_match(&words(&patterns[i]).collect::<Vec<_>>(), &key_words))
                .collect();
            prop_assert_eq!(unique, expected, "key {:?} patterns {:?}", key, patterns);
        }
    }
}

#[test]
fn topic_trie_empties_back_to_nothing() {
    let mut trie = TopicTrie::new();
    for p in ["a.#.b", "#", "*.*", "", "a..b"] {
        trie.insert(p, p);
    }
    for p in ["a.#.b", "#", "*.*", "", "a..b"] {
        assert!(trie.remove(p, &p));
    }
    assert!(trie.is_empty());
    let mut found = Vec::new();
    trie.matches("a.b", &mut found);
    assert!(found.is_empty());
}

#[test]
fn topic_words_split_as_rabbitmq_splits_them() {
    fn split(k: &str) -> Vec<&str> {
        words(k).collect()
    }
    assert!(split("").is_empty());
    assert_eq!(split("."), ["", ""]);
    assert_eq!(split("a..b"), ["a", "", "b"]);
    assert_eq!(split("a."), ["a", ""]);
}

#[test]
fn many_hashes_stay_linear_in_the_key() {
    let mut trie = TopicTrie::new();
    trie.insert("#.#.#.#.#.#.#.#.z", 1);
    let key = vec!["a"; 120].join(".");
    let mut found = Vec::new();
    trie.matches(&key, &mut found);
    assert!(found.is_empty());
    trie.matches(&format!("{key}.z"), &mut found);
    assert_eq!(found, [&1]);
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

#[test]
fn routing_runs_while_other_threads_bind_and_unbind() {
    let r = Arc::new(router());
    r.bind("amq.topic", q("steady"), "steady.#", Table::new()).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let r = Arc::clone(&r);
            std::thread::spawn(move || {
                for i in 0..300 {
                    if t < 2 {
                        let dest = q(&format!("t{t}-{}", i % 10));
                        let key = format!("k.{}", i % 7);
                        r.bind("amq.topic", dest.clone(), &key, Table::new()).unwrap();
                        if i % 3 == 0 {
                            r.unbind("amq.topic", dest, &key, Table::new()).unwrap();
                        }
                    } else {
                        assert_eq!(route(&r, "amq.topic", "steady.x"), ["steady"]);
                        r.route("amq.topic", &format!("k.{}", i % 7), &[]).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let listed: usize = r.bindings_from("amq.topic").len();
    assert_eq!(listed, r.binding_count());
    for k in 0..7 {
        let key = format!("k.{k}");
        let expected: BTreeSet<String> = r
            .bindings_from("amq.topic")
            .into_iter()
            .filter(|b| b.routing_key == key)
            .map(|b| b.destination.name().to_string())
            .collect();
        let got: BTreeSet<String> = route(&r, "amq.topic", &key).into_iter().collect();
        assert_eq!(got, expected, "{key}");
    }
}

#[test]
fn default_exchange_resolver_runs_without_router_locks_held() {
    let r = Arc::new(router());
    let weak = Arc::downgrade(&r);
    // A resolver that changes the router would deadlock if called under its locks.
    r.set_default_exchange_resolver(move |name| {
        let r = weak.upgrade()?;
        r.bind("amq.fanout", q(name), "", Table::new()).ok()?;
        Some(Target::Queue(name.to_string()))
    });
    assert_eq!(route(&r, "", "orders"), ["orders"]);
    assert_eq!(route(&r, "amq.fanout", ""), ["orders"]);
}

#[test]
fn several_routing_keys_route_as_one_message_with_one_fallback() {
    let r = router();
    declare(&r, "ae", ExchangeKind::Fanout);
    r.bind("ae", q("fallback"), "", Table::new()).unwrap();
    let main = ExchangeDef {
        arguments: args(&[(ALTERNATE_EXCHANGE, text("ae"))]),
        ..def("main", ExchangeKind::Direct)
    };
    r.declare_exchange(main, false).unwrap();
    r.bind("main", q("a"), "a", Table::new()).unwrap();
    r.bind("main", q("b"), "b", Table::new()).unwrap();
    let keys = |ks: &[&str]| names(r.route_keys("main", ks, &[]).unwrap());
    assert_eq!(keys(&["a", "b", "a"]), ["a", "b"]);
    // One key routes: the alternate is not used for the others.
    assert_eq!(keys(&["a", "nowhere"]), ["a"]);
    assert_eq!(keys(&["nowhere", "neither"]), ["fallback"]);
    assert_eq!(names(r.route_keys("", &["x", "y", "x"], &[]).unwrap()), ["x", "y"]);
}
