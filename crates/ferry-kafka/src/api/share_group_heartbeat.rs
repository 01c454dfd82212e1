//! ShareGroupHeartbeat: a share consumer joins (epoch 0), heartbeats and leaves (epoch -1); the
//! answer carries its assignment, every partition of the topics it subscribes to.

use ferry_broker::shares::ShareError;
use kafka_protocol::messages::share_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};

use super::shares::share_error;
use super::{RequestContext, client_host, client_id, share_configs, str_bytes};
use crate::connection::ConnectionError;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: ShareGroupHeartbeatRequest,
) -> Result<ShareGroupHeartbeatResponse, ConnectionError> {
    let group = request.group_id.0.to_string();
    let config = share_configs::config_of(ctx, &group);
    let interval_ms = i32::try_from(config.heartbeat_interval_ms).unwrap_or(i32::MAX);
    let member_id = request.member_id.to_string();
    let subscribed =
        request.subscribed_topic_names.map(|names| names.into_iter().map(|n| n.0.to_string()).collect());
    let rack = request.rack_id.map(|r| r.to_string());
    let client = (client_id(ctx), client_host(ctx));
    let epoch = request.member_epoch;
    let outcome = ctx
        .share_blocking(move |shares| {
            shares.heartbeat_blocking(&group, &member_id, epoch, subscribed, rack, client, config)
        })
        .await?;
    let response = ShareGroupHeartbeatResponse::default().with_heartbeat_interval_ms(interval_ms);
    Ok(match outcome {
        Ok(o) => {
            let assignment = o.assignment.map(|a| {
                Assignment::default().with_topic_partitions(
                    a.into_iter()
                        .map(|(id, parts)| {
                            TopicPartitions::default()
                                .with_topic_id(uuid::Uuid::from_u128(id))
                                .with_partitions(parts.into_iter().map(|p| p as i32).collect())
                        })
                        .collect(),
                )
            });
            response
                .with_member_id(Some(str_bytes(o.member_id)))
                .with_member_epoch(o.epoch)
                .with_assignment(assignment)
        }
        Err(e) => {
            let message = match &e {
                ShareError::UnknownMember(_) => {
                    "the member is not in the group: join again with epoch 0".to_owned()
                }
                other => other.to_string(),
            };
            response.with_error_code(share_error(&e).code()).with_error_message(Some(str_bytes(message)))
        }
    })
}
