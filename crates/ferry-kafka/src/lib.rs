//! ferry-kafka: the Kafka wire-protocol front-end. It decodes requests with the `kafka-protocol`
//! crate, calls `ferry-broker`, and encodes responses; it has no semantics of its own.
//!
//! # Layout
//!
//! - [`config`]: [`KafkaConfig`], the listener's settings.
//! - [`server`]: [`serve`], the accept loop, connection limit and shutdown.
//! - `connection`: one client connection: framing, bounded pipelining (effects in arrival order,
//!   waits overlapped), in-order responses.
//! - `api`: dispatch on the API key, and one module per API (`api/produce.rs`, `api/fetch.rs`, ...).
//! - `dynamic_configs`: broker and group settings set through the config APIs (in memory).
//! - `errors`: broker errors mapped onto Kafka error codes.
//!
//! A request's path: `server` accepts → `connection` reads a frame → `api::dispatch` decodes it and
//! calls the API's `handle` → the response is encoded and written in request order.

pub mod config;
pub mod server;

mod api;
mod connection;
mod dynamic_configs;
mod errors;

use std::sync::Arc;

use ferry_broker::groups::GroupCoordinator;
use ferry_broker::topics::TopicService;

pub use config::KafkaConfig;
pub use server::serve;

/// The broker handles the Kafka front-end calls into.
#[derive(Clone)]
pub struct KafkaContext {
    /// Topics, partitions, produce and fetch.
    pub topics: Arc<TopicService>,
    /// Consumer groups and committed offsets.
    pub groups: Arc<GroupCoordinator>,
    /// Share groups (KIP-932).
    pub shares: Arc<ferry_broker::shares::ShareCoordinator>,
    /// Transactions: transactional producers, markers, transactional offsets.
    pub transactions: Arc<ferry_broker::transactions::TransactionCoordinator>,
    /// Where connections and request latencies are counted.
    pub telemetry: Arc<ferry_broker::telemetry::Telemetry>,
}
