//! Heartbeat: keeps a member's session alive and tells it when to rejoin.

use ferry_broker::groups::{HeartbeatError, MemberRef};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;

pub(crate) fn handle(ctx: &RequestContext, request: HeartbeatRequest) -> HeartbeatResponse {
    let who = MemberRef {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
        generation_id: request.generation_id,
    };
    match ctx.groups().heartbeat(&request.group_id.0, &who) {
        Ok(()) => HeartbeatResponse::default(),
        Err(e) => HeartbeatResponse::default().with_error_code(heartbeat_error(&e).code()),
    }
}

fn heartbeat_error(e: &HeartbeatError) -> ResponseError {
    match e {
        HeartbeatError::UnknownMemberId => ResponseError::UnknownMemberId,
        HeartbeatError::IllegalGeneration => ResponseError::IllegalGeneration,
        HeartbeatError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        HeartbeatError::FencedInstanceId => ResponseError::FencedInstanceId,
        _ => ResponseError::UnknownServerError,
    }
}
