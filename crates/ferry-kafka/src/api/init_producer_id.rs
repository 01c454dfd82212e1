//! InitProducerId: a producer id and epoch for an idempotent producer, or for a transactional
//! id from the transaction coordinator (fencing older instances of the same id).

use ferry_broker::topics::ProducerIdentity;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::RequestContext;
use crate::connection::ConnectionError;
use crate::errors::{catalog_error, txn_error};

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: InitProducerIdRequest,
) -> Result<InitProducerIdResponse, ConnectionError> {
    let refused = |code: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    let existing = (request.producer_id.0 >= 0)
        .then_some(ProducerIdentity { producer_id: request.producer_id.0, epoch: request.producer_epoch });
    if let Some(id) = request.transactional_id.as_ref().filter(|id| !id.0.is_empty()) {
        let timeout_ms = i64::from(request.transaction_timeout_ms);
        return Ok(match ctx.transactions().init_producer(&id.0, timeout_ms, existing).await {
            Ok(identity) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(identity.producer_id))
                .with_producer_epoch(identity.epoch),
            Err(e) => {
                tracing::debug!(transactional_id = %id.0, error = %e, "transactional producer not initialised");
                refused(txn_error(&e))
            }
        });
    }
    match ctx.blocking(move |topics| topics.init_producer(existing)).await? {
        Ok(identity) => Ok(InitProducerIdResponse::default()
            .with_producer_id(ProducerId(identity.producer_id))
            .with_producer_epoch(identity.epoch)),
        Err(e) => {
            tracing::warn!(error = %e, "allocating a producer id failed");
            Ok(refused(catalog_error(&e)))
        }
    }
}
