//! EndTxn: commits or aborts the producer's transaction. Answered once every marker (and, on
//! commit, every offset the transaction holds) is durable, so a read_committed consumer that
//! fetches after the answer sees the outcome.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use super::RequestContext;
use crate::errors::txn_error;

pub(crate) async fn handle(ctx: &RequestContext, request: EndTxnRequest) -> EndTxnResponse {
    let id = request.transactional_id.0.to_string();
    let ended =
        ctx.transactions().end(&id, request.producer_id.0, request.producer_epoch, request.committed).await;
    match ended {
        Ok(()) => EndTxnResponse::default(),
        Err(e) => {
            tracing::debug!(transactional_id = %id, commit = request.committed, error = %e, "transaction not ended");
            EndTxnResponse::default().with_error_code(txn_error(&e).code())
        }
    }
}
