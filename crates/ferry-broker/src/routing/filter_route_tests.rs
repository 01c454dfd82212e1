//! Filtered bindings and subscriptions in the router: routing by a binding's filter policy,
//! subscriptions kept when their queue goes, replacing a binding, exchange arguments, and what
//! a reopened router recovers of them.

use std::sync::Arc;

use super::tests::{args, declare, names, q, route, text};
use super::*;
use crate::metadata::{MemoryStore, MetadataStore};

fn filtered(policy: &str) -> Table {
    args(&[(X_FILTER_POLICY, text(policy))])
}

#[test]
fn a_filtered_binding_takes_only_the_messages_its_policy_matches() {
    let r = router_over(Arc::new(MemoryStore::new()));
    declare(&r, "topic", ExchangeKind::Fanout);
    r.bind("topic", q("all"), "", Table::new()).unwrap();
    r.bind("topic", q("red"), "", filtered(r#"{"color": ["red"]}"#)).unwrap();
    let red = [("color".to_string(), text("red"))];
    assert_eq!(names(r.route("topic", "", &red).unwrap()), ["all", "red"]);
    assert_eq!(names(r.route("topic", "", &[]).unwrap()), ["all"]);
    assert_eq!(route(&r, "topic", "k"), ["all"]);
}

#[test]
fn a_body_scoped_policy_reads_the_json_body() {
    let r = router_over(Arc::new(MemoryStore::new()));
    declare(&r, "topic", ExchangeKind::Fanout);
    let mut a = filtered(r#"{"order": {"total": [{"numeric": [">", 10]}]}}"#);
    a.push((X_FILTER_POLICY_SCOPE.to_string(), text("MessageBody")));
    r.bind("topic", q("big"), "", a).unwrap();
    let big = br#"{"order": {"total": 20}}"#;
    assert_eq!(names(r.route_message("topic", &[""], &[], big).unwrap()), ["big"]);
    assert!(r.route_message("topic", &[""], &[], br#"{"order": {"total": 2}}"#).unwrap().is_unroutable());
    assert!(r.route_message("topic", &[""], &[], b"not json").unwrap().is_unroutable());
    assert!(r.route("topic", "", &[]).unwrap().is_unroutable(), "no body, no match");
    let m = r.matching_bindings("topic", &[], big).unwrap();
    assert_eq!(m.len(), 1);
    assert!(r.matching_bindings("topic", &[], b"{}").unwrap().is_empty());
}

#[test]
fn a_bad_policy_or_a_filter_off_a_fanout_exchange_is_refused() {
    let r = router_over(Arc::new(MemoryStore::new()));
    declare(&r, "topic", ExchangeKind::Fanout);
    let e = r.bind("topic", q("a"), "", filtered("{\"k\": 1}")).unwrap_err();
    assert!(matches!(e, RoutingError::InvalidArgument { .. }), "{e}");
    let mut scope = filtered(r#"{"k": ["v"]}"#);
    scope.push((X_FILTER_POLICY_SCOPE.to_string(), text("Elsewhere")));
    assert!(r.bind("topic", q("a"), "", scope).is_err());
    let e = r.bind("amq.direct", q("a"), "k", filtered(r#"{"k": ["v"]}"#)).unwrap_err();
    assert!(e.to_string().contains("fanout"), "{e}");
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn a_subscription_outlives_its_deleted_queue_and_a_plain_binding_does_not() {
    let r = router_over(Arc::new(MemoryStore::new()));
    declare(&r, "topic", ExchangeKind::Fanout);
    r.bind("topic", q("q"), "", args(&[(X_SUBSCRIPTION, text("s1"))])).unwrap();
    r.bind("topic", q("q"), "plain", Table::new()).unwrap();
    r.remove_destination(&q("q")).unwrap();
    let left = r.bindings_from("topic");
    assert_eq!(left.len(), 1);
    assert!(crate::message::lookup(&left[0].arguments, X_SUBSCRIPTION).is_some());
    r.delete_exchange("topic", false).unwrap();
    assert_eq!(r.binding_count(), 0, "deleting the exchange takes its subscriptions");
}

#[test]
fn replacing_a_binding_changes_its_filter_and_survives_a_reopen() {
    let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let r = router_over(meta.clone());
    declare(&r, "topic", ExchangeKind::Fanout);
    let old = Binding {
        source: "topic".into(),
        destination: q("q"),
        routing_key: String::new(),
        arguments: filtered(r#"{"k": ["a"]}"#),
    };
    r.bind("topic", old.destination.clone(), "", old.arguments.clone()).unwrap();
    let new = Binding { arguments: filtered(r#"{"k": ["b"]}"#), ..old.clone() };
    r.replace_binding(&old, new.clone()).unwrap();
    assert!(matches!(r.replace_binding(&old, new.clone()), Err(RoutingError::BindingNotFound { .. })));
    let b = [("k".to_string(), text("b"))];
    assert_eq!(names(r.route("topic", "", &b).unwrap()), ["q"]);
    assert!(r.route("topic", "", &[("k".to_string(), text("a"))]).unwrap().is_unroutable());
    r.set_exchange_arguments("topic", args(&[("x-sns-topic", text("{}"))])).unwrap();
    drop(r);
    let reopened = router_over(meta);
    assert_eq!(reopened.bindings_from("topic"), [new]);
    assert_eq!(names(reopened.route("topic", "", &b).unwrap()), ["q"]);
    assert_eq!(reopened.exchange("topic").unwrap().arguments, args(&[("x-sns-topic", text("{}"))]));
}

#[test]
fn exchange_arguments_that_route_cannot_be_changed() {
    let r = router_over(Arc::new(MemoryStore::new()));
    declare(&r, "topic", ExchangeKind::Fanout);
    let e = r.set_exchange_arguments("topic", args(&[(ALTERNATE_EXCHANGE, text("ae"))])).unwrap_err();
    assert!(matches!(e, RoutingError::Inequivalent { .. }), "{e}");
    assert!(r.set_exchange_arguments("missing", Table::new()).is_err());
}

fn router_over(meta: Arc<dyn MetadataStore>) -> Router {
    Router::open(meta).unwrap()
}
