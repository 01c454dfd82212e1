//! FindCoordinator: this single node coordinates every group.
//!
//! Transactions are not supported yet, so a transaction coordinator is refused the way
//! InitProducerId refuses a transactional id.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use super::metadata::advertised;

/// Kafka's key type of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// Kafka's key type of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

pub(crate) fn handle(ctx: &RequestContext, request: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let (host, port) = advertised(ctx);
    let node = BrokerId(ctx.shared.config.node_id);
    let found = |key: StrBytes| -> Coordinator {
        let error = match request.key_type {
            KEY_TYPE_GROUP if key.is_empty() => Some(ResponseError::InvalidGroupId),
            KEY_TYPE_GROUP => None,
            KEY_TYPE_TRANSACTION if key.is_empty() => Some(ResponseError::InvalidRequest),
            KEY_TYPE_TRANSACTION => None,
            _ => Some(ResponseError::InvalidRequest),
        };
        match error {
            None => Coordinator::default()
                .with_key(key)
                .with_node_id(node)
                .with_host(StrBytes::from_string(host.clone()))
                .with_port(port),
            Some(error) => Coordinator::default()
                .with_key(key)
                .with_node_id(BrokerId(-1))
                .with_host(StrBytes::default())
                .with_port(-1)
                .with_error_code(error.code()),
        }
    };
    if ctx.version() >= 4 {
        let coordinators = request.coordinator_keys.iter().cloned().map(found).collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let one = found(request.key.clone());
    FindCoordinatorResponse::default()
        .with_error_code(one.error_code)
        .with_node_id(one.node_id)
        .with_host(one.host)
        .with_port(one.port)
}
