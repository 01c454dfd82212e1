//! SyncGroup: the leader hands out the assignment; every member receives its own.

use ferry_broker::groups::{SyncError, SyncRequest};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::{RequestContext, str_bytes};

/// Syncs now; the returned future waits for the leader's assignment and answers.
pub(crate) fn handle(
    ctx: &RequestContext,
    request: SyncGroupRequest,
) -> impl Future<Output = SyncGroupResponse> + Send + 'static {
    let sync = SyncRequest {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
        generation_id: request.generation_id,
        protocol_type: request.protocol_type.map(|s| s.to_string()),
        protocol_name: request.protocol_name.map(|s| s.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let synced = ctx.groups().sync(sync);
    async move {
        match synced.await {
            Ok(synced) => SyncGroupResponse::default()
                .with_protocol_type(synced.protocol_type.map(str_bytes))
                .with_protocol_name(synced.protocol_name.map(str_bytes))
                .with_assignment(synced.assignment),
            Err(e) => SyncGroupResponse::default().with_error_code(sync_error(&e).code()),
        }
    }
}

fn sync_error(e: &SyncError) -> ResponseError {
    match e {
        SyncError::UnknownMemberId => ResponseError::UnknownMemberId,
        SyncError::IllegalGeneration => ResponseError::IllegalGeneration,
        SyncError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        SyncError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        SyncError::FencedInstanceId => ResponseError::FencedInstanceId,
        SyncError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        _ => ResponseError::UnknownServerError,
    }
}
