//! Produce: append record batches; acks=0 gets no answer, acks=1/-1 an answer once durable.
//!
//! Transactional batches go through the transaction coordinator, which checks that the
//! producer's transaction is open and holds the partition before appending them.

use ferry_broker::topics::ProduceError;
use ferry_log::BatchHeader;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{RequestContext, str_bytes};
use crate::connection::ConnectionError;
use crate::errors::produce_error;

/// Appends every partition's batches, in request order, before it returns; the returned future
/// waits for durability (unless acks=0) and builds the answer.
pub(crate) async fn handle(
    ctx: &RequestContext,
    request: ProduceRequest,
) -> impl Future<Output = Result<Option<ProduceResponse>, ConnectionError>> + Send + 'static {
    let acks = request.acks;
    let version = ctx.version();
    let mut appended = Vec::new();
    let mut responses: Vec<TopicProduceResponse> = Vec::with_capacity(request.topic_data.len());
    for (t, topic) in request.topic_data.into_iter().enumerate() {
        let name = topic.name.0.to_string();
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for (p, data) in topic.partition_data.into_iter().enumerate() {
            partitions.push(PartitionProduceResponse::default().with_index(data.index));
            let result = match (u32::try_from(data.index), data.records) {
                (Ok(index), Some(records)) => match BatchHeader::parse(&records) {
                    Ok(h) if h.is_transactional() && !h.is_control() => {
                        ctx.transactions()
                            .produce(&name, index, &records, h.producer_id, h.producer_epoch, version >= 12)
                            .await
                    }
                    _ => ctx.topics().produce(&name, index, &records),
                },
                (Err(_), _) => Err(ProduceError::UnknownTopicOrPartition),
                (_, None) => Err(ProduceError::CorruptBatch("no records".into())),
            };
            appended.push((t, p, name.clone(), result));
        }
        responses
            .push(TopicProduceResponse::default().with_name(topic.name).with_partition_responses(partitions));
    }
    async move {
        // Each fsync is already under way; awaiting them one by one waits as long as the slowest.
        for (t, p, name, result) in appended {
            let result = match result {
                Ok(appended) if acks != 0 => appended.durable().await,
                Ok(appended) => Ok(appended.outcome()),
                Err(e) => Err(e),
            };
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
                        // KIP-467: name the records at fault, so the client fails only those
                        // and can send the others again.
                        if let ProduceError::RecordWithoutKey { offset_deltas, .. } = &e {
                            slot.record_errors = offset_deltas
                                .iter()
                                .map(|&i| {
                                    BatchIndexAndErrorMessage::default()
                                        .with_batch_index(i)
                                        .with_batch_index_error_message(Some(str_bytes(
                                            "Compacted topic cannot accept message without key.",
                                        )))
                                })
                                .collect();
                        }
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
}
