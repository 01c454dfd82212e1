//! DeleteTopics: removes topics and their data, by name or by id.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};

use super::{RequestContext, str_bytes};
use crate::connection::ConnectionError;
use crate::errors::catalog_error;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: DeleteTopicsRequest,
) -> Result<DeleteTopicsResponse, ConnectionError> {
    // v0-5 name topics in `topic_names`; v6 in `topics`, by name or id.
    let mut wanted: Vec<(Option<String>, uuid::Uuid)> =
        request.topic_names.iter().map(|n| (Some(n.0.to_string()), uuid::Uuid::nil())).collect();
    wanted.extend(request.topics.iter().map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id)));
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let name = match name {
            Some(name) => Some(name),
            None => ctx.topics().topics().into_iter().find(|t| t.id == id.as_u128()).map(|t| t.name),
        };
        let mut result = DeletableTopicResult::default().with_topic_id(id);
        let Some(name) = name else {
            result.error_code = ResponseError::UnknownTopicId.code();
            responses.push(result);
            continue;
        };
        result.name = Some(TopicName(str_bytes(name.clone())));
        let deleted = ctx.blocking(move |topics| topics.delete_topic(&name)).await?;
        if let Err(e) = deleted {
            result.error_code = catalog_error(&e).code();
            if ctx.version() >= 5 {
                result.error_message = Some(str_bytes(e.to_string()));
            }
        }
        responses.push(result);
    }
    Ok(DeleteTopicsResponse::default().with_responses(responses))
}
