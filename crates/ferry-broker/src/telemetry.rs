//! What the front-ends report for metrics: open connections and channels per protocol, and the
//! latency of each request per protocol and operation. The queues, topics and groups report
//! their own figures through their services; the storage engine through `ferry_log::stats`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use ferry_log::stats::{Histogram, HistogramSnapshot, LATENCY_BOUNDS_NS};

/// Most operations kept apart per protocol; later ones are counted under [`OTHER_OPERATION`],
/// so a client sending made-up action names cannot grow the metrics without bound.
pub const OPERATIONS_MAX: usize = 128;

/// The operation name requests beyond [`OPERATIONS_MAX`] distinct names are counted under.
pub const OTHER_OPERATION: &str = "other";

/// Duration of every queue journal fsync, in nanoseconds.
pub static JOURNAL_FSYNC_LATENCY: Histogram = Histogram::new(LATENCY_BOUNDS_NS);

/// A protocol front-end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// The Kafka wire protocol.
    Kafka,
    /// The AWS front-end (SQS and SNS).
    Sqs,
    /// AMQP 0-9-1.
    Amqp,
    /// The HTTP API.
    Http,
}

impl Protocol {
    /// Every protocol, in a fixed order.
    pub const ALL: [Protocol; 4] = [Protocol::Kafka, Protocol::Sqs, Protocol::Amqp, Protocol::Http];

