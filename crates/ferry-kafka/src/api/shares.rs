//! What the share-group APIs have in common: the coordinator, error codes, topic ids.

use std::collections::HashMap;
use std::sync::Arc;

use ferry_broker::shares::{ShareCoordinator, ShareError};
use kafka_protocol::error::ResponseError;

use super::RequestContext;
use crate::connection::ConnectionError;

impl RequestContext {
    pub(crate) fn shares(&self) -> &Arc<ShareCoordinator> {
        &self.shared.ctx.shares
    }

    /// Runs blocking share-group work (journal writes, log reads) off the async threads.
    pub(crate) async fn share_blocking<T, F>(&self, f: F) -> Result<T, ConnectionError>
    where
        T: Send + 'static,
        F: FnOnce(&ShareCoordinator) -> T + Send + 'static,
    {
        let shares = Arc::clone(self.shares());
        tokio::task::spawn_blocking(move || f(&shares))
            .await
            .map_err(|e| ConnectionError::Internal(format!("blocking task failed: {e}")))
    }
}

/// The Kafka error code of a refused share-group call.
pub(crate) fn share_error(e: &ShareError) -> ResponseError {
    match e {
        ShareError::InvalidGroupId(_) => ResponseError::InvalidGroupId,
        ShareError::UnknownMember(_) => ResponseError::UnknownMemberId,
        ShareError::Full(_) => ResponseError::GroupMaxSizeReached,
        ShareError::UnknownTopicPartition => ResponseError::UnknownTopicOrPartition,
        ShareError::NotEmpty => ResponseError::NonEmptyGroup,
        ShareError::Storage(_) => ResponseError::KafkaStorageError,
        _ => ResponseError::UnknownServerError,
    }
}

/// Topic names by id, and ids by name, of every topic.
pub(crate) struct TopicIds {
    pub(crate) names: HashMap<u128, String>,
    pub(crate) ids: HashMap<String, u128>,
}

impl TopicIds {
    pub(crate) fn of(ctx: &RequestContext) -> TopicIds {
        let topics = ctx.topics().topics();
        TopicIds {
            names: topics.iter().map(|t| (t.id, t.name.clone())).collect(),
            ids: topics.into_iter().map(|t| (t.name, t.id)).collect(),
        }
    }
}
