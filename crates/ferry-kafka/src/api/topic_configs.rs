//! Kafka's topic configuration names (`retention.ms`, ...) mapped onto the broker's `TopicConfig`.

use ferry_broker::topics::{CleanupPolicy, TopicConfig};

/// Resource type of a topic in the config APIs.
pub(crate) const RESOURCE_TOPIC: i8 = 2;

/// Kafka topic settings accepted for compatibility but without effect on a single-node broker.
const IGNORED: &[&str] = &[
    "compression.type",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "max.compaction.lag.ms",
    // A no-op in Kafka 4 (there is no down-conversion any more), still accepted there.
    "message.downconversion.enable",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.insync.replicas",
    "preallocate",
    "segment.jitter.ms",
    "unclean.leader.election.enable",
];

/// Topic settings Kafka 4.0 removed, with what to do instead. Setting one is refused with
/// INVALID_CONFIG (a client that sets it expects an effect it cannot have); removing one is allowed.
const REMOVED_IN_KAFKA_4: &[(&str, &str)] = &[
    (
        "message.format.version",
        "every record is stored as a v2 record batch, the only format Kafka 4 knows; remove this setting",
    ),
    (
        "message.timestamp.difference.max.ms",
        "Kafka 4 replaced it with message.timestamp.before.max.ms and message.timestamp.after.max.ms \
         (KIP-937); ferry bounds neither, so remove this setting",
    ),
];

/// Every supported setting of `config`, as (name, value, is_default).
pub(crate) fn describe(config: &TopicConfig, defaults: &TopicConfig) -> Vec<(&'static str, String, bool)> {
    let opt = |v: Option<u64>| v.map_or_else(|| "-1".to_owned(), |v| v.to_string());
    let policy = |p: CleanupPolicy| match p {
        CleanupPolicy::Delete => "delete",
        CleanupPolicy::Compact => "compact",
        CleanupPolicy::CompactDelete => "compact,delete",
    };
    vec![
        (
            "cleanup.policy",
            policy(config.cleanup_policy).to_owned(),
            config.cleanup_policy == defaults.cleanup_policy,
        ),
        (
            "delete.retention.ms",
            config.delete_retention_ms.to_string(),
            config.delete_retention_ms == defaults.delete_retention_ms,
        ),
        (
            "max.message.bytes",
            config.max_message_bytes.to_string(),
            config.max_message_bytes == defaults.max_message_bytes,
        ),
        (
            "min.compaction.lag.ms",
            config.min_compaction_lag_ms.to_string(),
            config.min_compaction_lag_ms == defaults.min_compaction_lag_ms,
        ),
        ("retention.bytes", opt(config.retention_bytes), config.retention_bytes == defaults.retention_bytes),
        ("retention.ms", opt(config.retention_ms), config.retention_ms == defaults.retention_ms),
        ("segment.bytes", config.segment_bytes.to_string(), config.segment_bytes == defaults.segment_bytes),
        ("segment.ms", opt(config.segment_ms), config.segment_ms == defaults.segment_ms),
    ]
}

fn parse_u64(name: &str, value: &str) -> Result<u64, String> {
    value.trim().parse::<u64>().map_err(|_| format!("{name}: {value:?} is not a non-negative integer"))
}

/// `-1` means unlimited.
fn parse_limit(name: &str, value: &str) -> Result<Option<u64>, String> {
    match value.trim() {
        "-1" => Ok(None),
        v => parse_u64(name, v).map(Some),
    }
}

