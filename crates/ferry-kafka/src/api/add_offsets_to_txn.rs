//! AddOffsetsToTxn: a consumer group joins the producer's transaction, so that the offsets the
//! transaction commits for it (TxnOffsetCommit) take effect with the transaction.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::RequestContext;
use crate::errors::txn_error;

pub(crate) async fn handle(ctx: &RequestContext, request: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let id = request.transactional_id.0.to_string();
    let added = ctx
        .transactions()
        .add_offsets(&id, request.producer_id.0, request.producer_epoch, &request.group_id.0)
        .await;
    match added {
        Ok(()) => AddOffsetsToTxnResponse::default(),
        Err(e) => {
            tracing::debug!(transactional_id = %id, error = %e, "group not added to the transaction");
            AddOffsetsToTxnResponse::default().with_error_code(txn_error(&e).code())
        }
    }
}
