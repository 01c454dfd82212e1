//! Filter policies: which messages a binding lets through, in the language of Amazon SNS
//! subscription filter policies, evaluated by the router.
//!
//! A policy is a JSON object. Its keys are ANDed; each key holds an array of conditions, ORed,
//! or (on the body only) a nested object that matches the object at that key. `"$or"` holds an
//! array of policies of which one must match, beside the other keys. A condition is:
//!
//! - a string, number, `true`, `false` or `null`: the value equals it (numbers compare as
//!   numbers, so `5` matches `5.0`);
//! - `{"prefix": "s"}`, `{"suffix": "s"}`, `{"equals-ignore-case": "s"}`;
//! - `{"anything-but": v}` with `v` a literal, an array of literals, or
//!   `{"prefix": "s"}` / `{"suffix": "s"}`: the value exists and is none of them;
//! - `{"numeric": ["=", 5]}` or one or two bounds `{"numeric": [">", 0, "<=", 10]}`;
//! - `{"exists": true}` / `{"exists": false}`: the key is present / absent.
//!
//! A value that is an array (an SNS `String.Array` attribute, a JSON array in the body) matches
//! when one of its elements does. Only `{"exists": false}` matches an absent key.
//!
//! The policy reads either the message's headers ([`FilterScope::MessageAttributes`], where
//! nesting is refused as SNS refuses it) or its body parsed as JSON
//! ([`FilterScope::MessageBody`]; a body that is not a JSON object matches nothing).
//!
//! Bounds, as SNS has them: at most [`MAX_CONDITIONS`] conditions in a policy and
//! [`MAX_DEPTH`] levels of nesting; the text itself is bounded by whoever stores it.

use std::cell::OnceCell;

use crate::message::Value;

/// The binding argument holding a filter policy as JSON text.
pub const X_FILTER_POLICY: &str = "x-filter-policy";
/// The binding argument naming what the policy reads: `MessageAttributes` (the default) or
/// `MessageBody`.
pub const X_FILTER_POLICY_SCOPE: &str = "x-filter-policy-scope";
/// Most conditions (values to compare) in one policy, `$or` branches included.
pub const MAX_CONDITIONS: usize = 150;
/// Most levels of nested keys and `$or` in one policy.
pub const MAX_DEPTH: usize = 16;

/// What a filter policy reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FilterScope {
    /// The message's headers (SNS message attributes).
    #[default]
    MessageAttributes,
    /// The message's body, parsed as a JSON object.
    MessageBody,
}

impl FilterScope {
    /// The scope named as SNS names it.
    pub fn parse(name: &str) -> Option<FilterScope> {
        match name {
            "MessageAttributes" => Some(FilterScope::MessageAttributes),
            "MessageBody" => Some(FilterScope::MessageBody),
            _ => None,
        }
    }

    /// SNS's name of the scope.
    pub fn name(self) -> &'static str {
        match self {
            FilterScope::MessageAttributes => "MessageAttributes",
            FilterScope::MessageBody => "MessageBody",
        }
    }
}

/// Why a filter policy was refused: a sentence naming the part at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterPolicyError(pub String);

fn invalid<T>(reason: impl Into<String>) -> Result<T, FilterPolicyError> {
    Err(FilterPolicyError(reason.into()))
}

/// A parsed filter policy with its scope.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterPolicy {
    scope: FilterScope,
    root: Node,
}

#[derive(Clone, Debug, PartialEq)]
struct Node {
    keys: Vec<(String, Field)>,
    /// Each entry is one `$or`: one of its policies must match.
    ors: Vec<Vec<Node>>,
}

#[derive(Clone, Debug, PartialEq)]
enum Field {
    Conditions(Vec<Condition>),
    Nested(Node),
}

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
    Null,
}

