//! RabbitMQ's JSON shapes of queues, exchanges, bindings, connections and the overview, filled
//! from ferry's figures. Rates (`*_details`) are left out: the page shows counters, which a
//! dashboard turns into rates between two reads.

use ferry_broker::queues::{OverflowPolicy, QueueAttributes, QueueStats};
use ferry_broker::routing::{Binding, Destination, ExchangeDef};
use ferry_broker::telemetry::Protocol;
use serde_json::{Map, Value as JsonValue, json};

use super::VHOST;
use crate::metrics::Figures;
use crate::server::HttpContext;
use crate::values::table_to_json;

/// The node name RabbitMQ tools show beside each object.
const NODE: &str = "ferry@localhost";

pub(super) fn overview(ctx: &HttpContext, f: &Figures) -> JsonValue {
    let sum = |read: fn(&QueueStats) -> u64| -> u64 { f.queues.iter().map(|q| read(&q.stats)).sum() };
    let ready = sum(|s| s.ready);
    let unacked = sum(|s| s.in_flight);
    let connections: u64 = f.protocols.iter().map(|p| p.connections).sum();
    let channels: u64 = f.protocols.iter().map(|p| p.channels).sum();
    let consumers: usize = f.queues.iter().map(|q| ctx.broker.queues().consumer_count(&q.name)).sum();
    let listeners: Vec<JsonValue> = ctx
        .broker
        .telemetry()
        .listeners()
        .into_iter()
        .map(|(protocol, addr)| {
            json!({"node": NODE, "protocol": protocol, "ip_address": addr.ip().to_string(), "port": addr.port()})
        })
        .collect();
    json!({
        "product_name": "ferry",
        "product_version": env!("CARGO_PKG_VERSION"),
        "management_version": env!("CARGO_PKG_VERSION"),
        "cluster_name": NODE,
        "node": NODE,
        "message_stats": {
            "publish": sum(|s| s.enqueued_total),
            "deliver_get": sum(|s| s.delivered_total),
            "redeliver": sum(|s| s.redelivered_total),
            "ack": sum(|s| s.acked_total),
        },
        "queue_totals": {
            "messages": ready + unacked,
            "messages_ready": ready,
            "messages_unacknowledged": unacked,
        },
        "object_totals": {
            "connections": connections,
            "channels": channels,
            "exchanges": f.exchanges,
            "queues": f.queues.len(),
            "consumers": consumers,
        },
        "listeners": listeners,
    })
}

pub(super) fn queues(ctx: &HttpContext) -> Vec<JsonValue> {
    let mut names = ctx.broker.queues().list_queues(None);
    names.sort();
    names.iter().filter_map(|name| queue(ctx, name)).collect()
}

/// One queue; `None` when it does not exist (or went while being read).
pub(super) fn queue(ctx: &HttpContext, name: &str) -> Option<JsonValue> {
    let attrs = ctx.broker.queues().queue_attributes(name).ok()?;
    let stats = ctx.broker.queues().queue_stats(name).ok()?;
    Some(json!({
        "name": name,
        "vhost": VHOST,
        "node": NODE,
        "type": if attrs.fifo { "quorum" } else { "classic" },
        "state": "running",
        "durable": attrs.durable,
        "auto_delete": attrs.auto_delete,
        "exclusive": ctx.broker.is_exclusive(name),
        "arguments": arguments_of(&attrs),
        "consumers": ctx.broker.queues().consumer_count(name),
        "messages": stats.ready + stats.in_flight,
        "messages_ready": stats.ready,
        "messages_unacknowledged": stats.in_flight,
        "message_bytes_ready": stats.ready_bytes,
        "messages_delayed": stats.delayed,
        "head_message_timestamp": null,
        "message_stats": {
            "publish": stats.enqueued_total,
            "deliver_get": stats.delivered_total,
            "redeliver": stats.redelivered_total,
            "ack": stats.acked_total,
        },
    }))
}

