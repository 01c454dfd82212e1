//! DescribeGroups: state, protocol and members (with subscriptions and assignments) of groups.

use ferry_broker::groups::{GroupDescription, GroupType};
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, str_bytes};

/// Without ACLs every client may read, describe and delete groups (Kafka's operation bits 3, 8, 6).
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub(crate) fn handle(ctx: &RequestContext, request: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let authorized_operations =
        if request.include_authorized_operations { GROUP_OPERATIONS } else { i32::MIN };
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            let described = match ctx.groups().describe(&group_id.0) {
                Some(group) if group.group_type == GroupType::Classic => describe(group),
                // What Kafka answers for a group it does not know, or one of the consumer protocol
                // (ConsumerGroupDescribe describes those): no error before v6, state Dead.
                _ => DescribedGroup::default()
                    .with_group_state(StrBytes::from_static_str("Dead"))
                    .with_protocol_type(StrBytes::default())
                    .with_protocol_data(StrBytes::default()),
            };
            described.with_group_id(group_id).with_authorized_operations(authorized_operations)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

fn describe(group: GroupDescription) -> DescribedGroup {
    let members = group
        .members
        .into_iter()
        .map(|m| {
            DescribedGroupMember::default()
                .with_member_id(str_bytes(m.member_id))
                .with_group_instance_id(m.group_instance_id.map(str_bytes))
                .with_client_id(str_bytes(m.client_id))
                .with_client_host(str_bytes(m.client_host))
                .with_member_metadata(m.metadata)
                .with_member_assignment(m.assignment)
        })
        .collect();
    DescribedGroup::default()
        .with_group_state(StrBytes::from_static_str(group.state.name()))
        .with_protocol_type(str_bytes(group.protocol_type.unwrap_or_default()))
        .with_protocol_data(str_bytes(group.protocol_name.unwrap_or_default()))
        .with_members(members)
}
