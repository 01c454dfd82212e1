//! ShareGroupDescribe: members of share groups, with their subscriptions and assignments.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{ShareGroupDescribeRequest, ShareGroupDescribeResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::shares::TopicIds;
use super::{RequestContext, str_bytes};

/// Without ACLs every client may read, describe and delete groups (Kafka's operation bits 3, 6, 8).
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub(crate) fn handle(ctx: &RequestContext, request: ShareGroupDescribeRequest) -> ShareGroupDescribeResponse {
    let operations = if request.include_authorized_operations { GROUP_OPERATIONS } else { i32::MIN };
    let ids = TopicIds::of(ctx);
    let groups = request
        .group_ids
        .into_iter()
        .map(|group_id| {
            let described = match ctx.shares().describe(&group_id.0) {
                Some(d) => {
                    let members = d
                        .members
                        .into_iter()
                        .map(|m| {
                            let partitions = m
                                .assignment
                                .iter()
                                .map(|(id, parts)| {
                                    TopicPartitions::default()
                                        .with_topic_id(uuid::Uuid::from_u128(*id))
                                        .with_topic_name(TopicName(str_bytes(
                                            ids.names.get(id).cloned().unwrap_or_default(),
                                        )))
                                        .with_partitions(parts.iter().map(|&p| p as i32).collect())
                                })
                                .collect();
                            Member::default()
                                .with_member_id(str_bytes(m.member_id))
                                .with_rack_id(m.rack_id.map(str_bytes))
                                .with_member_epoch(m.epoch)
                                .with_client_id(str_bytes(m.client_id))
                                .with_client_host(str_bytes(m.client_host))
                                .with_subscribed_topic_names(
                                    m.subscribed.into_iter().map(|t| TopicName(str_bytes(t))).collect(),
                                )
                                .with_assignment(Assignment::default().with_topic_partitions(partitions))
                        })
                        .collect::<Vec<_>>();
                    let state = if members.is_empty() { "Empty" } else { "Stable" };
                    DescribedGroup::default()
                        .with_group_state(StrBytes::from_static_str(state))
                        .with_group_epoch(d.epoch)
                        .with_assignment_epoch(d.epoch)
                        .with_assignor_name(StrBytes::from_static_str("simple"))
                        .with_members(members)
                }
                None => DescribedGroup::default()
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(str_bytes(format!("no share group {}", &*group_id.0))))
                    .with_group_state(StrBytes::from_static_str("Dead")),
            };
            described.with_group_id(group_id).with_authorized_operations(operations)
        })
        .collect();
    ShareGroupDescribeResponse::default().with_groups(groups)
}