    /// Its name as a metric label.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Kafka => "kafka",
            Protocol::Sqs => "sqs",
            Protocol::Amqp => "amqp",
            Protocol::Http => "http",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counts open connections (or channels) as long as it lives.
#[derive(Debug)]
#[must_use = "the connection counts as open only while the guard lives"]
pub struct Open(Arc<Telemetry>, Counted);

#[derive(Debug, Clone, Copy)]
enum Counted {
    /// A connection, with its id in the list of open connections.
    Connection(Protocol, u64),
    Channel(Protocol),
}

impl Drop for Open {
    fn drop(&mut self) {
        let counter = match self.1 {
            Counted::Connection(p, id) => {
                self.0.peers.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                &self.0.connections[p.index()]
            }
            Counted::Channel(p) => &self.0.channels[p.index()],
        };
        counter.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An open connection as the management API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The protocol it speaks.
    pub protocol: Protocol,
    /// The client's address.
    pub peer: SocketAddr,
    /// The listener's address.
    pub local: SocketAddr,
    /// When it was accepted, ms since the epoch.
    pub connected_at_ms: u64,
}

/// Counts a listener's connections without a guard per connection (a listener that keeps its
/// own registry, such as the HTTP ones).
pub type ConnectionCounter = Box<dyn Fn() -> u64 + Send + Sync>;

/// The front-ends' figures.
#[derive(Default)]
pub struct Telemetry {
    connections: [AtomicU64; 4],
    channels: [AtomicU64; 4],
    next_connection: AtomicU64,
    peers: Mutex<BTreeMap<u64, ConnectionInfo>>,
    listeners: Mutex<Vec<(&'static str, SocketAddr)>>,
    counters: RwLock<HashMap<Protocol, ConnectionCounter>>,
    requests: [RwLock<HashMap<String, Arc<Histogram>>>; 4],
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Telemetry {
    /// A new, empty set of figures.
    pub fn new() -> Arc<Telemetry> {
        Arc::new(Telemetry::default())
    }

    /// Counts one open connection of `protocol` from `peer` to `local`, and lists it, until
    /// the guard drops.
    pub fn connection_opened(
        self: &Arc<Self>,
        protocol: Protocol,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Open {
        self.connections[protocol.index()].fetch_add(1, Ordering::Relaxed);
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let connected_at_ms =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let info = ConnectionInfo { protocol, peer, local, connected_at_ms };
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).insert(id, info);
        Open(Arc::clone(self), Counted::Connection(protocol, id))
    }

    /// Notes that the `protocol` listener is bound to `addr` (for the management overview).
    pub fn listener_bound(&self, protocol: &'static str, addr: SocketAddr) {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner()).push((protocol, addr));
    }

    /// The bound listeners, in the order they were bound.
    pub fn listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The open connections counted with guards (Kafka's and AMQP's), oldest first.
    pub fn open_connections(&self) -> Vec<ConnectionInfo> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// Counts one open channel of `protocol` until the guard drops.
    pub fn channel_opened(self: &Arc<Self>, protocol: Protocol) -> Open {
        self.channels[protocol.index()].fetch_add(1, Ordering::Relaxed);
        Open(Arc::clone(self), Counted::Channel(protocol))
    }

    /// Lets `protocol`'s listener report its open connections itself.
    pub fn count_connections_with(&self, protocol: Protocol, counter: ConnectionCounter) {
        self.counters.write().unwrap_or_else(|p| p.into_inner()).insert(protocol, counter);
    }

    /// Open connections of `protocol`.
    pub fn connections(&self, protocol: Protocol) -> u64 {
        let counters = self.counters.read().unwrap_or_else(|p| p.into_inner());
        match counters.get(&protocol) {
            Some(count) => count(),
            None => self.connections[protocol.index()].load(Ordering::Relaxed),
        }
    }

    /// Open channels of `protocol` (AMQP's; 0 for protocols without channels).
    pub fn channels(&self, protocol: Protocol) -> u64 {
        self.channels[protocol.index()].load(Ordering::Relaxed)
    }

    /// Counts one request of `protocol` for `operation` that took `elapsed`.
    pub fn observe_request(&self, protocol: Protocol, operation: &str, elapsed: Duration) {
        let table = &self.requests[protocol.index()];
        if let Some(h) = table.read().unwrap_or_else(|p| p.into_inner()).get(operation) {
            h.observe_duration(elapsed);
            return;
        }
        let mut table = table.write().unwrap_or_else(|p| p.into_inner());
        let key = if table.len() < OPERATIONS_MAX { operation } else { OTHER_OPERATION };
        let h = table.entry(key.to_owned()).or_insert_with(|| Arc::new(Histogram::new(LATENCY_BOUNDS_NS)));
        h.observe_duration(elapsed);
    }

    /// The request latency histograms of `protocol`, by operation, sorted by operation.
    pub fn request_latencies(&self, protocol: Protocol) -> Vec<(String, HistogramSnapshot)> {
        let table = self.requests[protocol.index()].read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = table.iter().map(|(op, h)| (op.clone(), h.snapshot())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_while_they_live() {
        let t = Telemetry::new();
        let (peer, local) = ("127.0.0.1:40000".parse().unwrap(), "127.0.0.1:9092".parse().unwrap());
        let a = t.connection_opened(Protocol::Kafka, peer, local);
        let b = t.connection_opened(Protocol::Kafka, peer, local);
        let c = t.channel_opened(Protocol::Amqp);
        assert_eq!((t.connections(Protocol::Kafka), t.channels(Protocol::Amqp)), (2, 1));
        assert_eq!(t.open_connections().len(), 2);
        drop(a);
        assert_eq!(t.open_connections().len(), 1);
        drop(c);
        assert_eq!((t.connections(Protocol::Kafka), t.channels(Protocol::Amqp)), (1, 0));
        drop(b);
        assert_eq!(t.connections(Protocol::Kafka), 0);
    }

    #[test]
    fn a_listener_may_count_its_own_connections() {
        let t = Telemetry::new();
        t.count_connections_with(Protocol::Http, Box::new(|| 7));
        assert_eq!(t.connections(Protocol::Http), 7);
    }

    #[test]
    fn made_up_operations_beyond_the_bound_share_one_histogram() {
        let t = Telemetry::new();
        for i in 0..OPERATIONS_MAX + 10 {
            t.observe_request(Protocol::Sqs, &format!("Action{i}"), Duration::from_millis(1));
        }
        let latencies = t.request_latencies(Protocol::Sqs);
        assert_eq!(latencies.len(), OPERATIONS_MAX + 1);
        let other = latencies.iter().find(|(op, _)| op == OTHER_OPERATION).unwrap();
        assert_eq!(other.1.count, 10);
    }
}
