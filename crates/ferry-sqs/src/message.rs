//! Message bodies and message attributes as SQS accepts them: parsing the `MessageAttributes` and
//! `MessageSystemAttributes` maps, checking names, types, values and characters, and sizing them.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;

use crate::error::{ErrorCode, SqsError, SqsResult};
use crate::md5::{AttrBytes, md5_of_attributes};

/// Most message attributes per message.
pub const MAX_ATTRIBUTES: usize = 10;
/// Longest attribute name and data type.
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 256;
/// The hard ceiling of a message (body plus attributes), whatever the queue allows: 1 MiB.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// The only system attribute a sender may set.
pub const TRACE_HEADER: &str = "AWSTraceHeader";

/// A message attribute value as it arrives (`StringValue`/`BinaryValue`, base64 on the wire).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WireAttributeValue {
    /// `String`, `Number` or `Binary`, optionally with a `.label`.
    pub data_type: Option<String>,
    /// Value of a `String` or `Number` attribute.
    pub string_value: Option<String>,
    /// Base64 value of a `Binary` attribute.
    pub binary_value: Option<String>,
    /// Reserved by SQS; rejected.
    #[serde(default)]
    pub string_list_values: Vec<serde_json::Value>,
    /// Reserved by SQS; rejected.
    #[serde(default)]
    pub binary_list_values: Vec<serde_json::Value>,
}

/// The value of a checked attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `String` or `Number`.
    Text(String),
    /// `Binary`, decoded.
    Binary(Vec<u8>),
}

/// A checked message attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// Name.
    pub name: String,
    /// Data type, verbatim (e.g. `Number.float`).
    pub data_type: String,
    /// Value.
    pub value: Value,
}

impl Attribute {
    /// Bytes this attribute counts toward the message size: name, type and value.
    pub fn size(&self) -> usize {
        self.name.len()
            + self.data_type.len()
            + match &self.value {
                Value::Text(t) => t.len(),
                Value::Binary(b) => b.len(),
            }
    }

    /// The digest's view of this attribute.
    pub fn digest_view(&self) -> (&str, &str, AttrBytes<'_>) {
        let value = match &self.value {
            Value::Text(t) => AttrBytes::Text(t),
            Value::Binary(b) => AttrBytes::Binary(b),
        };
        (&self.name, &self.data_type, value)
    }
}

/// `MD5OfMessageAttributes` of checked attributes.
pub fn md5_of(attributes: &[Attribute]) -> Option<String> {
    md5_of_attributes(attributes.iter().map(Attribute::digest_view))
}

/// True for the characters SQS allows in bodies and string values:
/// `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`.
pub fn allowed_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Checks a message body's characters.
pub fn validate_body(body: &str) -> SqsResult<()> {
    if body.is_empty() {
        return Err(SqsError::missing("MessageBody"));
    }
    if body.chars().all(allowed_char) { Ok(()) } else { Err(invalid_contents()) }
}

/// `InvalidMessageContents` for a body (or string value) with characters SQS does not allow,
/// or bytes that are not UTF-8 at all.
pub fn invalid_contents() -> SqsError {
    SqsError::new(
        ErrorCode::InvalidMessageContents,
        "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
    )
}

fn invalid(message: String) -> SqsError {
    SqsError::new(ErrorCode::InvalidParameterValue, message)
}

fn validate_attribute_name(name: &str) -> SqsResult<()> {
    let lower = name.to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= MAX_ATTRIBUTE_NAME_CHARS
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "Message (user) attribute name '{name}' is invalid. The attribute name can contain A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters, must not start or end with a period, must not have successive periods, and must not start with AWS. or Amazon."
        )))
    }
}

/// True when `text` is a decimal number SQS accepts for a `Number` attribute (38 digits at most).
fn is_number(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    let digits_ok = !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.len() <= 4 && e.bytes().all(|b| b.is_ascii_digit())
        }
    };
    let significant = format!("{int}{frac}");
    let significant = significant.trim_start_matches('0').trim_end_matches('0');
    digits_ok && exponent_ok && significant.len() <= 38
}

fn parse_one(name: &str, wire: WireAttributeValue, system: bool) -> SqsResult<Attribute> {
    let kind = if system { "system" } else { "user" };
    let data_type = wire.data_type.filter(|t| !t.is_empty()).ok_or_else(|| {
        invalid(format!(
            "The message ({kind}) attribute '{name}' must contain a non-empty message attribute type."
        ))
    })?;
    let base = data_type.split('.').next().unwrap_or("");
    let known = matches!(base, "String" | "Number" | "Binary")
        && data_type.len() <= MAX_ATTRIBUTE_NAME_CHARS
        && (!system || data_type == "String");
    if !known {
        return Err(invalid(format!(
            "The type of message ({kind}) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
        )));
    }
    if !wire.string_list_values.is_empty() || !wire.binary_list_values.is_empty() {
        return Err(invalid(format!("Message ({kind}) attribute '{name}': list values are not supported.")));
    }
    let empty_value = || {
        invalid(format!(
            "The message ({kind}) attribute '{name}' must contain non-empty message attribute value for message attribute type '{base}'."
        ))
    };
    let value = if base == "Binary" {
        let encoded = wire.binary_value.ok_or_else(empty_value)?;
        let bytes = BASE64.decode(encoded.as_bytes()).map_err(|_| {
            invalid(format!(
                "The message ({kind}) attribute '{name}' has a BinaryValue that is not valid base64."
            ))
        })?;
        if bytes.is_empty() {
            return Err(empty_value());
        }
        Value::Binary(bytes)
    } else {
        let text = wire.string_value.filter(|t| !t.is_empty()).ok_or_else(empty_value)?;
        if !text.chars().all(allowed_char) {
            return Err(invalid(format!("Message ({kind}) attribute '{name}' contains invalid characters.")));
        }
        if base == "Number" && !is_number(&text) {
            return Err(invalid(format!("Could not cast message attribute '{name}' value to number.")));
        }
        Value::Text(text)
    };
    Ok(Attribute { name: name.to_owned(), data_type, value })
}

