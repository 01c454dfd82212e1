//! The share-group settings of the GROUP config resource (Kafka 4.1's group configs of share
//! groups, and ferry's dead-letter queue), checked here and handed to the share coordinator
//! with each share-group request as a [`ShareGroupConfig`].

use ferry_broker::shares::{AutoOffsetReset, ShareGroupConfig};
use kafka_protocol::error::ResponseError;

use super::RequestContext;
use super::broker_configs::{Described, Refusal};
use super::group_configs;
use crate::dynamic_configs::Settings;

const LOCK_DURATION: &str = "share.record.lock.duration.ms";
const DELIVERY_LIMIT: &str = "share.delivery.count.limit";
const AUTO_OFFSET_RESET: &str = "share.auto.offset.reset";
const SESSION_TIMEOUT: &str = "share.session.timeout.ms";
const HEARTBEAT_INTERVAL: &str = "share.heartbeat.interval.ms";
/// ferry's own: the queue archived records are moved to.
const DEAD_LETTER_QUEUE: &str = "ferry.share.dead.letter.queue";

const SOURCE_DEFAULT: i8 = 5;
const SOURCE_GROUP: i8 = 8;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;

/// Bounds of the integer settings (Kafka's, the lock duration's maximum raised to an hour and
/// the session timeout's minimum lowered to a second).
const INT_BOUNDS: [(&str, i64, i64); 4] = [
    (LOCK_DURATION, 1_000, 3_600_000),
    (DELIVERY_LIMIT, 2, 10),
    (SESSION_TIMEOUT, 1_000, 1_800_000),
    (HEARTBEAT_INTERVAL, 1_000, 1_800_000),
];

/// True when `name` is a share-group setting.
pub(crate) fn owns(name: &str) -> bool {
    name.starts_with("share.") || name == DEAD_LETTER_QUEUE
}

/// Checks the share-group settings among `settings`.
pub(crate) fn check(settings: &Settings) -> Result<(), Refusal> {
    let invalid = |message: String| Err((ResponseError::InvalidConfig, message));
    for (name, value) in settings.iter().filter(|(n, _)| owns(n)) {
        let value = value.trim();
        if let Some((_, min, max)) = INT_BOUNDS.iter().find(|(n, _, _)| n == name) {
            match value.parse::<i64>() {
                Ok(v) if (*min..=*max).contains(&v) => {}
                Ok(v) => return invalid(format!("{name} must be between {min} and {max}, not {v}")),
                Err(_) => return invalid(format!("{name}: {value:?} is not an integer")),
            }
        } else if name == AUTO_OFFSET_RESET {
            if !matches!(value, "latest" | "earliest") {
                return invalid(format!("{name} is latest or earliest, not {value:?}"));
            }
        } else if name == DEAD_LETTER_QUEUE {
            if value.len() > 255 {
                return invalid(format!("{name}: a queue name has at most 255 characters"));
            }
        } else {
            return invalid(format!("Unknown group config name: {name}"));
        }
    }
    let config = parse(settings);
    if config.heartbeat_interval_ms >= config.session_timeout_ms {
        return invalid(format!("{HEARTBEAT_INTERVAL} must be less than {SESSION_TIMEOUT}"));
    }
    Ok(())
}

/// The settings of a share group configured with `settings` (checked ones), defaults elsewhere.
fn parse(settings: &Settings) -> ShareGroupConfig {
    let mut c = ShareGroupConfig::default();
    let int = |name: &str| settings.get(name).and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(v) = int(LOCK_DURATION) {
        c.record_lock_duration_ms = v;
    }
    if let Some(v) = int(DELIVERY_LIMIT).and_then(|v| u32::try_from(v).ok()) {
        c.delivery_count_limit = v;
    }
    if let Some(v) = int(SESSION_TIMEOUT) {
        c.session_timeout_ms = v;
    }
    if let Some(v) = int(HEARTBEAT_INTERVAL) {
        c.heartbeat_interval_ms = v;
    }
    if settings.get(AUTO_OFFSET_RESET).is_some_and(|v| v.trim() == "earliest") {
        c.auto_offset_reset = AutoOffsetReset::Earliest;
    }
    c.dead_letter_queue =
        settings.get(DEAD_LETTER_QUEUE).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    c
}

/// The share-group settings of `group` as set through the config APIs.
pub(crate) fn config_of(ctx: &RequestContext, group: &str) -> ShareGroupConfig {
    parse(&group_configs::current(ctx, group))
}

/// Every share-group setting of `group`: its own where set, else the default.
pub(crate) fn describe(ctx: &RequestContext, group: &str) -> Vec<Described> {
    let set = group_configs::current(ctx, group);
    let d = ShareGroupConfig::default();
    let defaults = [
        (LOCK_DURATION, d.record_lock_duration_ms.to_string(), TYPE_INT),
        (DELIVERY_LIMIT, d.delivery_count_limit.to_string(), TYPE_INT),
        (AUTO_OFFSET_RESET, "latest".to_owned(), TYPE_STRING),
        (SESSION_TIMEOUT, d.session_timeout_ms.to_string(), TYPE_INT),
        (HEARTBEAT_INTERVAL, d.heartbeat_interval_ms.to_string(), TYPE_INT),
        (DEAD_LETTER_QUEUE, String::new(), TYPE_STRING),
    ];
    defaults
        .into_iter()
        .map(|(name, default, config_type)| {
            let (value, source) = match set.get(name) {
                Some(v) => (v.clone(), SOURCE_GROUP),
                None => (default, SOURCE_DEFAULT),
            };
            Described { name: name.to_owned(), value, source, read_only: false, config_type }
        })
        .collect()
}
