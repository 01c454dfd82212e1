//! DeleteRecords: moves a partition's first offset forward (offset -1 means the high watermark).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::RequestContext;
use crate::connection::ConnectionError;
use crate::errors::fetch_error;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: DeleteRecordsRequest,
) -> Result<DeleteRecordsResponse, ConnectionError> {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in topic.partitions {
            let answer = DeleteRecordsPartitionResult::default()
                .with_partition_index(p.partition_index)
                .with_low_watermark(-1);
            let partition =
                u32::try_from(p.partition_index).ok().and_then(|i| ctx.topics().partition(&topic.name.0, i));
            let Some(partition) = partition else {
                partitions.push(answer.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            let before = match p.offset {
                -1 => partition.high_watermark(),
                offset if offset >= 0 => offset as u64,
                _ => {
                    partitions.push(answer.with_error_code(ResponseError::OffsetOutOfRange.code()));
                    continue;
                }
            };
            let result = ctx.blocking(move |_| partition.delete_records_before(before)).await?;
            partitions.push(match result {
                Ok(low) => answer.with_low_watermark(low as i64),
                Err(e) => answer.with_error_code(fetch_error(&e).code()),
            });
        }
        topics.push(DeleteRecordsTopicResult::default().with_name(topic.name).with_partitions(partitions));
    }
    Ok(DeleteRecordsResponse::default().with_topics(topics))
}
