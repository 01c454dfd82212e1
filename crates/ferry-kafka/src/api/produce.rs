//! Produce: append record batches; acks=0 gets no answer, acks=1/-1 an answer once durable.

use ferry_broker::topics::ProduceError;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use tokio::task::JoinSet;

use super::{RequestContext, str_bytes};
use crate::connection::ConnectionError;
use crate::errors::produce_error;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: ProduceRequest,
) -> Result<Option<ProduceResponse>, ConnectionError> {
    let acks = request.acks;
    let version = ctx.version();
    let wait_durable = acks != 0;
    // Partitions are appended concurrently so that their fsyncs overlap.
    let mut tasks = JoinSet::new();
    let mut responses: Vec<TopicProduceResponse> = Vec::with_capacity(request.topic_data.len());
    for (t, topic) in request.topic_data.into_iter().enumerate() {
        let name = topic.name.0.to_string();
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for (p, data) in topic.partition_data.into_iter().enumerate() {
            partitions.push(PartitionProduceResponse::default().with_index(data.index));
            let topics = std::sync::Arc::clone(ctx.topics());
            let name = name.clone();
            tasks.spawn(async move {
                let result = match (u32::try_from(data.index), data.records) {
                    (Ok(index), Some(records)) => topics.produce(&name, index, records, wait_durable).await,
                    (Err(_), _) => Err(ProduceError::UnknownTopicOrPartition),
                    (_, None) => Err(ProduceError::CorruptBatch("no records".into())),
                };
                (t, p, name, result)
            });
        }
        responses
            .push(TopicProduceResponse::default().with_name(topic.name).with_partition_responses(partitions));
    }
    while let Some(done) = tasks.join_next().await {
        let (t, p, name, result) =
            done.map_err(|e| ConnectionError::Internal(format!("produce task: {e}")))?;
        let slot = &mut responses[t].partition_responses[p];
        match result {
            Ok(outcome) => {
                slot.base_offset = outcome.base_offset as i64;
                slot.log_append_time_ms = -1;
                if version >= 5 {
                    slot.log_start_offset = outcome.log_start_offset as i64;
                }
            }
            Err(e) => {
                let code = produce_error(&e);
                if code != ResponseError::UnknownTopicOrPartition {
                    tracing::debug!(topic = %name, partition = slot.index, error = %e, "produce refused");
                }
                slot.error_code = code.code();
                if version >= 8 {
                    slot.error_message = Some(str_bytes(e.to_string()));
                }
                slot.base_offset = -1;
                slot.log_append_time_ms = -1;
            }
        }
    }
    if acks == 0 {
        return Ok(None);
    }
    Ok(Some(ProduceResponse::default().with_responses(responses)))
}
