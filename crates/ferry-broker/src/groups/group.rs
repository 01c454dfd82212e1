//! The state machine of one group (Kafka's classic protocol), free of locks, I/O and wall time:
//! every transition takes `now_ms`, and held answers leave through oneshot channels. The join
//! phase lives in `join`, the offset side (commit checks, retention) in `offsets`.
//!
//! ```text
//!            join                 all joined / timeout          leader syncs
//!   Empty ──────────▶ PreparingRebalance ─────────────▶ CompletingRebalance ─────▶ Stable
//!     ▲                  ▲        │ no member left            │                      │
//!     └──────────────────┼────────┘                           │ join / leave / expiry│
//!                        └────────────────────────────────────┴──────────────────────┘
//! ```

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use super::config::GroupConfig;
use super::consumer::ConsumerGroup;
use super::error::{HeartbeatError, JoinError, LeaveError, SyncError};
use super::member::{Member, SyncReply};
use super::types::{
    CommittedOffset, GroupDescription, GroupState, GroupType, LeavingMember, MemberDescription, MemberRef,
    SyncRequest, SyncResponse, TopicPartition,
};

/// The join phase of a rebalance.
#[derive(Debug)]
pub(super) struct Rebalance {
    /// When the join phase completes even if members are missing.
    pub(super) deadline_ms: i64,
    /// Set for the first rebalance of an empty group, which waits for more members.
    pub(super) initial: Option<InitialDelay>,
}

#[derive(Debug)]
pub(super) struct InitialDelay {
    /// The latest the initial wait may last to.
    pub(super) limit_ms: i64,
    /// Whether a member joined since the wait was last extended.
    pub(super) new_member_added: bool,
}

/// What survives a restart of a group besides its offsets.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct GroupRecord {
    pub protocol_type: Option<String>,
    pub generation: i32,
    /// When the group last became empty; `None` while it has members.
    pub empty_since_ms: Option<i64>,
    /// Whether the group speaks the consumer protocol (KIP-848); `generation` is then its epoch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub consumer_protocol: bool,
}

/// One consumer group.
#[derive(Debug)]
pub(crate) struct Group {
    pub id: String,
    pub state: GroupState,
    pub state_since_ms: i64,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub(super) members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the time they lapse if unused.
    pub(super) pending: BTreeMap<String, i64>,
    pub(super) rebalance: Option<Rebalance>,
    pub(super) next_seq: u64,
    pub offsets: BTreeMap<TopicPartition, CommittedOffset>,
    /// Set while the group speaks the consumer protocol (KIP-848) instead of the classic one.
    pub(crate) consumer: Option<ConsumerGroup>,
    /// The record as last handed to the store, to persist only changes.
    persisted: Option<GroupRecord>,
}

impl Group {
    /// A new empty group.
    pub fn new(id: String, now_ms: i64) -> Group {
        Group {
            id,
            state: GroupState::Empty,
            state_since_ms: now_ms,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: BTreeMap::new(),
            rebalance: None,
            next_seq: 0,
            offsets: BTreeMap::new(),
            consumer: None,
            persisted: None,
        }
    }

    /// A group as it was stored, with no members.
    pub fn restore(id: String, record: GroupRecord, now_ms: i64) -> Group {
        let mut group = Group::new(id, record.empty_since_ms.unwrap_or(now_ms));
        group.generation = record.generation;
        group.protocol_type = record.protocol_type.clone();
        if record.consumer_protocol {
            group.consumer = Some(ConsumerGroup::new(record.generation));
        }
        group.persisted = Some(GroupRecord { empty_since_ms: Some(group.state_since_ms), ..record });
        group
    }

