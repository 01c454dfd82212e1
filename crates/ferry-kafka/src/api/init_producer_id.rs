//! InitProducerId: a producer id and epoch for an idempotent producer.
//!
//! Transactions are not supported yet: a transactional id is refused the way a broker whose
//! transaction coordinator is unavailable refuses it, and the transactional APIs are not advertised.

use ferry_broker::topics::ProducerIdentity;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::RequestContext;
use crate::connection::ConnectionError;
use crate::errors::catalog_error;

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
    if request.transactional_id.is_some() {
        return Ok(refused(ResponseError::CoordinatorNotAvailable));
    }
    let existing = (request.producer_id.0 >= 0)
        .then_some(ProducerIdentity { producer_id: request.producer_id.0, epoch: request.producer_epoch });
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
