//! ferry-broker: the semantics of ferry, written once and reached through every protocol.
//!
//! # Layout
//!
//! - [`message`]: typed header values and the system properties every protocol maps onto.
//! - [`broker`]: [`broker::Broker`], the handle on every service that `ferry serve` gives each front-end.
//! - [`metadata`]: the narrow [`metadata::MetadataStore`] trait and its embedded redb implementation.
//! - [`alarms`]: the disk-free alarm front-ends follow to stop taking work before writes fail.
//! - [`clock`]: injectable time for every timer (leases, delays, TTLs, sessions).
//! - [`queues`]: the work-queue engine (leases, retries, dead-letters, delays, priorities, FIFO).
//! - [`routing`]: exchanges and bindings (RabbitMQ's model), routing a message to queues and topics.
//! - [`streams`]: single-partition topics read like queues whose messages stay (AMQP stream queues).
//! - [`topics`]: the topic catalog, partitions over `ferry-log`, produce, fetch long-poll, producer ids.
//! - [`groups`]: consumer groups (Kafka's classic protocol in domain terms) and committed offsets.
//! - [`shares`]: share groups (KIP-932), a topic consumed as a work queue by the queue engine's delivery state.
//! - [`telemetry`]: connections, channels and request latencies the front-ends report, for metrics.
//!
//! This crate knows no wire format: front-ends translate their protocol into these calls.

pub mod alarms;
pub mod broker;
pub mod clock;
pub mod groups;
pub mod message;
pub mod metadata;
pub mod queues;
pub mod routing;
pub mod shares;
pub mod streams;
pub mod telemetry;
pub mod topics;
pub mod transactions;
pub use broker::{Broker, Published};