    /// Whether the group has no members and no pending joins.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
            && self.pending.is_empty()
            && self.consumer.as_ref().is_none_or(|c| c.members.is_empty())
    }

    /// Whether a record of this group was handed to the store.
    pub fn has_record(&self) -> bool {
        self.persisted.is_some()
    }

    /// The record to store if it changed since last stored.
    pub fn take_record_change(&mut self) -> Option<GroupRecord> {
        let record = GroupRecord {
            protocol_type: self.protocol_type.clone(),
            generation: self.generation,
            empty_since_ms: (self.state == GroupState::Empty).then_some(self.state_since_ms),
            consumer_protocol: self.consumer.is_some(),
        };
        if self.persisted.as_ref() == Some(&record) {
            return None;
        }
        self.persisted = Some(record.clone());
        Some(record)
    }

    pub(super) fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_since_ms = now_ms;
    }

    // ---- sync ----

    /// Handles a SyncGroup; the answer goes to `reply`, now or once the leader has synced.
    pub fn sync(&mut self, req: SyncRequest, now_ms: i64, reply: SyncReply) {
        if let Err(e) = self.check_sync(&req) {
            let _ = reply.send(Err(e));
            return;
        }
        match self.state {
            GroupState::Empty => {
                let _ = reply.send(Err(SyncError::UnknownMemberId));
            }
            GroupState::PreparingRebalance => {
                let _ = reply.send(Err(SyncError::RebalanceInProgress));
            }
            GroupState::Stable => {
                let response = self.sync_response(&req.member_id);
                if let Some(member) = self.members.get_mut(&req.member_id) {
                    member.last_heartbeat_ms = now_ms;
                }
                let _ = reply.send(Ok(response));
            }
            GroupState::CompletingRebalance => {
                if let Some(member) = self.members.get_mut(&req.member_id) {
                    member.last_heartbeat_ms = now_ms;
                    member.reply_sync(Err(SyncError::RebalanceInProgress));
                    member.awaiting_sync = Some(reply);
                }
                if self.leader.as_deref() == Some(req.member_id.as_str()) {
                    let mut assignments: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                    for member in self.members.values_mut() {
                        member.assignment = assignments.remove(&member.id).unwrap_or_default();
                    }
                    self.transition(GroupState::Stable, now_ms);
                    let ids: Vec<String> = self.members.keys().cloned().collect();
                    for id in ids {
                        let response = self.sync_response(&id);
                        if let Some(member) = self.members.get_mut(&id) {
                            member.reply_sync(Ok(response));
                        }
                    }
                }
            }
        }
    }

    fn check_sync(&self, req: &SyncRequest) -> Result<(), SyncError> {
        if self.replaced_static_member(&req.member_id, req.group_instance_id.as_deref()) {
            return Err(SyncError::FencedInstanceId);
        }
        let member = self.members.get(&req.member_id).ok_or(SyncError::UnknownMemberId)?;
        if fenced(member, req.group_instance_id.as_deref()) {
            return Err(SyncError::FencedInstanceId);
        }
        if req.generation_id != self.generation {
            return Err(SyncError::IllegalGeneration);
        }
        let type_differs = req.protocol_type.as_ref().is_some_and(|t| self.protocol_type.as_ref() != Some(t));
        let name_differs = req.protocol_name.as_ref().is_some_and(|n| self.protocol.as_ref() != Some(n));
        if type_differs || name_differs {
            return Err(SyncError::InconsistentGroupProtocol);
        }
        Ok(())
    }

    fn sync_response(&self, member_id: &str) -> SyncResponse {
        SyncResponse {
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            assignment: self.members.get(member_id).map(|m| m.assignment.clone()).unwrap_or_default(),
        }
    }

    // ---- heartbeat, leave, expiry ----

    /// Handles a Heartbeat.
    pub fn heartbeat(&mut self, who: &MemberRef, now_ms: i64) -> Result<(), HeartbeatError> {
        if self.state == GroupState::Empty {
            return Err(HeartbeatError::UnknownMemberId);
        }
        if self.replaced_static_member(&who.member_id, who.group_instance_id.as_deref()) {
            return Err(HeartbeatError::FencedInstanceId);
        }
        let generation = self.generation;
        let member = self.members.get_mut(&who.member_id).ok_or(HeartbeatError::UnknownMemberId)?;
        if fenced(member, who.group_instance_id.as_deref()) {
            return Err(HeartbeatError::FencedInstanceId);
        }
        if who.generation_id != generation {
            return Err(HeartbeatError::IllegalGeneration);
        }
        member.last_heartbeat_ms = now_ms;
        match self.state {
            GroupState::PreparingRebalance => Err(HeartbeatError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Removes one leaving member (by member id, or by static id alone).
    pub fn leave(&mut self, who: &LeavingMember, now_ms: i64, cfg: &GroupConfig) -> Result<(), LeaveError> {
        let id = if who.member_id.is_empty() {
            let instance = who.group_instance_id.as_deref().ok_or(LeaveError::UnknownMemberId)?;
            self.members
                .values()
                .find(|m| m.instance_id.as_deref() == Some(instance))
                .map(|m| m.id.clone())
                .ok_or(LeaveError::UnknownMemberId)?
        } else if self.replaced_static_member(&who.member_id, who.group_instance_id.as_deref()) {
            return Err(LeaveError::FencedInstanceId);
        } else {
            who.member_id.clone()
        };
        if self.pending.remove(&id).is_some() {
            self.check_join_complete(now_ms, cfg);
            return Ok(());
        }
        let member = self.members.get(&id).ok_or(LeaveError::UnknownMemberId)?;
        if fenced(member, who.group_instance_id.as_deref()) {
            return Err(LeaveError::FencedInstanceId);
        }
        self.remove_member(&id, now_ms, cfg);
        Ok(())
    }

    fn remove_member(&mut self, id: &str, now_ms: i64, cfg: &GroupConfig) {
        if let Some(mut member) = self.members.remove(id) {
            member.reply_join(Err(JoinError::UnknownMemberId));
            member.reply_sync(Err(SyncError::UnknownMemberId));
        }
        if self.leader.as_deref() == Some(id) {
            // Prefer a member already waiting in the join phase, so the new leader is reachable.
            self.leader = self
                .members
                .values()
                .min_by_key(|m| (m.awaiting_join.is_none(), m.joined_seq))
                .map(|m| m.id.clone());
        }
        if matches!(self.state, GroupState::Stable | GroupState::CompletingRebalance) {
            self.prepare_rebalance(now_ms, cfg);
        }
        self.check_join_complete(now_ms, cfg);
    }

    /// Runs what is due at `now_ms`: session expiries, lapsed member ids, the end of a join phase.
    pub fn on_timer(&mut self, now_ms: i64, cfg: &GroupConfig) {
        if let Some(consumer) = &mut self.consumer {
            for id in consumer.on_timer(now_ms) {
                tracing::info!(group = %self.id, member = %id, "consumer group member expired");
            }
            self.sync_consumer_state(now_ms);
            return;
        }
        self.pending.retain(|_, deadline| *deadline > now_ms);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.session_deadline_ms().is_some_and(|d| d <= now_ms))
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member session expired");
            self.remove_member(&id, now_ms, cfg);
        }
        self.check_join_complete(now_ms, cfg);
    }

    /// The earliest time something is due in this group's membership, if anything is.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let sessions = self.members.values().filter_map(Member::session_deadline_ms);
        let pending = self.pending.values().copied();
        let rebalance = self.rebalance.as_ref().map(|r| r.deadline_ms);
        let consumer = self.consumer.as_ref().and_then(ConsumerGroup::next_deadline_ms);
        sessions.chain(pending).chain(rebalance).chain(consumer).min()
    }

    // ---- describing ----

    /// The group as DescribeGroups shows it.
    pub fn describe(&self) -> GroupDescription {
        if let Some(consumer) = &self.consumer {
            return self.describe_consumer(consumer);
        }
        let protocol = self.protocol.clone().unwrap_or_default();
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.joined_seq);
        GroupDescription {
            group_id: self.id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            generation_id: self.generation,
            group_type: GroupType::Classic,
            members: members
                .into_iter()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m.metadata_for(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// A consumer-protocol group in the shape every group is described in: members without
    /// protocol metadata or encoded assignments.
    fn describe_consumer(&self, consumer: &ConsumerGroup) -> GroupDescription {
        GroupDescription {
            group_id: self.id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone(),
            protocol_name: None,
            generation_id: consumer.epoch,
            group_type: GroupType::Consumer(consumer.state()),
            members: consumer
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: Bytes::new(),
                    assignment: Bytes::new(),
                })
                .collect(),
        }
    }

    /// Answers every held request with `CoordinatorNotAvailable`-like errors before shutdown.
    pub fn fail_waiters(&mut self) {
        for member in self.members.values_mut() {
            member.reply_join(Err(JoinError::CoordinatorNotAvailable));
            member.reply_sync(Err(SyncError::CoordinatorNotAvailable));
        }
    }
}

/// Whether a request naming `instance_id` comes from an instance that another member id replaced.
pub(super) fn fenced(member: &Member, instance_id: Option<&str>) -> bool {
    instance_id.is_some() && member.instance_id.as_deref() != instance_id
}

impl Group {
    /// True when `instance_id` now belongs to a member other than `member_id`: a static member
    /// that was replaced by a newer instance of itself. Kafka checks this before whether the
    /// member id is known, so the replaced client learns it is fenced (a fatal error) instead of
    /// rejoining and fencing its replacement in turn.
    pub(super) fn replaced_static_member(&self, member_id: &str, instance_id: Option<&str>) -> bool {
        instance_id.is_some_and(|instance| {
            self.members.values().any(|m| m.instance_id.as_deref() == Some(instance) && m.id != member_id)
        })
    }
}
