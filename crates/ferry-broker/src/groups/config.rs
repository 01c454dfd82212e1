//! Settings of the group coordinator, with their units in their names.

/// Settings of the [`GroupCoordinator`](super::GroupCoordinator); the `[groups]` section of
/// `ferry serve`'s configuration file, any key omitted taking its default.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupConfig {
    /// How long the first rebalance of an empty group waits for more members before it completes,
    /// each new member extending the wait by as much again (capped by the rebalance timeout).
    ///
    /// Kafka's default is 3000 ms, tuned for clusters where consumers start over many seconds.
    /// ferry defaults to 300 ms: a single node answers at once, and 300 ms is still long enough
    /// to gather consumers started together into the first generation instead of rebalancing
    /// once per consumer. 0 disables the wait.
    pub group_initial_rebalance_delay_ms: i64,
    /// The smallest session timeout a member may ask for (Kafka's `group.min.session.timeout.ms`).
    pub group_min_session_timeout_ms: i64,
    /// The largest session timeout a member may ask for (Kafka's `group.max.session.timeout.ms`).
    pub group_max_session_timeout_ms: i64,
    /// The most members one group may hold; further joins are refused.
    pub group_max_size: usize,
    /// The most groups this node keeps; a join or commit that would create one more is answered
    /// "coordinator not available" (clients retry) until groups are deleted or expire.
    pub groups_max: usize,
    /// How long committed offsets outlive the group's last member (or, for a group that never had
    /// members, their commit). Kafka's default: 7 days.
    pub offsets_retention_ms: i64,
    /// The longest metadata string kept with a committed offset (Kafka's `offset.metadata.max.bytes`).
    pub offset_metadata_max_bytes: usize,
    /// How many offset writes may wait for the metadata store before committers are held back.
    pub offset_write_queue_max: usize,
    /// How often members of consumer-protocol groups heartbeat (Kafka's
    /// `group.consumer.heartbeat.interval.ms`); each step of a rebalance waits for heartbeats.
    pub consumer_group_heartbeat_interval_ms: i32,
    /// How long a consumer-protocol member stays without heartbeating before it is removed
    /// (Kafka's `group.consumer.session.timeout.ms`).
    pub consumer_group_session_timeout_ms: i64,
}

impl Default for GroupConfig {
    fn default() -> GroupConfig {
        GroupConfig {
            group_initial_rebalance_delay_ms: 300,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_max_size: 1_000,
            groups_max: 100_000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offset_metadata_max_bytes: 4096,
            offset_write_queue_max: 1024,
            consumer_group_heartbeat_interval_ms: 5_000,
            consumer_group_session_timeout_ms: 45_000,
        }
    }
}
