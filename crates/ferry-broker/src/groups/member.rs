//! One member of a group: its protocols, its session and the answers it is waiting for.

use bytes::Bytes;
use tokio::sync::oneshot;

use super::error::{JoinError, SyncError};
use super::types::{JoinResponse, MemberProtocol, SyncResponse};

/// Where a held JoinGroup answer goes.
pub(crate) type JoinReply = oneshot::Sender<Result<JoinResponse, JoinError>>;
/// Where a held SyncGroup answer goes.
pub(crate) type SyncReply = oneshot::Sender<Result<SyncResponse, SyncError>>;

/// A member of a group.
#[derive(Debug)]
pub(crate) struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i64,
    pub rebalance_timeout_ms: i64,
    pub protocols: Vec<MemberProtocol>,
    pub assignment: Bytes,
    pub last_heartbeat_ms: i64,
    /// Order of arrival, so that a new leader is the longest-standing member.
    pub joined_seq: u64,
    pub awaiting_join: Option<JoinReply>,
    pub awaiting_sync: Option<SyncReply>,
}

impl Member {
    /// Whether a held request keeps the member alive: Kafka does not expire a member while the
    /// coordinator itself is holding its JoinGroup or SyncGroup answer.
    pub fn kept_alive(&self) -> bool {
        self.awaiting_join.as_ref().is_some_and(|r| !r.is_closed())
            || self.awaiting_sync.as_ref().is_some_and(|r| !r.is_closed())
    }

    /// When the member's session runs out if no heartbeat comes, unless it is kept alive.
    pub fn session_deadline_ms(&self) -> Option<i64> {
        (!self.kept_alive()).then(|| self.last_heartbeat_ms.saturating_add(self.session_timeout_ms))
    }

    /// The member's subscription in `protocol`.
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|p| p.name == protocol).map(|p| p.metadata.clone()).unwrap_or_default()
    }

    /// Whether the member's protocols are the same names and subscriptions as `other`.
    pub fn same_protocols(&self, other: &[MemberProtocol]) -> bool {
        self.protocols.len() == other.len()
            && self.protocols.iter().zip(other).all(|(a, b)| a.name == b.name && a.metadata == b.metadata)
    }

    /// Answers a held join, if any.
    pub fn reply_join(&mut self, result: Result<JoinResponse, JoinError>) {
        if let Some(reply) = self.awaiting_join.take() {
            // The client may have gone; its answer then has nowhere to go.
            let _ = reply.send(result);
        }
    }

    /// Answers a held sync, if any.
    pub fn reply_sync(&mut self, result: Result<SyncResponse, SyncError>) {
        if let Some(reply) = self.awaiting_sync.take() {
            let _ = reply.send(result);
        }
    }
}
