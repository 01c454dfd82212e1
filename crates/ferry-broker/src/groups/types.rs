//! The requests and answers of the group coordinator, in domain terms.
//!
//! Protocol metadata and assignments are opaque bytes here: their format belongs to the clients
//! (Kafka's client-side assignors), the coordinator only stores and forwards them.

use bytes::Bytes;

/// One protocol (assignor) a member can use, in the member's order of preference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberProtocol {
    /// The protocol's name, e.g. `range` or `cooperative-sticky`.
    pub name: String,
    /// The member's subscription in this protocol, opaque to the broker.
    pub metadata: Bytes,
    /// The topics this subscription names, when the front-end could read them (used to refuse
    /// deleting offsets of a topic the group consumes).
    pub topics: Option<Vec<String>>,
}

/// A member asking to join (or rejoin) a group.
#[derive(Clone, Debug)]
pub struct JoinRequest {
    /// The group.
    pub group_id: String,
    /// The member id it was given before, or empty for a first join.
    pub member_id: String,
    /// Static membership: an id that survives restarts of the member.
    pub group_instance_id: Option<String>,
    /// The client's own name, used as the prefix of new member ids.
    pub client_id: String,
    /// The client's address, for describing the group.
    pub client_host: String,
    /// A member that sends no heartbeat for this long is removed.
    pub session_timeout_ms: i64,
    /// How long a rebalance waits for this member to rejoin.
    pub rebalance_timeout_ms: i64,
    /// The kind of group, e.g. `consumer`; every member must agree.
    pub protocol_type: String,
    /// The protocols the member supports, most preferred first.
    pub protocols: Vec<MemberProtocol>,
    /// Whether a first join must come back for its member id before it counts (Kafka's
    /// MEMBER_ID_REQUIRED round trip, JoinGroup v4 and later).
    pub require_known_member_id: bool,
}

/// A member of the group as its leader sees it when it computes the assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinedMember {
    /// The member's id.
    pub member_id: String,
    /// Its static id, if it has one.
    pub group_instance_id: Option<String>,
    /// Its subscription in the chosen protocol.
    pub metadata: Bytes,
}

/// The answer to a join once the rebalance has completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinResponse {
    /// The generation just formed.
    pub generation_id: i32,
    /// The kind of group.
    pub protocol_type: Option<String>,
    /// The protocol chosen for this generation.
    pub protocol_name: Option<String>,
    /// The member that computes the assignment.
    pub leader_id: String,
    /// The joining member's id.
    pub member_id: String,
    /// Every member with its subscription: filled for the leader only.
    pub members: Vec<JoinedMember>,
}

/// A member sending its generation's assignment (leader) or asking for its own (follower).
#[derive(Clone, Debug)]
pub struct SyncRequest {
    /// The group.
    pub group_id: String,
    /// The member.
    pub member_id: String,
    /// Its static id, if any.
    pub group_instance_id: Option<String>,
    /// The generation the member joined.
    pub generation_id: i32,
    /// The kind of group, when the client says it (checked against the group's).
    pub protocol_type: Option<String>,
    /// The protocol, when the client says it (checked against the chosen one).
    pub protocol_name: Option<String>,
    /// The leader's assignment: member id → assignment; empty for followers.
    pub assignments: Vec<(String, Bytes)>,
}

/// A member's assignment for the current generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncResponse {
    /// The kind of group.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol_name: Option<String>,
    /// The member's assignment, opaque to the broker.
    pub assignment: Bytes,
}

/// Identifies a member in heartbeats and commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRef {
    /// The member id.
    pub member_id: String,
    /// Its static id, if any.
    pub group_instance_id: Option<String>,
    /// The generation it believes current; -1 for a commit from outside any generation.
    pub generation_id: i32,
}

/// A member leaving: by member id, or by static id alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeavingMember {
    /// The member id; may be empty when `group_instance_id` is given.
    pub member_id: String,
    /// Its static id, if any.
    pub group_instance_id: Option<String>,
}

/// A topic partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition { topic: topic.into(), partition }
    }
}

/// An offset as a consumer commits it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OffsetCommit {
    /// The next offset the group will read.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if the client knows it.
    pub leader_epoch: Option<i32>,
    /// A free-form string the client keeps with the offset.
    pub metadata: Option<String>,
}

/// A committed offset as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommittedOffset {
    /// The next offset the group will read.
    pub offset: i64,
    /// The leader epoch the client sent, if any.
    pub leader_epoch: Option<i32>,
    /// The client's metadata string.
    pub metadata: Option<String>,
    /// When it was committed.
    pub commit_timestamp_ms: i64,
    /// When the client asked it to expire (old OffsetCommit versions), if it did.
    pub expire_timestamp_ms: Option<i64>,
}

/// The lifecycle state of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members (offsets may remain).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
}

impl GroupState {
    /// The state's name as Kafka tools print it.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// A member as [`GroupCoordinator::describe`](super::GroupCoordinator::describe) shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id.
    pub member_id: String,
    /// Its static id, if any.
    pub group_instance_id: Option<String>,
    /// The client's name.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Its subscription in the chosen protocol (empty before a protocol is chosen).
    pub metadata: Bytes,
    /// Its assignment in the current generation (empty until the leader has synced).
    pub assignment: Bytes,
}

/// A group as DescribeGroups shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group.
    pub group_id: String,
    /// Its state.
    pub state: GroupState,
    /// The kind of group, if it ever had members.
    pub protocol_type: Option<String>,
    /// The chosen protocol, while it has members.
    pub protocol_name: Option<String>,
    /// The current generation.
    pub generation_id: i32,
    /// The members.
    pub members: Vec<MemberDescription>,
}

/// A group as ListGroups shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupListing {
    /// The group.
    pub group_id: String,
    /// The kind of group (empty for a group that only holds offsets).
    pub protocol_type: String,
    /// Its state.
    pub state: GroupState,
}
