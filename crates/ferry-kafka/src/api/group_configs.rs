//! The GROUP resource of the config APIs (Kafka 4.0, KIP-848): per-group overrides of the
//! consumer protocol's session timeout and heartbeat interval.
//!
//! A group need not exist to be described or configured, as in Kafka. The values are checked
//! against the `[groups]` bounds of `ferry.toml` and kept in memory (lost at a restart); each
//! heartbeat of a consumer-protocol group reads them. Classic members bring their own timeouts.
//! Share-group settings (`share.*`) are checked by `share_configs` and do take effect.

use kafka_protocol::error::ResponseError;

use super::RequestContext;
use super::broker_configs::{Described, Refusal};
use crate::dynamic_configs::Settings;

/// Resource type of a group in the config APIs.
pub(crate) const RESOURCE_GROUP: i8 = 32;

const SESSION_TIMEOUT: &str = "consumer.session.timeout.ms";
const HEARTBEAT_INTERVAL: &str = "consumer.heartbeat.interval.ms";

/// Config sources of the protocol.
const SOURCE_DEFAULT: i8 = 5;
const SOURCE_GROUP: i8 = 8;
/// The protocol's config type of both settings.
const TYPE_INT: i8 = 3;

/// The broker's defaults (`[groups]` `consumer_group_session_timeout_ms` and
/// `consumer_group_heartbeat_interval_ms`, Kafka's 45 s and 5 s unless set).
fn defaults(ctx: &RequestContext) -> [(&'static str, i64); 2] {
    let groups = ctx.groups().config();
    [
        (SESSION_TIMEOUT, groups.consumer_group_session_timeout_ms),
        (HEARTBEAT_INTERVAL, i64::from(groups.consumer_group_heartbeat_interval_ms)),
    ]
}

/// The session timeout and heartbeat interval set on `group`, each `None` where not set.
pub(crate) fn overrides(ctx: &RequestContext, group: &str) -> (Option<i64>, Option<i32>) {
    let set = current(ctx, group);
    let value = |name: &str| set.get(name).and_then(|v| v.trim().parse::<i32>().ok());
    (value(SESSION_TIMEOUT).map(i64::from), value(HEARTBEAT_INTERVAL))
}

/// Refuses an empty group name, as Kafka does.
pub(crate) fn check_name(name: &str) -> Result<(), Refusal> {
    if name.is_empty() {
        return Err((ResponseError::InvalidRequest, "a group config resource needs a group name".to_owned()));
    }
    Ok(())
}

/// Every group setting of `group`: its own where set, else the default.
pub(crate) fn describe(ctx: &RequestContext, group: &str) -> Vec<Described> {
    let set = current(ctx, group);
    let mut described: Vec<Described> = defaults(ctx)
        .into_iter()
        .map(|(name, default)| match set.get(name) {
            Some(value) => Described {
                name: name.to_owned(),
                value: value.clone(),
                source: SOURCE_GROUP,
                read_only: false,
                config_type: TYPE_INT,
            },
            None => Described {
                name: name.to_owned(),
                value: default.to_string(),
                source: SOURCE_DEFAULT,
                read_only: false,
                config_type: TYPE_INT,
            },
        })
        .collect();
    described.extend(super::share_configs::describe(ctx, group));
    described
}

/// The settings set through the config APIs on `group`.
pub(crate) fn current(ctx: &RequestContext, group: &str) -> Settings {
    ctx.shared.dynamic_configs.get(RESOURCE_GROUP, group)
}

/// Keeps `settings` as the whole configuration of `group` (or only checks them, when
/// `validate_only`). Unknown names and values out of bounds are INVALID_CONFIG, as in Kafka.
pub(crate) fn store(
    ctx: &RequestContext,
    group: &str,
    settings: Settings,
    validate_only: bool,
) -> Result<(), Refusal> {
    check_name(group)?;
    let invalid = |message: String| Err((ResponseError::InvalidConfig, message));
    super::share_configs::check(&settings)?;
    let mut effective = defaults(ctx);
    for (name, value) in settings.iter().filter(|(n, _)| !super::share_configs::owns(n)) {
        let Some(slot) = effective.iter_mut().find(|(n, _)| n == name) else {
            return invalid(format!("Unknown group config name: {name}"));
        };
        match value.trim().parse::<i32>() {
            Ok(v) => slot.1 = i64::from(v),
            Err(_) => return invalid(format!("{name}: {value:?} is not an integer")),
        }
    }
    let [(_, session), (_, heartbeat)] = effective;
    let groups = ctx.groups().config();
    let (min, max) = (groups.group_min_session_timeout_ms, groups.group_max_session_timeout_ms);
    if !(min..=max).contains(&session) {
        return invalid(format!(
            "{SESSION_TIMEOUT} must be between {min} and {max} (this broker's group.min.session.timeout.ms \
             and group.max.session.timeout.ms), not {session}"
        ));
    }
    if heartbeat < 1 || heartbeat >= session {
        return invalid(format!(
            "{HEARTBEAT_INTERVAL} must be at least 1 and less than {SESSION_TIMEOUT} ({session}), not {heartbeat}"
        ));
    }
    if !validate_only {
        ctx.shared.dynamic_configs.set(RESOURCE_GROUP, group, settings);
    }
    Ok(())
}
