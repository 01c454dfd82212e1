//! Routing: each exchange kind, the default exchange, exchange-to-exchange chains, internal
//! exchanges, alternates, several routing keys, and routing beside concurrent changes.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::tests::{args, declare, def, names, q, route, route_headers, router, text, x};
use super::*;

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