/// Parses and checks `MessageAttributes` (at most 10, valid names, types and values).
pub fn parse_attributes(wire: Option<BTreeMap<String, WireAttributeValue>>) -> SqsResult<Vec<Attribute>> {
    let wire = wire.unwrap_or_default();
    if wire.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            wire.len()
        )));
    }
    wire.into_iter()
        .map(|(name, value)| {
            validate_attribute_name(&name)?;
            parse_one(&name, value, false)
        })
        .collect()
}

/// Parses and checks `MessageSystemAttributes` (only `AWSTraceHeader`, of type `String`).
pub fn parse_system_attributes(
    wire: Option<BTreeMap<String, WireAttributeValue>>,
) -> SqsResult<Vec<Attribute>> {
    wire.unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            if name != TRACE_HEADER {
                return Err(invalid(format!("Message system attribute name '{name}' is invalid.")));
            }
            parse_one(&name, value, true)
        })
        .collect()
}

/// Bytes a message counts toward the size limit: body plus user attributes.
pub fn message_size(body: &str, attributes: &[Attribute]) -> usize {
    body.len() + attributes.iter().map(Attribute::size).sum::<usize>()
}

/// SQS's error for a message over the queue's `MaximumMessageSize`.
pub fn too_large(max: usize) -> SqsError {
    invalid(format!("One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."))
}

/// How SQS shows an attribute sent through another protocol: typed values (AMQP headers) become
/// `Number` (integers, floats, decimals, timestamps in seconds), `Binary` (byte arrays) or
/// `String` (text, booleans as `true`/`false`, void as empty, arrays and tables as JSON).
pub fn sqs_view(a: &ferry_broker::queues::MessageAttribute) -> (String, Shown) {
    use ferry_broker::message::Value;
    use ferry_broker::queues::AttrValue;
    let v = match &a.value {
        AttrValue::Text(t) => return (a.data_type.clone(), Shown::Text(t.clone())),
        AttrValue::Binary(b) => return (a.data_type.clone(), Shown::Binary(b.clone())),
        AttrValue::Typed(v) => v,
    };
    let number = |s: String| ("Number".to_string(), Shown::Text(s));
    let text = |s: String| ("String".to_string(), Shown::Text(s));
    match v {
        Value::Text(s) => text(s.clone()),
        Value::Bool(b) => text(b.to_string()),
        Value::Void => text(String::new()),
        Value::Bytes(b) => ("Binary".to_string(), Shown::Binary(b.clone())),
        Value::F32(x) if x.is_finite() => number(x.to_string()),
        Value::F64(x) if x.is_finite() => number(x.to_string()),
        Value::F32(x) => text(x.to_string()),
        Value::F64(x) => text(x.to_string()),
        Value::Decimal { scale, value } => number(decimal_text(*scale, *value)),
        Value::Timestamp(t) => number(t.to_string()),
        Value::Array(_) | Value::Table(_) => text(json_of(v).to_string()),
        other => number(other.as_i64().map_or_else(|| format!("{other:?}"), |n| n.to_string())),
    }
}

/// An attribute value as SQS carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown {
    /// `StringValue` of a `String` or `Number` attribute.
    Text(String),
    /// `BinaryValue` of a `Binary` attribute.
    Binary(bytes::Bytes),
}

fn decimal_text(scale: u8, value: u32) -> String {
    let digits = value.to_string();
    let scale = usize::from(scale);
    if scale == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{int}.{frac}")
}