/// The `x-` arguments a client would declare the queue with to get its settings.
fn arguments_of(a: &QueueAttributes) -> JsonValue {
    let mut args = Map::new();
    if let Some(p) = a.max_priority {
        args.insert("x-max-priority".into(), json!(p));
    }
    if let Some(ttl) = a.message_ttl_ms {
        args.insert("x-message-ttl".into(), json!(ttl));
    }
    if let Some(x) = &a.dead_letter_exchange {
        args.insert("x-dead-letter-exchange".into(), json!(x));
    }
    if let Some(k) = &a.dead_letter_routing_key {
        args.insert("x-dead-letter-routing-key".into(), json!(k));
    }
    if let Some(n) = a.max_length {
        args.insert("x-max-length".into(), json!(n));
    }
    if let Some(n) = a.max_bytes {
        args.insert("x-max-length-bytes".into(), json!(n));
    }
    if a.max_length.is_some() || a.max_bytes.is_some() {
        let overflow = match a.overflow {
            OverflowPolicy::DropOldest | OverflowPolicy::DeadLetterOldest => "drop-head",
            OverflowPolicy::RejectNew => "reject-publish",
            OverflowPolicy::RejectNewDeadLetter => "reject-publish-dlx",
        };
        args.insert("x-overflow".into(), json!(overflow));
    }
    if let Some(ms) = a.expires_ms {
        args.insert("x-expires".into(), json!(ms));
    }
    if let Some(n) = a.max_deliveries {
        args.insert("x-delivery-limit".into(), json!(n));
    }
    if a.single_active_consumer {
        args.insert("x-single-active-consumer".into(), json!(true));
    }
    JsonValue::Object(args)
}

pub(super) fn exchange(def: &ExchangeDef) -> JsonValue {
    json!({
        "name": def.name,
        "vhost": VHOST,
        "type": def.kind.type_name(),
        "durable": def.durable,
        "auto_delete": def.auto_delete,
        "internal": def.internal,
        "arguments": table_to_json(&def.arguments),
    })
}

pub(super) fn bindings(ctx: &HttpContext) -> Vec<JsonValue> {
    let router = ctx.broker.router();
    let mut out = Vec::new();
    let mut names = ctx.broker.queues().list_queues(None);
    names.sort();
    // RabbitMQ lists each queue's implicit binding from the default exchange first.
    for name in &names {
        out.push(json!({
            "source": "",
            "vhost": VHOST,
            "destination": name,
            "destination_type": "queue",
            "routing_key": name,
            "arguments": {},
            "properties_key": name,
        }));
    }
    let mut exchanges = router.list_exchanges();
    exchanges.sort_by(|a, b| a.name.cmp(&b.name));
    for def in exchanges {
        for b in router.bindings_from(&def.name) {
            out.push(binding(&b));
        }
    }
    out
}

fn binding(b: &Binding) -> JsonValue {
    let (destination, destination_type) = match &b.destination {
        Destination::Queue(q) => (q.as_str(), "queue"),
        // An AMQP stream queue is a topic; RabbitMQ shows it as a queue.
        Destination::Topic(t) => (t.as_str(), "queue"),
        Destination::Exchange(x) => (x.as_str(), "exchange"),
    };
    let properties_key =
        if b.arguments.is_empty() { b.routing_key.clone() } else { format!("{}~", b.routing_key) };
    json!({
        "source": b.source,
        "vhost": VHOST,
        "destination": destination,
        "destination_type": destination_type,
        "routing_key": b.routing_key,
        "arguments": table_to_json(&b.arguments),
        "properties_key": properties_key,
    })
}

pub(super) fn connections(ctx: &HttpContext) -> Vec<JsonValue> {
    ctx.broker
        .telemetry()
        .open_connections()
        .into_iter()
        .map(|c| {
            let protocol = match c.protocol {
                Protocol::Amqp => "AMQP 0-9-1",
                Protocol::Kafka => "Kafka",
                Protocol::Sqs => "SQS",
                Protocol::Http => "HTTP",
            };
            json!({
                "name": format!("{} -> {}", c.peer, c.local),
                "vhost": VHOST,
                "node": NODE,
                "protocol": protocol,
                "state": "running",
                "peer_host": c.peer.ip().to_string(),
                "peer_port": c.peer.port(),
                "host": c.local.ip().to_string(),
                "port": c.local.port(),
                "connected_at": c.connected_at_ms,
            })
        })
        .collect()
}
