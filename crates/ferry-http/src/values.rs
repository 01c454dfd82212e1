//! Typed header and argument values (`ferry_broker::message::Value`) as JSON and back, the
//! way RabbitMQ's management API shows them: numbers as numbers, text as strings, bytes as
//! base64 text, tables as objects.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ferry_broker::message::{Table, Value};
use serde_json::{Map, Number, Value as Json};

/// A value as JSON.
pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Void => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::I8(n) => Json::from(*n),
        Value::U8(n) => Json::from(*n),
        Value::I16(n) => Json::from(*n),
        Value::U16(n) => Json::from(*n),
        Value::I32(n) => Json::from(*n),
        Value::U32(n) => Json::from(*n),
        Value::I64(n) => Json::from(*n),
        Value::U64(n) => Json::from(*n),
        Value::F32(x) => Number::from_f64(f64::from(*x)).map_or(Json::Null, Json::Number),
        Value::F64(x) => Number::from_f64(*x).map_or(Json::Null, Json::Number),
        Value::Decimal { scale, value } => {
            Number::from_f64(f64::from(*value) / 10f64.powi(i32::from(*scale)))
                .map_or(Json::Null, Json::Number)
        }
        Value::Timestamp(t) => Json::from(*t),
        Value::Text(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(BASE64.encode(b)),
        Value::Array(items) => Json::Array(items.iter().map(value_to_json).collect()),
        Value::Table(t) => table_to_json(t),
    }
}

/// A table as a JSON object (keys sorted; a table's order does not survive JSON).
pub fn table_to_json(t: &Table) -> Json {
    Json::Object(t.iter().map(|(k, v)| (k.clone(), value_to_json(v))).collect::<Map<_, _>>())
}

/// A JSON value as a typed value: integers as 64-bit (signed unless too large), other numbers
/// as doubles, objects as tables.
pub fn json_to_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::Void,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::I64(i),
            (None, Some(u)) => Value::U64(u),
            _ => Value::F64(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::Text(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(json_to_value).collect()),
        Json::Object(map) => Value::Table(json_to_table(map)),
    }
}

/// A JSON object as a table.
pub fn json_to_table(map: &Map<String, Json>) -> Table {
    map.iter().map(|(k, v)| (k.clone(), json_to_value(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_go_to_json_and_back() {
        let t: Table = vec![
            ("x-max-priority".into(), Value::I64(10)),
            ("x-dead-letter-exchange".into(), Value::Text("dlx".into())),
            ("nested".into(), Value::Table(vec![("on".into(), Value::Bool(true))])),
            ("list".into(), Value::Array(vec![Value::F64(1.5), Value::Void])),
        ];
        let j = table_to_json(&t);
        assert_eq!(
            j,
            serde_json::json!({"x-max-priority": 10, "x-dead-letter-exchange": "dlx", "nested": {"on": true}, "list": [1.5, null]})
        );
        let mut sorted = t.clone();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(json_to_table(j.as_object().unwrap()), sorted);
    }

    #[test]
    fn bytes_and_decimals_read_as_rabbitmq_shows_them() {
        assert_eq!(
            value_to_json(&Value::Bytes(bytes::Bytes::from_static(b"hi"))),
            Json::String("aGk=".into())
        );
        assert_eq!(value_to_json(&Value::Decimal { scale: 2, value: 150 }), serde_json::json!(1.5));
        assert_eq!(value_to_json(&Value::U64(u64::MAX)), serde_json::json!(u64::MAX));
    }
}
