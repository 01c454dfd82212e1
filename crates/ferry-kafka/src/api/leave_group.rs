//! LeaveGroup: members leave at once instead of waiting for their session to expire.
//!
//! Up to v2 one member leaves and its error is the response's; from v3 a batch of members
//! (possibly named by static id only) leave, each with its own error.

use ferry_broker::groups::{LeaveError, LeavingMember};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::{RequestContext, str_bytes};

pub(crate) fn handle(ctx: &RequestContext, request: LeaveGroupRequest) -> LeaveGroupResponse {
    let group_id = request.group_id.0.to_string();
    if ctx.version() < 3 {
        let member = LeavingMember { member_id: request.member_id.to_string(), group_instance_id: None };
        let result = ctx.groups().leave(&group_id, std::slice::from_ref(&member));
        let code = result.first().map_or(ResponseError::UnknownMemberId.code(), error_code);
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let members: Vec<LeavingMember> = request
        .members
        .iter()
        .map(|m| LeavingMember {
            member_id: m.member_id.to_string(),
            group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
        })
        .collect();
    let results = ctx.groups().leave(&group_id, &members);
    let responses = members
        .into_iter()
        .zip(&results)
        .map(|(m, result)| {
            MemberResponse::default()
                .with_member_id(str_bytes(m.member_id))
                .with_group_instance_id(m.group_instance_id.map(str_bytes))
                .with_error_code(error_code(result))
        })
        .collect();
    LeaveGroupResponse::default().with_members(responses)
}

fn error_code(result: &Result<(), LeaveError>) -> i16 {
    match result {
        Ok(()) => 0,
        Err(LeaveError::UnknownMemberId) => ResponseError::UnknownMemberId.code(),
        Err(LeaveError::FencedInstanceId) => ResponseError::FencedInstanceId.code(),
        Err(_) => ResponseError::UnknownServerError.code(),
    }
}
