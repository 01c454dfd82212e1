//! Consumer-protocol groups (KIP-848): the coordinator assigns partitions itself, members learn
//! their share through heartbeats and reconcile towards it one step at a time.
//!
//! # Layout
//!
//! - [`ConsumerGroup`] (this file): one group's members, epochs and target assignment, and the
//!   heartbeat, leave and expiry transitions. Pure like the classic `group`: time passed in.
//! - `reconcile`: one member's next step towards its target (revoke first, then take what its
//!   previous owners have released).
//! - [`assignor`]: the `uniform` and `range` server-side assignors.
//! - `coordinator`: the [`GroupCoordinator`](super::GroupCoordinator) methods that reach these
//!   groups, and how a group id passes between the two protocols.
//! - [`types`]: requests, answers and errors.
//!
//! Epochs: the group epoch rises with every change of membership, subscriptions or subscribed
//! topics' partition counts; a new target assignment is computed when the group epoch is ahead of
//! the target's. A member's epoch reaches the target's once it has revoked what it must give up.
//! Every partition has at most one holder (a member it is assigned to or that is revoking it), so
//! no two members ever own a partition at once.
//!
//! Like classic groups, members are not persisted: after a restart they rejoin with epoch 0.

pub mod assignor;
mod coordinator;
mod reconcile;
pub mod types;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use regex::Regex;

use super::config::GroupConfig;
use super::error::CommitError;
use super::types::TopicPartition;
use reconcile::Reconciled;
use types::{
    ConsumerGroupDescription, ConsumerGroupState, ConsumerHeartbeat, ConsumerHeartbeatError,
    ConsumerHeartbeatResponse, ConsumerMemberDescription, JOIN_EPOCH, LEAVE_EPOCH, LEAVE_STATIC_EPOCH,
    TopicPartitionCounts,
};

/// How long a member that did not say may take to revoke partitions (the Java client's default
/// `max.poll.interval.ms`, which it sends as its rebalance timeout).
const DEFAULT_REBALANCE_TIMEOUT_MS: i64 = 300_000;

/// A set of partitions, sorted.
pub(crate) type Assignment = BTreeSet<TopicPartition>;

/// Where a member stands in its reconciliation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MemberState {
    /// It owns its target for the member's epoch.
    Stable,
    /// It must give up partitions before it moves to the target's epoch.
    UnrevokedPartitions,
    /// It is at the target's epoch but waits for partitions other members still hold.
    UnreleasedPartitions,
}

/// One member of a consumer-protocol group.
#[derive(Debug)]
pub(crate) struct ConsumerMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub topic_names: BTreeSet<String>,
    pub regex: Option<Regex>,
    pub assignor: Option<String>,
    pub rebalance_timeout_ms: i64,
    pub current: Reconciled,
    pub previous_epoch: i32,
    pub session_deadline_ms: i64,
    /// When the member is removed if it has not revoked what it was asked to.
    pub revocation_deadline_ms: Option<i64>,
    /// A static member that left for now (epoch -2): it keeps its partitions for the rest of
    /// its session, for a member with its instance id to take over.
    pub departed: bool,
}

impl ConsumerMember {
    fn subscribes_to(&self, topic: &str) -> bool {
        self.topic_names.contains(topic) || self.regex.as_ref().is_some_and(|r| r.is_match(topic))
    }

    fn deadline_ms(&self) -> i64 {
        self.revocation_deadline_ms.map_or(self.session_deadline_ms, |r| r.min(self.session_deadline_ms))
    }
}

/// One consumer-protocol group: members, epochs, target assignment and who holds what.
#[derive(Debug, Default)]
pub(crate) struct ConsumerGroup {
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: BTreeMap<String, ConsumerMember>,
    target: BTreeMap<String, Assignment>,
    /// The partition counts of the subscribed topics the last target was computed for.
    metadata: TopicPartitionCounts,
    /// The one member holding each partition: it has it assigned, or is revoking it.
    holders: HashMap<TopicPartition, String>,
}

/// Compiles a subscription regex as Kafka matches it: against the whole topic name.
fn compile(pattern: &str) -> Result<Regex, ConsumerHeartbeatError> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| ConsumerHeartbeatError::InvalidRegularExpression(e.to_string()))
}