#[derive(Clone, Debug, PartialEq)]
enum Condition {
    Equals(Literal),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(String),
    AnythingBut(Vec<Literal>),
    AnythingButPrefix(String),
    AnythingButSuffix(String),
    Numeric { lower: Option<(f64, bool)>, upper: Option<(f64, bool)> },
    Exists(bool),
}

/// One value a condition is compared with, borrowed from the headers or the body.
#[derive(Clone, Copy, Debug)]
enum Item<'a> {
    Text(&'a str),
    Number(f64),
    Bool(bool),
    Null,
    /// Present but comparable with nothing (bytes, a table, an object).
    Opaque,
}

impl FilterPolicy {
    /// Parses `text` as a policy read in `scope`.
    pub fn parse(text: &str, scope: FilterScope) -> Result<FilterPolicy, FilterPolicyError> {
        let json: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return invalid(format!("the filter policy is not valid JSON: {e}")),
        };
        let serde_json::Value::Object(map) = json else {
            return invalid("the filter policy must be a JSON object");
        };
        let mut conditions = 0;
        let root = parse_node(&map, scope, 0, &mut conditions)?;
        if root.keys.is_empty() && root.ors.is_empty() {
            return invalid("the filter policy must name at least one key");
        }
        Ok(FilterPolicy { scope, root })
    }

    /// What the policy reads.
    pub fn scope(&self) -> FilterScope {
        self.scope
    }

    /// Whether a message with these headers and this body passes. `body` is the parsed body
    /// when the caller has it (`None` for a body that is not JSON or not given).
    pub fn matches(&self, headers: &[(String, Value)], body: Option<&serde_json::Value>) -> bool {
        match self.scope {
            FilterScope::MessageAttributes => self.root.matches_headers(headers),
            FilterScope::MessageBody => match body {
                Some(serde_json::Value::Object(object)) => self.root.matches_object(object),
                _ => false,
            },
        }
    }
}

fn parse_node(
    map: &serde_json::Map<String, serde_json::Value>,
    scope: FilterScope,
    depth: usize,
    conditions: &mut usize,
) -> Result<Node, FilterPolicyError> {
    if depth >= MAX_DEPTH {
        return invalid(format!("the filter policy is nested deeper than {MAX_DEPTH} levels"));
    }
    let mut node = Node { keys: Vec::new(), ors: Vec::new() };
    for (key, value) in map {
        if key == "$or" {
            let serde_json::Value::Array(branches) = value else {
                return invalid("\"$or\" must hold an array of at least two policies");
            };
            if branches.len() < 2 {
                return invalid("\"$or\" must hold an array of at least two policies");
            }
            let mut parsed = Vec::with_capacity(branches.len());
            for branch in branches {
                let serde_json::Value::Object(branch) = branch else {
                    return invalid("each policy under \"$or\" must be a JSON object");
                };
                parsed.push(parse_node(branch, scope, depth + 1, conditions)?);
            }
            node.ors.push(parsed);
            continue;
        }
        let field = match value {
            serde_json::Value::Array(items) => {
                if items.is_empty() {
                    return invalid(format!("key \"{key}\" has an empty array of conditions"));
                }
                let mut parsed = Vec::with_capacity(items.len());
                for item in items {
                    *conditions += 1;
                    if *conditions > MAX_CONDITIONS {
                        return invalid(format!(
                            "the filter policy has more than {MAX_CONDITIONS} conditions"
                        ));
                    }
                    parsed.push(parse_condition(key, item)?);
                }
                Field::Conditions(parsed)
            }
            serde_json::Value::Object(nested) if scope == FilterScope::MessageBody => {
                Field::Nested(parse_node(nested, scope, depth + 1, conditions)?)
            }
            serde_json::Value::Object(_) => {
                return invalid(format!(
                    "key \"{key}\": nested policies need the MessageBody scope; message attributes are flat"
                ));
            }
            _ => return invalid(format!("key \"{key}\" must hold an array of conditions")),
        };
        node.keys.push((key.clone(), field));
    }
    Ok(node)
}

