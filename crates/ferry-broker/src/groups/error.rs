//! One error enum per coordinator operation: a caller matches only what its operation returns.

use crate::metadata::MetadataError;

/// Why a join was refused (or, for [`JoinError::MemberIdRequired`], why it must be repeated).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The group id is empty.
    #[error("invalid group id")]
    InvalidGroupId,
    /// The session timeout is outside the configured bounds.
    #[error("session timeout outside the broker's bounds")]
    InvalidSessionTimeout,
    /// The member's protocol type or protocols match none of the group's.
    #[error("protocol type or protocols inconsistent with the group")]
    InconsistentGroupProtocol,
    /// The member id is not (or no longer) a member of the group.
    #[error("unknown member id")]
    UnknownMemberId,
    /// A first join: repeat it with this member id to be counted.
    #[error("member id required")]
    MemberIdRequired {
        /// The id to send back.
        member_id: String,
    },
    /// The group already has its configured maximum of members.
    #[error("group is full")]
    GroupMaxSizeReached,
    /// Another member now holds this static id.
    #[error("static member fenced by a newer instance")]
    FencedInstanceId,
    /// The group is being deleted or the coordinator is shutting down; try again.
    #[error("coordinator not available")]
    CoordinatorNotAvailable,
}

/// Why a sync was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The member is not in the group.
    #[error("unknown member id")]
    UnknownMemberId,
    /// The member's generation is not the group's.
    #[error("illegal generation")]
    IllegalGeneration,
    /// A new rebalance started: rejoin.
    #[error("rebalance in progress")]
    RebalanceInProgress,
    /// The protocol type or name differs from the group's.
    #[error("inconsistent group protocol")]
    InconsistentGroupProtocol,
    /// Another member now holds this static id.
    #[error("static member fenced by a newer instance")]
    FencedInstanceId,
    /// The coordinator is shutting down; try again.
    #[error("coordinator not available")]
    CoordinatorNotAvailable,
}

/// Why a heartbeat was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeartbeatError {
    /// The member is not in the group.
    #[error("unknown member id")]
    UnknownMemberId,
    /// The member's generation is not the group's.
    #[error("illegal generation")]
    IllegalGeneration,
    /// The group is rebalancing: rejoin.
    #[error("rebalance in progress")]
    RebalanceInProgress,
    /// Another member now holds this static id.
    #[error("static member fenced by a newer instance")]
    FencedInstanceId,
}

/// Why one member could not leave.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaveError {
    /// The member is not in the group.
    #[error("unknown member id")]
    UnknownMemberId,
    /// The static id belongs to another member id.
    #[error("static member fenced by a newer instance")]
    FencedInstanceId,
}

/// Why an offset commit was refused as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// The group id is empty.
    #[error("invalid group id")]
    InvalidGroupId,
    /// The member is not in the group.
    #[error("unknown member id")]
    UnknownMemberId,
    /// The member's generation is not the group's.
    #[error("illegal generation")]
    IllegalGeneration,
    /// The group is waiting for its assignment: commit after the rebalance.
    #[error("rebalance in progress")]
    RebalanceInProgress,
    /// Another member now holds this static id.
    #[error("static member fenced by a newer instance")]
    FencedInstanceId,
    /// A consumer-protocol member's epoch is not its current one: commit again once it has its
    /// new epoch.
    #[error("stale member epoch")]
    StaleMemberEpoch,
    /// The metadata store failed; nothing of this commit was stored.
    #[error("offset storage failed: {0}")]
    Storage(#[from] MetadataError),
    /// The coordinator is shutting down; nothing was stored.
    #[error("coordinator not available")]
    CoordinatorNotAvailable,
}

/// Why one partition's offset was not committed while others may have been.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitPartitionError {
    /// The metadata string exceeds `offset_metadata_max_bytes`.
    #[error("offset metadata too large")]
    OffsetMetadataTooLarge,
}

/// Why a group could not be deleted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeleteGroupError {
    /// No such group.
    #[error("group id not found")]
    GroupIdNotFound,
    /// The group still has members.
    #[error("group is not empty")]
    NonEmptyGroup,
    /// The group id is empty.
    #[error("invalid group id")]
    InvalidGroupId,
    /// The metadata store failed.
    #[error("group storage failed: {0}")]
    Storage(#[from] MetadataError),
    /// The coordinator is shutting down.
    #[error("coordinator not available")]
    CoordinatorNotAvailable,
}

/// Why offsets could not be deleted at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OffsetDeleteError {
    /// No such group.
    #[error("group id not found")]
    GroupIdNotFound,
    /// The group has members and is not a consumer group, so its subscriptions are unknown.
    #[error("group is not empty")]
    NonEmptyGroup,
    /// The group id is empty.
    #[error("invalid group id")]
    InvalidGroupId,
    /// The metadata store failed.
    #[error("offset storage failed: {0}")]
    Storage(#[from] MetadataError),
    /// The coordinator is shutting down.
    #[error("coordinator not available")]
    CoordinatorNotAvailable,
}

/// Why one partition's offset was kept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OffsetDeletePartitionError {
    /// The group's members consume this topic: they would commit it again.
    #[error("group is subscribed to the topic")]
    GroupSubscribedToTopic,
}

/// Why the coordinator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Reading the stored groups and offsets failed.
    #[error("cannot load groups: {0}")]
    Storage(#[from] MetadataError),
    /// A stored record could not be decoded.
    #[error("corrupt group record {key:?}: {reason}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// `open` was called outside a tokio runtime, which the coordinator's timers need.
    #[error("the group coordinator needs a tokio runtime")]
    NoRuntime,
    /// The offset writer thread could not be started.
    #[error("cannot start the offset writer: {0}")]
    Writer(String),
}
