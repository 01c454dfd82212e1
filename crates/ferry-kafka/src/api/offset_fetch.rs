//! OffsetFetch: a group's committed offsets, for some partitions or (topics null) all of them.
//!
//! Up to v7 one group per request; from v8 several, each answered in its own entry.

use std::collections::BTreeMap;

use ferry_broker::groups::{CommittedOffset, TopicPartition};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, str_bytes};

/// One partition's answer: (offset, leader epoch, metadata, error code).
type Fetched = (i64, i32, Option<StrBytes>, i16);

pub(crate) fn handle(ctx: &RequestContext, request: OffsetFetchRequest) -> OffsetFetchResponse {
    if ctx.version() >= 8 {
        let groups = request
            .groups
            .iter()
            .map(|group| {
                let wanted = group.topics.as_ref().map(|topics| {
                    topics
                        .iter()
                        .flat_map(|t| {
                            t.partition_indexes.iter().map(|p| TopicPartition::new(t.name.0.to_string(), *p))
                        })
                        .collect::<Vec<_>>()
                });
                let topics = by_topic(fetch(ctx, &group.group_id.0, wanted, request.require_stable))
                    .into_iter()
                    .map(|(topic, partitions)| {
                        let partitions = partitions
                            .into_iter()
                            .map(|(partition, (offset, epoch, metadata, error))| {
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(partition)
                                    .with_committed_offset(offset)
                                    .with_committed_leader_epoch(epoch)
                                    .with_metadata(metadata)
                                    .with_error_code(error)
                            })
                            .collect();
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(str_bytes(topic)))
                            .with_partitions(partitions)
                    })
                    .collect();
                OffsetFetchResponseGroup::default().with_group_id(group.group_id.clone()).with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .flat_map(|t| t.partition_indexes.iter().map(|p| TopicPartition::new(t.name.0.to_string(), *p)))
            .collect::<Vec<_>>()
    });
    let require_stable = ctx.version() >= 7 && request.require_stable;
    let topics = by_topic(fetch(ctx, &request.group_id.0, wanted, require_stable))
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(partition, (offset, epoch, metadata, error))| {
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(metadata)
                        .with_error_code(error)
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(topic)))
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

/// With `require_stable` (v7+), a partition an unfinished transaction holds an offset for is
/// answered UNSTABLE_OFFSET_COMMIT, which the consumer retries.
fn fetch(
    ctx: &RequestContext,
    group_id: &str,
    wanted: Option<Vec<TopicPartition>>,
    require_stable: bool,
) -> Vec<(TopicPartition, Fetched)> {
    ctx.groups()
        .fetch_offsets(group_id, wanted.as_deref())
        .into_iter()
        .map(|(tp, committed)| {
            if require_stable && ctx.transactions().holds_offset(group_id, &tp) {
                let unstable =
                    (-1, -1, Some(StrBytes::default()), ResponseError::UnstableOffsetCommit.code());
                return (tp, unstable);
            }
            (tp, fetched(committed))
        })
        .collect()
}

/// A committed offset as Kafka answers it; no offset is -1 with empty metadata.
fn fetched(committed: Option<CommittedOffset>) -> Fetched {
    match committed {
        Some(o) => {
            (o.offset, o.leader_epoch.unwrap_or(-1), Some(str_bytes(o.metadata.unwrap_or_default())), 0)
        }
        None => (-1, -1, Some(StrBytes::default()), 0),
    }
}

fn by_topic(offsets: Vec<(TopicPartition, Fetched)>) -> BTreeMap<String, Vec<(i32, Fetched)>> {
    let mut topics: BTreeMap<String, Vec<(i32, Fetched)>> = BTreeMap::new();
    for (tp, fetched) in offsets {
        topics.entry(tp.topic).or_default().push((tp.partition, fetched));
    }
    topics
}
