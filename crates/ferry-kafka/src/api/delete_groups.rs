//! DeleteGroups: removes groups without members, with their committed offsets.

use ferry_broker::groups::DeleteGroupError;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;
use crate::connection::ConnectionError;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: DeleteGroupsRequest,
) -> Result<DeleteGroupsResponse, ConnectionError> {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group_id in request.groups_names {
        let code = match ctx.groups().delete_group(&group_id.0).await {
            Ok(()) => 0,
            Err(e) => delete_error(&group_id.0, &e).code(),
        };
        results.push(DeletableGroupResult::default().with_group_id(group_id).with_error_code(code));
    }
    Ok(DeleteGroupsResponse::default().with_results(results))
}

fn delete_error(group_id: &str, e: &DeleteGroupError) -> ResponseError {
    match e {
        DeleteGroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
        DeleteGroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
        DeleteGroupError::InvalidGroupId => ResponseError::InvalidGroupId,
        DeleteGroupError::Storage(cause) => {
            tracing::error!(group = %group_id, error = %cause, "deleting a group failed");
            ResponseError::CoordinatorNotAvailable
        }
        DeleteGroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        _ => ResponseError::UnknownServerError,
    }
}
