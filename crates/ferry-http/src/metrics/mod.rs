//! `GET /metrics`: every figure of the broker in Prometheus's text format, or in OpenMetrics
//! when the scraper's `Accept` asks for it. Names follow Prometheus's conventions (base units,
//! `_total` counters, `_seconds` and `_bytes`); docs/metrics.md lists them.

mod collect;
mod exposition;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ferry_broker::telemetry::JOURNAL_FSYNC_LATENCY;
use ferry_log::stats::{FSYNC_LATENCY, GROUP_COMMIT_RECORDS};

pub(crate) use collect::{Figures, collect};
use exposition::{Exposition, Kind, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE};

use crate::error::ApiError;
use crate::server::HttpContext;

pub(crate) fn routes() -> Router<Arc<HttpContext>> {
    Router::new().route("/metrics", get(metrics))
}

/// A family of per-item figures: its name, its help, and how to read it from one item.
type Family<T> = (&'static str, &'static str, fn(&T) -> u64);

/// Nanoseconds in a second, the divisor of latency histograms.
const NANOS: f64 = 1e9;

async fn metrics(State(ctx): State<Arc<HttpContext>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    let broker = Arc::clone(&ctx.broker);
    let figures = tokio::task::spawn_blocking(move || collect(&broker))
        .await
        .map_err(|e| ApiError::internal(format!("reading the figures failed: {e}")))?;
    let text = render(&figures, openmetrics);
    let content_type = if openmetrics { OPENMETRICS_CONTENT_TYPE } else { PROMETHEUS_CONTENT_TYPE };
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

/// The page `/metrics` serves, gathered from `broker` now (blocking: each queue's figures take
/// its lock). Public for the scrape benchmark.
pub fn page(broker: &ferry_broker::Broker, openmetrics: bool) -> String {
    render(&collect(broker), openmetrics)
}

/// The metrics page of `figures`.
pub(crate) fn render(f: &Figures, openmetrics: bool) -> String {
    let mut p = Exposition::new(openmetrics);
    queues(&mut p, f);
    topics(&mut p, f);
    groups(&mut p, f);
    shares(&mut p, f);
    protocols(&mut p, f);
    storage(&mut p, f);
    p.finish()
}

fn queues(p: &mut Exposition, f: &Figures) {
    p.family(
        "ferry_queue_messages",
        Kind::Gauge,
        "Messages in a queue by state: ready, in_flight (leased), delayed.",
    );
    for q in &f.queues {
        let s = &q.stats;
        for (state, n) in [("ready", s.ready), ("in_flight", s.in_flight), ("delayed", s.delayed)] {
            p.gauge("ferry_queue_messages", &[("queue", &q.name), ("state", state)], n as f64);
        }
    }
    p.family(
        "ferry_queue_bytes",
        Kind::Gauge,
        "Bytes of a queue's messages by state: ready, in_flight, delayed.",
    );
    for q in &f.queues {
        let s = &q.stats;
        for (state, n) in
            [("ready", s.ready_bytes), ("in_flight", s.in_flight_bytes), ("delayed", s.delayed_bytes)]
        {
            p.gauge("ferry_queue_bytes", &[("queue", &q.name), ("state", state)], n as f64);
        }
    }
    p.family(
        "ferry_queue_oldest_ready_age_seconds",
        Kind::Gauge,
        "Age of a queue's oldest ready message (0 when none is ready).",
    );
    for q in &f.queues {
        p.gauge(
            "ferry_queue_oldest_ready_age_seconds",
            &[("queue", &q.name)],
            q.stats.oldest_ready_age_ms as f64 / 1000.0,
        );
    }
    let counters: [Family<ferry_broker::queues::QueueStats>; 8] = [
        ("ferry_queue_enqueued", "Messages made receivable in a queue since the broker started.", |s| {
            s.enqueued_total
        }),
        (
            "ferry_queue_delivered",
            "Deliveries from a queue since the broker started, redeliveries included.",
            |s| s.delivered_total,
        ),
        (
            "ferry_queue_redelivered",
            "Deliveries of messages delivered before, since the broker started.",
            |s| s.redelivered_total,
        ),
        ("ferry_queue_acked", "Acknowledgements since the broker started.", |s| s.acked_total),
        (
            "ferry_queue_nacked",
            "Negative acknowledgements (returns, rejects) since the broker started.",
            |s| s.nacked_total,
        ),
        ("ferry_queue_expired", "Messages whose time to live ran out, since the queue was created.", |s| {
            s.expired_total
        }),
        (
            "ferry_queue_dead_lettered",
            "Messages moved to the dead-letter target, since the queue was created.",
            |s| s.dead_lettered_total,
        ),
        (
            "ferry_queue_dropped",
            "Messages dropped (overflow, retention), since the queue was created.",
            |s| s.dropped_total,
        ),
    ];
    for (name, help, read) in counters {
        p.family(name, Kind::Counter, help);
        for q in &f.queues {
            p.counter(name, &[("queue", &q.name)], read(&q.stats));
        }
    }
    p.family(
        "ferry_dead_letter_queue_messages",
        Kind::Gauge,
        "Messages waiting in a dead-letter queue (a queue another queue dead-letters into).",
    );
    for q in f.queues.iter().filter(|q| q.is_dead_letter_queue) {
        let waiting = q.stats.ready + q.stats.in_flight + q.stats.delayed;
        p.gauge("ferry_dead_letter_queue_messages", &[("queue", &q.name)], waiting as f64);
    }
    p.family("ferry_queues", Kind::Gauge, "Queues.");
    p.gauge("ferry_queues", &[], f.queues.len() as f64);
}

fn topics(p: &mut Exposition, f: &Figures) {
    p.family("ferry_topics", Kind::Gauge, "Topics.");
    p.gauge("ferry_topics", &[], f.topics as f64);
    let gauges: [Family<collect::PartitionFigures>; 4] = [
        ("ferry_partition_start_offset", "First offset still in a partition's log.", |x| x.start_offset),
        ("ferry_partition_end_offset", "Offset after the last record written to a partition.", |x| {
            x.end_offset
        }),
        (
            "ferry_partition_high_watermark",
            "Offset below which a partition's records are visible to consumers.",
            |x| x.high_watermark,
        ),
        ("ferry_partition_bytes", "Bytes of a partition's segments on disk.", |x| x.bytes),
    ];
    for (name, help, read) in gauges {
        p.family(name, Kind::Gauge, help);
        for x in &f.partitions {
            let partition = x.partition.to_string();
            p.gauge(name, &[("topic", &x.topic), ("partition", &partition)], read(x) as f64);
        }
    }
}

fn groups(p: &mut Exposition, f: &Figures) {
    p.family("ferry_groups", Kind::Gauge, "Consumer groups.");
    p.gauge("ferry_groups", &[], f.groups as f64);
    p.family(
        "ferry_group_committed_offset",
        Kind::Gauge,
        "A consumer group's committed offset on a partition.",
    );
    for l in &f.lags {
        let partition = l.partition.to_string();
        let labels = [("group", l.group.as_str()), ("topic", &l.topic), ("partition", &partition)];
        p.gauge("ferry_group_committed_offset", &labels, l.committed as f64);
    }
    p.family(
        "ferry_group_lag",
        Kind::Gauge,
        "Records between a consumer group's committed offset and a partition's high watermark.",
    );
    for l in &f.lags {
        let partition = l.partition.to_string();
        let labels = [("group", l.group.as_str()), ("topic", &l.topic), ("partition", &partition)];
        p.gauge("ferry_group_lag", &labels, l.lag as f64);
    }
    p.family("ferry_exchanges", Kind::Gauge, "Exchanges (the predeclared ones included).");
    p.gauge("ferry_exchanges", &[], f.exchanges as f64);
    p.family("ferry_bindings", Kind::Gauge, "Bindings.");
    p.gauge("ferry_bindings", &[], f.bindings as f64);
}

/// Share groups (KIP-932): each share-partition's records by state, as the queue engine counts them.
fn shares(p: &mut Exposition, f: &Figures) {
    p.family(
        "ferry_share_lag",
        Kind::Gauge,
        "Records of a partition a share group has not archived yet: high watermark minus start offset.",
    );
    for s in &f.shares {
        let partition = s.partition.to_string();
        let labels = [("group", s.group.as_str()), ("topic", &s.topic), ("partition", &partition)];
        p.gauge("ferry_share_lag", &labels, s.lag as f64);
    }
    p.family("ferry_share_acquired_records", Kind::Gauge, "Records a share group's members hold under lock.");
    for s in &f.shares {
        let partition = s.partition.to_string();
        let labels = [("group", s.group.as_str()), ("topic", &s.topic), ("partition", &partition)];
        p.gauge("ferry_share_acquired_records", &labels, s.stats.acquired as f64);
    }
    p.family(
        "ferry_share_archived",
        Kind::Counter,
        "Records a share group archived other than by acceptance: moved to its dead-letter queue, or dropped.",
    );
    for s in &f.shares {
        let partition = s.partition.to_string();
        for (reason, value) in [("dead_lettered", s.stats.dead_lettered), ("dropped", s.stats.dropped)] {
            let labels = [
                ("group", s.group.as_str()),
                ("topic", &s.topic),
                ("partition", &partition),
                ("reason", reason),
            ];
            p.counter("ferry_share_archived", &labels, value);
        }
    }
}

fn protocols(p: &mut Exposition, f: &Figures) {
    p.family("ferry_connections", Kind::Gauge, "Open client connections by protocol.");
    for x in &f.protocols {
        p.gauge("ferry_connections", &[("protocol", x.protocol.name())], x.connections as f64);
    }
    p.family("ferry_channels", Kind::Gauge, "Open AMQP channels.");
    for x in f.protocols.iter().filter(|x| x.protocol == ferry_broker::telemetry::Protocol::Amqp) {
        p.gauge("ferry_channels", &[("protocol", x.protocol.name())], x.channels as f64);
    }
    p.family(
        "ferry_request_duration_seconds",
        Kind::Histogram,
        "Time to serve a request, by protocol and operation (Kafka API, SQS/SNS action, AMQP method, HTTP route).",
    );
    for x in &f.protocols {
        for (operation, h) in &x.requests {
            let labels = [("protocol", x.protocol.name()), ("operation", operation.as_str())];
            p.histogram("ferry_request_duration_seconds", &labels, h, NANOS);
        }
    }
}

fn storage(p: &mut Exposition, f: &Figures) {
    p.family(
        "ferry_fsync_duration_seconds",
        Kind::Histogram,
        "Duration of fsyncs: message logs and queue journals.",
    );
    p.histogram("ferry_fsync_duration_seconds", &[("file", "log")], &FSYNC_LATENCY.snapshot(), NANOS);
    p.histogram(
        "ferry_fsync_duration_seconds",
        &[("file", "journal")],
        &JOURNAL_FSYNC_LATENCY.snapshot(),
        NANOS,
    );
    p.family(
        "ferry_group_commit_records",
        Kind::Histogram,
        "Records made durable by one log fsync (the group commit's batch size).",
    );
    p.histogram("ferry_group_commit_records", &[], &GROUP_COMMIT_RECORDS.snapshot(), 1.0);
    let process = &f.process;
    if let Some(rss) = process.resident_bytes {
        p.family("process_resident_memory_bytes", Kind::Gauge, "Resident memory size in bytes.");
        p.gauge("process_resident_memory_bytes", &[], rss as f64);
    }
    if let Some(open) = process.open_files {
        p.family("process_open_fds", Kind::Gauge, "Number of open file descriptors.");
        p.gauge("process_open_fds", &[], open as f64);
    }
    if let Some(free) = process.disk_free_bytes {
        p.family("ferry_disk_free_bytes", Kind::Gauge, "Free space on the data directory's file system.");
        p.gauge("ferry_disk_free_bytes", &[], free as f64);
    }
    p.family("ferry_alarm", Kind::Gauge, "1 while an alarm blocks publishers: disk (free space) or memory.");
    p.gauge("ferry_alarm", &[("resource", "disk")], f64::from(u8::from(process.disk_alarm)));
    p.gauge("ferry_alarm", &[("resource", "memory")], f64::from(u8::from(process.memory_alarm)));
}
