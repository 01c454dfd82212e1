//! Settings of the HTTP listener (the `[http]` section of ferry's configuration).

use std::net::{Ipv4Addr, SocketAddr};

use serde::Deserialize;

/// How the HTTP API, metrics and console listen, and their bounds.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Most connections served at once. A client beyond it takes the place of the connection
    /// idle the longest, or, when none is idle, is answered `503`.
    pub max_connections: usize,
    /// Largest request body read; a larger one is answered `413`.
    pub max_request_bytes: usize,
    /// A connection with no request for this long is closed.
    pub idle_timeout_ms: u64,
    /// A request whose headers are not complete this long after its first byte has its
    /// connection closed.
    pub header_read_timeout_ms: u64,
    /// A request whose body is not complete this long after its headers is answered `408`.
    pub body_read_timeout_ms: u64,
    /// User name of the RabbitMQ management API subset (HTTP basic authentication).
    pub management_user: String,
    /// Its password.
    pub management_password: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            max_connections: 256,
            // A 1 MiB message base64-encoded, with room for the envelope.
            max_request_bytes: 4 << 20,
            // Longer than the 20 s longest receive wait plus the time to send the next request.
            idle_timeout_ms: 60_000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            // RabbitMQ's default user, which tools such as Flower and rabbitmqadmin assume.
            management_user: "guest".to_owned(),
            management_password: "guest".to_owned(),
        }
    }
}
