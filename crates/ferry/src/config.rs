//! The broker's settings: defaults, then the TOML file, then `FERRY_*` variables and flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::cli::{FsyncMode, ServeArgs};

/// Everything `ferry serve` needs, fully resolved.
#[derive(Clone, Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub log: String,
    pub storage: StorageSettings,
    pub memory: MemorySettings,
    pub kafka: ferry_kafka::KafkaConfig,
    pub sqs: ferry_sqs::SqsConfig,
    pub amqp: ferry_amqp::AmqpConfig,
    pub http: ferry_http::HttpConfig,
    pub groups: ferry_broker::groups::GroupConfig,
    pub topics: ferry_broker::topics::PartitionLimits,
}

/// How logs are written.
#[derive(Clone, Debug)]
pub struct StorageSettings {
    pub fsync: FsyncMode,
    pub fsync_interval_ms: u64,
    pub segment_bytes: u64,
    /// Free space on the data directory's file system below which the disk-free alarm is raised.
    pub disk_free_limit_bytes: u64,
}

/// The memory alarm: publishers are blocked while the process's resident memory is above the
/// high watermark, as RabbitMQ's `vm_memory_high_watermark`.
#[derive(Clone, Debug)]
pub struct MemorySettings {
    /// Fraction of the memory available (the machine's, or the control group's limit) at which
    /// the alarm is raised; 0 turns it off.
    pub high_watermark: f64,
    /// An absolute high watermark in bytes, used instead of the fraction when given (0: off).
    pub high_watermark_bytes: Option<u64>,
}

impl MemorySettings {
    /// RabbitMQ's default `vm_memory_high_watermark.relative`.
    pub const DEFAULT_HIGH_WATERMARK: f64 = 0.6;

    /// The high watermark in bytes given the memory available (0: the alarm is off).
    pub fn limit_bytes(&self, total_bytes: u64) -> u64 {
        self.high_watermark_bytes.unwrap_or((total_bytes as f64 * self.high_watermark) as u64)
    }
}

