//! ConsumerGroupDescribe (KIP-848): epochs, assignor and members (subscriptions, assignment and
//! target assignment) of consumer-protocol groups. A classic or unknown group is
//! GROUP_ID_NOT_FOUND, on which admin clients describe it again with DescribeGroups.

use std::collections::{BTreeMap, HashMap};

use ferry_broker::groups::TopicPartition;
use ferry_broker::groups::consumer::types::{ConsumerGroupDescription, DescribeConsumerGroupError};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{RequestContext, str_bytes};

/// Without ACLs every client may read, describe and delete groups (Kafka's operation bits 3, 8, 6).
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);
/// `MemberType` of a member speaking the consumer protocol (0 is classic).
const CONSUMER_MEMBER_TYPE: i8 = 1;

pub(crate) fn handle(
    ctx: &RequestContext,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let authorized_operations =
        if request.include_authorized_operations { GROUP_OPERATIONS } else { i32::MIN };
    let ids: HashMap<String, u128> = ctx.topics().topics().into_iter().map(|t| (t.name, t.id)).collect();
    let groups = request
        .group_ids
        .into_iter()
        .map(|group_id| {
            let described = match ctx.groups().describe_consumer_group(&group_id.0) {
                Ok(group) => describe(group, &ids),
                Err(e) => {
                    let message = match e {
                        DescribeConsumerGroupError::NotConsumerGroup => {
                            format!("Group {} is not a consumer group.", group_id.0)
                        }
                        _ => format!("Group {} not found.", group_id.0),
                    };
                    DescribedGroup::default()
                        .with_error_code(ResponseError::GroupIdNotFound.code())
                        .with_error_message(Some(str_bytes(message)))
                        .with_group_state(StrBytes::from_static_str("Dead"))
                }
            };
            described.with_group_id(group_id).with_authorized_operations(authorized_operations)
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}

fn describe(group: ConsumerGroupDescription, ids: &HashMap<String, u128>) -> DescribedGroup {
    let members = group
        .members
        .into_iter()
        .map(|m| {
            Member::default()
                .with_member_id(str_bytes(m.member_id))
                .with_instance_id(m.instance_id.map(str_bytes))
                .with_rack_id(m.rack_id.map(str_bytes))
                .with_member_epoch(m.member_epoch)
                .with_client_id(str_bytes(m.client_id))
                .with_client_host(str_bytes(m.client_host))
                .with_subscribed_topic_names(
                    m.subscribed_topic_names.into_iter().map(|n| TopicName(str_bytes(n))).collect(),
                )
                .with_subscribed_topic_regex(m.subscribed_topic_regex.map(str_bytes))
                .with_assignment(assignment(m.assignment, ids))
                .with_target_assignment(assignment(m.target_assignment, ids))
                .with_member_type(CONSUMER_MEMBER_TYPE)
        })
        .collect();
    DescribedGroup::default()
        .with_group_state(StrBytes::from_static_str(group.state.name()))
        .with_group_epoch(group.group_epoch)
        .with_assignment_epoch(group.assignment_epoch)
        .with_assignor_name(str_bytes(group.assignor))
        .with_members(members)
}

fn assignment(partitions: Vec<TopicPartition>, ids: &HashMap<String, u128>) -> Assignment {
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(tp.topic).or_default().push(tp.partition);
    }
    let topics = by_topic
        .into_iter()
        .map(|(topic, partitions)| {
            let id = ids.get(&topic).copied().unwrap_or_default();
            TopicPartitions::default()
                .with_topic_id(Uuid::from_u128(id))
                .with_topic_name(TopicName(str_bytes(topic)))
                .with_partitions(partitions)
        })
        .collect();
    Assignment::default().with_topic_partitions(topics)
}
