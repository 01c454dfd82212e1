//! OffsetDelete: removes committed offsets of a group, except for topics its members consume.

use ferry_broker::groups::{OffsetDeleteError, OffsetDeletePartitionError, TopicPartition};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::RequestContext;
use crate::connection::ConnectionError;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: OffsetDeleteRequest,
) -> Result<OffsetDeleteResponse, ConnectionError> {
    let partitions: Vec<TopicPartition> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| TopicPartition::new(t.name.0.to_string(), p.partition_index))
        })
        .collect();
    let results = match ctx.groups().delete_offsets(&request.group_id.0, partitions).await {
        Ok(results) => results,
        Err(e) => {
            let code = offset_delete_error(&request.group_id.0, &e).code();
            return Ok(OffsetDeleteResponse::default().with_error_code(code));
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
                    let code = results
                        .iter()
                        .find(|(tp, _)| {
                            tp.topic == topic.name.0.as_str() && tp.partition == p.partition_index
                        })
                        .map_or(0, |(_, result)| match result {
                            Ok(()) => 0,
                            Err(OffsetDeletePartitionError::GroupSubscribedToTopic) => {
                                ResponseError::GroupSubscribedToTopic.code()
                            }
                            Err(_) => ResponseError::UnknownServerError.code(),
                        });
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetDeleteResponseTopic::default().with_name(topic.name.clone()).with_partitions(partitions)
        })
        .collect();
    Ok(OffsetDeleteResponse::default().with_topics(topics))
}

fn offset_delete_error(group_id: &str, e: &OffsetDeleteError) -> ResponseError {
    match e {
        OffsetDeleteError::GroupIdNotFound => ResponseError::GroupIdNotFound,
        OffsetDeleteError::NonEmptyGroup => ResponseError::NonEmptyGroup,
        OffsetDeleteError::InvalidGroupId => ResponseError::InvalidGroupId,
        OffsetDeleteError::Storage(cause) => {
            tracing::error!(group = %group_id, error = %cause, "deleting offsets failed");
            ResponseError::CoordinatorNotAvailable
        }
        OffsetDeleteError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        _ => ResponseError::UnknownServerError,
    }
}
