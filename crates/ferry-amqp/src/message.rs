//! AMQP messages to ferry's message model and back: basic properties onto
//! [`Properties`], headers onto typed attributes ([`Value`]), at the boundary so that no AMQP
//! type reaches the broker.
//!
//! Field values keep their kind both ways, with two limits of the codec: a long string that is
//! not UTF-8 comes back as a byte array, and an unsigned 64-bit integer (which RabbitMQ does not
//! send either) goes out as a signed one.

use amq_protocol::protocol::BasicProperties;
use amq_protocol::types::{AMQPValue, DecimalValue, FieldArray, FieldTable, ShortString};
use bytes::Bytes;
use ferry_broker::message::{Death, Properties, Value};
use ferry_broker::queues::{AttrValue, Delivery, MessageAttribute, NewMessage, TYPED};

/// The header whose value deduplicates a message on queues declared with
/// `x-message-deduplication` (the RabbitMQ deduplication plugin's convention).
pub(crate) const DEDUP_HEADER: &str = "x-deduplication-header";

/// A published message in ferry's terms; the exchange and routing key are set by the broker.
pub(crate) fn new_message(properties: BasicProperties, body: Bytes) -> NewMessage {
    let ttl_ms = properties.expiration().as_ref().and_then(|e| e.as_str().parse::<u64>().ok());
    let attributes = properties
        .headers()
        .as_ref()
        .map(|headers| {
            headers
                .inner()
                .iter()
                .map(|(name, value)| attribute(name.to_string(), from_amqp(value)))
                .collect()
        })
        .unwrap_or_default();
    let text = |s: &Option<ShortString>| s.as_ref().map(|s| s.to_string());
    // The deduplication plugin's convention: the id travels in a header.
    let dedup_id =
        properties.headers().as_ref().and_then(|h| h.inner().get(DEDUP_HEADER)).map(|v| match from_amqp(v) {
            Value::Text(s) => s,
            other => other.as_i64().map_or_else(|| format!("{other:?}"), |n| n.to_string()),
        });
    let mut msg = NewMessage {
        body,
        attributes,
        priority: *properties.priority(),
        ttl_ms,
        // SQS receivers see the publisher's id as the MessageId.
        message_id: text(properties.message_id()),
        dedup_id,
        ..NewMessage::default()
    };
    msg.envelope.properties = Properties {
        message_id: text(properties.message_id()),
        content_type: text(properties.content_type()),
        content_encoding: text(properties.content_encoding()),
        delivery_mode: *properties.delivery_mode(),
        correlation_id: text(properties.correlation_id()),
        reply_to: text(properties.reply_to()),
        expiration: text(properties.expiration()),
        message_type: text(properties.kind()),
        user_id: text(properties.user_id()),
        app_id: text(properties.app_id()),
        timestamp_s: *properties.timestamp(),
        cluster_id: text(properties.cluster_id()),
    };
    msg
}

/// A header as the broker keeps it: text and bytes as themselves (so SQS and Kafka receivers see
/// plain strings and bytes), every other kind typed.
fn attribute(name: String, value: Value) -> MessageAttribute {
    match value {
        Value::Text(s) => MessageAttribute { name, data_type: "String".into(), value: AttrValue::Text(s) },
        Value::Bytes(b) => MessageAttribute { name, data_type: "Binary".into(), value: AttrValue::Binary(b) },
        other => MessageAttribute { name, data_type: TYPED.to_owned(), value: AttrValue::Typed(other) },
    }
}

fn is_death_header(name: &str) -> bool {
    name == "x-death" || name.starts_with("x-first-death-") || name.starts_with("x-last-death-")
}

