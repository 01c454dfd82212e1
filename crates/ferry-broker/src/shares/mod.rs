//! Share groups (Kafka's KIP-932): consumers that read a topic as a work queue, each record
//! delivered to one member at a time, acknowledged record by record.
//!
//! # Design
//!
//! A share group does not get a delivery engine of its own. The state of one share-partition
//! (a group's view of one topic partition) is a queue's [`DeliveryState`] running over the
//! offsets of the topic partition's log instead of a queue's log:
//!
//! | Kafka (KIP-932)                        | ferry's queue engine                                  |
//! |----------------------------------------|-------------------------------------------------------|
//! | record available                       | a plain ready offset (no memory per record)          |
//! | acquired, under the acquisition lock   | in flight, leased for `share.record.lock.duration.ms` |
//! | delivery count                         | the lease's delivery count (the receipt generation)  |
//! | accept                                 | `ack`: settled                                        |
//! | release                                | `nack`: ready again (at the delivery limit: archived) |
//! | reject                                 | `reject`: dead-lettered, or dropped without a target  |
//! | lock expiry                            | lease expiry in `tick`                                |
//! | `share.delivery.count.limit` (5)       | `Policy::max_deliveries`                             |
//! | archived                               | settled (acked, dead-lettered or dropped)            |
//! | share-partition start offset (SPSO)    | `low_water`: below it everything is settled          |
//!
//! Offsets are registered with the state lazily, when a member fetches: everything between the
//! state's end and the partition's high watermark, as plain messages, so a share-partition costs
//! memory only for records that are in flight or were delivered before (32 bytes each), and
//! settled ranges. `share.auto.offset.reset` picks the first offset when a share-partition is
//! first used: `latest` (the default, as in Kafka) the high watermark, `earliest` the log start.
//! A record that retention removed before it was delivered is dropped, as a queue drops a message
//! its log no longer has.
//!
//! What the state alone cannot say is *which member* holds a record: Kafka accepts an
//! acknowledgement only from the member that acquired the record, by offset. Each
//! share-partition keeps that beside the state, one entry per acquired record (offset → member
//! and delivery count); the count turns a Kafka acknowledgement (offset only) into the queue
//! engine's receipt (offset, count), so a stale acknowledgement of an earlier delivery is refused
//! by the same check that refuses a stale SQS receipt handle.
//!
//! ## Durability
//!
//! Each share-partition writes the queue engine's delivery journal (`queues::journal`: the
//! state machine's `Delivered` / `Settled` / `Purged` events, checkpointed and truncated the same
//! way) in its own directory, `shares/<group as hex>/<topic id>-<partition>/` under the data
//! directory. The start offset chosen by `share.auto.offset.reset` (or set by
//! AlterShareGroupOffsets) is a `Purged` event, so recovery rebuilds settled ranges, delivery
//! counts and the start offset exactly as a queue does; records in flight at a crash are
//! available again, their deliveries counted. Acknowledgements are answered once the journal is
//! synced. Membership is not persisted: after a restart members join again, as in Kafka.
//! Group configs live with the Kafka front-end's dynamic configs (in memory) and are handed in
//! with each call as a [`ShareGroupConfig`].
//!
//! ## Dead-lettering
//!
//! When a record reaches the delivery limit (through releases or lock expiries) or is rejected,
//! Kafka archives it. On ferry it is archived *and*, when the group names a dead-letter queue
//! (group config `ferry.share.dead.letter.queue`), moved into that queue like any queue message
//! that leaves for its dead-letter target: the record's value becomes the body, its headers
//! the attributes, and its death history records why (`delivery_limit`, or `rejected`) and where
//! (`<topic>-<partition>`). Without that config (the default) the record is archived only, as
//! Kafka does. A dead-letter queue that does not exist, or refuses the message, does not keep the
//! record alive: it is archived and the failure logged.
//!
//! ## Membership and assignment
//!
//! ShareGroupHeartbeat joins (epoch 0), heartbeats and leaves (epoch -1); the assignor is
//! Kafka's `simple` one for a single broker: every member is assigned every partition of every
//! topic it subscribes to. A member that misses `share.session.timeout.ms` is removed, and what
//! it had acquired is released (counted, as Kafka counts it). A member's share session (the
//! partitions its ShareFetch requests name) is kept here too.
//!
//! # Layout
//!
//! - `state`: [`ShareState`], the queue engine's delivery state plus who holds what (pure).
//! - `partition`: [`SharePartition`], a `ShareState` with its journal over one topic partition.
//! - `coordinator`: [`ShareCoordinator`], groups, members, share sessions and share-partitions.
//! - `timer`: one task for lock expiries and session timeouts, closing idle groups.
//! - `deadletter`: moving archived records into the group's dead-letter queue.
//! - `config`: [`ShareGroupConfig`], the group settings the coordinator applies.
//!
//! [`DeliveryState`]: crate::queues::state::DeliveryState

mod config;
mod coordinator;
mod deadletter;
mod partition;
mod state;
mod timer;

pub use config::{AutoOffsetReset, ShareGroupConfig};
pub use coordinator::{
    AckBatches, GROUP_ID_BYTES_MAX, HeartbeatOutcome, MEMBERS_MAX, ShareCoordinator, ShareError,
    ShareGroupDescription, ShareMember, TopicPartition,
};
pub use partition::{Acquisition, SharePartition};
pub use state::{AckError, AckKind, AcquiredRange, MAX_RECORD_LOCKS, ShareState, ShareStats};

#[cfg(test)]
mod coordinator_tests;
#[cfg(test)]
mod tests;
