//! The coordinator's side of consumer-protocol groups, and how a group id passes between the two
//! protocols: a group of either protocol that has no members may be taken over by the other (its
//! committed offsets stay); one with members refuses the other protocol's requests, as Kafka
//! does (GROUP_ID_NOT_FOUND to a heartbeat, INCONSISTENT_GROUP_PROTOCOL to a JoinGroup).

use super::ConsumerGroup;
use super::types::{
    ConsumerGroupDescription, ConsumerHeartbeat, ConsumerHeartbeatError, ConsumerHeartbeatResponse,
    DescribeConsumerGroupError, JOIN_EPOCH, TopicPartitionCounts,
};
use crate::groups::GroupCoordinator;
use crate::groups::error::CommitError;
use crate::groups::group::Group;
use crate::groups::types::GroupState;

impl GroupCoordinator {
    /// Handles a ConsumerGroupHeartbeat. `topics` is the partition count of every topic, which
    /// the assignor and regex subscriptions read; a change in the subscribed ones rebalances.
    pub fn consumer_heartbeat(
        &self,
        req: ConsumerHeartbeat,
        topics: &TopicPartitionCounts,
    ) -> Result<ConsumerHeartbeatResponse, ConsumerHeartbeatError> {
        if req.group_id.is_empty() {
            return Err(ConsumerHeartbeatError::InvalidGroupId);
        }
        let shared = &self.shared;
        let now_ms = shared.clock.now_ms();
        let mut state = shared.lock();
        let group_id = req.group_id.clone();
        if !state.groups.contains_key(&group_id) {
            if req.member_epoch != JOIN_EPOCH {
                // Members are not kept over a restart: one that knew the group joins again.
                return Err(ConsumerHeartbeatError::UnknownMemberId);
            }
            if state.groups.len() >= shared.config.groups_max {
                return Err(ConsumerHeartbeatError::CoordinatorNotAvailable);
            }
        }
        let group =
            state.groups.entry(group_id.clone()).or_insert_with(|| Group::new(group_id.clone(), now_ms));
        let result = match group.as_consumer_group() {
            Some(consumer) => consumer.heartbeat(&req, topics, now_ms, &shared.config),
            None => Err(ConsumerHeartbeatError::GroupIdNotFound),
        };
        group.sync_consumer_state(now_ms);
        shared.after_change(&mut state, &group_id);
        result
    }

    /// Describes a consumer-protocol group.
    pub fn describe_consumer_group(
        &self,
        group_id: &str,
    ) -> Result<ConsumerGroupDescription, DescribeConsumerGroupError> {
        let state = self.shared.lock();
        let group = state.groups.get(group_id).ok_or(DescribeConsumerGroupError::GroupIdNotFound)?;
        let consumer = group.consumer.as_ref().ok_or(DescribeConsumerGroupError::NotConsumerGroup)?;
        Ok(consumer.describe(group_id))
    }

    /// Checks that a member of a consumer-protocol group may read its committed offsets (OffsetFetch
    /// v9 names the member and its epoch). Reads that name no member are always allowed.
    pub fn check_offset_fetch(
        &self,
        group_id: &str,
        member_id: &str,
        member_epoch: i32,
    ) -> Result<(), CommitError> {
        if member_id.is_empty() || member_epoch < 0 {
            return Ok(());
        }
        let state = self.shared.lock();
        match state.groups.get(group_id).and_then(|g| g.consumer.as_ref()) {
            Some(consumer) => consumer.check_commit(member_id, member_epoch),
            None => Ok(()),
        }
    }
}

impl Group {
    /// The group as a consumer-protocol group, converting it if it is a classic group without
    /// members; `None` if it is a classic group with members.
    fn as_consumer_group(&mut self) -> Option<&mut ConsumerGroup> {
        if self.consumer.is_none() {
            if !self.members.is_empty() || !self.pending.is_empty() {
                return None;
            }
            self.consumer = Some(ConsumerGroup::new(self.generation));
            self.protocol_type = Some("consumer".to_string());
            self.protocol = None;
            self.leader = None;
            self.rebalance = None;
        }
        self.consumer.as_mut()
    }

    /// Gives up being a consumer-protocol group for a classic join; false while it has members.
    pub(crate) fn release_consumer_group(&mut self) -> bool {
        match &self.consumer {
            Some(consumer) if !consumer.members.is_empty() => false,
            _ => {
                self.consumer = None;
                true
            }
        }
    }

    /// Mirrors a consumer-protocol group's membership in the fields every group has: the epoch
    /// as the generation (so the stored record keeps it), and Empty or Stable as the state, which
    /// offset retention and deletion read.
    pub(crate) fn sync_consumer_state(&mut self, now_ms: i64) {
        let Some(consumer) = &self.consumer else {
            return;
        };
        self.generation = consumer.epoch;
        let state = if consumer.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
        if self.state != state {
            self.transition(state, now_ms);
        }
    }
}
