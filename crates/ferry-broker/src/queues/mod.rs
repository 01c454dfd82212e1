//! The work-queue engine: durable queues with leases, retries, dead-lettering, delays,
//! priorities, TTLs, length limits, FIFO groups and deduplication, for every front-end.
//!
//! # Layout
//!
//! - [`service`]: [`QueueService`], the catalog and the async operations front-ends call.
//! - `deadletter`: the per-queue timer task and dead-letter moves between queues.
//! - `queue`: one queue — log, delivery state, journal and dedup window behind one lock.
//! - `state`: the delivery state machine (pure logic over offsets and times).
//! - `ranges`: compact sets of settled offsets.
//! - `recs`: the compact offset-to-record map for messages with state.
//! - `timers`: bucketed lease and delay deadlines.
//! - `journal`: the append-only delivery journal with checkpoints.
//! - `codec`: messages as Kafka RecordBatch v2 bytes with `ferry.` system headers.
//! - `storage`: the message-log trait the engine runs over.
//! - `dedup`: the deduplication window.
//! - `moves`: message move (redrive) tasks.
//! - `lifetime`: transient, auto-delete and expiring queues.
//! - [`subscription`]: push consumers with credit ([`QueueService::subscribe`]).
//! - [`types`] and [`error`]: the vocabulary shared with front-ends.
//!
//! A plain message (no priority, delay, own TTL or group) costs no memory while it waits:
//! the queue keeps a read position and settled ranges, and per-message records only for
//! messages that carry state.

pub mod codec;
mod deadletter;
mod dedup;
pub mod error;
mod flusher;
pub(crate) mod journal;
mod lifetime;
mod moves;
mod queue;
pub mod ranges;
mod recs;
pub mod service;
pub mod state;
pub mod storage;
pub mod subscription;
mod timers;
pub mod types;

pub use deadletter::DeadLetterRouter;
pub use error::QueueError;
pub use service::{PendingEnqueue, QueueFootprint, QueueService, QueueServiceConfig, QueueStorage};
pub use subscription::{SubscribeOptions, Subscription};
pub use types::*;

#[cfg(test)]
mod deadletter_tests;
#[cfg(test)]
mod recovery_tests;
#[cfg(test)]
mod state_tests;
#[cfg(test)]
mod subscription_tests;
#[cfg(test)]
mod tests;
