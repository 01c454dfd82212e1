//! Settings of the AWS listener, SQS and SNS (the `[sqs]` section of ferry's configuration).

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
    /// Most connections served at once. A client beyond it takes the place of the connection
    /// idle the longest, or, when none is idle, is answered `503 ServiceUnavailable`.
    pub max_connections: usize,
    /// Largest request body read; larger requests are refused before parsing.
    pub max_request_bytes: usize,
    /// A connection with no request for this long (after its last response, or after it was
    /// accepted) is closed.
    pub idle_timeout_ms: u64,
    /// A request whose headers are not complete this long after its first byte has its
    /// connection closed.
    pub header_read_timeout_ms: u64,
    /// A request whose body is not complete this long after its headers is answered
    /// `408 RequestTimeout` and its connection closed.
    pub body_read_timeout_ms: u64,
    /// Most SNS topics; a CreateTopic beyond it is `TopicLimitExceeded`.
    pub sns_max_topics: usize,
    /// Most SNS subscriptions over all topics; a Subscribe beyond it is
    /// `SubscriptionLimitExceeded`.
    pub sns_max_subscriptions: usize,
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
            // Longer than the 20 s longest long poll plus the time to send the next request.
            idle_timeout_ms: 60_000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            sns_max_topics: 1_000,
            sns_max_subscriptions: 10_000,
        }
    }
}
