//! Settings of the Kafka listener.

use std::net::SocketAddr;

use serde::Deserialize;

/// Settings of the Kafka listener (`[kafka]` in the configuration file).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Host name given to clients in Metadata; defaults to the address the client connected to.
    pub advertised_host: Option<String>,
    /// Port given to clients in Metadata; defaults to the port the client connected to.
    pub advertised_port: Option<u16>,
    /// This broker's node id.
    pub node_id: i32,
    /// A request frame larger than this closes the connection.
    pub max_frame_bytes: usize,
    /// Requests of one connection processed or queued at once; further reads wait.
    pub max_in_flight_per_connection: usize,
    /// Connections open at once; further ones are closed at accept.
    pub max_connections: usize,
    /// A connection that sends no request for this long, while owed no answer, is closed
    /// (Kafka's `connections.max.idle.ms`; clients reconnect when they next need to).
    pub connections_max_idle_ms: u64,
    /// A connection is closed when no byte of a frame it has started arrives for this long.
    pub frame_stall_timeout_ms: u64,
    /// Whether Metadata for an unknown topic creates it (when the client allows it).
    pub auto_create_topics: bool,
    /// Partitions of an auto-created topic (and of CreateTopics with `-1`).
    pub default_partitions: u32,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9092)),
            advertised_host: None,
            advertised_port: None,
            node_id: 0,
            max_frame_bytes: 100 * 1024 * 1024,
            max_in_flight_per_connection: 128,
            max_connections: 10_000,
            connections_max_idle_ms: 600_000,
            frame_stall_timeout_ms: 30_000,
            auto_create_topics: true,
            default_partitions: 1,
        }
    }
}
