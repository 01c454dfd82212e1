//! ListGroups: every group, optionally filtered by state (v4+) and type (v5+: `classic`, or
//! `consumer` for groups of the KIP-848 protocol, whose states are Kafka's for that type).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, str_bytes};

pub(crate) fn handle(ctx: &RequestContext, request: ListGroupsRequest) -> ListGroupsResponse {
    let wanted_state = |state: &str| {
        request.states_filter.is_empty()
            || request.states_filter.iter().any(|s| s.eq_ignore_ascii_case(state))
    };
    let wanted_type = |group_type: &str| {
        request.types_filter.is_empty()
            || request.types_filter.iter().any(|t| t.eq_ignore_ascii_case(group_type))
    };
    let groups = ctx
        .groups()
        .list()
        .into_iter()
        .filter(|g| wanted_type(g.group_type.name()) && wanted_state(g.state_name()))
        .map(|g| {
            let state = g.state_name();
            ListedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_protocol_type(str_bytes(g.protocol_type))
                .with_group_state(StrBytes::from_static_str(state))
                .with_group_type(StrBytes::from_static_str(g.group_type.name()))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