/// `x-death` (newest first, one table per queue and reason) and the first and last deaths, as
/// RabbitMQ renders a message's dead-letter history. A per-message `expiration` is shown as the
/// first death's `original-expiration`: RabbitMQ takes it off a message when it first dies.
fn death_headers(deaths: &[Death], expiration: Option<&str>, headers: &mut FieldTable) {
    let first = deaths.len().saturating_sub(1);
    let entry = |(i, d): (usize, &Death)| {
        let mut t = FieldTable::default();
        t.insert("count".into(), AMQPValue::LongLongInt(d.count.min(i64::MAX as u64) as i64));
        t.insert("reason".into(), AMQPValue::LongString(d.cause.name().into()));
        t.insert("queue".into(), AMQPValue::LongString(d.queue.as_str().into()));
        t.insert("time".into(), AMQPValue::Timestamp((d.time_ms.max(0) / 1000) as u64));
        t.insert("exchange".into(), AMQPValue::LongString(d.exchange.as_deref().unwrap_or("").into()));
        let keys: Vec<AMQPValue> =
            d.routing_keys.iter().map(|k| AMQPValue::LongString(k.as_str().into())).collect();
        t.insert("routing-keys".into(), AMQPValue::FieldArray(keys.into()));
        if let (true, Some(expiration)) = (i == first, expiration) {
            t.insert("original-expiration".into(), AMQPValue::LongString(expiration.into()));
        }
        AMQPValue::FieldTable(t)
    };
    headers.insert(
        "x-death".into(),
        AMQPValue::FieldArray(deaths.iter().enumerate().map(entry).collect::<Vec<_>>().into()),
    );
    let text = |s: &str| AMQPValue::LongString(s.into());
    for (prefix, d) in [("x-first-death-", deaths.last()), ("x-last-death-", deaths.first())] {
        let Some(d) = d else { continue };
        headers.insert(format!("{prefix}queue").as_str().into(), text(&d.queue));
        headers.insert(format!("{prefix}reason").as_str().into(), text(d.cause.name()));
        headers
            .insert(format!("{prefix}exchange").as_str().into(), text(d.exchange.as_deref().unwrap_or("")));
    }
}

/// The basic properties of a delivery, headers included; `delivery_limited` adds the
/// `x-delivery-count` header quorum queues carry.
pub(crate) fn properties(delivery: &Delivery, delivery_limited: bool) -> BasicProperties {
    let p = &delivery.envelope.properties;
    let mut out = BasicProperties::default();
    let short = |s: &Option<String>| s.as_deref().map(ShortString::from);
    if let Some(v) = short(&p.content_type) {
        out = out.with_content_type(v);
    }
    if let Some(v) = short(&p.content_encoding) {
        out = out.with_content_encoding(v);
    }
    let mut headers = FieldTable::default();
    let deaths = &delivery.envelope.deaths;
    for attribute in &delivery.attributes {
        // A republished dead-letter carries its old x-death as a header; the history is the truth.
        if !deaths.is_empty() && is_death_header(&attribute.name) {
            continue;
        }
        let value = match &attribute.value {
            AttrValue::Typed(v) => to_amqp(v),
            AttrValue::Text(s) if attribute.data_type.starts_with("Number") => match s.parse::<i64>() {
                Ok(n) => AMQPValue::LongLongInt(n),
                Err(_) => AMQPValue::LongString(s.as_str().into()),
            },
            AttrValue::Text(s) => AMQPValue::LongString(s.as_str().into()),
            AttrValue::Binary(b) => AMQPValue::ByteArray(b.to_vec().into()),
        };
        headers.insert(attribute.name.as_str().into(), value);
    }
    if !deaths.is_empty() {
        death_headers(deaths, p.expiration.as_deref(), &mut headers);
    }
    if delivery_limited && delivery.delivery_count > 1 {
        // Quorum queues count the deliveries that came back before this one.
        headers.insert(
            "x-delivery-count".into(),
            AMQPValue::LongLongInt(i64::from(delivery.delivery_count - 1)),
        );
    }
    if !headers.inner().is_empty() {
        out = out.with_headers(headers);
    }
    if let Some(v) = p.delivery_mode {
        out = out.with_delivery_mode(v);
    }
    if delivery.priority > 0 {
        out = out.with_priority(delivery.priority);
    }
    if let Some(v) = short(&p.correlation_id) {
        out = out.with_correlation_id(v);
    }
    if let Some(v) = short(&p.reply_to) {
        out = out.with_reply_to(v);
    }
    if let (Some(v), true) = (short(&p.expiration), deaths.is_empty()) {
        out = out.with_expiration(v);
    }
    if let Some(v) = short(&p.message_id) {
        out = out.with_message_id(v);
    }
    if let Some(v) = p.timestamp_s {
        out = out.with_timestamp(v);
    }
    if let Some(v) = short(&p.message_type) {
        out = out.with_type(v);
    }
    if let Some(v) = short(&p.user_id) {
        out = out.with_user_id(v);
    }
    if let Some(v) = short(&p.app_id) {
        out = out.with_app_id(v);
    }
    if let Some(v) = short(&p.cluster_id) {
        out = out.with_cluster_id(v);
    }
    out
}

/// An AMQP field table as a ferry table (arguments of declares and bindings).
pub(crate) fn table(table: &FieldTable) -> Vec<(String, Value)> {
    table.inner().iter().map(|(k, v)| (k.to_string(), from_amqp(v))).collect()
}

