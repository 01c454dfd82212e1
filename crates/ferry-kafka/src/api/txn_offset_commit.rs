//! TxnOffsetCommit: offsets held in the producer's transaction, committed to the group when it
//! commits and dropped when it aborts. From v3 the consumer's member id and generation come
//! along and are checked as an OffsetCommit's would be (KIP-447).

use ferry_broker::groups::{MemberRef, OffsetCommit, TopicPartition};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::RequestContext;
use crate::errors::txn_error;

pub(crate) async fn handle(ctx: &RequestContext, request: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let id = request.transactional_id.0.to_string();
    let who = if ctx.version() >= 3 {
        MemberRef {
            member_id: request.member_id.to_string(),
            group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
            generation_id: request.generation_id,
        }
    } else {
        MemberRef { member_id: String::new(), group_instance_id: None, generation_id: -1 }
    };
    let mut unknown = Vec::new();
    let mut offsets = Vec::new();
    for topic in &request.topics {
        let partitions = ctx.topics().topic(&topic.name.0).map_or(0, |t| t.partitions);
        for p in &topic.partitions {
            let tp = TopicPartition::new(topic.name.0.to_string(), p.partition_index);
            if p.partition_index < 0 || p.partition_index as u32 >= partitions {
                unknown.push(tp);
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
    let code = if offsets.is_empty() {
        0
    } else {
        let held = ctx
            .transactions()
            .commit_offsets(
                &id,
                request.producer_id.0,
                request.producer_epoch,
                &request.group_id.0,
                &who,
                offsets,
            )
            .await;
        match held {
            Ok(()) => 0,
            Err(e) => {
                tracing::debug!(transactional_id = %id, error = %e, "transactional offsets refused");
                txn_error(&e).code()
            }
        }
    };
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let tp = TopicPartition::new(topic.name.0.to_string(), p.partition_index);
                    let code = if unknown.contains(&tp) {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        code
                    };
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            TxnOffsetCommitResponseTopic::default().with_name(topic.name.clone()).with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
