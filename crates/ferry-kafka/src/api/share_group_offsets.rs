//! The share-group offset admin APIs: DescribeShareGroupOffsets (each share-partition's start
//! offset), AlterShareGroupOffsets (move it; the group must be empty) and
//! DeleteShareGroupOffsets (forget a topic's share-partitions; the group must be empty).

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic;
use kafka_protocol::messages::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup, DescribeShareGroupOffsetsResponsePartition,
    DescribeShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{
    AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse, DeleteShareGroupOffsetsRequest,
    DeleteShareGroupOffsetsResponse, DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse,
    TopicName,
};

use super::shares::{TopicIds, share_error};
use super::{RequestContext, str_bytes};
use crate::connection::ConnectionError;

pub(crate) async fn describe(
    ctx: &RequestContext,
    request: DescribeShareGroupOffsetsRequest,
) -> Result<DescribeShareGroupOffsetsResponse, ConnectionError> {
    let ids = TopicIds::of(ctx);
    let mut groups = Vec::new();
    for g in request.groups {
        let name = g.group_id.0.to_string();
        let n = name.clone();
        let stored = ctx.share_blocking(move |s| s.offsets_blocking(&n)).await?;
        let stored = match stored {
            Ok(stored) => stored,
            Err(e) => {
                groups.push(
                    DescribeShareGroupOffsetsResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(share_error(&e).code())
                        .with_error_message(Some(str_bytes(e.to_string()))),
                );
                continue;
            }
        };
        let starts: HashMap<(u128, u32), i64> =
            stored.iter().map(|(tp, stats)| (*tp, stats.start_offset as i64)).collect();
        // Without topics: every share-partition the group has state for.
        let wanted: Vec<(String, Vec<i32>)> = match g.topics {
            Some(topics) => topics.into_iter().map(|t| (t.topic_name.0.to_string(), t.partitions)).collect(),
            None => {
                let mut by_topic: Vec<(String, Vec<i32>)> = Vec::new();
                for ((id, p), _) in &stored {
                    let Some(topic) = ids.names.get(id) else { continue };
                    match by_topic.iter_mut().find(|(t, _)| t == topic) {
                        Some((_, parts)) => parts.push(*p as i32),
                        None => by_topic.push((topic.clone(), vec![*p as i32])),
                    }
                }
                by_topic
            }
        };
        let topics = wanted
            .into_iter()
            .map(|(topic, parts)| {
                let id = ids.ids.get(&topic).copied();
                let partitions = parts
                    .into_iter()
                    .map(|p| {
                        let part =
                            DescribeShareGroupOffsetsResponsePartition::default().with_partition_index(p);
                        match id {
                            None => part
                                .with_start_offset(-1)
                                .with_error_code(ResponseError::UnknownTopicOrPartition.code()),
                            Some(id) => part
                                .with_start_offset(starts.get(&(id, p.max(0) as u32)).copied().unwrap_or(-1)),
                        }
                    })
                    .collect();
                DescribeShareGroupOffsetsResponseTopic::default()
                    .with_topic_name(TopicName(str_bytes(topic)))
                    .with_topic_id(uuid::Uuid::from_u128(id.unwrap_or(0)))
                    .with_partitions(partitions)
            })
            .collect();
        groups.push(
            DescribeShareGroupOffsetsResponseGroup::default().with_group_id(g.group_id).with_topics(topics),
        );
    }
    Ok(DescribeShareGroupOffsetsResponse::default().with_groups(groups))
}

pub(crate) async fn alter(
    ctx: &RequestContext,
    request: AlterShareGroupOffsetsRequest,
) -> Result<AlterShareGroupOffsetsResponse, ConnectionError> {
    let group = request.group_id.0.to_string();
    if ctx.shares().has_members(&group) {
        return Ok(AlterShareGroupOffsetsResponse::default()
            .with_error_code(ResponseError::NonEmptyGroup.code())
            .with_error_message(Some(str_bytes("the share group has members: stop them first"))));
    }
    let ids = TopicIds::of(ctx);
    let mut responses = Vec::new();
    for t in request.topics {
        let topic = t.topic_name.0.to_string();
        let id = ids.ids.get(&topic).copied();
        let mut partitions = Vec::new();
        for p in t.partitions {
            let error = match (id, u32::try_from(p.partition_index), u64::try_from(p.start_offset)) {
                (None, _, _) | (_, Err(_), _) => Some(ResponseError::UnknownTopicOrPartition),
                (_, _, Err(_)) => Some(ResponseError::InvalidRequest),
                (Some(id), Ok(index), Ok(offset)) => {
                    let g = group.clone();
                    ctx.share_blocking(move |s| s.alter_offset_blocking(&g, (id, index), offset))
                        .await?
                        .err()
                        .map(|e| share_error(&e))
                }
            };
            partitions.push(
                AlterShareGroupOffsetsResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(error.map_or(0, |e| e.code())),
            );
        }
        responses.push(
            AlterShareGroupOffsetsResponseTopic::default()
                .with_topic_name(TopicName(str_bytes(topic)))
                .with_topic_id(uuid::Uuid::from_u128(id.unwrap_or(0)))
                .with_partitions(partitions),
        );
    }
    Ok(AlterShareGroupOffsetsResponse::default().with_responses(responses))
}

pub(crate) async fn delete(
    ctx: &RequestContext,
    request: DeleteShareGroupOffsetsRequest,
) -> Result<DeleteShareGroupOffsetsResponse, ConnectionError> {
    let group = request.group_id.0.to_string();
    if ctx.shares().has_members(&group) {
        return Ok(DeleteShareGroupOffsetsResponse::default()
            .with_error_code(ResponseError::NonEmptyGroup.code())
            .with_error_message(Some(str_bytes("the share group has members: stop them first"))));
    }
    let ids = TopicIds::of(ctx);
    let mut responses = Vec::new();
    for t in request.topics {
        let topic = t.topic_name.0.to_string();
        let id = ids.ids.get(&topic).copied();
        let error = match id {
            None => Some(ResponseError::UnknownTopicOrPartition),
            Some(id) => {
                let g = group.clone();
                ctx.share_blocking(move |s| s.delete_offsets_blocking(&g, id))
                    .await?
                    .err()
                    .map(|e| share_error(&e))
            }
        };
        responses.push(
            DeleteShareGroupOffsetsResponseTopic::default()
                .with_topic_name(TopicName(str_bytes(topic)))
                .with_topic_id(uuid::Uuid::from_u128(id.unwrap_or(0)))
                .with_error_code(error.map_or(0, |e| e.code())),
        );
    }
    Ok(DeleteShareGroupOffsetsResponse::default().with_responses(responses))
}