impl ConsumerGroup {
    /// An empty group whose epochs continue from `epoch` (a classic group's generation, or the
    /// stored epoch of a group that existed before a restart).
    pub fn new(epoch: i32) -> ConsumerGroup {
        ConsumerGroup {
            epoch,
            assignment_epoch: epoch,
            assignor: assignor::DEFAULT_ASSIGNOR.to_string(),
            ..ConsumerGroup::default()
        }
    }

    /// Handles one heartbeat: join, leave, or a member's regular heartbeat.
    pub fn heartbeat(
        &mut self,
        req: &ConsumerHeartbeat,
        topics: &TopicPartitionCounts,
        now_ms: i64,
        cfg: &GroupConfig,
    ) -> Result<ConsumerHeartbeatResponse, ConsumerHeartbeatError> {
        if req.member_epoch == LEAVE_EPOCH || req.member_epoch == LEAVE_STATIC_EPOCH {
            return self.leave(req);
        }
        let mut bump = false;
        let mut replaced = false;
        let member_id = if req.member_epoch == JOIN_EPOCH {
            check_join(req)?;
            let id = if req.member_id.is_empty() {
                uuid::Uuid::new_v4().to_string()
            } else {
                req.member_id.clone()
            };
            match self.static_member(req.instance_id.as_deref()) {
                Some((old, true)) if old != id => {
                    // The static member comes back: it takes over its partitions and epoch.
                    self.replace(&old, &id, req, now_ms);
                    replaced = true;
                }
                Some((old, false)) if old != id => return Err(ConsumerHeartbeatError::UnreleasedInstanceId),
                _ => {
                    if self.members.contains_key(&id) {
                        // A member that rejoins lost what it held: it starts over.
                        self.remove(&id);
                        replaced = true;
                    } else if self.members.len() >= cfg.group_max_size {
                        return Err(ConsumerHeartbeatError::GroupMaxSizeReached);
                    }
                    bump = true;
                    self.members.insert(id.clone(), new_member(&id, req, now_ms));
                }
            }
            id
        } else if req.member_epoch > 0 {
            if let Some((owner, _)) = self.static_member(req.instance_id.as_deref())
                && owner != req.member_id
            {
                return Err(ConsumerHeartbeatError::FencedInstanceId);
            }
            let member = self.members.get(&req.member_id).ok_or(ConsumerHeartbeatError::UnknownMemberId)?;
            check_epoch(member, req)?;
            req.member_id.clone()
        } else {
            return Err(ConsumerHeartbeatError::InvalidRequest("member epoch must be 0, -1, -2 or positive"));
        };
        let result = self.update_member(&member_id, req, topics, now_ms, cfg, bump);
        if result.is_err() && req.member_epoch == JOIN_EPOCH {
            // A refused join leaves no member behind; if it took another's place, what that one
            // held goes to the others with the next target.
            self.remove(&member_id);
            if replaced {
                self.epoch = self.epoch.saturating_add(1);
            }
        }
        result
    }

