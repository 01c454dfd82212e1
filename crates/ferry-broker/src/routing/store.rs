//! The stored form of durable exchanges (`Table::Exchanges`) and bindings (`Table::Bindings`).
//!
//! Values are serde_json; argument tables inside them are the bytes of
//! `message::encode_table`, hex-encoded, so every typed value comes back exactly.
//!
//! A binding's key must name it unambiguously although every part is free text (an exchange
//! or queue name may contain any separator): each part is written as its length in bytes, a
//! `:`, then the part itself — source, destination kind letter and name, routing key — followed
//! by the hex of its canonical arguments. Keys start with the source's part, so one exchange's
//! bindings are one prefix.

use serde::{Deserialize, Serialize};

use crate::message::decode_table;
use crate::metadata::{MetaOp, MetadataStore, Table};

use super::binding::{Binding, BindingId, Destination};
use super::error::RoutingError;
use super::exchange::{ExchangeDef, ExchangeKind};

#[derive(Serialize, Deserialize)]
struct StoredExchange {
    name: String,
    #[serde(rename = "type")]
    type_name: String,
    durable: bool,
    auto_delete: bool,
    internal: bool,
    /// Hex of `encode_table`.
    arguments: String,
}

#[derive(Serialize, Deserialize)]
struct StoredBinding {
    source: String,
    /// `q`, `e` or `t` (queue, exchange, topic).
    destination_kind: String,
    destination: String,
    routing_key: String,
    /// Hex of `encode_table`, in the order the binding was made with.
    arguments: String,
}

fn hex_table(table: &[(String, crate::message::Value)]) -> String {
    let mut bytes = Vec::new();
    crate::message::encode_table(table, &mut bytes);
    hex::encode(bytes)
}

fn part(out: &mut String, s: &str) {
    out.push_str(&s.len().to_string());
    out.push(':');
    out.push_str(s);
}

/// The key of a binding in `Table::Bindings`.
pub(crate) fn binding_key(id: &BindingId) -> String {
    let mut key = String::new();
    part(&mut key, &id.source);
    key.push(id.destination.tag());
    part(&mut key, id.destination.name());
    part(&mut key, &id.routing_key);
    key.push_str(&hex::encode(&id.arguments));
    key
}

pub(crate) fn put_exchange(def: &ExchangeDef) -> MetaOp {
    let stored = StoredExchange {
        name: def.name.clone(),
        type_name: def.kind.type_name().to_string(),
        durable: def.durable,
        auto_delete: def.auto_delete,
        internal: def.internal,
        arguments: hex_table(&def.arguments),
    };
    MetaOp::put(Table::Exchanges, def.name.clone(), serde_json::to_vec(&stored).unwrap_or_default())
}

pub(crate) fn delete_exchange(name: &str) -> MetaOp {
    MetaOp::delete(Table::Exchanges, name)
}

pub(crate) fn put_binding(id: &BindingId, binding: &Binding) -> MetaOp {
    let stored = StoredBinding {
        source: binding.source.clone(),
        destination_kind: binding.destination.tag().to_string(),
        destination: binding.destination.name().to_string(),
        routing_key: binding.routing_key.clone(),
        arguments: hex_table(&binding.arguments),
    };
    MetaOp::put(Table::Bindings, binding_key(id), serde_json::to_vec(&stored).unwrap_or_default())
}

pub(crate) fn delete_binding(id: &BindingId) -> MetaOp {
    MetaOp::delete(Table::Bindings, binding_key(id))
}

fn corrupt(table: Table, key: &str, reason: impl std::fmt::Display) -> RoutingError {
    RoutingError::Corrupt { table, key: key.to_string(), reason: reason.to_string() }
}

fn arguments(table: Table, key: &str, hex_text: &str) -> Result<crate::message::Table, RoutingError> {
    let bytes = hex::decode(hex_text).map_err(|e| corrupt(table, key, format!("arguments: {e}")))?;
    decode_table(&bytes).map_err(|e| corrupt(table, key, format!("arguments: {e}")))
}

/// Every stored exchange, in name order.
pub(crate) fn load_exchanges(meta: &dyn MetadataStore) -> Result<Vec<ExchangeDef>, RoutingError> {
    let table = Table::Exchanges;
    let mut out = Vec::new();
    for (key, value) in meta.scan_prefix(table, "")? {
        let stored: StoredExchange = serde_json::from_slice(&value).map_err(|e| corrupt(table, &key, e))?;
        let arguments = arguments(table, &key, &stored.arguments)?;
        let kind = ExchangeKind::parse(&stored.type_name, &arguments).map_err(|e| corrupt(table, &key, e))?;
        out.push(ExchangeDef {
            name: stored.name,
            kind,
            durable: stored.durable,
            auto_delete: stored.auto_delete,
            internal: stored.internal,
            arguments,
        });
    }
    Ok(out)
}

/// Every stored binding, in key order.
pub(crate) fn load_bindings(meta: &dyn MetadataStore) -> Result<Vec<Binding>, RoutingError> {
    let table = Table::Bindings;
    let mut out = Vec::new();
    for (key, value) in meta.scan_prefix(table, "")? {
        let stored: StoredBinding = serde_json::from_slice(&value).map_err(|e| corrupt(table, &key, e))?;
        let mut tag = stored.destination_kind.chars();
        let destination = match (tag.next(), tag.next()) {
            (Some(t), None) => Destination::from_tag(t, stored.destination),
            _ => None,
        }
        .ok_or_else(|| corrupt(table, &key, format!("destination kind '{}'", stored.destination_kind)))?;
        out.push(Binding {
            source: stored.source,
            destination,
            routing_key: stored.routing_key,
            arguments: arguments(table, &key, &stored.arguments)?,
        });
    }
    Ok(out)
}
