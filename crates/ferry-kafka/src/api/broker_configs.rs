//! The BROKER resource of the config APIs: this node (named by its id) or the cluster default
//! (the empty name).
//!
//! ferry's own settings come from `ferry.toml` and are read-only, as Kafka's static broker
//! settings are: changing one is refused with INVALID_REQUEST, Kafka's "Cannot update these
//! configs dynamically". Any other name is accepted and kept, as Kafka keeps dynamic broker
//! settings (it accepts names it does not know, for plugins); none of them changes what ferry does,
//! and they are kept in memory only.

use kafka_protocol::error::ResponseError;

use super::RequestContext;
use super::metadata::advertised;
use crate::dynamic_configs::Settings;

/// Resource type of a broker in the config APIs.
pub(crate) const RESOURCE_BROKER: i8 = 4;

/// Config sources of the protocol.
const SOURCE_DYNAMIC_BROKER: i8 = 2;
const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
const SOURCE_STATIC_BROKER: i8 = 4;

/// Why a change to a resource is refused: the error code and a message a person can act on.
pub(crate) type Refusal = (ResponseError, String);

/// One setting as DescribeConfigs lists it.
pub(crate) struct Described {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) source: i8,
    pub(crate) read_only: bool,
    /// The protocol's config type (v3+): 1 boolean, 2 string, 3 int, 5 long, 7 list.
    pub(crate) config_type: i8,
}

/// Refuses a broker resource that names another node.
pub(crate) fn check_name(ctx: &RequestContext, name: &str) -> Result<(), Refusal> {
    let node = ctx.shared.config.node_id;
    if name.is_empty() || name == node.to_string() {
        Ok(())
    } else {
        Err((ResponseError::InvalidRequest, format!("unexpected broker id {name:?}: this is broker {node}")))
    }
}

/// ferry's own settings under their Kafka names, with their config types.
fn static_settings(ctx: &RequestContext) -> Vec<(&'static str, String, i8)> {
    let kafka = &ctx.shared.config;
    let topics = ctx.topics().default_config();
    let groups = ctx.groups().config();
    let (host, port) = advertised(ctx);
    let opt = |v: Option<u64>| v.map_or_else(|| "-1".to_owned(), |v| v.to_string());
    vec![
        ("advertised.listeners", format!("PLAINTEXT://{host}:{port}"), 2),
        ("auto.create.topics.enable", kafka.auto_create_topics.to_string(), 1),
        ("broker.id", kafka.node_id.to_string(), 3),
        ("connections.max.idle.ms", kafka.connections_max_idle_ms.to_string(), 5),
        ("group.initial.rebalance.delay.ms", groups.group_initial_rebalance_delay_ms.to_string(), 3),
        ("group.max.session.timeout.ms", groups.group_max_session_timeout_ms.to_string(), 3),
        ("group.max.size", groups.group_max_size.to_string(), 3),
        ("group.min.session.timeout.ms", groups.group_min_session_timeout_ms.to_string(), 3),
        ("listeners", format!("PLAINTEXT://{}", kafka.listen), 2),
        ("log.retention.bytes", opt(topics.retention_bytes), 5),
        ("log.retention.ms", opt(topics.retention_ms), 5),
        ("log.roll.ms", opt(topics.segment_ms), 5),
        ("log.segment.bytes", topics.segment_bytes.to_string(), 3),
        ("message.max.bytes", topics.max_message_bytes.to_string(), 3),
        ("node.id", kafka.node_id.to_string(), 3),
        ("num.partitions", kafka.default_partitions.to_string(), 3),
        ("offset.metadata.max.bytes", groups.offset_metadata_max_bytes.to_string(), 3),
        ("socket.request.max.bytes", kafka.max_frame_bytes.to_string(), 3),
    ]
}

/// Every setting of broker resource `name`: ferry's own, then those set through the config APIs
/// (for a node, its own and the cluster defaults, its own winning).
pub(crate) fn describe(ctx: &RequestContext, name: &str) -> Vec<Described> {
    let mut described: Vec<Described> = static_settings(ctx)
        .into_iter()
        .map(|(name, value, config_type)| Described {
            name: name.to_owned(),
            value,
            source: SOURCE_STATIC_BROKER,
            read_only: true,
            config_type,
        })
        .collect();
    let store = &ctx.shared.dynamic_configs;
    let mut dynamic: Vec<(String, String, i8)> = store
        .get(RESOURCE_BROKER, "")
        .into_iter()
        .map(|(n, v)| (n, v, SOURCE_DYNAMIC_DEFAULT_BROKER))
        .collect();
    if !name.is_empty() {
        for (n, v) in store.get(RESOURCE_BROKER, name) {
            dynamic.retain(|(d, _, _)| *d != n);
            dynamic.push((n, v, SOURCE_DYNAMIC_BROKER));
        }
    }
    dynamic.sort();
    described.extend(dynamic.into_iter().map(|(name, value, source)| Described {
        name,
        value,
        source,
        read_only: false,
        config_type: 2,
    }));
    described
}

/// The settings set through the config APIs on broker resource `name`.
pub(crate) fn current(ctx: &RequestContext, name: &str) -> Settings {
    ctx.shared.dynamic_configs.get(RESOURCE_BROKER, name)
}

/// Keeps `settings` as the whole dynamic configuration of broker resource `name` (or only checks
/// them, when `validate_only`).
pub(crate) fn store(
    ctx: &RequestContext,
    name: &str,
    settings: Settings,
    validate_only: bool,
) -> Result<(), Refusal> {
    check_name(ctx, name)?;
    let read_only: Vec<&str> =
        static_settings(ctx).into_iter().map(|(n, _, _)| n).filter(|n| settings.contains_key(*n)).collect();
    if !read_only.is_empty() {
        return Err((
            ResponseError::InvalidRequest,
            format!(
                "Cannot update these configs dynamically: {}; they are read from ferry's configuration file \
                 at start",
                read_only.join(", ")
            ),
        ));
    }
    if !validate_only {
        ctx.shared.dynamic_configs.set(RESOURCE_BROKER, name, settings);
    }
    Ok(())
}
