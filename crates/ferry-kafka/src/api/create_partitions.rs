//! CreatePartitions: raises a topic's partition count.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{RequestContext, str_bytes};
use crate::connection::ConnectionError;
use crate::errors::catalog_error;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: CreatePartitionsRequest,
) -> Result<CreatePartitionsResponse, ConnectionError> {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        let name = topic.name.0.to_string();
        let count = u32::try_from(topic.count).unwrap_or(0);
        let outcome = if request.validate_only {
            ctx.topics().validate_new_partitions(&name, count)
        } else {
            ctx.blocking(move |topics| topics.create_partitions(&name, count).map(|_| ())).await?
        };
        if let Err(e) = outcome {
            result.error_code = catalog_error(&e).code();
            result.error_message = Some(str_bytes(e.to_string()));
        }
        results.push(result);
    }
    Ok(CreatePartitionsResponse::default().with_results(results))
}
