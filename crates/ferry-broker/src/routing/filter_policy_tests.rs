use proptest::prelude::*;
use serde_json::json;

use super::filter_policy::{FilterPolicy, FilterScope};
use crate::message::Value;

fn attrs(policy: &str) -> FilterPolicy {
    FilterPolicy::parse(policy, FilterScope::MessageAttributes).expect("policy")
}

fn body(policy: &str) -> FilterPolicy {
    FilterPolicy::parse(policy, FilterScope::MessageBody).expect("policy")
}

fn text(name: &str, value: &str) -> (String, Value) {
    (name.to_string(), Value::Text(value.to_string()))
}

fn number(name: &str, value: f64) -> (String, Value) {
    (name.to_string(), Value::F64(value))
}

#[test]
fn exact_strings_are_ored_within_a_key_and_keys_are_anded() {
    let p = attrs(r#"{"store": ["shop", "mall"], "kind": ["order"]}"#);
    assert!(p.matches(&[text("store", "mall"), text("kind", "order")], None));
    assert!(!p.matches(&[text("store", "mall"), text("kind", "refund")], None));
    assert!(!p.matches(&[text("store", "mall")], None), "a key the message lacks does not match");
}

#[test]
fn numbers_match_numbers_and_numeric_text() {
    let p = attrs(r#"{"price": [5]}"#);
    assert!(p.matches(&[number("price", 5.0)], None));
    assert!(p.matches(&[text("price", "5.0")], None), "an SNS Number attribute travels as text");
    assert!(!p.matches(&[number("price", 6.0)], None));
    let s = attrs(r#"{"price": ["5"]}"#);
    assert!(!s.matches(&[number("price", 5.0)], None), "a string condition does not match a number");
}

#[test]
fn prefix_suffix_and_equals_ignore_case() {
    let p = attrs(
        r#"{"a": [{"prefix": "eu-"}], "b": [{"suffix": ".png"}], "c": [{"equals-ignore-case": "RED"}]}"#,
    );
    assert!(p.matches(&[text("a", "eu-west"), text("b", "x.png"), text("c", "red")], None));
    assert!(!p.matches(&[text("a", "us-east"), text("b", "x.png"), text("c", "red")], None));
    assert!(!p.matches(&[text("a", "eu-west"), text("b", "x.jpg"), text("c", "red")], None));
    assert!(!p.matches(&[text("a", "eu-west"), text("b", "x.png"), text("c", "blue")], None));
}

#[test]
fn anything_but_needs_the_key_and_refuses_the_listed_values() {
    let p = attrs(r#"{"store": [{"anything-but": ["a", "b"]}]}"#);
    assert!(p.matches(&[text("store", "c")], None));
    assert!(!p.matches(&[text("store", "a")], None));
    assert!(!p.matches(&[], None), "anything-but does not match an absent key");
    let n = attrs(r#"{"n": [{"anything-but": 5}]}"#);
    assert!(n.matches(&[number("n", 6.0)], None));
    assert!(!n.matches(&[number("n", 5.0)], None));
    let prefix = attrs(r#"{"s": [{"anything-but": {"prefix": "tmp"}}]}"#);
    assert!(prefix.matches(&[text("s", "final")], None));
    assert!(!prefix.matches(&[text("s", "tmp1")], None));
    let suffix = attrs(r#"{"s": [{"anything-but": {"suffix": ".tmp"}}]}"#);
    assert!(!suffix.matches(&[text("s", "a.tmp")], None));
}

#[test]
fn numeric_ranges_and_equality() {
    let p = attrs(r#"{"n": [{"numeric": [">", 0, "<=", 10]}]}"#);
    assert!(!p.matches(&[number("n", 0.0)], None));
    assert!(p.matches(&[number("n", 0.5)], None));
    assert!(p.matches(&[number("n", 10.0)], None));
    assert!(!p.matches(&[number("n", 10.5)], None));
    assert!(!p.matches(&[text("n", "abc")], None));
    let eq = attrs(r#"{"n": [{"numeric": ["=", 3]}]}"#);
    assert!(eq.matches(&[(String::from("n"), Value::I32(3))], None));
    let open = attrs(r#"{"n": [{"numeric": [">=", 100]}]}"#);
    assert!(open.matches(&[number("n", 100.0)], None));
    assert!(!open.matches(&[number("n", 99.0)], None));
}

#[test]
fn exists_true_and_false() {
    let present = attrs(r#"{"k": [{"exists": true}]}"#);
    let absent = attrs(r#"{"k": [{"exists": false}]}"#);
    let with = [(String::from("k"), Value::Bytes(bytes::Bytes::from_static(b"\x00")))];
    assert!(present.matches(&with, None));
    assert!(!present.matches(&[], None));
    assert!(absent.matches(&[], None));
    assert!(!absent.matches(&with, None));
}

#[test]
fn an_array_value_matches_when_one_element_does() {
    let p = attrs(r#"{"tags": ["b"]}"#);
    let array = Value::Array(vec![Value::Text("a".into()), Value::Text("b".into())]);
    assert!(p.matches(&[(String::from("tags"), array)], None));
    let other = Value::Array(vec![Value::Text("a".into())]);
    assert!(!p.matches(&[(String::from("tags"), other)], None));
}

#[test]
fn or_combines_with_the_other_keys() {
    let p = attrs(r#"{"source": ["aws.cloudwatch"], "$or": [{"metric": ["CPU"]}, {"namespace": ["EC2"]}]}"#);
    assert!(p.matches(&[text("source", "aws.cloudwatch"), text("metric", "CPU")], None));
    assert!(p.matches(&[text("source", "aws.cloudwatch"), text("namespace", "EC2")], None));
    assert!(!p.matches(&[text("source", "aws.cloudwatch"), text("metric", "RAM")], None));
    assert!(!p.matches(&[text("source", "other"), text("metric", "CPU")], None));
}

#[test]
fn body_policies_follow_nested_keys_and_arrays_of_objects() {
    let p = body(r#"{"order": {"status": ["paid"], "total": [{"numeric": [">", 100]}]}}"#);
    assert!(p.matches(&[], Some(&json!({"order": {"status": "paid", "total": 150}}))));
    assert!(!p.matches(&[], Some(&json!({"order": {"status": "paid", "total": 50}}))));
    assert!(!p.matches(&[], Some(&json!({"status": "paid", "total": 150}))));
    assert!(!p.matches(&[], Some(&json!("not an object"))));
    assert!(!p.matches(&[], None), "a body that is not JSON matches nothing");
    let items = body(r#"{"items": {"sku": ["x1"]}}"#);
    assert!(items.matches(&[], Some(&json!({"items": [{"sku": "x0"}, {"sku": "x1"}]}))));
    let flags = body(r#"{"ok": [true], "gone": [null]}"#);
    assert!(flags.matches(&[], Some(&json!({"ok": true, "gone": null}))));
    assert!(!flags.matches(&[], Some(&json!({"ok": false, "gone": null}))));
}

#[test]
fn body_scope_ignores_headers_and_attribute_scope_ignores_the_body() {
    let b = body(r#"{"k": ["v"]}"#);
    assert!(!b.matches(&[text("k", "v")], Some(&json!({}))));
    let a = attrs(r#"{"k": ["v"]}"#);
    assert!(!a.matches(&[], Some(&json!({"k": "v"}))));
}

#[test]
fn malformed_policies_are_refused_with_a_reason() {
    for (policy, scope) in [
        ("[]", FilterScope::MessageAttributes),
        ("{", FilterScope::MessageAttributes),
        ("{}", FilterScope::MessageAttributes),
        (r#"{"k": "v"}"#, FilterScope::MessageAttributes),
        (r#"{"k": []}"#, FilterScope::MessageAttributes),
        (r#"{"k": {"nested": ["v"]}}"#, FilterScope::MessageAttributes),
        (r#"{"k": [{"prefix": 1}]}"#, FilterScope::MessageAttributes),
        (r#"{"k": [{"wildcard": "x"}]}"#, FilterScope::MessageAttributes),
        (r#"{"k": [{"numeric": [">", 5, "<", 1]}]}"#, FilterScope::MessageAttributes),
        (r#"{"k": [{"numeric": ["=", 1, "<", 5]}]}"#, FilterScope::MessageAttributes),
        (r#"{"k": [{"exists": "yes"}]}"#, FilterScope::MessageAttributes),
        (r#"{"$or": [{"a": ["1"]}]}"#, FilterScope::MessageAttributes),
        (r#"{"k": [{"prefix": "a", "suffix": "b"}]}"#, FilterScope::MessageAttributes),
    ] {
        let e = FilterPolicy::parse(policy, scope).expect_err(policy);
        assert!(!e.0.is_empty(), "{policy}");
    }
}

#[test]
fn a_policy_is_bounded_in_conditions_and_depth() {
    let many: Vec<String> = (0..151).map(|i| format!("\"v{i}\"")).collect();
    let policy = format!("{{\"k\": [{}]}}", many.join(","));
    assert!(FilterPolicy::parse(&policy, FilterScope::MessageAttributes).is_err());
    let deep = format!("{}[\"v\"]{}", "{\"k\":".repeat(20), "}".repeat(20));
    assert!(FilterPolicy::parse(&deep, FilterScope::MessageBody).is_err());
}

proptest! {
    // An exact-string policy agrees with a plain membership model, whatever the values.
    #[test]
    fn exact_string_policy_agrees_with_membership(
        allowed in proptest::collection::vec("[a-c]{1,2}", 1..5),
        value in proptest::option::of("[a-c]{1,2}"),
    ) {
        let list: Vec<String> = allowed.iter().map(|s| format!("\"{s}\"")).collect();
        let p = attrs(&format!("{{\"k\": [{}]}}", list.join(",")));
        let headers: Vec<(String, Value)> = value.iter().map(|v| text("k", v)).collect();
        let expected = value.as_ref().is_some_and(|v| allowed.contains(v));
        prop_assert_eq!(p.matches(&headers, None), expected);
        let but = attrs(&format!("{{\"k\": [{{\"anything-but\": [{}]}}]}}", list.join(",")));
        let expected_but = value.as_ref().is_some_and(|v| !allowed.contains(v));
        prop_assert_eq!(but.matches(&headers, None), expected_but);
    }

    // A numeric range agrees with the comparison it spells.
    #[test]
    fn numeric_range_agrees_with_comparison(low in -1000i32..1000, width in 0i32..500, n in -2000i32..2000) {
        let high = low + width;
        let p = attrs(&format!("{{\"n\": [{{\"numeric\": [\">=\", {low}, \"<\", {high}]}}]}}"));
        let expected = n >= low && n < high;
        prop_assert_eq!(p.matches(&[number("n", f64::from(n))], None), expected);
    }

    // Parsing arbitrary JSON-ish text never panics.
    #[test]
    fn parsing_arbitrary_text_never_panics(text in "[\\[\\]{}:,\"a-z0-9 $-]{0,80}") {
        let _ = FilterPolicy::parse(&text, FilterScope::MessageBody);
        let _ = FilterPolicy::parse(&text, FilterScope::MessageAttributes);
    }
}
