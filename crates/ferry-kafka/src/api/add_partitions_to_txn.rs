//! AddPartitionsToTxn: partitions join the producer's transaction before it writes to them.
//!
//! v0–v3 only (one transaction per request, from the producer); v4 and later are the batched
//! form brokers send each other to verify a transaction (KIP-890), not spoken here.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use super::RequestContext;
use crate::errors::txn_error;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let id = request.v3_and_below_transactional_id.0.to_string();
    let mut partitions = Vec::new();
    let mut invalid = false;
    for topic in &request.v3_and_below_topics {
        for &p in &topic.partitions {
            match u32::try_from(p) {
                Ok(index) => partitions.push((topic.name.0.to_string(), index)),
                Err(_) => invalid = true,
            }
        }
    }
    let result = if invalid {
        Err(ResponseError::UnknownTopicOrPartition)
    } else {
        ctx.transactions()
            .add_partitions(&id, request.v3_and_below_producer_id.0, request.v3_and_below_producer_epoch, &partitions)
            .await
            .map_err(|e| {
                tracing::debug!(transactional_id = %id, error = %e, "partitions not added to the transaction");
                txn_error(&e)
            })
    };
    let topics = request
        .v3_and_below_topics
        .iter()
        .map(|topic| {
            let results = topic
                .partitions
                .iter()
                .map(|&p| {
                    let code = match &result {
                        Ok(()) => 0,
                        // As Kafka: the partitions at fault are named, the others were not tried.
                        Err(ResponseError::UnknownTopicOrPartition) => {
                            let known =
                                u32::try_from(p).ok().and_then(|i| ctx.topics().partition(&topic.name.0, i));
                            if known.is_some() {
                                ResponseError::OperationNotAttempted.code()
                            } else {
                                ResponseError::UnknownTopicOrPartition.code()
                            }
                        }
                        Err(code) => code.code(),
                    };
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(p)
                        .with_partition_error_code(code)
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(topic.name.clone())
                .with_results_by_partition(results)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics)
}
