//! The headers exchange's matcher: binding arguments compared with message headers.
//!
//! What RabbitMQ does (read from its `rabbit_exchange_type_headers`), and so ferry:
//! - `x-match` is `all` (the default, also for a binding without it), `any`, `all-with-x` or
//!   `any-with-x`; any other value is refused when binding.
//! - `x-match` itself never takes part; other binding arguments whose names start with `x-`
//!   are ignored by `all` and `any` and compared by the `-with-x` forms.
//! - A binding argument whose value is void matches when the message has a header of that
//!   name, whatever its value.
//! - `all` with no argument left to compare matches every message; `any` then matches none.
//! - Values are compared by value, not by type: RabbitMQ compares the Erlang terms with `==`
//!   and drops the AMQP type tags, so integers of any width and sign, timestamps and floats
//!   are equal when their numbers are (`I32(5)` equals `U8(5)`, `Timestamp(5)` and `F64(5.0)`),
//!   and text equals a byte array of the same bytes. Decimals equal only decimals of the same
//!   scale and digits, booleans only booleans. Arrays and nested tables keep their elements'
//!   types in the comparison, so their elements must be equal exactly (`Value`'s equality).
//! - A message header repeated under one name is compared by its first occurrence.

use crate::message::{Table, Value, lookup};

use super::error::RoutingError;

/// The binding argument selecting how headers match.
pub const X_MATCH: &str = "x-match";

/// How a headers binding combines its comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchKind {
    /// Every compared argument must match (`x-` arguments ignored).
    All,
    /// At least one compared argument must match (`x-` arguments ignored).
    Any,
    /// Every argument but `x-match` must match, `x-` ones included.
    AllWithX,
    /// At least one argument but `x-match` must match, `x-` ones included.
    AnyWithX,
}

impl MatchKind {
    fn with_x(self) -> bool {
        matches!(self, MatchKind::AllWithX | MatchKind::AnyWithX)
    }
}

/// A headers binding's arguments, prepared for matching.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadersRule {
    kind: MatchKind,
    /// The arguments compared: `x-match` left out, and `x-` ones too unless `-with-x`.
    compared: Table,
}

impl HeadersRule {
    /// The rule of a binding with `arguments`; an unknown `x-match` text is refused, with
    /// `subject` naming the binding in the error.
    pub fn parse(
        arguments: &[(String, Value)],
        subject: impl FnOnce() -> String,
    ) -> Result<HeadersRule, RoutingError> {
        let kind = match lookup(arguments, X_MATCH) {
            None => MatchKind::All,
            Some(Value::Text(t)) => match t.as_str() {
                "all" => MatchKind::All,
                "any" => MatchKind::Any,
                "all-with-x" => MatchKind::AllWithX,
                "any-with-x" => MatchKind::AnyWithX,
                other => {
                    return Err(RoutingError::InvalidArgument {
                        subject: subject(),
                        argument: X_MATCH.to_string(),
                        reason: format!("'{other}' is not one of all, any, all-with-x or any-with-x"),
                    });
                }
            },
            Some(other) => {
                return Err(RoutingError::InvalidArgument {
                    subject: subject(),
                    argument: X_MATCH.to_string(),
                    reason: format!("must be text (all, any, all-with-x or any-with-x), not {other:?}"),
                });
            }
        };
        let compared = arguments
            .iter()
            .filter(|(name, _)| name != X_MATCH && (kind.with_x() || !name.starts_with("x-")))
            .cloned()
            .collect();
        Ok(HeadersRule { kind, compared })
    }

    /// How the rule combines its comparisons.
    pub fn kind(&self) -> MatchKind {
        self.kind
    }

    /// Whether a message with `headers` matches.
    pub fn matches(&self, headers: &[(String, Value)]) -> bool {
        let mut one = self.compared.iter().map(|(name, expected)| match lookup(headers, name) {
            None => false,
            Some(_) if *expected == Value::Void => true,
            Some(actual) => loosely_equal(expected, actual),
        });
        match self.kind {
            MatchKind::All | MatchKind::AllWithX => one.all(|m| m),
            MatchKind::Any | MatchKind::AnyWithX => one.any(|m| m),
        }
    }
}

/// A number as RabbitMQ sees it once the type tag is dropped.
enum Number {
    Int(i128),
    Float(f64),
}

fn number(v: &Value) -> Option<Number> {
    Some(match *v {
        Value::I8(x) => Number::Int(x.into()),
        Value::U8(x) => Number::Int(x.into()),
        Value::I16(x) => Number::Int(x.into()),
        Value::U16(x) => Number::Int(x.into()),
        Value::I32(x) => Number::Int(x.into()),
        Value::U32(x) => Number::Int(x.into()),
        Value::I64(x) => Number::Int(x.into()),
        Value::U64(x) => Number::Int(x.into()),
        Value::Timestamp(x) => Number::Int(x.into()),
        Value::F32(x) => Number::Float(x.into()),
        Value::F64(x) => Number::Float(x),
        _ => return None,
    })
}

fn octets(v: &Value) -> Option<&[u8]> {
    match v {
        Value::Text(s) => Some(s.as_bytes()),
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

/// Equality of a binding argument and a header as RabbitMQ's `==` has it (see the module doc).
pub fn loosely_equal(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return match (x, y) {
            (Number::Int(x), Number::Int(y)) => x == y,
            (Number::Float(x), Number::Float(y)) => x == y,
            (Number::Int(i), Number::Float(f)) | (Number::Float(f), Number::Int(i)) => {
                // Exact: a float equals an integer only when it is that integer.
                f.fract() == 0.0 && f.abs() < 2f64.powi(120) && f as i128 == i
            }
        };
    }
    if let (Some(x), Some(y)) = (octets(a), octets(b)) {
        return x == y;
    }
    a == b
}
