//! IncrementalAlterConfigs: sets, deletes, appends to or subtracts from single settings of a topic,
//! a broker resource (`broker_configs.rs`) or a group (`group_configs.rs`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::broker_configs::{self, RESOURCE_BROKER, Refusal};
use super::group_configs::{self, RESOURCE_GROUP};
use super::topic_configs::{self, RESOURCE_TOPIC};
use super::{RequestContext, alter_configs, str_bytes};
use crate::connection::ConnectionError;
use crate::dynamic_configs::Settings;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> Result<IncrementalAlterConfigsResponse, ConnectionError> {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let mut response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let name = resource.resource_name.to_string();
        let outcome = match (resource.resource_type, ctx.topics().topic(&name)) {
            (RESOURCE_BROKER, _) => broker_configs::check_name(ctx, &name)
                .and_then(|()| change(broker_configs::current(ctx, &name), &resource.configs))
                .and_then(|settings| broker_configs::store(ctx, &name, settings, request.validate_only)),
            (RESOURCE_GROUP, _) => group_configs::check_name(&name)
                .and_then(|()| change(group_configs::current(ctx, &name), &resource.configs))
                .and_then(|settings| group_configs::store(ctx, &name, settings, request.validate_only)),
            (t, _) if t != RESOURCE_TOPIC => Err((
                ResponseError::InvalidRequest,
                "only topic, broker and group configurations can be altered".to_owned(),
            )),
            (_, None) => Err((ResponseError::UnknownTopicOrPartition, format!("unknown topic {name:?}"))),
            (_, Some(info)) => {
                let mut config = info.config.clone();
                let defaults = ctx.topics().default_config().clone();
                let mut applied = Ok(());
                for c in &resource.configs {
                    let step = match c.config_operation {
                        SET => topic_configs::apply(&mut config, &defaults, &c.name, c.value.as_deref()),
                        DELETE => topic_configs::apply(&mut config, &defaults, &c.name, None),
                        APPEND | SUBTRACT => list_change(
                            &mut config,
                            &defaults,
                            &c.name,
                            c.value.as_deref(),
                            c.config_operation,
                        ),
                        other => Err(format!("unknown operation {other}")),
                    };
                    if let Err(e) = step {
                        applied = Err((ResponseError::InvalidConfig, e));
                        break;
                    }
                }
                match applied {
                    Err(e) => Err(e),
                    Ok(()) => alter_configs::set(ctx, name, config, request.validate_only).await?,
                }
            }
        };
        if let Err((code, message)) = outcome {
            response.error_code = code.code();
            response.error_message = Some(str_bytes(message));
        }
        responses.push(response);
    }
    Ok(IncrementalAlterConfigsResponse::default().with_responses(responses))
}

/// APPEND/SUBTRACT apply to list settings; `cleanup.policy` is the only one.
fn list_change(
    config: &mut ferry_broker::topics::TopicConfig,
    defaults: &ferry_broker::topics::TopicConfig,
    name: &str,
    value: Option<&str>,
    operation: i8,
) -> Result<(), String> {
    if name != "cleanup.policy" {
        return Err(format!("{name} is not a list setting"));
    }
    let current = topic_configs::describe(config, defaults)
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, v, _)| v)
        .unwrap_or_default();
    let mut items: Vec<String> = current.split(',').map(str::to_owned).collect();
    for item in value.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if operation == APPEND {
            items.push(item.to_owned());
        } else {
            items.retain(|i| i != item);
        }
    }
    topic_configs::apply(config, defaults, name, Some(&items.join(",")))
}

/// Applies the operations to the settings of a broker or group resource; APPEND and SUBTRACT treat
/// the value as a comma-separated list.
fn change(mut settings: Settings, configs: &[AlterableConfig]) -> Result<Settings, Refusal> {
    for c in configs {
        let name = c.name.to_string();
        let value = c.value.as_deref().unwrap_or_default();
        match c.config_operation {
            SET => {
                settings.insert(name, value.to_owned());
            }
            DELETE => {
                settings.remove(&name);
            }
            APPEND | SUBTRACT => {
                let current = settings.get(&name).map(String::as_str).unwrap_or_default();
                let mut items: Vec<&str> = current.split(',').filter(|s| !s.is_empty()).collect();
                for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if c.config_operation == SUBTRACT {
                        items.retain(|i| *i != item);
                    } else if !items.contains(&item) {
                        items.push(item);
                    }
                }
                if items.is_empty() {
                    settings.remove(&name);
                } else {
                    let joined = items.join(",");
                    settings.insert(name, joined);
                }
            }
            other => return Err((ResponseError::InvalidConfig, format!("unknown operation {other}"))),
        }
    }
    Ok(settings)
}
