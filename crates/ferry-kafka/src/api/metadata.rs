//! Metadata: brokers, topics and partition leaders; creates unknown topics when allowed.

use ferry_broker::topics::{CatalogError, TopicInfo, is_valid_topic_name};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::{RequestContext, str_bytes};
use crate::connection::ConnectionError;
use crate::errors::catalog_error;

/// Without ACLs every client may do every operation on a topic: read, write, create, delete, alter,
/// describe, describe configs, alter configs (Kafka's operation bits 3 to 8, 10 and 11).
const TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);
/// ... and on the cluster: create, alter, describe, cluster action, describe configs, alter
/// configs, idempotent write (bits 5, 7 to 12).
const CLUSTER_OPERATIONS: i32 = (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);
/// What Kafka answers for operations not asked for.
const NOT_REQUESTED: i32 = i32::MIN;

/// The host and port clients should connect to.
pub(crate) fn advertised(ctx: &RequestContext) -> (String, i32) {
    let config = &ctx.shared.config;
    let host = config.advertised_host.clone().unwrap_or_else(|| ctx.local_addr.ip().to_string());
    let port = config.advertised_port.unwrap_or(ctx.local_addr.port());
    (host, port as i32)
}

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: MetadataRequest,
) -> Result<MetadataResponse, ConnectionError> {
    let version = ctx.version();
    let config = &ctx.shared.config;
    let node = BrokerId(config.node_id);
    let (host, port) = advertised(ctx);
    let broker =
        MetadataResponseBroker::default().with_node_id(node).with_host(str_bytes(host)).with_port(port);

    // v0 asks for every topic with an empty list; later versions with null.
    let requested = match request.topics {
        None => None,
        Some(list) if version == 0 && list.is_empty() => None,
        Some(list) => Some(list),
    };
    let mut topics = Vec::new();
    match requested {
        None => {
            for info in ctx.topics().topics() {
                topics.push(describe(&info, node, version));
            }
        }
        Some(list) => {
            let auto_create = config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
            for wanted in list {
                let name = match &wanted.name {
                    Some(name) => name.0.to_string(),
                    None => {
                        match ctx.topics().topics().into_iter().find(|t| t.id == wanted.topic_id.as_u128()) {
                            Some(info) => topics.push(describe(&info, node, version)),
                            None => topics.push(
                                MetadataResponseTopic::default()
                                    .with_topic_id(wanted.topic_id)
                                    .with_error_code(ResponseError::UnknownTopicId.code()),
                            ),
                        }
                        continue;
                    }
                };
                topics.push(lookup_or_create(ctx, name, auto_create).await?);
            }
        }
    }
    if version >= 8 && request.include_topic_authorized_operations {
        for topic in topics.iter_mut().filter(|t| t.error_code == 0) {
            topic.topic_authorized_operations = TOPIC_OPERATIONS;
        }
    }
    // Only v8 to v10 carry the cluster's; later clients ask DescribeCluster.
    let cluster_operations = if (8..=10).contains(&version) && request.include_cluster_authorized_operations {
        CLUSTER_OPERATIONS
    } else {
        NOT_REQUESTED
    };
    Ok(MetadataResponse::default()
        .with_cluster_authorized_operations(cluster_operations)
        .with_brokers(vec![broker])
        .with_cluster_id((version >= 2).then(|| str_bytes(ctx.topics().cluster_id())))
        .with_controller_id(if version >= 1 { node } else { BrokerId(-1) })
        .with_topics(topics))
}

async fn lookup_or_create(
    ctx: &RequestContext,
    name: String,
    auto_create: bool,
) -> Result<MetadataResponseTopic, ConnectionError> {
    let node = BrokerId(ctx.shared.config.node_id);
    if let Some(info) = ctx.topics().topic(&name) {
        return Ok(describe(&info, node, ctx.version()));
    }
    let error = |code: ResponseError| {
        MetadataResponseTopic::default()
            .with_name(Some(TopicName(str_bytes(name.clone()))))
            .with_error_code(code.code())
    };
    if !is_valid_topic_name(&name) {
        return Ok(error(ResponseError::InvalidTopicException));
    }
    if !auto_create {
        return Ok(error(ResponseError::UnknownTopicOrPartition));
    }
    let partitions = ctx.shared.config.default_partitions;
    let topic = name.clone();
    let created = ctx
        .blocking(move |topics| topics.create_topic(&topic, partitions, topics.default_config().clone()))
        .await?;
    match created {
        Ok(info) => Ok(describe(&info, node, ctx.version())),
        Err(CatalogError::AlreadyExists(_)) => match ctx.topics().topic(&name) {
            Some(info) => Ok(describe(&info, node, ctx.version())),
            None => Ok(error(ResponseError::LeaderNotAvailable)),
        },
        Err(e) => {
            tracing::warn!(topic = %name, error = %e, "auto-creating a topic failed");
            Ok(error(catalog_error(&e)))
        }
    }
}

fn describe(info: &TopicInfo, node: BrokerId, version: i16) -> MetadataResponseTopic {
    let partitions = (0..info.partitions)
        .map(|i| {
            MetadataResponsePartition::default()
                .with_partition_index(i as i32)
                .with_leader_id(node)
                .with_leader_epoch(if version >= 7 { 0 } else { -1 })
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(info.name.clone()))))
        .with_topic_id(if version >= 10 { uuid::Uuid::from_u128(info.id) } else { uuid::Uuid::nil() })
        .with_partitions(partitions)
}
