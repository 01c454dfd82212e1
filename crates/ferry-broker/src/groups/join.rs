//! The join phase of a group: first joins and the MEMBER_ID_REQUIRED round trip, static
//! members, protocol checks and selection, and completing a rebalance once every member has
//! rejoined (or the wait is over).

use std::collections::HashMap;

use bytes::Bytes;

use super::config::GroupConfig;
use super::error::{JoinError, SyncError};
use super::group::{Group, InitialDelay, Rebalance, fenced};
use super::member::{JoinReply, Member};
use super::types::{GroupState, JoinRequest, JoinResponse, JoinedMember, MemberProtocol};

impl Group {
    /// Handles a JoinGroup; the answer goes to `reply`, now or when the rebalance completes.
    pub fn join(&mut self, req: JoinRequest, now_ms: i64, cfg: &GroupConfig, reply: JoinReply) {
        if !self.release_consumer_group() {
            let _ = reply.send(Err(JoinError::InconsistentGroupProtocol));
            return;
        }
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
        if self.replaced_static_member(&req.member_id, req.group_instance_id.as_deref()) {
            let _ = reply.send(Err(JoinError::FencedInstanceId));
            return;
        }
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

    /// A static member came back under a new member id: the old id is fenced and the member
    /// takes its place. As in Kafka, a stable group whose chosen protocol stays the same carries
    /// on without a rebalance, even when the member's subscription metadata changed (a restarted
    /// client owns no partitions yet) or it was the leader: its join is answered at once with the
    /// current generation, and its SyncGroup returns the assignment it had.
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
        member.id = new_id.clone();
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.protocols = req.protocols.clone();
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.last_heartbeat_ms = now_ms;
        self.members.insert(new_id.clone(), member);
        let current_leader = self.leader.clone().unwrap_or_default();
        if current_leader == old_id {
            self.leader = Some(new_id.clone());
        }
        if self.state == GroupState::Stable && self.protocol == self.select_protocol() {
            // The leader is named as it was: a returning leader must not take itself for the
            // leader and compute an assignment that a stable group would never hand out.
            let response = JoinResponse {
                leader_id: current_leader,
                members: Vec::new(),
                ..self.join_response(&new_id)
            };
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

    pub(super) fn prepare_rebalance(&mut self, now_ms: i64, cfg: &GroupConfig) {
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
    pub(super) fn check_join_complete(&mut self, now_ms: i64, cfg: &GroupConfig) {
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
}
