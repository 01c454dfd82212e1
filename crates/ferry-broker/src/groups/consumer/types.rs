//! The requests, answers and errors of consumer-protocol groups (KIP-848), in domain terms:
//! topics by name (the front-end maps Kafka's topic ids), assignments as sets of partitions.

use std::collections::BTreeMap;

use crate::groups::types::TopicPartition;

/// The partition count of every topic, by name: what assignors and regex subscriptions see.
pub type TopicPartitionCounts = BTreeMap<String, u32>;

/// A member's epoch in a heartbeat that joins the group.
pub const JOIN_EPOCH: i32 = 0;
/// A member's epoch in a heartbeat that leaves the group.
pub const LEAVE_EPOCH: i32 = -1;
/// A static member's epoch in a heartbeat that leaves the group for now: its partitions wait for
/// it until its session runs out, and a member joining with its instance id takes them over
/// without a rebalance.
pub const LEAVE_STATIC_EPOCH: i32 = -2;

/// One ConsumerGroupHeartbeat. A field left `None` is unchanged since the member's last heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerHeartbeat {
    /// The group.
    pub group_id: String,
    /// The member id; empty in a first heartbeat that lets the coordinator choose one.
    pub member_id: String,
    /// [`JOIN_EPOCH`] to join, [`LEAVE_EPOCH`] or [`LEAVE_STATIC_EPOCH`] to leave, otherwise the
    /// epoch the member last received.
    pub member_epoch: i32,
    /// The static id, for static members.
    pub instance_id: Option<String>,
    /// The rack the client runs in.
    pub rack_id: Option<String>,
    /// How long the member may take to revoke partitions; -1 when unchanged.
    pub rebalance_timeout_ms: i32,
    /// The topics it subscribes to by name.
    pub subscribed_topic_names: Option<Vec<String>>,
    /// The regex (RE2/Java syntax, matched against whole topic names) it subscribes to; an empty
    /// string removes it.
    pub subscribed_topic_regex: Option<String>,
    /// The server-side assignor it asks for; an empty string means the broker's default.
    pub server_assignor: Option<String>,
    /// The partitions it owns now.
    pub owned: Option<Vec<TopicPartition>>,
    /// The client's name.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// The group's own session timeout (Kafka's group config `consumer.session.timeout.ms`), if
    /// set; else the coordinator's.
    pub session_timeout_ms: Option<i64>,
    /// The group's own heartbeat interval (`consumer.heartbeat.interval.ms`), if set.
    pub heartbeat_interval_ms: Option<i32>,
}

/// The coordinator's answer to a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerHeartbeatResponse {
    /// The member's id (chosen by the coordinator when the first heartbeat had none).
    pub member_id: String,
    /// The member's epoch now; the leaving epoch after a leave.
    pub member_epoch: i32,
    /// How often the member should heartbeat.
    pub heartbeat_interval_ms: i32,
    /// The partitions the member may own now, when that changed or the member asked for it all.
    pub assignment: Option<Vec<TopicPartition>>,
}

/// Why a heartbeat was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerHeartbeatError {
    /// The group id is empty.
    #[error("invalid group id")]
    InvalidGroupId,
    /// A field is missing or contradicts another.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The group id belongs to a classic group with members.
    #[error("group is not a consumer group")]
    GroupIdNotFound,
    /// The member is not (or no longer) in the group: join again with epoch 0.
    #[error("unknown member id")]
    UnknownMemberId,
    /// The member's epoch is not one the coordinator accepts: give up every partition and rejoin.
    #[error("fenced member epoch")]
    FencedMemberEpoch,
    /// The requested assignor is not one this broker runs.
    #[error("unsupported assignor")]
    UnsupportedAssignor,
    /// The static id belongs to a member that has not left: it must leave (epoch -2) first.
    #[error("instance id still in use by another member")]
    UnreleasedInstanceId,
    /// The static id now belongs to another member id: this one was replaced.
    #[error("static member fenced by a newer instance")]
    FencedInstanceId,
    /// The subscription regex does not compile.
    #[error("invalid regular expression: {0}")]
    InvalidRegularExpression(String),
    /// The group already has its configured maximum of members.
    #[error("group is full")]
    GroupMaxSizeReached,
    /// The coordinator cannot take one more group now; try again.
    #[error("coordinator not available")]
    CoordinatorNotAvailable,
}

/// The state of a consumer-protocol group, as Kafka tools print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConsumerGroupState {
    /// No members (offsets may remain).
    Empty,
    /// The group epoch moved past the target assignment's: a new target is due.
    Assigning,
    /// Some member has not reached the target assignment yet.
    Reconciling,
    /// Every member owns its target assignment.
    Stable,
}

impl ConsumerGroupState {
    /// The state's name as Kafka tools print it.
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// A member as ConsumerGroupDescribe shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerMemberDescription {
    /// The member id.
    pub member_id: String,
    /// Its static id, if any.
    pub instance_id: Option<String>,
    /// Its rack, if it said.
    pub rack_id: Option<String>,
    /// Its epoch.
    pub member_epoch: i32,
    /// The client's name.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// The topics it subscribes to by name, sorted.
    pub subscribed_topic_names: Vec<String>,
    /// Its subscription regex, if any.
    pub subscribed_topic_regex: Option<String>,
    /// What it may own now.
    pub assignment: Vec<TopicPartition>,
    /// What the group's target gives it.
    pub target_assignment: Vec<TopicPartition>,
}

/// A consumer-protocol group as ConsumerGroupDescribe shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    /// The group.
    pub group_id: String,
    /// Its state.
    pub state: ConsumerGroupState,
    /// The group epoch: bumped by every change of membership, subscription or subscribed topics.
    pub group_epoch: i32,
    /// The epoch of the current target assignment.
    pub assignment_epoch: i32,
    /// The assignor of the current target.
    pub assignor: String,
    /// The members, by member id.
    pub members: Vec<ConsumerMemberDescription>,
}

/// Why a group could not be described as a consumer-protocol group.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DescribeConsumerGroupError {
    /// No such group.
    #[error("group not found")]
    GroupIdNotFound,
    /// The group is a classic group.
    #[error("group is not a consumer group")]
    NotConsumerGroup,
}