    fn update_member(
        &mut self,
        member_id: &str,
        req: &ConsumerHeartbeat,
        topics: &TopicPartitionCounts,
        now_ms: i64,
        cfg: &GroupConfig,
        mut bump: bool,
    ) -> Result<ConsumerHeartbeatResponse, ConsumerHeartbeatError> {
        let regex = match req.subscribed_topic_regex.as_deref() {
            Some("") => Some(None),
            Some(pattern) => Some(Some(compile(pattern)?)),
            None => None,
        };
        if let Some(name) = req.server_assignor.as_deref().filter(|n| !n.is_empty())
            && !assignor::is_supported(name)
        {
            return Err(ConsumerHeartbeatError::UnsupportedAssignor);
        }
        let Some(member) = self.members.get_mut(member_id) else {
            return Err(ConsumerHeartbeatError::UnknownMemberId);
        };
        if let Some(names) = &req.subscribed_topic_names {
            let names: BTreeSet<String> = names.iter().filter(|n| !n.is_empty()).cloned().collect();
            bump |= names != member.topic_names;
            member.topic_names = names;
        }
        if let Some(regex) = regex {
            bump |= regex.as_ref().map(Regex::as_str) != member.regex.as_ref().map(Regex::as_str);
            member.regex = regex;
        }
        if let Some(name) = &req.server_assignor {
            let name = Some(name.clone()).filter(|n| !n.is_empty());
            bump |= name != member.assignor;
            member.assignor = name;
        }
        if req.rebalance_timeout_ms > 0 {
            member.rebalance_timeout_ms = i64::from(req.rebalance_timeout_ms);
        }
        if req.rack_id.is_some() {
            member.rack_id = req.rack_id.clone();
        }
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        let session_ms = req.session_timeout_ms.unwrap_or(cfg.consumer_group_session_timeout_ms);
        member.session_deadline_ms = now_ms.saturating_add(session_ms);

        let metadata = self.subscribed_metadata(topics);
        if metadata != self.metadata {
            self.metadata = metadata;
            bump = true;
        }
        if bump {
            self.epoch = self.epoch.saturating_add(1);
        }
        if self.epoch > self.assignment_epoch {
            self.compute_target();
        }
        let owned: Option<Assignment> = req.owned.as_ref().map(|o| o.iter().cloned().collect());
        let before = self.reconcile(member_id, owned.as_ref(), now_ms);
        let Some(member) = self.members.get(member_id) else {
            return Err(ConsumerHeartbeatError::UnknownMemberId);
        };
        let changed = before.assigned != member.current.assigned || before.epoch != member.current.epoch;
        let out_of_step = owned.as_ref().is_some_and(|o| *o != member.current.assigned);
        let send = req.member_epoch == JOIN_EPOCH || changed || out_of_step;
        Ok(ConsumerHeartbeatResponse {
            member_id: member_id.to_string(),
            member_epoch: member.current.epoch,
            heartbeat_interval_ms: req
                .heartbeat_interval_ms
                .unwrap_or(cfg.consumer_group_heartbeat_interval_ms),
            assignment: send.then(|| member.current.assigned.iter().cloned().collect()),
        })
    }

