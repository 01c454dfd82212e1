//! CreateTopics: new topics with a partition count (or the default) and settings.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::{RequestContext, str_bytes, topic_configs};
use crate::connection::ConnectionError;
use crate::errors::catalog_error;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: CreateTopicsRequest,
) -> Result<CreateTopicsResponse, ConnectionError> {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        tracing::debug!(client = %ctx.peer, "CreateTopics");
        let mut result = CreatableTopicResult::default()
            .with_name(topic.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        let fail = |mut result: CreatableTopicResult, code: ResponseError, message: String| {
            result.error_code = code.code();
            result.error_message = Some(str_bytes(message));
            result
        };
        if topic.replication_factor > 1 {
            results.push(fail(
                result,
                ResponseError::InvalidReplicationFactor,
                format!(
                    "replication factor {} is larger than the 1 available broker",
                    topic.replication_factor
                ),
            ));
            continue;
        }
        if !topic.assignments.is_empty() && topic.num_partitions != -1 {
            results.push(fail(
                result,
                ResponseError::InvalidRequest,
                "give either assignments or a partition count".into(),
            ));
            continue;
        }
        let partitions = match topic.num_partitions {
            -1 if !topic.assignments.is_empty() => topic.assignments.len() as i64,
            -1 => i64::from(ctx.shared.config.default_partitions),
            n => i64::from(n),
        };
        let Ok(partitions) = u32::try_from(partitions) else {
            results.push(fail(result, ResponseError::InvalidPartitions, format!("{partitions} partitions")));
            continue;
        };
        let defaults = ctx.topics().default_config().clone();
        let mut config = defaults.clone();
        let mut invalid = None;
        for c in &topic.configs {
            if let Err(e) = topic_configs::apply(&mut config, &defaults, &c.name, c.value.as_deref()) {
                invalid = Some(e);
                break;
            }
        }
        if let Some(message) = invalid {
            results.push(fail(result, ResponseError::InvalidConfig, message));
            continue;
        }
        let created = if request.validate_only {
            ctx.topics().validate_new_topic(&name, partitions, &config).map(|()| None)
        } else {
            let config = config.clone();
            let topic_name = name.clone();
            ctx.blocking(move |topics| topics.create_topic(&topic_name, partitions, config)).await?.map(Some)
        };
        match created {
            Ok(_) if ctx.version() < 5 => results.push(result),
            Ok(info) => {
                result.num_partitions = partitions as i32;
                result.replication_factor = 1;
                if let Some(info) = info
                    && ctx.version() >= 7
                {
                    result.topic_id = uuid::Uuid::from_u128(info.id);
                }
                result.configs = Some(
                    topic_configs::describe(&config, &defaults)
                        .into_iter()
                        .map(|(name, value, is_default)| {
                            CreatableTopicConfigs::default()
                                .with_name(str_bytes(name))
                                .with_value(Some(str_bytes(value)))
                                .with_config_source(if is_default { 5 } else { 1 })
                        })
                        .collect(),
                );
                results.push(result);
            }
            Err(e) => results.push(fail(result, catalog_error(&e), e.to_string())),
        }
    }
    Ok(CreateTopicsResponse::default().with_topics(results))
}
