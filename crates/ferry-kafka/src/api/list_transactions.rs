//! ListTransactions: every transactional id, filtered by state, producer id and (v1) how long
//! the transaction has been running. The v2 pattern filter is not offered (v2 is not
//! advertised).

use ferry_broker::transactions::TxnState;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};

use super::{RequestContext, str_bytes};

const STATES: [TxnState; 6] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
];

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let unknown: Vec<_> = request
        .state_filters
        .iter()
        .filter(|f| !STATES.iter().any(|s| s.name() == f.as_str()))
        .cloned()
        .collect();
    let now_ms = ctx.topics().clock().now_ms();
    let states = ctx
        .transactions()
        .list()
        .await
        .into_iter()
        .filter(|t| {
            request.state_filters.is_empty()
                || request.state_filters.iter().any(|f| f.as_str() == t.state.name())
        })
        .filter(|t| {
            request.producer_id_filters.is_empty()
                || request.producer_id_filters.contains(&ProducerId(t.producer_id))
        })
        .filter(|t| {
            // v1: only transactions running longer than this (ongoing ones with a start time).
            request.duration_filter < 0
                || (t.state == TxnState::Ongoing && now_ms - t.started_ms > request.duration_filter)
        })
        .map(|t| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(str_bytes(t.transactional_id)))
                .with_producer_id(ProducerId(t.producer_id))
                .with_transaction_state(str_bytes(t.state.name()))
        })
        .collect();
    ListTransactionsResponse::default().with_unknown_state_filters(unknown).with_transaction_states(states)
}