    /// The member holding static id `instance`, and whether it has left for now.
    fn static_member(&self, instance: Option<&str>) -> Option<(String, bool)> {
        let instance = instance?;
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance))
            .map(|m| (m.id.clone(), m.departed))
    }

    /// Hands a departed static member's place (partitions, epoch, target) to its new member id.
    fn replace(&mut self, old: &str, new: &str, req: &ConsumerHeartbeat, now_ms: i64) {
        let Some(previous) = self.members.remove(old) else {
            return;
        };
        let mut member = new_member(new, req, now_ms);
        member.topic_names = previous.topic_names;
        member.regex = previous.regex;
        member.assignor = previous.assignor;
        member.current = previous.current;
        member.previous_epoch = previous.previous_epoch;
        member.revocation_deadline_ms = previous.revocation_deadline_ms;
        for holder in self.holders.values_mut() {
            if holder == old {
                *holder = new.to_string();
            }
        }
        if let Some(target) = self.target.remove(old) {
            self.target.insert(new.to_string(), target);
        }
        self.members.insert(new.to_string(), member);
    }

    fn leave(
        &mut self,
        req: &ConsumerHeartbeat,
    ) -> Result<ConsumerHeartbeatResponse, ConsumerHeartbeatError> {
        let id = if req.member_id.is_empty() {
            let instance = req.instance_id.as_deref().ok_or(ConsumerHeartbeatError::UnknownMemberId)?;
            self.members
                .values()
                .find(|m| m.instance_id.as_deref() == Some(instance))
                .map(|m| m.id.clone())
                .ok_or(ConsumerHeartbeatError::UnknownMemberId)?
        } else {
            req.member_id.clone()
        };
        let Some(member) = self.members.get_mut(&id) else {
            return Err(ConsumerHeartbeatError::UnknownMemberId);
        };
        if req.member_epoch == LEAVE_STATIC_EPOCH && member.instance_id.is_some() {
            member.departed = true;
        } else {
            self.remove(&id);
            self.epoch = self.epoch.saturating_add(1);
        }
        Ok(ConsumerHeartbeatResponse {
            member_id: id,
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        })
    }

    /// Removes a member and releases what it held; the caller bumps the epoch.
    fn remove(&mut self, id: &str) {
        if let Some(member) = self.members.remove(id) {
            for tp in member.current.assigned.iter().chain(&member.current.revoking) {
                if self.holders.get(tp).is_some_and(|h| h == id) {
                    self.holders.remove(tp);
                }
            }
        }
        self.target.remove(id);
    }

    /// The partition counts of every existing topic some member subscribes to.
    ///
    /// Runs at every heartbeat over every topic, so each distinct regex is tried once per topic,
    /// however many members share it.
    fn subscribed_metadata(&self, topics: &TopicPartitionCounts) -> TopicPartitionCounts {
        let names: BTreeSet<&str> =
            self.members.values().flat_map(|m| m.topic_names.iter().map(String::as_str)).collect();
        let mut patterns: BTreeMap<&str, &Regex> = BTreeMap::new();
        for regex in self.members.values().filter_map(|m| m.regex.as_ref()) {
            patterns.entry(regex.as_str()).or_insert(regex);
        }
        topics
            .iter()
            .filter(|(topic, _)| {
                names.contains(topic.as_str()) || patterns.values().any(|r| r.is_match(topic))
            })
            .map(|(topic, n)| (topic.clone(), *n))
            .collect()
    }

    /// The assignor the members ask for most (ties to the first by name), else the default.
    fn preferred_assignor(&self) -> String {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for name in self.members.values().filter_map(|m| m.assignor.as_deref()) {
            *votes.entry(name).or_default() += 1;
        }
        let best = votes.iter().max_by_key(|(name, n)| (**n, std::cmp::Reverse(**name)));
        best.map_or(assignor::DEFAULT_ASSIGNOR, |(name, _)| name).to_string()
    }

    fn compute_target(&mut self) {
        let assignor_name = self.preferred_assignor();
        let members = self
            .members
            .iter()
            .map(|(id, m)| {
                let topics =
                    self.metadata.keys().filter(|t| m.subscribes_to(t)).map(String::as_str).collect();
                (id.clone(), assignor::AssignorMember { topics, previous: self.target.get(id) })
            })
            .collect();
        self.target = assignor::assign(&assignor_name, &members, &self.metadata);
        self.assignor = assignor_name;
        self.assignment_epoch = self.epoch;
    }

    /// Moves a member one step towards its target; returns where it stood before.
    fn reconcile(&mut self, id: &str, owned: Option<&Assignment>, now_ms: i64) -> Reconciled {
        let empty = Assignment::new();
        let target = self.target.get(id).unwrap_or(&empty);
        let Some(member) = self.members.get(id) else {
            return Reconciled {
                state: MemberState::Stable,
                epoch: 0,
                assigned: Assignment::new(),
                revoking: Assignment::new(),
            };
        };
        let holders = &self.holders;
        let next = reconcile::next(&member.current, target, self.assignment_epoch, owned, |tp| {
            holders.get(tp).is_some_and(|h| h != id)
        });
        let Some(member) = self.members.get_mut(id) else {
            return next;
        };
        let before = std::mem::replace(&mut member.current, next);
        for tp in before.assigned.iter().chain(&before.revoking) {
            if !member.current.assigned.contains(tp)
                && !member.current.revoking.contains(tp)
                && self.holders.get(tp).is_some_and(|h| h == id)
            {
                self.holders.remove(tp);
            }
        }
        for tp in member.current.assigned.iter().chain(&member.current.revoking) {
            self.holders.insert(tp.clone(), id.to_string());
        }
        if member.current.epoch != before.epoch {
            member.previous_epoch = before.epoch;
        }
        member.revocation_deadline_ms = match member.current.state {
            MemberState::UnrevokedPartitions => Some(
                member.revocation_deadline_ms.unwrap_or(now_ms.saturating_add(member.rebalance_timeout_ms)),
            ),
            _ => None,
        };
        before
    }

    /// Removes members whose session ran out or who did not revoke in time.
    pub fn on_timer(&mut self, now_ms: i64) -> Vec<String> {
        let expired: Vec<String> =
            self.members.values().filter(|m| m.deadline_ms() <= now_ms).map(|m| m.id.clone()).collect();
        for id in &expired {
            self.remove(id);
        }
        if !expired.is_empty() {
            self.epoch = self.epoch.saturating_add(1);
        }
        expired
    }

    /// The earliest member deadline, if there are members.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.members.values().map(ConsumerMember::deadline_ms).min()
    }

    /// The group's state as Kafka names it.
    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| m.current.epoch != self.assignment_epoch || m.current.state != MemberState::Stable)
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// Whether a member subscribes to `topic`.
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        self.members.values().any(|m| m.subscribes_to(topic))
    }

    /// Checks an offset commit (Kafka's rules for consumer groups): a commit from outside the
    /// group (epoch < 0) only while it has no members; otherwise from a member at its current
    /// epoch, else STALE_MEMBER_EPOCH.
    pub fn check_commit(&self, member_id: &str, epoch: i32) -> Result<(), CommitError> {
        if epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        let member = self.members.get(member_id).ok_or(CommitError::UnknownMemberId)?;
        if member.current.epoch != epoch {
            return Err(CommitError::StaleMemberEpoch);
        }
        Ok(())
    }

    /// Describes the group.
    pub fn describe(&self, group_id: &str) -> ConsumerGroupDescription {
        let members = self
            .members
            .values()
            .map(|m| ConsumerMemberDescription {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                rack_id: m.rack_id.clone(),
                member_epoch: m.current.epoch,
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                subscribed_topic_names: m.topic_names.iter().cloned().collect(),
                subscribed_topic_regex: m.regex.as_ref().map(|r| unanchored(r.as_str())),
                assignment: m.current.assigned.iter().cloned().collect(),
                target_assignment: self
                    .target
                    .get(&m.id)
                    .map(|t| t.iter().cloned().collect())
                    .unwrap_or_default(),
            })
            .collect();
        ConsumerGroupDescription {
            group_id: group_id.to_string(),
            state: self.state(),
            group_epoch: self.epoch,
            assignment_epoch: self.assignment_epoch,
            assignor: self.assignor.clone(),
            members,
        }
    }
}

