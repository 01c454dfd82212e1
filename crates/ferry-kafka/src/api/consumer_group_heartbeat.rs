//! ConsumerGroupHeartbeat (KIP-848): joins, leaves, and keeps a member of a consumer-protocol
//! group in step with the assignment the coordinator computes. Topics travel by id on the wire
//! and by name in the broker; this module maps between them.

use std::collections::{BTreeMap, HashMap};

use ferry_broker::groups::TopicPartition;
use ferry_broker::groups::consumer::types::{
    ConsumerHeartbeat, ConsumerHeartbeatError, TopicPartitionCounts,
};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use uuid::Uuid;

use super::{RequestContext, client_host, client_id, group_configs, str_bytes};

pub(crate) fn handle(
    ctx: &RequestContext,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let catalog = ctx.topics().topics();
    let names: HashMap<u128, &str> = catalog.iter().map(|t| (t.id, t.name.as_str())).collect();
    let ids: HashMap<&str, u128> = catalog.iter().map(|t| (t.name.as_str(), t.id)).collect();
    let counts: TopicPartitionCounts = catalog.iter().map(|t| (t.name.clone(), t.partitions)).collect();
    // Partitions of topics that no longer exist (or were created again) are not owned any more.
    let owned = request.topic_partitions.as_ref().map(|topics| {
        topics
            .iter()
            .filter_map(|t| names.get(&t.topic_id.as_u128()).map(|name| (name, &t.partitions)))
            .flat_map(|(name, partitions)| partitions.iter().map(|p| TopicPartition::new(*name, *p)))
            .collect()
    });
    let (session_timeout_ms, heartbeat_interval_ms) = group_configs::overrides(ctx, &request.group_id.0);
    let heartbeat = ConsumerHeartbeat {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: request.rack_id.as_ref().map(|s| s.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request
            .subscribed_topic_names
            .as_ref()
            .map(|names| names.iter().map(|n| n.0.to_string()).collect()),
        subscribed_topic_regex: request.subscribed_topic_regex.as_ref().map(|s| s.to_string()),
        server_assignor: request.server_assignor.as_ref().map(|s| s.to_string()),
        owned,
        client_id: client_id(ctx),
        client_host: client_host(ctx),
        session_timeout_ms,
        heartbeat_interval_ms,
    };
    match ctx.groups().consumer_heartbeat(heartbeat, &counts) {
        Ok(answer) => {
            let assignment = answer.assignment.map(|partitions| {
                let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for tp in partitions {
                    by_topic.entry(tp.topic).or_default().push(tp.partition);
                }
                let topics = by_topic
                    .into_iter()
                    .filter_map(|(topic, partitions)| {
                        let id = ids.get(topic.as_str())?;
                        Some(
                            TopicPartitions::default()
                                .with_topic_id(Uuid::from_u128(*id))
                                .with_partitions(partitions),
                        )
                    })
                    .collect();
                Assignment::default().with_topic_partitions(topics)
            });
            ConsumerGroupHeartbeatResponse::default()
                .with_member_id(Some(str_bytes(answer.member_id)))
                .with_member_epoch(answer.member_epoch)
                .with_heartbeat_interval_ms(answer.heartbeat_interval_ms)
                .with_assignment(assignment)
        }
        Err(e) => ConsumerGroupHeartbeatResponse::default()
            .with_error_code(heartbeat_error(&e).code())
            .with_error_message(Some(str_bytes(e.to_string())))
            .with_member_epoch(-1),
    }
}

fn heartbeat_error(e: &ConsumerHeartbeatError) -> ResponseError {
    match e {
        ConsumerHeartbeatError::InvalidGroupId => ResponseError::InvalidGroupId,
        ConsumerHeartbeatError::InvalidRequest(_) => ResponseError::InvalidRequest,
        ConsumerHeartbeatError::GroupIdNotFound => ResponseError::GroupIdNotFound,
        ConsumerHeartbeatError::UnknownMemberId => ResponseError::UnknownMemberId,
        ConsumerHeartbeatError::FencedMemberEpoch => ResponseError::FencedMemberEpoch,
        ConsumerHeartbeatError::UnsupportedAssignor => ResponseError::UnsupportedAssignor,
        ConsumerHeartbeatError::UnreleasedInstanceId => ResponseError::UnreleasedInstanceId,
        ConsumerHeartbeatError::FencedInstanceId => ResponseError::FencedInstanceId,
        ConsumerHeartbeatError::InvalidRegularExpression(_) => ResponseError::InvalidRegularExpression,
        ConsumerHeartbeatError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
        ConsumerHeartbeatError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        _ => ResponseError::UnknownServerError,
    }
}
