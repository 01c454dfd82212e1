//! The router's rules for exchanges and bindings (kinds, declares, deletes, binds, unbinds,
//! auto-delete, limits), and the helpers the other routing tests share.

use std::sync::Arc;

use super::*;
use crate::metadata::MemoryStore;

pub(super) fn router() -> Router {
    Router::open(Arc::new(MemoryStore::new())).unwrap()
}

pub(super) fn q(name: &str) -> Destination {
    Destination::Queue(name.to_string())
}

pub(super) fn x(name: &str) -> Destination {
    Destination::Exchange(name.to_string())
}

pub(super) fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

pub(super) fn args(pairs: &[(&str, Value)]) -> Table {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

pub(super) fn def(name: &str, kind: ExchangeKind) -> ExchangeDef {
    ExchangeDef::new(name, kind)
}

pub(super) fn declare(r: &Router, name: &str, kind: ExchangeKind) {
    assert_eq!(r.declare_exchange(def(name, kind), false).unwrap(), DeclareOutcome::Created);
}

pub(super) fn names(routed: Routed) -> Vec<String> {
    routed.targets.iter().map(|t| t.name().to_string()).collect()
}

pub(super) fn route(r: &Router, exchange: &str, key: &str) -> Vec<String> {
    names(r.route(exchange, key, &[]).unwrap())
}

pub(super) fn route_headers(r: &Router, exchange: &str, headers: &[(&str, Value)]) -> Vec<String> {
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