fn literal(value: &serde_json::Value) -> Option<Literal> {
    Some(match value {
        serde_json::Value::String(s) => Literal::Text(s.clone()),
        serde_json::Value::Number(n) => Literal::Number(n.as_f64()?),
        serde_json::Value::Bool(b) => Literal::Bool(*b),
        serde_json::Value::Null => Literal::Null,
        _ => return None,
    })
}

fn text_operand(key: &str, operator: &str, value: &serde_json::Value) -> Result<String, FilterPolicyError> {
    match value {
        serde_json::Value::String(s) if !s.is_empty() => Ok(s.clone()),
        _ => invalid(format!("key \"{key}\": \"{operator}\" takes a non-empty string")),
    }
}

fn parse_condition(key: &str, item: &serde_json::Value) -> Result<Condition, FilterPolicyError> {
    if let Some(l) = literal(item) {
        return Ok(Condition::Equals(l));
    }
    let serde_json::Value::Object(operator) = item else {
        return invalid(format!("key \"{key}\": a condition is a literal or an object with one operator"));
    };
    let mut entries = operator.iter();
    let (Some((name, operand)), None) = (entries.next(), entries.next()) else {
        return invalid(format!("key \"{key}\": a condition object holds exactly one operator"));
    };
    match name.as_str() {
        "prefix" => Ok(Condition::Prefix(text_operand(key, name, operand)?)),
        "suffix" => Ok(Condition::Suffix(text_operand(key, name, operand)?)),
        "equals-ignore-case" => Ok(Condition::EqualsIgnoreCase(text_operand(key, name, operand)?)),
        "exists" => match operand {
            serde_json::Value::Bool(b) => Ok(Condition::Exists(*b)),
            _ => invalid(format!("key \"{key}\": \"exists\" takes true or false")),
        },
        "anything-but" => parse_anything_but(key, operand),
        "numeric" => parse_numeric(key, operand),
        other => invalid(format!(
            "key \"{key}\": unknown operator \"{other}\" (prefix, suffix, equals-ignore-case, anything-but, numeric, exists)"
        )),
    }
}

fn parse_anything_but(key: &str, operand: &serde_json::Value) -> Result<Condition, FilterPolicyError> {
    match operand {
        serde_json::Value::Array(values) => {
            if values.is_empty() {
                return invalid(format!("key \"{key}\": \"anything-but\" has an empty array"));
            }
            let literals: Option<Vec<Literal>> = values.iter().map(literal).collect();
            match literals {
                Some(l) => Ok(Condition::AnythingBut(l)),
                None => invalid(format!("key \"{key}\": \"anything-but\" lists strings or numbers only")),
            }
        }
        serde_json::Value::Object(inner) => {
            let mut entries = inner.iter();
            match (entries.next(), entries.next()) {
                (Some((name, value)), None) if name == "prefix" => {
                    Ok(Condition::AnythingButPrefix(text_operand(key, "anything-but prefix", value)?))
                }
                (Some((name, value)), None) if name == "suffix" => {
                    Ok(Condition::AnythingButSuffix(text_operand(key, "anything-but suffix", value)?))
                }
                _ => invalid(format!("key \"{key}\": \"anything-but\" takes only a prefix or suffix object")),
            }
        }
        other => match literal(other) {
            Some(l) => Ok(Condition::AnythingBut(vec![l])),
            None => invalid(format!("key \"{key}\": \"anything-but\" takes a literal or a list")),
        },
    }
}