/// Sets `name` to `value` in `config`, or back to its default when `value` is `None`.
pub(crate) fn apply(
    config: &mut TopicConfig,
    defaults: &TopicConfig,
    name: &str,
    value: Option<&str>,
) -> Result<(), String> {
    if IGNORED.contains(&name) {
        return Ok(());
    }
    if let Some((_, instead)) = REMOVED_IN_KAFKA_4.iter().find(|(removed, _)| *removed == name) {
        return match value {
            Some(_) => Err(format!("{name} was removed in Kafka 4.0: {instead}")),
            None => Ok(()),
        };
    }
    let Some(value) = value else {
        match name {
            "cleanup.policy" => config.cleanup_policy = defaults.cleanup_policy,
            "delete.retention.ms" => config.delete_retention_ms = defaults.delete_retention_ms,
            "max.message.bytes" => config.max_message_bytes = defaults.max_message_bytes,
            "min.compaction.lag.ms" => config.min_compaction_lag_ms = defaults.min_compaction_lag_ms,
            "retention.bytes" => config.retention_bytes = defaults.retention_bytes,
            "retention.ms" => config.retention_ms = defaults.retention_ms,
            "segment.bytes" => config.segment_bytes = defaults.segment_bytes,
            "segment.ms" => config.segment_ms = defaults.segment_ms,
            other => return Err(format!("unknown topic configuration {other:?}")),
        }
        return Ok(());
    };
    match name {
        "cleanup.policy" => {
            let mut parts: Vec<&str> = value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            parts.sort_unstable();
            parts.dedup();
            config.cleanup_policy = match parts.as_slice() {
                ["delete"] => CleanupPolicy::Delete,
                ["compact"] => CleanupPolicy::Compact,
                ["compact", "delete"] => CleanupPolicy::CompactDelete,
                _ => {
                    return Err(format!(
                        "cleanup.policy: {value:?} is not delete, compact or compact,delete"
                    ));
                }
            }
        }
        "delete.retention.ms" => config.delete_retention_ms = parse_u64(name, value)?,
        "max.message.bytes" => {
            config.max_message_bytes = u32::try_from(parse_u64(name, value)?)
                .map_err(|_| format!("max.message.bytes: {value} is too large"))?
        }
        "min.compaction.lag.ms" => config.min_compaction_lag_ms = parse_u64(name, value)?,
        "retention.bytes" => config.retention_bytes = parse_limit(name, value)?,
        "retention.ms" => config.retention_ms = parse_limit(name, value)?,
        "segment.bytes" => config.segment_bytes = parse_u64(name, value)?,
        "segment.ms" => config.segment_ms = parse_limit(name, value)?,
        other => return Err(format!("unknown topic configuration {other:?}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_values_apply_back_to_the_same_config() {
        let mut config = TopicConfig::default();
        apply(&mut config, &TopicConfig::default(), "cleanup.policy", Some("delete,compact")).expect("valid");
        apply(&mut config, &TopicConfig::default(), "retention.ms", Some("-1")).expect("valid");
        apply(&mut config, &TopicConfig::default(), "segment.bytes", Some("4096")).expect("valid");
        let mut copy = TopicConfig::default();
        for (name, value, _) in describe(&config, &TopicConfig::default()) {
            apply(&mut copy, &TopicConfig::default(), name, Some(&value)).expect("round trip");
        }
        assert_eq!(copy, config);
        assert_eq!(config.cleanup_policy, CleanupPolicy::CompactDelete);
        assert_eq!(config.retention_ms, None);
    }

    #[test]
    fn bad_values_and_unknown_names_are_refused() {
        let mut config = TopicConfig::default();
        assert!(apply(&mut config, &TopicConfig::default(), "retention.ms", Some("soon")).is_err());
        assert!(apply(&mut config, &TopicConfig::default(), "cleanup.policy", Some("archive")).is_err());
        assert!(apply(&mut config, &TopicConfig::default(), "no.such.setting", Some("1")).is_err());
        assert!(apply(&mut config, &TopicConfig::default(), "min.insync.replicas", Some("2")).is_ok());
    }

    #[test]
    fn settings_kafka_4_removed_are_refused_with_what_to_do_instead() {
        let mut config = TopicConfig::default();
        let defaults = TopicConfig::default();
        let refused = apply(&mut config, &defaults, "message.format.version", Some("2.8-IV1")).unwrap_err();
        assert!(
            refused.contains("removed in Kafka 4.0") && refused.contains("remove this setting"),
            "{refused}"
        );
        let refused =
            apply(&mut config, &defaults, "message.timestamp.difference.max.ms", Some("1")).unwrap_err();
        assert!(refused.contains("message.timestamp.before.max.ms"), "{refused}");
        assert!(apply(&mut config, &defaults, "message.format.version", None).is_ok(), "removing it is fine");
        assert_eq!(config, defaults);
    }
}
