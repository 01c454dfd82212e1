//! DescribeTransactions: the state, producer and partitions of transactional ids.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};

use super::{RequestContext, str_bytes};

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut states = Vec::with_capacity(request.transactional_ids.len());
    for id in &request.transactional_ids {
        let state = match ctx.transactions().describe(&id.0).await {
            Some(info) => {
                let mut topics: Vec<TopicData> = Vec::new();
                for (topic, partition) in info.partitions {
                    match topics.last_mut() {
                        Some(last) if last.topic.0.as_str() == topic => {
                            last.partitions.push(partition as i32)
                        }
                        _ => topics.push(
                            TopicData::default()
                                .with_topic(TopicName(str_bytes(topic)))
                                .with_partitions(vec![partition as i32]),
                        ),
                    }
                }
                TransactionState::default()
                    .with_transactional_id(id.clone())
                    .with_transaction_state(str_bytes(info.state.name()))
                    .with_transaction_timeout_ms(info.timeout_ms.clamp(0, i32::MAX as i64) as i32)
                    .with_transaction_start_time_ms(info.started_ms)
                    .with_producer_id(ProducerId(info.producer_id))
                    .with_producer_epoch(info.epoch)
                    .with_topics(topics)
            }
            None => TransactionState::default()
                .with_transactional_id(id.clone())
                .with_error_code(ResponseError::TransactionalIdNotFound.code())
                .with_transaction_state(str_bytes(""))
                .with_transaction_start_time_ms(-1)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        };
        states.push(state);
    }
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