fn json_of(v: &ferry_broker::message::Value) -> serde_json::Value {
    use ferry_broker::message::Value;
    match v {
        Value::Void => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Text(s) => s.as_str().into(),
        Value::Bytes(b) => BASE64.encode(b).into(),
        Value::F32(x) => f64::from(*x).into(),
        Value::F64(x) => (*x).into(),
        Value::U64(x) => (*x).into(),
        Value::Timestamp(x) => (*x).into(),
        Value::Decimal { scale, value } => decimal_text(*scale, *value).into(),
        Value::Array(items) => items.iter().map(json_of).collect::<Vec<_>>().into(),
        Value::Table(t) => {
            serde_json::Value::Object(t.iter().map(|(k, v)| (k.clone(), json_of(v))).collect())
        }
        other => other.as_i64().map_or(serde_json::Value::Null, Into::into),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(data_type: &str, s: Option<&str>, b: Option<&str>) -> WireAttributeValue {
        WireAttributeValue {
            data_type: Some(data_type.to_owned()),
            string_value: s.map(str::to_owned),
            binary_value: b.map(str::to_owned),
            ..Default::default()
        }
    }

    fn one(name: &str, v: WireAttributeValue) -> SqsResult<Vec<Attribute>> {
        parse_attributes(Some(BTreeMap::from([(name.to_owned(), v)])))
    }

    #[test]
    fn typed_values_show_as_sqs_numbers_strings_and_binaries() {
        use Shown::Text;
        use ferry_broker::message::Value;
        use ferry_broker::queues::{AttrValue, MessageAttribute, TYPED};
        let view = |v: Value| {
            sqs_view(&MessageAttribute {
                name: "h".into(),
                data_type: TYPED.into(),
                value: AttrValue::Typed(v),
            })
        };
        assert_eq!(view(Value::I16(-7)), ("Number".into(), Text("-7".into())));
        assert_eq!(view(Value::Decimal { scale: 2, value: 5 }), ("Number".into(), Text("0.05".into())));
        assert_eq!(view(Value::Bool(true)), ("String".into(), Text("true".into())));
        assert_eq!(
            view(Value::Bytes(bytes::Bytes::from_static(b"\x00\x01"))),
            ("Binary".into(), Shown::Binary(bytes::Bytes::from_static(b"\x00\x01")))
        );
        assert_eq!(
            view(Value::Table(vec![
                ("a".into(), Value::U8(1)),
                ("b".into(), Value::Array(vec![Value::Void]))
            ])),
            ("String".into(), Text(r#"{"a":1,"b":[null]}"#.into()))
        );
    }

    #[test]
    fn string_number_and_binary_attributes_parse() {
        let attrs = parse_attributes(Some(BTreeMap::from([
            ("s".to_owned(), wire("String", Some("x"), None)),
            ("n".to_owned(), wire("Number.int", Some("-1.5e10"), None)),
            ("b".to_owned(), wire("Binary.png", None, Some("AAEC"))),
        ])))
        .unwrap();
        assert_eq!(attrs.len(), 3);
        let b = attrs.iter().find(|a| a.name == "b").unwrap();
        assert_eq!(b.value, Value::Binary(vec![0, 1, 2]));
        assert_eq!(b.size(), 1 + "Binary.png".len() + 3);
    }

    #[test]
    fn eleven_attributes_are_rejected() {
        let many = (0..11).map(|i| (format!("a{i}"), wire("String", Some("v"), None))).collect();
        let err = parse_attributes(Some(many)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParameterValue);
        assert!(err.message.contains("[11]"));
    }

    #[test]
    fn reserved_and_malformed_names_are_rejected() {
        for name in ["AWS.x", "amazon.y", ".a", "a.", "a..b", "a b", ""] {
            assert!(one(name, wire("String", Some("v"), None)).is_err(), "{name}");
        }
        assert!(one("a.b-c_d", wire("String", Some("v"), None)).is_ok());
    }

    #[test]
    fn unknown_type_missing_value_and_bad_number_are_rejected() {
        assert!(one("a", wire("Text", Some("v"), None)).is_err());
        assert!(one("a", wire("String", None, None)).is_err());
        assert!(one("a", wire("String", Some(""), None)).is_err());
        assert!(one("a", wire("Binary", None, Some("***"))).is_err());
        assert!(one("a", wire("Number", Some("12a"), None)).is_err());
        assert!(one("a", wire("Number", Some(&"9".repeat(39)), None)).is_err());
        assert!(one("a", wire("Number", Some(&"9".repeat(38)), None)).is_ok());
    }

    #[test]
    fn list_values_are_rejected() {
        let mut v = wire("String", Some("x"), None);
        v.string_list_values = vec![serde_json::json!("a")];
        assert!(one("a", v).is_err());
    }

    #[test]
    fn only_trace_header_is_a_settable_system_attribute() {
        let ok = parse_system_attributes(Some(BTreeMap::from([(
            TRACE_HEADER.to_owned(),
            wire("String", Some("Root=1"), None),
        )])))
        .unwrap();
        assert_eq!(ok.len(), 1);
        let err = parse_system_attributes(Some(BTreeMap::from([(
            "SenderId".to_owned(),
            wire("String", Some("x"), None),
        )])))
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    }

    #[test]
    fn bodies_with_control_characters_are_invalid_contents() {
        assert!(validate_body("tab\tnewline\ncr\r ok \u{10000}").is_ok());
        let err = validate_body("bell\u{7}").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidMessageContents);
        assert!(validate_body("\u{FFFF}").is_err());
        assert_eq!(validate_body("").unwrap_err().code, ErrorCode::MissingParameter);
    }

    #[test]
    fn size_counts_body_names_types_and_values() {
        let attrs = one("k", wire("String", Some("vv"), None)).unwrap();
        assert_eq!(message_size("body", &attrs), 4 + 1 + 6 + 2);
    }
}
