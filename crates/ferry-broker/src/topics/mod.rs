//! Topics: the persisted catalog, partitions backed by `ferry-log`, the produce path with group
//! commit, fetch long-polling, and idempotent-producer state.
//!
//! Everything here is in domain terms; the Kafka front-end (and later AMQP stream queues and the HTTP
//! API) translate onto [`TopicService`].

mod config;
mod error;
mod partition;
mod producers;
pub mod txn;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::metadata::{MetaOp, MetadataStore, Table};

pub use config::{CleanupPolicy, PartitionLimits, TopicConfig};
pub use error::{CatalogError, FetchError, ProduceError};
pub use partition::{
    AppendOutcome, AppendRules, Appended, Isolation, PRODUCER_SCAN_OFFSETS, Partition, PartitionOffsets,
    ReadOutcome, WaitRegistration,
};
pub use producers::{BATCHES_KEPT, BatchIdentity, BatchPosition, ProducerTable, SequenceCheck};

/// Longest topic name (Kafka's limit).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

const CLUSTER_ID_KEY: &str = "cluster_id";
const NEXT_PRODUCER_ID_KEY: &str = "next_producer_id";

/// How a [`TopicService`] stores data.
#[derive(Clone, Debug)]
pub struct TopicServiceConfig {
    /// Directory holding one sub-directory per topic.
    pub data_dir: PathBuf,
    /// When appends reach the disk; `Always` also means consumers only see fsynced records.
    pub durability: ferry_log::Durability,
    /// Settings of a topic created without explicit ones (and what a reset returns to).
    pub default_config: TopicConfig,
    /// Bounds on partitions per topic and in total.
    pub limits: PartitionLimits,
}

/// A topic as the catalog knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    /// The name.
    pub name: String,
    /// A random id that changes when a topic is deleted and created again.
    pub id: u128,
    /// Number of partitions.
    pub partitions: u32,
    /// Settings.
    pub config: TopicConfig,
}

struct Topic {
    info: TopicInfo,
    partitions: Vec<Arc<Partition>>,
}

/// A producer identity handed out to an idempotent producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerIdentity {
    /// The producer id.
    pub producer_id: i64,
    /// Its epoch.
    pub epoch: i16,
}

/// The topics of the broker.
pub struct TopicService {
    config: TopicServiceConfig,
    store: Arc<dyn MetadataStore>,
    clock: Arc<dyn Clock>,
    cluster_id: String,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serializes catalog changes (rare) so that store and memory agree.
    catalog_lock: Mutex<()>,
    /// Told the name of each deleted topic (the broker removes the bindings to it).
    deletion_listener: std::sync::OnceLock<TopicDeletionListener>,
}

