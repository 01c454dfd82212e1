//! What a run measured: the record `--json` prints, and the table people read.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies in microseconds, 1 µs to 10 minutes at three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Records `latency` (saturating at the histogram's bound).
pub fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    histogram.saturating_record((latency.as_micros() as u64).max(1));
}

/// Percentiles of one histogram, in microseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Latency {
    /// What was timed: `publish_ack` (send to broker's acknowledgement) or `end_to_end` (send to
    /// receipt by a consumer).
    pub kind: String,
    pub samples: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Latency {
    pub fn of(kind: &str, histogram: &Histogram<u64>) -> Latency {
        Latency {
            kind: kind.to_owned(),
            samples: histogram.len(),
            p50_us: histogram.value_at_quantile(0.50),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
        }
    }
}

/// Resident memory of the server, read from /proc.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Memory {
    pub rss_start_bytes: u64,
    pub rss_with_queues_bytes: u64,
    pub rss_with_messages_bytes: u64,
    /// (with queues − start) / queues.
    pub per_queue_bytes: f64,
    /// (with messages − with queues) / messages left queued.
    pub per_message_bytes: f64,
}

/// One run's figures; one JSON object per run with `--json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Outcome {
    pub workload: String,
    pub target: String,
    /// The system's name in reports, e.g. "ferry (Kafka API)".
    pub label: String,
    /// Who makes the data durable before acknowledging, as stated by whoever ran the benchmark.
    pub durability: String,
    pub size: usize,
    pub producers: usize,
    pub consumers: usize,
    pub partitions: usize,
    pub batch: usize,
    pub inflight: usize,
    pub prefetch: usize,
    /// The fixed send rate of an open-loop run; `None` for as fast as possible.
    pub rate: Option<f64>,
    /// Subscriptions each message reached (fan-out), 1 otherwise.
    pub subscriptions: usize,
    /// Topics, queues or streams the run used.
    pub destinations: usize,
    /// Length of the measured window in seconds.
    pub secs: f64,
    /// Messages counted in the window: acknowledged publishes (produce), receipts (consume,
    /// e2e, fan-out: all consumers together), messages queued (queues).
    pub messages: u64,
    pub msg_per_s: f64,
    pub mb_per_s: f64,
    /// With consumers: acknowledged publishes per second in the same window; above `msg_per_s`
    /// when the consumers fall behind and a backlog builds.
    pub published_per_s: Option<f64>,
    pub latency: Option<Latency>,
    /// Measured messages sent and acknowledged but not received before the run gave up waiting.
    pub missing: u64,
    pub memory: Option<Memory>,
    /// Seconds the broker took to create the run's destinations (queues workload).
    pub setup_secs: Option<f64>,
}

impl Outcome {
    /// The human table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = vec![
            ("workload".into(), self.workload.clone()),
            ("target".into(), format!("{} ({})", self.label, self.target)),
            ("durability".into(), self.durability.clone()),
            (
                "shape".into(),
                format!(
                    "{} B, {} producer(s), {} consumer(s), {} partition(s), batch {}, in flight {}, prefetch {}",
                    self.size,
                    self.producers,
                    self.consumers,
                    self.partitions,
                    self.batch,
                    self.inflight,
                    self.prefetch
                ),
            ),
            (
                "load".into(),
                self.rate.map_or("as fast as possible".into(), |r| format!("fixed rate {r} msg/s")),
            ),
            ("window".into(), format!("{:.1} s, {} messages", self.secs, self.messages)),
            ("throughput".into(), format!("{:.0} msg/s, {:.2} MB/s", self.msg_per_s, self.mb_per_s)),
        ];
        if let Some(p) = self.published_per_s {
            rows.push(("published".into(), format!("{p:.0} msg/s acknowledged to the producers")));
        }
        if let Some(l) = &self.latency {
            rows.push((
                format!("latency ({})", l.kind),
                format!(
                    "p50 {}  p99 {}  p99.9 {}  max {}  ({} samples)",
                    micros(l.p50_us),
                    micros(l.p99_us),
                    micros(l.p999_us),
                    micros(l.max_us),
                    l.samples
                ),
            ));
        }
        if self.missing > 0 {
            rows.push(("missing".into(), format!("{} acknowledged messages not received", self.missing)));
        }
        if let Some(s) = self.setup_secs {
            rows.push(("setup".into(), format!("{s:.2} s to create the destinations")));
        }
        if let Some(m) = &self.memory {
            rows.push((
                "server memory".into(),
                format!(
                    "{} at start, {} with the queues, {} with the messages: {:.0} B per queue, {:.0} B per queued message",
                    mib(m.rss_start_bytes),
                    mib(m.rss_with_queues_bytes),
                    mib(m.rss_with_messages_bytes),
                    m.per_queue_bytes,
                    m.per_message_bytes
                ),
            ));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
    }
}

/// `1234` µs as "1.23 ms".
pub fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}