/// The TOML file: every field optional, unknown fields rejected so a typo is not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    log: Option<String>,
    #[serde(default)]
    storage: FileStorage,
    #[serde(default)]
    memory: FileMemory,
    #[serde(default)]
    kafka: ferry_kafka::KafkaConfig,
    #[serde(default)]
    sqs: ferry_sqs::SqsConfig,
    #[serde(default)]
    amqp: ferry_amqp::AmqpConfig,
    #[serde(default)]
    http: ferry_http::HttpConfig,
    #[serde(default)]
    groups: ferry_broker::groups::GroupConfig,
    #[serde(default)]
    topics: ferry_broker::topics::PartitionLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStorage {
    fsync: Option<FsyncMode>,
    fsync_interval_ms: Option<u64>,
    segment_bytes: Option<u64>,
    disk_free_limit_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMemory {
    high_watermark: Option<f64>,
    high_watermark_bytes: Option<u64>,
}

impl Settings {
    /// Resolves the settings for `ferry serve`: flag or variable, else file, else default.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let settings = Settings {
            data_dir: args.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("ferry-data")),
            log: args.log.clone().or(file.log).unwrap_or_else(|| "info".to_string()),
            storage: StorageSettings {
                fsync: args.fsync.or(file.storage.fsync).unwrap_or(FsyncMode::Always),
                fsync_interval_ms: args.fsync_interval_ms.or(file.storage.fsync_interval_ms).unwrap_or(1_000),
                segment_bytes: args.segment_bytes.or(file.storage.segment_bytes).unwrap_or(1 << 30),
                disk_free_limit_bytes: file.storage.disk_free_limit_bytes.unwrap_or(50 << 20),
            },
            memory: MemorySettings {
                high_watermark: file.memory.high_watermark.unwrap_or(MemorySettings::DEFAULT_HIGH_WATERMARK),
                high_watermark_bytes: args.memory_high_watermark_bytes.or(file.memory.high_watermark_bytes),
            },
            kafka: ferry_kafka::KafkaConfig {
                listen: args.kafka_listen.unwrap_or(file.kafka.listen),
                ..file.kafka
            },
            sqs: ferry_sqs::SqsConfig { listen: args.sqs_listen.unwrap_or(file.sqs.listen), ..file.sqs },
            amqp: ferry_amqp::AmqpConfig {
                listen: args.amqp_listen.unwrap_or(file.amqp.listen),
                consumer_timeout_ms: args.amqp_consumer_timeout_ms.unwrap_or(file.amqp.consumer_timeout_ms),
                ..file.amqp
            },
            http: ferry_http::HttpConfig {
                listen: args.http_listen.unwrap_or(file.http.listen),
                ..file.http
            },
            groups: file.groups,
            topics: file.topics,
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.storage.fsync_interval_ms > 0, "fsync_interval_ms must be at least 1");
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.memory.high_watermark),
            "[memory] high_watermark must be a fraction between 0 and 1 (got {})",
            self.memory.high_watermark
        );
        anyhow::ensure!(
            self.storage.segment_bytes >= 1024,
            "segment_bytes must be at least 1024 (got {})",
            self.storage.segment_bytes
        );
        anyhow::ensure!(
            self.topics.partitions_per_topic_max >= 1 && self.topics.partitions_max >= 1,
            "partitions_per_topic_max and partitions_max must be at least 1"
        );
        let sqs = &self.sqs;
        for (name, ms) in [
            ("idle_timeout_ms", sqs.idle_timeout_ms),
            ("header_read_timeout_ms", sqs.header_read_timeout_ms),
            ("body_read_timeout_ms", sqs.body_read_timeout_ms),
        ] {
            anyhow::ensure!(ms > 0, "[sqs] {name} must be at least 1");
        }
        let http = &self.http;
        for (name, ms) in [
            ("idle_timeout_ms", http.idle_timeout_ms),
            ("header_read_timeout_ms", http.header_read_timeout_ms),
            ("body_read_timeout_ms", http.body_read_timeout_ms),
        ] {
            anyhow::ensure!(ms > 0, "[http] {name} must be at least 1");
        }
        self.amqp.validate().map_err(anyhow::Error::msg)?;
        Ok(())
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid configuration file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(argv: &[&str]) -> ServeArgs {
        let mut full = vec!["ferry", "serve"];
        full.extend_from_slice(argv);
        match crate::cli::Cli::parse_from(full).command {
            crate::cli::Command::Serve(args) => *args,
            _ => unreachable!("parsed `ferry serve`"),
        }
    }

    #[test]
    fn defaults_apply_without_file_or_flags() {
        let s = Settings::load(&args(&[])).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("ferry-data"));
        assert_eq!(s.storage.fsync, FsyncMode::Always);
        assert_eq!(s.storage.segment_bytes, 1 << 30);
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(
            &path,
            "data_dir = \"from-file\"\n[storage]\nfsync = \"never\"\nsegment_bytes = 4096\n",
        )
        .unwrap();
        let s =
            Settings::load(&args(&["--config", path.to_str().unwrap(), "--data-dir", "from-flag"])).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("from-flag"));
        assert_eq!(s.storage.fsync, FsyncMode::Never);
        assert_eq!(s.storage.segment_bytes, 4096);
    }

    #[test]
    fn the_sqs_section_sets_the_connection_timeouts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, "[sqs]\nidle_timeout_ms = 5000\nbody_read_timeout_ms = 7000\n").unwrap();
        let s = Settings::load(&args(&["--config", path.to_str().unwrap()])).unwrap();
        assert_eq!(s.sqs.idle_timeout_ms, 5000);
        assert_eq!(s.sqs.body_read_timeout_ms, 7000);
        assert_eq!(s.sqs.header_read_timeout_ms, ferry_sqs::SqsConfig::default().header_read_timeout_ms);

        std::fs::write(&path, "[sqs]\nheader_read_timeout_ms = 0\n").unwrap();
        let refused = Settings::load(&args(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(refused.to_string().contains("header_read_timeout_ms"), "{refused}");
    }

    #[test]
    fn the_sqs_section_bounds_sns_topics_and_subscriptions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, "[sqs]\nsns_max_topics = 5\n").unwrap();
        let s = Settings::load(&args(&["--config", path.to_str().unwrap()])).unwrap();
        assert_eq!(s.sqs.sns_max_topics, 5);
        assert_eq!(s.sqs.sns_max_subscriptions, ferry_sqs::SqsConfig::default().sns_max_subscriptions);
    }

    #[test]
    fn the_groups_section_overrides_only_the_keys_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, "[groups]\ngroup_initial_rebalance_delay_ms = 3000\n").unwrap();
        let s = Settings::load(&args(&["--config", path.to_str().unwrap()])).unwrap();
        assert_eq!(s.groups.group_initial_rebalance_delay_ms, 3000);
        let defaults = ferry_broker::groups::GroupConfig::default();
        assert_eq!(s.groups.group_max_session_timeout_ms, defaults.group_max_session_timeout_ms);
    }

    #[test]
    fn the_readme_example_file_parses_and_states_the_defaults() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("```toml\n").expect("README has a toml example") + "```toml\n".len();
        let end = start + readme[start..].find("```").expect("the example is closed");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, &readme[start..end]).unwrap();
        let documented = Settings::load(&args(&["--config", path.to_str().unwrap()])).unwrap();
        let defaults = Settings::load(&args(&[])).unwrap();
        assert_eq!(format!("{documented:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn the_memory_high_watermark_is_a_fraction_unless_given_in_bytes() {
        let defaults = Settings::load(&args(&[])).unwrap();
        assert_eq!(defaults.memory.limit_bytes(1000), 600);
        let absolute = Settings::load(&args(&["--memory-high-watermark-bytes", "5"])).unwrap();
        assert_eq!(absolute.memory.limit_bytes(1000), 5);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, "[memory]\nhigh_watermark = 1.5\n").unwrap();
        let err = Settings::load(&args(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("high_watermark"), "{err:#}");
    }

    #[test]
    fn unknown_file_keys_are_rejected_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, "data_dri = \"typo\"\n").unwrap();
        let err = Settings::load(&args(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(format!("{err:#}").contains("ferry.toml"), "{err:#}");
        assert!(format!("{err:#}").contains("data_dri"), "{err:#}");
    }
}
