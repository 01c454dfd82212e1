//! DescribeConfigs: the settings of a topic, a broker resource (`broker_configs.rs`) or a group
//! (`group_configs.rs`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::broker_configs::{self, Described, RESOURCE_BROKER};
use super::group_configs::{self, RESOURCE_GROUP};
use super::topic_configs::{self, RESOURCE_TOPIC};
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
            RESOURCE_BROKER | RESOURCE_GROUP => {
                let name = resource.resource_name.as_str();
                let checked = if resource.resource_type == RESOURCE_BROKER {
                    broker_configs::check_name(ctx, name).map(|()| broker_configs::describe(ctx, name))
                } else {
                    group_configs::check_name(name).map(|()| group_configs::describe(ctx, name))
                };
                match checked {
                    Ok(described) => {
                        let keys = resource.configuration_keys.as_ref();
                        result.configs = described
                            .into_iter()
                            .filter(|d| keys.is_none_or(|keys| keys.iter().any(|k| k.as_str() == d.name)))
                            .map(|d| entry(d, version))
                            .collect();
                    }
                    Err((code, message)) => {
                        result.error_code = code.code();
                        result.error_message = Some(str_bytes(message));
                    }
                }
            }
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

fn entry(d: Described, version: i16) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(d.name))
        .with_value(Some(str_bytes(d.value)))
        .with_read_only(d.read_only)
        .with_config_source(d.source)
        .with_config_type(if version < 3 { 0 } else { d.config_type })
}
