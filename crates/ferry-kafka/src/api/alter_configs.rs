//! AlterConfigs: replaces the whole configuration of a topic (unnamed settings return to their
//! defaults) or of a broker resource (see `broker_configs.rs`).

use ferry_broker::topics::TopicConfig;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::broker_configs::{self, RESOURCE_BROKER};
use super::topic_configs::{self, RESOURCE_TOPIC};
use super::{RequestContext, str_bytes};
use crate::connection::ConnectionError;
use crate::errors::catalog_error;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: AlterConfigsRequest,
) -> Result<AlterConfigsResponse, ConnectionError> {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let mut response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let outcome = if resource.resource_type == RESOURCE_BROKER {
            let settings = resource
                .configs
                .iter()
                .map(|c| (c.name.to_string(), c.value.as_deref().unwrap_or_default().to_owned()))
                .collect();
            broker_configs::store(ctx, &resource.resource_name, settings, request.validate_only)
        } else if resource.resource_type != RESOURCE_TOPIC {
            Err((
                ResponseError::InvalidRequest,
                "only topic and broker configurations can be altered".to_owned(),
            ))
        } else {
            let defaults = ctx.topics().default_config().clone();
            let mut config = defaults.clone();
            let mut applied = Ok(());
            for c in &resource.configs {
                if let Err(e) = topic_configs::apply(&mut config, &defaults, &c.name, c.value.as_deref()) {
                    applied = Err((ResponseError::InvalidConfig, e));
                    break;
                }
            }
            match applied {
                Err(e) => Err(e),
                Ok(()) => set(ctx, resource.resource_name.to_string(), config, request.validate_only).await?,
            }
        };
        if let Err((code, message)) = outcome {
            response.error_code = code.code();
            response.error_message = Some(str_bytes(message));
        }
        responses.push(response);
    }
    Ok(AlterConfigsResponse::default().with_responses(responses))
}

/// Stores `config` for topic `name` (or only checks, when `validate_only`).
pub(crate) async fn set(
    ctx: &RequestContext,
    name: String,
    config: TopicConfig,
    validate_only: bool,
) -> Result<Result<(), (ResponseError, String)>, ConnectionError> {
    if ctx.topics().topic(&name).is_none() {
        return Ok(Err((ResponseError::UnknownTopicOrPartition, format!("unknown topic {name:?}"))));
    }
    if validate_only {
        return Ok(Ok(()));
    }
    let result = ctx.blocking(move |topics| topics.set_config(&name, config)).await?;
    Ok(result.map(|_| ()).map_err(|e| (catalog_error(&e), e.to_string())))
}
