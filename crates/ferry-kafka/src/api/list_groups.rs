//! ListGroups: every group, optionally filtered by state (v4+) and type (v5+).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, str_bytes};

/// Every group here speaks Kafka's classic group protocol.
const GROUP_TYPE: &str = "classic";

pub(crate) fn handle(ctx: &RequestContext, request: ListGroupsRequest) -> ListGroupsResponse {
    let wanted_state = |state: &str| {
        request.states_filter.is_empty()
            || request.states_filter.iter().any(|s| s.eq_ignore_ascii_case(state))
    };
    let type_listed = request.types_filter.is_empty()
        || request.types_filter.iter().any(|t| t.eq_ignore_ascii_case(GROUP_TYPE));
    let groups = ctx
        .groups()
        .list()
        .into_iter()
        .filter(|g| type_listed && wanted_state(g.state.name()))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_protocol_type(str_bytes(g.protocol_type))
                .with_group_state(StrBytes::from_static_str(g.state.name()))
                .with_group_type(StrBytes::from_static_str(GROUP_TYPE))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
