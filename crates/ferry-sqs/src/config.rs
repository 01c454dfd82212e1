//! Settings of the SQS listener (the `[sqs]` section of ferry's configuration).

use std::net::{Ipv4Addr, SocketAddr};

use serde::Deserialize;

/// How the SQS front-end listens and names its queues.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqsConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Region written into ARNs.
    pub region: String,
    /// Account id written into queue URLs and ARNs.
    pub account_id: String,
    /// Host written into queue URLs; the request's `Host` header when unset.
    pub public_host: Option<String>,
    /// Port written into queue URLs with `public_host`; none means the scheme's default.
    pub public_port: Option<u16>,
    /// Most connections served at once; further clients wait in the accept queue.
    pub max_connections: usize,
    /// Largest request body read; larger requests are refused before parsing.
    pub max_request_bytes: usize,
}

impl Default for SqsConfig {
    fn default() -> Self {
        SqsConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 9324)),
            region: "us-east-1".to_owned(),
            account_id: "000000000000".to_owned(),
            public_host: None,
            public_port: None,
            max_connections: 1024,
            // A 1 MiB batch, JSON-escaped or base64-encoded, with room for the envelope.
            max_request_bytes: 8 << 20,
        }
    }
}