/// The pattern as the member sent it, without the anchors [`compile`] adds.
fn unanchored(compiled: &str) -> String {
    compiled.strip_prefix("^(?:").and_then(|s| s.strip_suffix(")$")).unwrap_or(compiled).to_string()
}

fn check_join(req: &ConsumerHeartbeat) -> Result<(), ConsumerHeartbeatError> {
    let no_regex = req.subscribed_topic_regex.as_deref().is_none_or(str::is_empty);
    if req.subscribed_topic_names.is_none() && no_regex {
        return Err(ConsumerHeartbeatError::InvalidRequest(
            "SubscribedTopicNames or SubscribedTopicRegex must be set in the first heartbeat",
        ));
    }
    if req.owned.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(ConsumerHeartbeatError::InvalidRequest("TopicPartitions must be empty when joining"));
    }
    Ok(())
}

/// Kafka's epoch rule: the member's own epoch, or its previous one when the answer that moved it
/// on was lost and it owns no more than it may.
fn check_epoch(member: &ConsumerMember, req: &ConsumerHeartbeat) -> Result<(), ConsumerHeartbeatError> {
    if req.member_epoch == member.current.epoch {
        return Ok(());
    }
    let owned_within =
        req.owned.as_ref().is_none_or(|o| o.iter().all(|tp| member.current.assigned.contains(tp)));
    if req.member_epoch < member.current.epoch && req.member_epoch == member.previous_epoch && owned_within {
        return Ok(());
    }
    Err(ConsumerHeartbeatError::FencedMemberEpoch)
}

fn new_member(id: &str, req: &ConsumerHeartbeat, now_ms: i64) -> ConsumerMember {
    ConsumerMember {
        id: id.to_string(),
        instance_id: req.instance_id.clone(),
        rack_id: req.rack_id.clone(),
        client_id: req.client_id.clone(),
        client_host: req.client_host.clone(),
        topic_names: BTreeSet::new(),
        regex: None,
        assignor: None,
        rebalance_timeout_ms: if req.rebalance_timeout_ms > 0 {
            i64::from(req.rebalance_timeout_ms)
        } else {
            DEFAULT_REBALANCE_TIMEOUT_MS
        },
        current: Reconciled {
            state: MemberState::Stable,
            epoch: 0,
            assigned: Assignment::new(),
            revoking: Assignment::new(),
        },
        previous_epoch: -1,
        session_deadline_ms: now_ms,
        revocation_deadline_ms: None,
        departed: false,
    }
}

#[cfg(test)]
mod tests;