/// An AMQP field value as a ferry value, of the same kind.
pub(crate) fn from_amqp(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(v) => Value::Bool(*v),
        AMQPValue::ShortShortInt(v) => Value::I8(*v),
        AMQPValue::ShortShortUInt(v) => Value::U8(*v),
        AMQPValue::ShortInt(v) => Value::I16(*v),
        AMQPValue::ShortUInt(v) => Value::U16(*v),
        AMQPValue::LongInt(v) => Value::I32(*v),
        AMQPValue::LongUInt(v) => Value::U32(*v),
        AMQPValue::LongLongInt(v) => Value::I64(*v),
        AMQPValue::Float(v) => Value::F32(*v),
        AMQPValue::Double(v) => Value::F64(*v),
        AMQPValue::DecimalValue(d) => Value::Decimal { scale: d.scale, value: d.value },
        AMQPValue::ShortString(s) => Value::Text(s.to_string()),
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(text) => Value::Text(text.to_owned()),
            Err(_) => Value::Bytes(Bytes::copy_from_slice(s.as_bytes())),
        },
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(from_amqp).collect()),
        AMQPValue::Timestamp(t) => Value::Timestamp(*t),
        AMQPValue::FieldTable(t) => {
            Value::Table(t.inner().iter().map(|(k, v)| (k.to_string(), from_amqp(v))).collect())
        }
        AMQPValue::ByteArray(b) => Value::Bytes(Bytes::copy_from_slice(b.as_slice())),
        AMQPValue::Void => Value::Void,
    }
}

/// A ferry value as an AMQP field value, of the same kind.
pub(crate) fn to_amqp(value: &Value) -> AMQPValue {
    match value {
        Value::Void => AMQPValue::Void,
        Value::Bool(v) => AMQPValue::Boolean(*v),
        Value::I8(v) => AMQPValue::ShortShortInt(*v),
        Value::U8(v) => AMQPValue::ShortShortUInt(*v),
        Value::I16(v) => AMQPValue::ShortInt(*v),
        Value::U16(v) => AMQPValue::ShortUInt(*v),
        Value::I32(v) => AMQPValue::LongInt(*v),
        Value::U32(v) => AMQPValue::LongUInt(*v),
        Value::I64(v) => AMQPValue::LongLongInt(*v),
        Value::U64(v) => AMQPValue::LongLongInt(*v as i64),
        Value::F32(v) => AMQPValue::Float(*v),
        Value::F64(v) => AMQPValue::Double(*v),
        Value::Decimal { scale, value } => {
            AMQPValue::DecimalValue(DecimalValue { scale: *scale, value: *value })
        }
        Value::Timestamp(t) => AMQPValue::Timestamp(*t),
        Value::Text(s) => AMQPValue::LongString(s.as_str().into()),
        Value::Bytes(b) => AMQPValue::ByteArray(b.to_vec().into()),
        Value::Array(a) => AMQPValue::FieldArray(FieldArray::from(a.iter().map(to_amqp).collect::<Vec<_>>())),
        Value::Table(t) => {
            let mut table = FieldTable::default();
            for (k, v) in t {
                table.insert(k.as_str().into(), to_amqp(v));
            }
            AMQPValue::FieldTable(table)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_kind_comes_back_as_it_went() {
        let mut nested = FieldTable::default();
        nested.insert("n".into(), AMQPValue::LongLongInt(-5));
        let values = [
            AMQPValue::Boolean(true),
            AMQPValue::ShortShortInt(-1),
            AMQPValue::ShortShortUInt(255),
            AMQPValue::ShortInt(-300),
            AMQPValue::ShortUInt(60_000),
            AMQPValue::LongInt(-70_000),
            AMQPValue::LongUInt(4_000_000_000),
            AMQPValue::LongLongInt(i64::MIN),
            AMQPValue::Float(1.5),
            AMQPValue::Double(-2.25),
            AMQPValue::DecimalValue(DecimalValue { scale: 2, value: 12_345 }),
            AMQPValue::LongString("text".into()),
            AMQPValue::FieldArray(vec![AMQPValue::Boolean(false), AMQPValue::Void].into()),
            AMQPValue::Timestamp(1_700_000_000),
            AMQPValue::FieldTable(nested),
            AMQPValue::ByteArray(vec![0, 159, 146, 150].into()),
            AMQPValue::Void,
        ];
        for value in values {
            assert_eq!(to_amqp(&from_amqp(&value)), value);
        }
    }
}