fn parse_numeric(key: &str, operand: &serde_json::Value) -> Result<Condition, FilterPolicyError> {
    let bad = || {
        invalid(format!(
            "key \"{key}\": \"numeric\" takes [\"=\", n] or one or two bounds like [\">\", 0, \"<=\", 10]"
        ))
    };
    let serde_json::Value::Array(parts) = operand else { return bad() };
    if parts.is_empty() || parts.len() % 2 != 0 || parts.len() > 4 {
        return bad();
    }
    let (mut lower, mut upper) = (None, None);
    let mut equal = None;
    for pair in parts.chunks(2) {
        let (Some(op), Some(n)) = (pair[0].as_str(), pair[1].as_f64()) else { return bad() };
        match op {
            "=" if parts.len() == 2 => equal = Some(n),
            ">" if lower.is_none() => lower = Some((n, false)),
            ">=" if lower.is_none() => lower = Some((n, true)),
            "<" if upper.is_none() => upper = Some((n, false)),
            "<=" if upper.is_none() => upper = Some((n, true)),
            _ => return bad(),
        }
    }
    if let Some(n) = equal {
        return Ok(Condition::Numeric { lower: Some((n, true)), upper: Some((n, true)) });
    }
    if let (Some((low, _)), Some((high, _))) = (lower, upper)
        && low > high
    {
        return invalid(format!("key \"{key}\": the lower bound of \"numeric\" is above its upper bound"));
    }
    Ok(Condition::Numeric { lower, upper })
}

impl Node {
    fn matches_headers(&self, headers: &[(String, Value)]) -> bool {
        let keys = self.keys.iter().all(|(key, field)| {
            let Field::Conditions(conditions) = field else { return false };
            let value = crate::message::lookup(headers, key);
            let mut items = Vec::new();
            if let Some(v) = value {
                header_items(v, &mut items);
            }
            conditions_match(conditions, value.is_some(), &items)
        });
        keys && self.ors.iter().all(|branches| branches.iter().any(|b| b.matches_headers(headers)))
    }

    fn matches_object(&self, object: &serde_json::Map<String, serde_json::Value>) -> bool {
        let keys = self.keys.iter().all(|(key, field)| {
            let value = object.get(key);
            match field {
                Field::Conditions(conditions) => {
                    let mut items = Vec::new();
                    if let Some(v) = value {
                        json_items(v, &mut items);
                    }
                    conditions_match(conditions, value.is_some(), &items)
                }
                Field::Nested(node) => match value {
                    Some(serde_json::Value::Object(inner)) => node.matches_object(inner),
                    Some(serde_json::Value::Array(elements)) => elements.iter().any(|e| match e {
                        serde_json::Value::Object(inner) => node.matches_object(inner),
                        _ => false,
                    }),
                    // An absent object still satisfies nested `exists: false` conditions.
                    _ => node.matches_object(&serde_json::Map::new()),
                },
            }
        });
        keys && self.ors.iter().all(|branches| branches.iter().any(|b| b.matches_object(object)))
    }
}

fn header_items<'a>(value: &'a Value, out: &mut Vec<Item<'a>>) {
    let item = match value {
        Value::Array(elements) => {
            for e in elements {
                if !matches!(e, Value::Array(_)) {
                    header_items(e, out);
                }
            }
            return;
        }
        Value::Text(s) => Item::Text(s),
        Value::Bool(b) => Item::Bool(*b),
        Value::Void => Item::Null,
        Value::I8(n) => Item::Number(f64::from(*n)),
        Value::U8(n) => Item::Number(f64::from(*n)),
        Value::I16(n) => Item::Number(f64::from(*n)),
        Value::U16(n) => Item::Number(f64::from(*n)),
        Value::I32(n) => Item::Number(f64::from(*n)),
        Value::U32(n) => Item::Number(f64::from(*n)),
        Value::I64(n) => Item::Number(*n as f64),
        Value::U64(n) => Item::Number(*n as f64),
        Value::F32(n) => Item::Number(f64::from(*n)),
        Value::F64(n) => Item::Number(*n),
        Value::Decimal { scale, value } => Item::Number(f64::from(*value) / 10f64.powi(i32::from(*scale))),
        Value::Timestamp(_) | Value::Bytes(_) | Value::Table(_) => Item::Opaque,
    };
    out.push(item);
}