/// Told the name of each deleted topic (see [`TopicService::set_deletion_listener`]).
pub type TopicDeletionListener = Arc<dyn Fn(&str) + Send + Sync>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `name` is a valid topic name (Kafka's rules).
pub fn is_valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOPIC_NAME_LEN
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

impl TopicService {
    /// Opens every topic of the catalog in `store`, recovering their logs.
    pub fn open(
        config: TopicServiceConfig,
        store: Arc<dyn MetadataStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<TopicService, CatalogError> {
        let cluster_id = match store.get(Table::Broker, CLUSTER_ID_KEY)? {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => {
                let id = cluster_id_from(rand::random::<u128>());
                store.commit(&[MetaOp::put(Table::Broker, CLUSTER_ID_KEY, id.clone().into_bytes())])?;
                id
            }
        };
        let mut topics = HashMap::new();
        for (name, value) in store.scan_prefix(Table::Topics, "")? {
            let info: TopicInfo = serde_json::from_slice(&value).map_err(|e| {
                CatalogError::Storage(format!("topic {name:?}: undecodable catalog entry: {e}"))
            })?;
            let partitions = (0..info.partitions)
                .map(|i| open_partition(&config, &info, i))
                .collect::<Result<Vec<_>, _>>()?;
            tracing::info!(topic = %info.name, partitions = info.partitions, "topic opened");
            topics.insert(name, Arc::new(Topic { info, partitions }));
        }
        Ok(TopicService {
            config,
            store,
            clock,
            cluster_id,
            topics: RwLock::new(topics),
            catalog_lock: Mutex::new(()),
            deletion_listener: std::sync::OnceLock::new(),
        })
    }

    /// A stable id for this broker's data, created on first start.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    fn read_topics(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Topic>>> {
        self.topics.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_topics(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Topic>>> {
        self.topics.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The topic called `name`.
    pub fn topic(&self, name: &str) -> Option<TopicInfo> {
        self.read_topics().get(name).map(|t| t.info.clone())
    }

    /// Every topic, sorted by name.
    pub fn topics(&self) -> Vec<TopicInfo> {
        let mut all: Vec<TopicInfo> = self.read_topics().values().map(|t| t.info.clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Partition `index` of `topic`.
    pub fn partition(&self, topic: &str, index: u32) -> Option<Arc<Partition>> {
        self.read_topics().get(topic).and_then(|t| t.partitions.get(index as usize).cloned())
    }

    /// Checks everything `create_topic` would check, without creating anything (Kafka's
    /// `validate_only`): the name, the partition count, the settings and that the name is free.
    pub fn validate_new_topic(
        &self,
        name: &str,
        partitions: u32,
        config: &TopicConfig,
    ) -> Result<(), CatalogError> {
        if !is_valid_topic_name(name) {
            return Err(CatalogError::InvalidName(name.to_owned()));
        }
        self.check_partition_count(name, partitions, 0)?;
        validate_config(config)?;
        if self.read_topics().contains_key(name) {
            return Err(CatalogError::AlreadyExists(name.to_owned()));
        }
        Ok(())
    }

    /// Creates a topic. Blocking (creates directories, commits the catalog).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        config: TopicConfig,
    ) -> Result<TopicInfo, CatalogError> {
        // Under the catalog lock, so that no other creation takes the name in between.
        let _catalog = lock(&self.catalog_lock);
        self.validate_new_topic(name, partitions, &config)?;
        let info = TopicInfo { name: name.to_owned(), id: rand::random::<u128>(), partitions, config };
        // A directory left by a crash between deletion and cleanup must not leak old data in.
        let dir = topic_dir(&self.config.data_dir, name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| CatalogError::Storage(e.to_string()))?;
        }
        let parts =
            (0..partitions).map(|i| open_partition(&self.config, &info, i)).collect::<Result<Vec<_>, _>>()?;
        self.store.commit(&[MetaOp::put(Table::Topics, name, encode(&info))])?;
        self.write_topics()
            .insert(name.to_owned(), Arc::new(Topic { info: info.clone(), partitions: parts }));
        tracing::info!(topic = name, partitions, "topic created");
        Ok(info)
    }

    /// Deletes a topic and its data. Blocking.
    pub fn delete_topic(&self, name: &str) -> Result<(), CatalogError> {
        let _catalog = lock(&self.catalog_lock);
        if !self.read_topics().contains_key(name) {
            return Err(CatalogError::UnknownTopic(name.to_owned()));
        }
        self.store.commit(&[MetaOp::delete(Table::Topics, name)])?;
        let removed = self.write_topics().remove(name);
        drop(removed);
        let dir = topic_dir(&self.config.data_dir, name);
        if dir.exists() {
            // Readers still holding a partition keep reading unlinked files until they let go.
            std::fs::remove_dir_all(&dir).map_err(|e| CatalogError::Storage(e.to_string()))?;
        }
        tracing::info!(topic = name, "topic deleted");
        if let Some(listener) = self.deletion_listener.get() {
            listener(name);
        }
        Ok(())
    }

    /// Installs the function told the name of every deleted topic; only the first call counts.
    pub fn set_deletion_listener(&self, listener: TopicDeletionListener) {
        let _ = self.deletion_listener.set(listener);
    }

    /// Checks everything `create_partitions` would check, without changing anything.
    pub fn validate_new_partitions(&self, name: &str, total: u32) -> Result<(), CatalogError> {
        let current = self
            .read_topics()
            .get(name)
            .map(|t| t.info.partitions)
            .ok_or_else(|| CatalogError::UnknownTopic(name.into()))?;
        if total <= current {
            return Err(CatalogError::InvalidPartitions(format!(
                "topic {name:?} has {current} partitions; the new count {total} must be larger"
            )));
        }
        self.check_partition_count(name, total, current)
    }

    /// Whether topic `name` may go from `current` to `total` partitions under the limits.
    fn check_partition_count(&self, name: &str, total: u32, current: u32) -> Result<(), CatalogError> {
        let limits = self.config.limits;
        if total == 0 || total > limits.partitions_per_topic_max {
            return Err(CatalogError::InvalidPartitions(format!(
                "topic {name:?} cannot have {total} partitions: the limit is 1 to {} \
                 (partitions_per_topic_max in the [topics] settings)",
                limits.partitions_per_topic_max
            )));
        }
        let existing: u64 = self.read_topics().values().map(|t| u64::from(t.info.partitions)).sum();
        let requested = u64::from(total - current);
        if existing + requested > u64::from(limits.partitions_max) {
            return Err(CatalogError::PartitionLimit { existing, requested, max: limits.partitions_max });
        }
        Ok(())
    }

    /// Raises the partition count of `name` to `total`. Blocking.
    pub fn create_partitions(&self, name: &str, total: u32) -> Result<TopicInfo, CatalogError> {
        let _catalog = lock(&self.catalog_lock);
        self.validate_new_partitions(name, total)?;
        let topic =
            self.read_topics().get(name).cloned().ok_or_else(|| CatalogError::UnknownTopic(name.into()))?;
        let info = TopicInfo { partitions: total, ..topic.info.clone() };
        let mut partitions = topic.partitions.clone();
        for i in topic.info.partitions..total {
            partitions.push(open_partition(&self.config, &info, i)?);
        }
        self.store.commit(&[MetaOp::put(Table::Topics, name, encode(&info))])?;
        self.write_topics().insert(name.to_owned(), Arc::new(Topic { info: info.clone(), partitions }));
        Ok(info)
    }

    /// Replaces the configuration of `name`; partitions pick it up at once. Blocking.
    pub fn set_config(&self, name: &str, config: TopicConfig) -> Result<TopicInfo, CatalogError> {
        validate_config(&config)?;
        let _catalog = lock(&self.catalog_lock);
        let topic =
            self.read_topics().get(name).cloned().ok_or_else(|| CatalogError::UnknownTopic(name.into()))?;
        let info = TopicInfo { config, ..topic.info.clone() };
        self.store.commit(&[MetaOp::put(Table::Topics, name, encode(&info))])?;
        for partition in &topic.partitions {
            partition.log().update_config(info.config.log_config(self.config.durability.clone()));
        }
        self.write_topics().insert(
            name.to_owned(),
            Arc::new(Topic { info: info.clone(), partitions: topic.partitions.clone() }),
        );
        Ok(info)
    }

    /// Appends record batches to a partition; see [`Partition::append`]. The append has taken
    /// effect when this returns; [`Appended::durable`] waits for the disk.
    pub fn produce(&self, topic: &str, partition: u32, records: &[u8]) -> Result<Appended, ProduceError> {
        let (part, rules) = self.appender(topic, partition)?;
        part.append(records, rules)
    }

    /// Appends producer `producer_id`'s transactional batches to a partition; see
    /// [`Partition::append_transactional`]. Only the transaction coordinator calls this, once it
    /// has checked the transaction.
    pub(crate) fn produce_transactional(
        &self,
        topic: &str,
        partition: u32,
        records: &[u8],
        producer_id: i64,
    ) -> Result<Appended, ProduceError> {
        let (part, rules) = self.appender(topic, partition)?;
        part.append_transactional(records, rules, producer_id)
    }

    fn appender(&self, topic: &str, partition: u32) -> Result<(Arc<Partition>, AppendRules), ProduceError> {
        let topics = self.read_topics();
        let t = topics.get(topic).ok_or(ProduceError::UnknownTopicOrPartition)?;
        let p = t.partitions.get(partition as usize).ok_or(ProduceError::UnknownTopicOrPartition)?;
        let rules = AppendRules {
            max_batch_bytes: t.info.config.max_message_bytes,
            // Compaction keeps the newest record per key; a record without one has no place.
            keys_required: t.info.config.cleanup_policy != CleanupPolicy::Delete,
        };
        Ok((Arc::clone(p), rules))
    }

    /// Hands out a new producer id (epoch 0), or bumps the epoch of `existing` (fencing older instances).
    /// Blocking (commits the id allocator).
    pub fn init_producer(
        &self,
        existing: Option<ProducerIdentity>,
    ) -> Result<ProducerIdentity, CatalogError> {
        if let Some(current) = existing
            && current.producer_id >= 0
            && current.epoch >= 0
            && current.epoch < i16::MAX - 1
        {
            return Ok(ProducerIdentity { producer_id: current.producer_id, epoch: current.epoch + 1 });
        }
        let _catalog = lock(&self.catalog_lock);
        let next: i64 = match self.store.get(Table::Broker, NEXT_PRODUCER_ID_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| CatalogError::Storage(format!("undecodable producer id counter: {e}")))?,
            None => 0,
        };
        self.store.commit(&[MetaOp::put(Table::Broker, NEXT_PRODUCER_ID_KEY, encode(&(next + 1)))])?;
        Ok(ProducerIdentity { producer_id: next, epoch: 0 })
    }

    /// A waiter registered on `partitions` that callers await between reads, so that no append
    /// between a read and the wait is missed.
    pub fn watch(&self, partitions: &[Arc<Partition>]) -> DataWatch {
        let notify = Arc::new(Notify::new());
        let registrations = partitions.iter().map(|p| p.register_waiter(Arc::clone(&notify))).collect();
        DataWatch { notify, _registrations: registrations, clock: Arc::clone(&self.clock) }
    }

    /// Settings of a topic created without explicit ones (and what a reset returns to).
    pub fn default_config(&self) -> &TopicConfig {
        &self.config.default_config
    }

    /// The clock the service runs on.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Applies retention and compaction to every partition once. Blocking; run it off the async threads.
    pub fn run_maintenance(&self) {
        let now_ms = self.clock.now_ms();
        let topics: Vec<Arc<Topic>> = self.read_topics().values().cloned().collect();
        for topic in topics {
            for partition in &topic.partitions {
                let log = partition.log();
                if topic.info.config.cleanup_policy != CleanupPolicy::Compact
                    && let Err(e) = log.enforce_retention(now_ms)
                {
                    tracing::warn!(topic = %topic.info.name, partition = partition.index(), error = %e,
                        "retention failed");
                }
                partition.prune_aborted_index();
                if topic.info.config.cleanup_policy != CleanupPolicy::Delete
                    && let Err(e) = log.compact(now_ms)
                {
                    tracing::warn!(topic = %topic.info.name, partition = partition.index(), error = %e,
                        "compaction failed");
                }
            }
        }
    }

    /// Runs [`TopicService::run_maintenance`] every `interval_ms` until the returned future is dropped.
    pub async fn maintenance_loop(self: Arc<Self>, interval_ms: u64) {
        loop {
            let deadline = self.clock.now_ms() + interval_ms as i64;
            self.clock.sleep_until(deadline).await;
            let this = Arc::clone(&self);
            if tokio::task::spawn_blocking(move || this.run_maintenance()).await.is_err() {
                tracing::error!("maintenance task panicked");
            }
        }
    }

    /// Fsyncs every partition; used at shutdown. Blocking.
    pub fn sync_all(&self) {
        let topics: Vec<Arc<Topic>> = self.read_topics().values().cloned().collect();
        for topic in topics {
            for partition in &topic.partitions {
                if let Err(e) = partition.log().sync() {
                    tracing::error!(topic = %topic.info.name, partition = partition.index(), error = %e,
                        "sync at shutdown failed");
                }
            }
        }
    }
}

/// A registration on several partitions that wakes when any of their high watermarks moves.
pub struct DataWatch {
    notify: Arc<Notify>,
    _registrations: Vec<WaitRegistration>,
    clock: Arc<dyn Clock>,
}

impl DataWatch {
    /// Waits for the next advance on any watched partition (or one that happened since the last call),
    /// or until `deadline_ms`. Returns false on timeout. Cancellation-safe.
    pub async fn wait(&self, deadline_ms: i64) -> bool {
        tokio::select! {
            _ = self.notify.notified() => true,
            _ = self.clock.sleep_until(deadline_ms) => false,
        }
    }
}

fn cluster_id_from(random: u128) -> String {
    // Kafka cluster ids are 22 characters of URL-safe base64 of 16 bytes.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..22).map(|i| ALPHABET[((random >> (i * 6)) & 63) as usize] as char).collect()
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing plain structs of numbers and strings cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn topic_dir(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("topics").join(name)
}

fn open_partition(
    config: &TopicServiceConfig,
    info: &TopicInfo,
    index: u32,
) -> Result<Arc<Partition>, CatalogError> {
    let dir = topic_dir(&config.data_dir, &info.name).join(index.to_string());
    Partition::open(&info.name, index, &dir, info.config.log_config(config.durability.clone()))
        .map(Arc::new)
        .map_err(|e| CatalogError::Storage(format!("{}: {e}", dir.display())))
}

fn validate_config(config: &TopicConfig) -> Result<(), CatalogError> {
    if config.segment_bytes < 1024 {
        return Err(CatalogError::InvalidConfig(format!(
            "segment_bytes {} is below 1024",
            config.segment_bytes
        )));
    }
    if config.max_message_bytes == 0 {
        return Err(CatalogError::InvalidConfig("max_message_bytes must be positive".into()));
    }
    Ok(())
}
