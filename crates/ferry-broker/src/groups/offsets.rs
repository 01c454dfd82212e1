//! The offset side of a group: who may commit, which topics the members consume, and when
//! committed offsets expire.

use super::error::CommitError;
use super::group::{Group, fenced};
use super::types::{CommittedOffset, GroupState, MemberRef, TopicPartition};

impl Group {
    /// Checks that `who` may commit offsets now (Kafka's rules: a commit from outside any
    /// generation only into an empty group; otherwise from a current member of this generation,
    /// never while the assignment is being handed out). A valid commit counts as a heartbeat.
    pub fn check_commit(&mut self, who: &MemberRef, now_ms: i64) -> Result<(), CommitError> {
        if let Some(consumer) = &self.consumer {
            return consumer.check_commit(&who.member_id, who.generation_id);
        }
        if who.generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(CommitError::RebalanceInProgress);
        }
        if self.replaced_static_member(&who.member_id, who.group_instance_id.as_deref()) {
            return Err(CommitError::FencedInstanceId);
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
        if let Some(consumer) = &self.consumer {
            return consumer.is_subscribed_to(topic);
        }
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
}
