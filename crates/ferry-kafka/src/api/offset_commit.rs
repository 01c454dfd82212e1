//! OffsetCommit: stores a group's consumed positions, durably, before answering.

use std::collections::HashMap;

use ferry_broker::groups::{CommitError, CommitPartitionError, MemberRef, OffsetCommit, TopicPartition};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::RequestContext;

/// Queues the commit (in request order) and returns the wait for its durability and the answer.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: OffsetCommitRequest,
) -> impl Future<Output = OffsetCommitResponse> + Send + 'static {
    let version = ctx.version();
    let who = MemberRef {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        generation_id: request.generation_id_or_member_epoch,
    };
    // v2-v4 carry a per-commit retention; -1 there means the broker's default.
    let retention_ms = (version <= 4 && request.retention_time_ms > 0).then_some(request.retention_time_ms);

    let mut codes: HashMap<TopicPartition, i16> = HashMap::new();
    let mut offsets = Vec::new();
    for topic in &request.topics {
        let partitions = ctx.topics().topic(&topic.name.0).map_or(0, |t| t.partitions);
        for p in &topic.partitions {
            let tp = TopicPartition::new(topic.name.0.to_string(), p.partition_index);
            if p.partition_index < 0 || p.partition_index as u32 >= partitions {
                codes.insert(tp, ResponseError::UnknownTopicOrPartition.code());
                continue;
            }
            let commit = OffsetCommit {
                offset: p.committed_offset,
                leader_epoch: (p.committed_leader_epoch >= 0).then_some(p.committed_leader_epoch),
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            };
            offsets.push((tp, commit));
        }
    }
    let wanted: Vec<TopicPartition> = offsets.iter().map(|(tp, _)| tp.clone()).collect();
    let group_id = request.group_id.0.to_string();
    let submitted = if offsets.is_empty() {
        None
    } else {
        Some(ctx.groups().submit_offsets(&group_id, &who, retention_ms, offsets).await)
    };
    async move {
        let outcome = match submitted {
            Some(Ok(pending)) => Some(pending.durable().await),
            Some(Err(e)) => Some(Err(e)),
            None => None,
        };
        match outcome {
            Some(Ok(results)) => {
                for (tp, result) in results {
                    let code = match result {
                        Ok(()) => 0,
                        Err(CommitPartitionError::OffsetMetadataTooLarge) => {
                            ResponseError::OffsetMetadataTooLarge.code()
                        }
                        Err(_) => ResponseError::UnknownServerError.code(),
                    };
                    codes.insert(tp, code);
                }
            }
            Some(Err(e)) => {
                if let CommitError::Storage(cause) = &e {
                    tracing::error!(group = %group_id, error = %cause, "offset commit failed");
                }
                let code = commit_error(&e).code();
                for tp in wanted {
                    codes.insert(tp, code);
                }
            }
            None => {}
        }
        response(&request.topics, &codes)
    }
}

fn response(
    topics: &[OffsetCommitRequestTopic],
    codes: &HashMap<TopicPartition, i16>,
) -> OffsetCommitResponse {
    let topics = topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let tp = TopicPartition::new(topic.name.0.to_string(), p.partition_index);
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(codes.get(&tp).copied().unwrap_or(0))
                })
                .collect();
            OffsetCommitResponseTopic::default().with_name(topic.name.clone()).with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

pub(crate) fn commit_error(e: &CommitError) -> ResponseError {
    match e {
        CommitError::InvalidGroupId => ResponseError::InvalidGroupId,
        CommitError::UnknownMemberId => ResponseError::UnknownMemberId,
        CommitError::IllegalGeneration => ResponseError::IllegalGeneration,
        CommitError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        CommitError::FencedInstanceId => ResponseError::FencedInstanceId,
        // Retriable: the client commits again, which is right for a store that failed once.
        CommitError::Storage(_) | CommitError::CoordinatorNotAvailable => {
            ResponseError::CoordinatorNotAvailable
        }
        _ => ResponseError::UnknownServerError,
    }
}
