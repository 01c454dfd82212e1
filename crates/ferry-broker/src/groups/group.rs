//! The state machine of one group (Kafka's classic protocol), free of locks, I/O and wall time:
//! every transition takes `now_ms`, and held answers leave through oneshot channels.
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
use super::error::{CommitError, HeartbeatError, JoinError, LeaveError, SyncError};
use super::member::{JoinReply, Member, SyncReply};
use super::types::{
    CommittedOffset, GroupDescription, GroupState, JoinRequest, JoinResponse, JoinedMember, LeavingMember,
    MemberDescription, MemberProtocol, MemberRef, SyncRequest, SyncResponse, TopicPartition,
};

/// The join phase of a rebalance.
#[derive(Debug)]
struct Rebalance {
    /// When the join phase completes even if members are missing.
    deadline_ms: i64,
    /// Set for the first rebalance of an empty group, which waits for more members.
    initial: Option<InitialDelay>,
}

#[derive(Debug)]
struct InitialDelay {
    /// The latest the initial wait may last to.
    limit_ms: i64,
    /// Whether a member joined since the wait was last extended.
    new_member_added: bool,
}

/// What survives a restart of a group besides its offsets.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct GroupRecord {
    pub protocol_type: Option<String>,
    pub generation: i32,
    /// When the group last became empty; `None` while it has members.
    pub empty_since_ms: Option<i64>,
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
    members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the time they lapse if unused.
    pending: BTreeMap<String, i64>,
    rebalance: Option<Rebalance>,
    next_seq: u64,
    pub offsets: BTreeMap<TopicPartition, CommittedOffset>,
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
            persisted: None,
        }
    }

    /// A group as it was stored, with no members.
    pub fn restore(id: String, record: GroupRecord, now_ms: i64) -> Group {
        let mut group = Group::new(id, record.empty_since_ms.unwrap_or(now_ms));
        group.generation = record.generation;
        group.protocol_type = record.protocol_type.clone();
        group.persisted = Some(GroupRecord { empty_since_ms: Some(group.state_since_ms), ..record });
        group
    }

    /// Whether the group has no members and no pending joins.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty()
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
        };
        if self.persisted.as_ref() == Some(&record) {
            return None;
        }
        self.persisted = Some(record.clone());
        Some(record)
    }

    fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_since_ms = now_ms;
    }

    // ---- join ----

    /// Handles a JoinGroup; the answer goes to `reply`, now or when the rebalance completes.
    pub fn join(&mut self, req: JoinRequest, now_ms: i64, cfg: &GroupConfig, reply: JoinReply) {
        if req.session_timeout_ms < cfg.group_min_session_timeout_ms
            || req.session_timeout_ms > cfg.group_max_session_timeout_ms
        {
            let _ = reply.send(Err(JoinError::InvalidSessionTimeout));
            return;
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            let _ = reply.send(Err(JoinError::InconsistentGroupProtocol));
            return;
        }
        if req.member_id.is_empty() {
            self.join_new(req, now_ms, cfg, reply);
        } else if self.pending.remove(&req.member_id).is_some() {
            let id = req.member_id.clone();
            self.add_member_and_rebalance(id, req, now_ms, cfg, reply);
        } else {
            self.join_known(req, now_ms, cfg, reply);
        }
    }

    fn join_new(&mut self, req: JoinRequest, now_ms: i64, cfg: &GroupConfig, reply: JoinReply) {
        if self.members.len() + self.pending.len() >= cfg.group_max_size {
            let _ = reply.send(Err(JoinError::GroupMaxSizeReached));
            return;
        }
        if let Some(instance_id) = req.group_instance_id.clone() {
            let new_id = format!("{instance_id}-{}", uuid::Uuid::new_v4());
            let old_id = self
                .members
                .values()
                .find(|m| m.instance_id.as_deref() == Some(&instance_id))
                .map(|m| m.id.clone());
            match old_id {
                Some(old_id) => self.replace_static_member(old_id, new_id, req, now_ms, cfg, reply),
                None => self.add_member_and_rebalance(new_id, req, now_ms, cfg, reply),
            }
            return;
        }
        let client = if req.client_id.is_empty() { "member" } else { req.client_id.as_str() };
        let new_id = format!("{client}-{}", uuid::Uuid::new_v4());
        if req.require_known_member_id {
            self.pending.insert(new_id.clone(), now_ms.saturating_add(req.session_timeout_ms));
            let _ = reply.send(Err(JoinError::MemberIdRequired { member_id: new_id }));
        } else {
            self.add_member_and_rebalance(new_id, req, now_ms, cfg, reply);
        }
    }

    fn join_known(&mut self, req: JoinRequest, now_ms: i64, cfg: &GroupConfig, reply: JoinReply) {
        let Some(member) = self.members.get(&req.member_id) else {
            let _ = reply.send(Err(JoinError::UnknownMemberId));
            return;
        };
        if fenced(member, req.group_instance_id.as_deref()) {
            let _ = reply.send(Err(JoinError::FencedInstanceId));
            return;
        }
        let unchanged = member.same_protocols(&req.protocols);
        let is_leader = self.leader.as_deref() == Some(req.member_id.as_str());
        match self.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(req, now_ms, cfg, reply),
            GroupState::CompletingRebalance if unchanged => {
                // The join answer was lost on the way: answer it again for the same generation.
                let response = self.join_response(&req.member_id);
                let _ = reply.send(Ok(response));
            }
            GroupState::Stable if unchanged && !is_leader => {
                let response = self.join_response(&req.member_id);
                let _ = reply.send(Ok(response));
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(req, now_ms, cfg, reply)
            }
            GroupState::Empty => {
                let _ = reply.send(Err(JoinError::UnknownMemberId));
            }
        }
    }

    /// A static member came back under a new member id: the old id is fenced, and if nothing
    /// changed the group carries on without a rebalance.
    fn replace_static_member(
        &mut self,
        old_id: String,
        new_id: String,
        req: JoinRequest,
        now_ms: i64,
        cfg: &GroupConfig,
        reply: JoinReply,
    ) {
        let Some(mut member) = self.members.remove(&old_id) else {
            self.add_member_and_rebalance(new_id, req, now_ms, cfg, reply);
            return;
        };
        member.reply_join(Err(JoinError::FencedInstanceId));
        member.reply_sync(Err(SyncError::FencedInstanceId));
        let unchanged = member.same_protocols(&req.protocols);
        member.id = new_id.clone();
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.last_heartbeat_ms = now_ms;
        self.members.insert(new_id.clone(), member);
        let was_leader = self.leader.as_deref() == Some(old_id.as_str());
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        if self.state == GroupState::Stable && unchanged && !was_leader {
            let response = self.join_response(&new_id);
            let _ = reply.send(Ok(response));
        } else {
            let req = JoinRequest { member_id: new_id, ..req };
            self.update_member_and_rebalance(req, now_ms, cfg, reply);
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        id: String,
        req: JoinRequest,
        now_ms: i64,
        cfg: &GroupConfig,
        reply: JoinReply,
    ) {
        if self.members.len() >= cfg.group_max_size {
            let _ = reply.send(Err(JoinError::GroupMaxSizeReached));
            return;
        }
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(initial) = self.rebalance.as_mut().and_then(|r| r.initial.as_mut()) {
            initial.new_member_added = true;
        }
        self.next_seq += 1;
        let member = Member {
            id: id.clone(),
            instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocols: req.protocols,
            assignment: Bytes::new(),
            last_heartbeat_ms: now_ms,
            joined_seq: self.next_seq,
            awaiting_join: Some(reply),
            awaiting_sync: None,
        };
        self.members.insert(id.clone(), member);
        if self.leader.is_none() {
            self.leader = Some(id);
        }
        self.maybe_prepare_rebalance(now_ms, cfg);
        self.check_join_complete(now_ms, cfg);
    }

    fn update_member_and_rebalance(
        &mut self,
        req: JoinRequest,
        now_ms: i64,
        cfg: &GroupConfig,
        reply: JoinReply,
    ) {
        let Some(member) = self.members.get_mut(&req.member_id) else {
            let _ = reply.send(Err(JoinError::UnknownMemberId));
            return;
        };
        // A second join from the same member replaces the first; the first gets told to retry.
        member.reply_join(Err(JoinError::UnknownMemberId));
        member.protocols = req.protocols;
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.last_heartbeat_ms = now_ms;
        member.awaiting_join = Some(reply);
        self.maybe_prepare_rebalance(now_ms, cfg);
        self.check_join_complete(now_ms, cfg);
    }

    fn supports_protocols(&self, protocol_type: &str, protocols: &[MemberProtocol]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| self.members.values().all(|m| m.protocols.iter().any(|q| q.name == p.name)))
    }

    fn max_rebalance_timeout_ms(&self) -> i64 {
        self.members.values().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0)
    }

    fn maybe_prepare_rebalance(&mut self, now_ms: i64, cfg: &GroupConfig) {
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now_ms, cfg);
        }
    }

    fn prepare_rebalance(&mut self, now_ms: i64, cfg: &GroupConfig) {
        if self.state == GroupState::CompletingRebalance {
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
                member.reply_sync(Err(SyncError::RebalanceInProgress));
            }
        }
        let rebalance_timeout_ms = self.max_rebalance_timeout_ms();
        self.rebalance = Some(if self.state == GroupState::Empty {
            let delay_ms = cfg.group_initial_rebalance_delay_ms.min(rebalance_timeout_ms).max(0);
            Rebalance {
                deadline_ms: now_ms.saturating_add(delay_ms),
                initial: Some(InitialDelay {
                    limit_ms: now_ms.saturating_add(rebalance_timeout_ms),
                    new_member_added: false,
                }),
            }
        } else {
            Rebalance { deadline_ms: now_ms.saturating_add(rebalance_timeout_ms), initial: None }
        });
        self.transition(GroupState::PreparingRebalance, now_ms);
    }

    /// Completes the join phase if every member has rejoined or the wait is over.
    fn check_join_complete(&mut self, now_ms: i64, cfg: &GroupConfig) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let Some(rebalance) = self.rebalance.as_mut() else {
            return;
        };
        match rebalance.initial.as_mut() {
            Some(initial) => {
                if now_ms < rebalance.deadline_ms {
                    return;
                }
                if initial.new_member_added
                    && now_ms < initial.limit_ms
                    && cfg.group_initial_rebalance_delay_ms > 0
                {
                    initial.new_member_added = false;
                    rebalance.deadline_ms =
                        now_ms.saturating_add(cfg.group_initial_rebalance_delay_ms).min(initial.limit_ms);
                    return;
                }
            }
            None => {
                let all_joined =
                    self.pending.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some());
                if !all_joined && now_ms < rebalance.deadline_ms {
                    return;
                }
            }
        }
        self.complete_join(now_ms);
    }

    fn complete_join(&mut self, now_ms: i64) {
        self.rebalance = None;
        let gone: Vec<String> =
            self.members.values().filter(|m| m.awaiting_join.is_none()).map(|m| m.id.clone()).collect();
        for id in gone {
            self.members.remove(&id);
        }
        self.generation = self.generation.wrapping_add(1).max(1);
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.transition(GroupState::Empty, now_ms);
            return;
        }
        self.ensure_leader();
        self.protocol = self.select_protocol();
        self.transition(GroupState::CompletingRebalance, now_ms);
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let response = self.join_response(&id);
            if let Some(member) = self.members.get_mut(&id) {
                member.last_heartbeat_ms = now_ms;
                member.reply_join(Ok(response));
            }
        }
    }

    fn ensure_leader(&mut self) {
        if self.leader.as_ref().is_some_and(|l| self.members.contains_key(l)) {
            return;
        }
        self.leader = self.members.values().min_by_key(|m| m.joined_seq).map(|m| m.id.clone());
    }

    /// The protocol every member supports that most members prefer; ties go to the leader's order.
    fn select_protocol(&self) -> Option<String> {
        let leader = self.leader.as_ref().and_then(|l| self.members.get(l))?;
        let candidates: Vec<&str> = leader
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.members.values().all(|m| m.protocols.iter().any(|p| p.name == *name)))
            .collect();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for member in self.members.values() {
            if let Some(choice) = member.protocols.iter().find(|p| candidates.contains(&p.name.as_str())) {
                *votes.entry(choice.name.as_str()).or_default() += 1;
            }
        }
        let best = candidates.iter().map(|c| votes.get(c).copied().unwrap_or(0)).max()?;
        candidates.into_iter().find(|c| votes.get(c).copied().unwrap_or(0) == best).map(str::to_string)
    }

    fn join_response(&self, member_id: &str) -> JoinResponse {
        let is_leader = self.leader.as_deref() == Some(member_id);
        let protocol = self.protocol.clone().unwrap_or_default();
        let members = if is_leader {
            let mut all: Vec<&Member> = self.members.values().collect();
            all.sort_by_key(|m| m.joined_seq);
            all.into_iter()
                .map(|m| JoinedMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    metadata: m.metadata_for(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResponse {
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader_id: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
        }
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
        sessions.chain(pending).chain(rebalance).min()
    }

    // ---- offsets ----

    /// Checks that `who` may commit offsets now (Kafka's rules: a commit from outside any
    /// generation only into an empty group; otherwise from a current member of this generation,
    /// never while the assignment is being handed out). A valid commit counts as a heartbeat.
    pub fn check_commit(&mut self, who: &MemberRef, now_ms: i64) -> Result<(), CommitError> {
        if who.generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(CommitError::RebalanceInProgress);
        }
        let generation = self.generation;
        let member = self.members.get_mut(&who.member_id).ok_or(CommitError::UnknownMemberId)?;
        if fenced(member, who.group_instance_id.as_deref()) {
            return Err(CommitError::FencedInstanceId);
        }
        if who.generation_id != generation {
            return Err(CommitError::IllegalGeneration);
        }
        member.last_heartbeat_ms = now_ms;
        Ok(())
    }

    /// Whether a current member's subscription names `topic`.
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        let Some(protocol) = self.protocol.as_deref() else {
            return false;
        };
        self.members.values().any(|m| {
            m.protocols
                .iter()
                .find(|p| p.name == protocol)
                .and_then(|p| p.topics.as_ref())
                .is_some_and(|topics| topics.iter().any(|t| t == topic))
        })
    }

    /// Offsets due to expire at `now_ms`, following Kafka's retention: those of a group that has
    /// members never expire; a consumer group's expire together `retention` after it emptied;
    /// a group used only to store offsets loses each one `retention` after its commit.
    pub fn expired_offsets(&self, now_ms: i64, retention_ms: i64) -> Vec<TopicPartition> {
        self.offsets
            .iter()
            .filter(|(_, o)| self.offset_expiry_ms(o, retention_ms).is_some_and(|t| t <= now_ms))
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// When the next offset of this group expires, if any will.
    pub fn next_offset_expiry_ms(&self, retention_ms: i64) -> Option<i64> {
        self.offsets.values().filter_map(|o| self.offset_expiry_ms(o, retention_ms)).min()
    }

    fn offset_expiry_ms(&self, offset: &CommittedOffset, retention_ms: i64) -> Option<i64> {
        if self.state != GroupState::Empty || !self.pending.is_empty() {
            return None;
        }
        if let Some(explicit) = offset.expire_timestamp_ms {
            return Some(explicit);
        }
        let base =
            if self.protocol_type.is_some() { self.state_since_ms } else { offset.commit_timestamp_ms };
        Some(base.saturating_add(retention_ms))
    }

    // ---- describing ----

    /// The group as DescribeGroups shows it.
    pub fn describe(&self) -> GroupDescription {
        let protocol = self.protocol.clone().unwrap_or_default();
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.joined_seq);
        GroupDescription {
            group_id: self.id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            generation_id: self.generation,
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

    /// Answers every held request with `CoordinatorNotAvailable`-like errors before shutdown.
    pub fn fail_waiters(&mut self) {
        for member in self.members.values_mut() {
            member.reply_join(Err(JoinError::CoordinatorNotAvailable));
            member.reply_sync(Err(SyncError::CoordinatorNotAvailable));
        }
    }
}

/// Whether a request naming `instance_id` comes from an instance that another member id replaced.
fn fenced(member: &Member, instance_id: Option<&str>) -> bool {
    instance_id.is_some() && member.instance_id.as_deref() != instance_id
}
