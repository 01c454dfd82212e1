//! ListOffsets: earliest, latest, the first offset at or after a timestamp, or (v7+) the record
//! with the largest timestamp.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::RequestContext;
use crate::connection::ConnectionError;
use crate::errors::fetch_error;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
/// KIP-734, v7 and later.
const MAX_TIMESTAMP: i64 = -3;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: ListOffsetsRequest,
) -> Result<ListOffsetsResponse, ConnectionError> {
    // v2+: a read_committed consumer's latest offset is the last stable offset.
    let committed = ctx.version() >= 2 && request.isolation_level == 1;
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in topic.partitions {
            let mut answer = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_timestamp(-1)
                .with_offset(-1)
                .with_leader_epoch(if ctx.version() >= 4 { 0 } else { -1 });
            let partition =
                u32::try_from(p.partition_index).ok().and_then(|i| ctx.topics().partition(&topic.name.0, i));
            let Some(partition) = partition else {
                partitions.push(answer.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            let offsets = partition.offsets();
            match p.timestamp {
                LATEST if committed => answer.offset = offsets.last_stable_offset as i64,
                LATEST => answer.offset = offsets.high_watermark as i64,
                EARLIEST => answer.offset = offsets.log_start_offset as i64,
                MAX_TIMESTAMP if ctx.version() >= 7 => {
                    match ctx.blocking(move |_| partition.max_timestamp_record()).await? {
                        Ok(Some((offset, timestamp))) => {
                            answer.offset = offset as i64;
                            answer.timestamp = timestamp;
                        }
                        Ok(None) => {}
                        Err(e) => answer.error_code = fetch_error(&e).code(),
                    }
                }
                ts if ts >= 0 => {
                    let lookup = ctx.blocking(move |_| partition.offset_for_timestamp(ts)).await?;
                    match lookup {
                        Ok(Some((offset, timestamp))) => {
                            answer.offset = offset as i64;
                            answer.timestamp = timestamp;
                        }
                        Ok(None) => {}
                        Err(e) => answer.error_code = fetch_error(&e).code(),
                    }
                }
                _ => answer.error_code = ResponseError::InvalidRequest.code(),
            }
            partitions.push(answer);
        }
        topics.push(ListOffsetsTopicResponse::default().with_name(topic.name).with_partitions(partitions));
    }
    Ok(ListOffsetsResponse::default().with_topics(topics))
}
