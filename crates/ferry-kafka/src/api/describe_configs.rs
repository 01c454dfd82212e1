//! DescribeConfigs: a topic's settings (broker resources are answered with an empty list).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::topic_configs::{self, RESOURCE_BROKER, RESOURCE_TOPIC};
use super::{RequestContext, str_bytes};
use crate::connection::ConnectionError;

/// Config sources of the protocol.
const SOURCE_DYNAMIC_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;

/// Config types of the protocol (v3+).
fn config_type(name: &str) -> i8 {
    match name {
        "cleanup.policy" => 7,
        "max.message.bytes" => 3,
        // Every other supported setting is a LONG (bytes or milliseconds).
        _ => 5,
    }
}

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: DescribeConfigsRequest,
) -> Result<DescribeConfigsResponse, ConnectionError> {
    let version = ctx.version();
    let mut results = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let mut result = DescribeConfigsResult::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        match resource.resource_type {
            RESOURCE_TOPIC => match ctx.topics().topic(&resource.resource_name) {
                Some(info) => {
                    let keys = resource.configuration_keys.as_ref();
                    result.configs = topic_configs::describe(&info.config, ctx.topics().default_config())
                        .into_iter()
                        .filter(|(name, _, _)| {
                            keys.is_none_or(|keys| keys.iter().any(|k| k.as_str() == *name))
                        })
                        .map(|(name, value, is_default)| {
                            DescribeConfigsResourceResult::default()
                                .with_name(str_bytes(name))
                                .with_value(Some(str_bytes(value)))
                                .with_config_source(if is_default {
                                    SOURCE_DEFAULT
                                } else {
                                    SOURCE_DYNAMIC_TOPIC
                                })
                                .with_config_type(if version < 3 { 0 } else { config_type(name) })
                        })
                        .collect();
                }
                None => {
                    result.error_code = ResponseError::UnknownTopicOrPartition.code();
                    result.error_message =
                        Some(str_bytes(format!("unknown topic {:?}", resource.resource_name.as_str())));
                }
            },
            RESOURCE_BROKER => {}
            other => {
                result.error_code = ResponseError::InvalidRequest.code();
                result.error_message =
                    Some(str_bytes(format!("resource type {other} has no configuration here")));
            }
        }
        results.push(result);
    }
    Ok(DescribeConfigsResponse::default().with_results(results))
}
