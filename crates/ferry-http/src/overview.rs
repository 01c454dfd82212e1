//! `GET /api/v1/overview`: the broker at a glance (what the console's first page and `ferry
//! stats` show): connections, storage, counts, messages waiting, and counters that only grow,
//! from which a client computes rates between two polls.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::metrics::{Figures, collect};
use crate::server::HttpContext;

pub(crate) fn routes() -> Router<Arc<HttpContext>> {
    Router::new().route("/api/v1/overview", get(overview))
}

/// The broker at a glance.
#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    /// ferry's version.
    pub version: &'static str,
    /// Seconds since the broker started.
    pub uptime_seconds: u64,
    /// Open connections by protocol (`kafka`, `sqs`, `amqp`, `http`).
    pub connections: BTreeMap<&'static str, u64>,
    /// Open AMQP channels.
    pub amqp_channels: u64,
    /// Free space on the data directory's file system.
    pub disk_free_bytes: Option<u64>,
    /// The process's resident memory.
    pub resident_memory_bytes: Option<u64>,
    /// Alarms raised now (`disk`, `memory`): publishers are blocked while one is.
    pub alarms: Vec<&'static str>,
    /// How many of each thing exist.
    pub counts: ObjectCounts,
    /// Messages in all queues by state.
    pub messages: MessagesByState,
    /// Counters since the broker started; the difference between two polls over the time
    /// between them is a rate.
    pub totals: Totals,
}

/// How many of each thing exist.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectCounts {
    pub queues: usize,
    pub topics: usize,
    pub partitions: usize,
    pub groups: usize,
    pub exchanges: usize,
    pub bindings: usize,
}

/// Messages in all queues by state.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagesByState {
    pub ready: u64,
    pub in_flight: u64,
    pub delayed: u64,
    /// In queues that other queues dead-letter into.
    pub dead_letter: u64,
}

/// Counters since the broker started.
#[derive(Debug, Serialize, ToSchema)]
pub struct Totals {
    /// Messages made receivable in queues.
    pub enqueued: u64,
    /// Deliveries from queues.
    pub delivered: u64,
    /// Acknowledgements.
    pub acked: u64,
    /// Negative acknowledgements.
    pub nacked: u64,
    /// Records in every partition's log (the sum of end offsets, kept across restarts).
    pub records: u64,
}

/// The broker at a glance
#[utoipa::path(get, path = "/api/v1/overview", tag = "overview", responses((status = 200, body = Overview)))]
pub(crate) async fn overview(State(ctx): State<Arc<HttpContext>>) -> Result<Json<Overview>, ApiError> {
    let broker = Arc::clone(&ctx.broker);
    let figures = tokio::task::spawn_blocking(move || collect(&broker))
        .await
        .map_err(|e| ApiError::internal(format!("reading the figures failed: {e}")))?;
    Ok(Json(summarise(&figures, ctx.started.elapsed().as_secs())))
}

/// The overview of `f`.
pub(crate) fn summarise(f: &Figures, uptime_seconds: u64) -> Overview {
    let sum =
        |read: fn(&ferry_broker::queues::QueueStats) -> u64| f.queues.iter().map(|q| read(&q.stats)).sum();
    let mut alarms = Vec::new();
    if f.process.disk_alarm {
        alarms.push("disk");
    }
    if f.process.memory_alarm {
        alarms.push("memory");
    }
    Overview {
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds,
        connections: f.protocols.iter().map(|p| (p.protocol.name(), p.connections)).collect(),
        amqp_channels: f.protocols.iter().map(|p| p.channels).sum(),
        disk_free_bytes: f.process.disk_free_bytes,
        resident_memory_bytes: f.process.resident_bytes,
        alarms,
        counts: ObjectCounts {
            queues: f.queues.len(),
            topics: f.topics,
            partitions: f.partitions.len(),
            groups: f.groups,
            exchanges: f.exchanges,
            bindings: f.bindings,
        },
        messages: MessagesByState {
            ready: sum(|s| s.ready),
            in_flight: sum(|s| s.in_flight),
            delayed: sum(|s| s.delayed),
            dead_letter: f
                .queues
                .iter()
                .filter(|q| q.is_dead_letter_queue)
                .map(|q| q.stats.ready + q.stats.in_flight + q.stats.delayed)
                .sum(),
        },
        totals: Totals {
            enqueued: sum(|s| s.enqueued_total),
            delivered: sum(|s| s.delivered_total),
            acked: sum(|s| s.acked_total),
            nacked: sum(|s| s.nacked_total),
            records: f.partitions.iter().map(|p| p.end_offset).sum(),
        },
    }
}