fn json_items<'a>(value: &'a serde_json::Value, out: &mut Vec<Item<'a>>) {
    let item = match value {
        serde_json::Value::Array(elements) => {
            for e in elements {
                if !e.is_array() {
                    json_items(e, out);
                }
            }
            return;
        }
        serde_json::Value::String(s) => Item::Text(s),
        serde_json::Value::Number(n) => n.as_f64().map_or(Item::Opaque, Item::Number),
        serde_json::Value::Bool(b) => Item::Bool(*b),
        serde_json::Value::Null => Item::Null,
        serde_json::Value::Object(_) => Item::Opaque,
    };
    out.push(item);
}

/// Conditions of one key, ORed, over the key's value (`present`) and its items.
fn conditions_match(conditions: &[Condition], present: bool, items: &[Item<'_>]) -> bool {
    conditions.iter().any(|c| match c {
        Condition::Exists(wanted) => *wanted == present,
        other => items.iter().any(|item| condition_matches(other, *item)),
    })
}

/// A number an item stands for: a number, or text that reads as one (SNS `Number` attributes
/// travel as text through queues).
fn number(item: Item<'_>) -> Option<f64> {
    match item {
        Item::Number(n) => Some(n),
        Item::Text(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

fn literal_matches(literal: &Literal, item: Item<'_>) -> bool {
    match (literal, item) {
        (Literal::Text(l), Item::Text(s)) => l == s,
        (Literal::Number(l), Item::Number(n)) => *l == n,
        (Literal::Number(l), Item::Text(_)) => number(item) == Some(*l),
        (Literal::Bool(l), Item::Bool(b)) => *l == b,
        (Literal::Null, Item::Null) => true,
        _ => false,
    }
}

fn condition_matches(condition: &Condition, item: Item<'_>) -> bool {
    let text = match item {
        Item::Text(s) => Some(s),
        _ => None,
    };
    match condition {
        Condition::Equals(l) => literal_matches(l, item),
        Condition::Prefix(p) => text.is_some_and(|s| s.starts_with(p.as_str())),
        Condition::Suffix(p) => text.is_some_and(|s| s.ends_with(p.as_str())),
        Condition::EqualsIgnoreCase(p) => text.is_some_and(|s| s.to_lowercase() == p.to_lowercase()),
        Condition::AnythingBut(literals) => !literals.iter().any(|l| literal_matches(l, item)),
        Condition::AnythingButPrefix(p) => text.is_some_and(|s| !s.starts_with(p.as_str())),
        Condition::AnythingButSuffix(p) => text.is_some_and(|s| !s.ends_with(p.as_str())),
        Condition::Numeric { lower, upper } => number(item).is_some_and(|n| {
            let above = lower.is_none_or(|(low, inclusive)| if inclusive { n >= low } else { n > low });
            let below = upper.is_none_or(|(high, inclusive)| if inclusive { n <= high } else { n < high });
            above && below
        }),
        Condition::Exists(_) => false,
    }
}

/// A message body parsed as JSON the first time a body-scoped filter policy asks for it.
pub(super) struct LazyBody<'a> {
    bytes: Option<&'a [u8]>,
    parsed: OnceCell<Option<serde_json::Value>>,
}

impl<'a> LazyBody<'a> {
    pub(super) fn new(bytes: Option<&'a [u8]>) -> LazyBody<'a> {
        LazyBody { bytes, parsed: OnceCell::new() }
    }

    /// The parsed body when `scope` reads it (`None` for the attributes scope, or a body that
    /// is missing or not JSON).
    pub(super) fn get(&self, scope: FilterScope) -> Option<&serde_json::Value> {
        if scope != FilterScope::MessageBody {
            return None;
        }
        self.parsed.get_or_init(|| self.bytes.and_then(|b| serde_json::from_slice(b).ok())).as_ref()
    }
}
