//! The transaction coordinator: Kafka's exactly-once transactions over ferry's topics and
//! consumer groups.
//!
//! A transactional id names one producer at a time. [`TransactionCoordinator::init_producer`]
//! gives it a producer id and a new epoch, which fences every older instance (their requests
//! get PRODUCER_FENCED) and aborts what the older one left open. A transaction is the set of
//! partitions and groups added to it; its records are appended as they come (the partition
//! remembers where the producer's transaction began, which holds the last stable offset back),
//! and its offsets are held here until it ends.
//!
//! # States and durability
//!
//! `Empty` → `Ongoing` (a partition or group added) → `PrepareCommit`/`PrepareAbort` →
//! `CompleteCommit`/`CompleteAbort` → `Ongoing` again for the next transaction. Every change is
//! committed to the [`MetadataStore`] (table `transactions`) before it is answered. Ending one:
//!
//! 1. `Prepare*` is stored, with the partitions and offsets;
//! 2. a marker is appended to every partition where the producer has records in it (an abort is
//!    added to the partition's aborted-transaction index), and each is awaited durable;
//! 3. on commit, the held offsets are committed to their groups, durably;
//! 4. `Complete*` is stored, and EndTxn is answered.
//!
//! After a crash, [`TransactionCoordinator::open`] finds in each partition of every transaction
//! not complete where the producer's records begin (scanning from the log end the partition had
//! when it was added), so the last stable offset is held back again; `Prepare*` transactions are
//! then finished (a marker already written is not written twice), and `Ongoing` ones stay open
//! for their producer, under a fresh timeout.
//!
//! A transaction left `Ongoing` longer than its timeout is aborted: the epoch is bumped first,
//! so the producer's later requests get INVALID_PRODUCER_EPOCH and it can start over with
//! InitProducerId (KIP-360).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ferry_log::record::Marker;

use crate::clock::Clock;
use crate::groups::{CommitError, GroupCoordinator, MemberRef, OffsetCommit, TopicPartition};
use crate::metadata::{MetaOp, MetadataError, MetadataStore, Table};
use crate::topics::{Appended, ProduceError, ProducerIdentity, TopicService};

#[cfg(test)]
mod tests;
mod types;

use types::{HeldOffset, TxnRecord};
pub use types::{TransactionConfig, TransactionInfo, TxnError, TxnState};

struct Slot {
    record: Option<TxnRecord>,
    /// When an `Ongoing` transaction times out.
    deadline_ms: i64,
}

type SlotRef = Arc<tokio::sync::Mutex<Slot>>;

/// The transaction coordinator of this node.
pub struct TransactionCoordinator {
    meta: Arc<dyn MetadataStore>,
    topics: Arc<TopicService>,
    groups: Arc<GroupCoordinator>,
    clock: Arc<dyn Clock>,
    config: TransactionConfig,
    slots: Mutex<HashMap<String, SlotRef>>,
    /// Producer id → transactional id.
    producers: Mutex<HashMap<i64, String>>,
    /// (group, partition) → how many unfinished transactions hold an offset for it.
    held: Mutex<HashMap<(String, TopicPartition), usize>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TransactionCoordinator {
    /// Loads the stored transactions, holds back the last stable offset of every partition
    /// with records of an unfinished one, and starts the task that finishes `Prepare*`
    /// transactions and aborts timed-out ones. Blocking (reads partition logs); must be called
    /// inside a tokio runtime.
    pub fn open(
        meta: Arc<dyn MetadataStore>,
        topics: Arc<TopicService>,
        groups: Arc<GroupCoordinator>,
        clock: Arc<dyn Clock>,
        config: TransactionConfig,
    ) -> Result<Arc<TransactionCoordinator>, MetadataError> {
        let now_ms = clock.now_ms();
        let mut slots = HashMap::new();
        let mut producers = HashMap::new();
        let mut held: HashMap<(String, TopicPartition), usize> = HashMap::new();
        for (id, bytes) in meta.scan_prefix(Table::Transactions, "")? {
            let record: TxnRecord = match serde_json::from_slice(&bytes) {
                Ok(record) => record,
                Err(e) => {
                    tracing::error!(transactional_id = %id, error = %e, "undecodable transaction record skipped");
                    continue;
                }
            };
            if matches!(record.state, TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort) {
                for (topic, partitions) in &record.partitions {
                    for (&index, &from) in partitions {
                        let Some(partition) = topics.partition(topic, index) else { continue };
                        if let Err(e) = partition.recover_transaction(record.producer_id, from) {
                            tracing::error!(transactional_id = %id, topic = %topic, partition = index, error = %e,
                                "transaction not found in its partition");
                        }
                    }
                }
                for key in held_keys(&record) {
                    *held.entry(key).or_default() += 1;
                }
                tracing::info!(transactional_id = %id, state = record.state.name(), "unfinished transaction recovered");
            }
            producers.insert(record.producer_id, id.clone());
            let deadline_ms = now_ms.saturating_add(record.timeout_ms);
            slots.insert(id, Arc::new(tokio::sync::Mutex::new(Slot { record: Some(record), deadline_ms })));
        }
        let coordinator = Arc::new(TransactionCoordinator {
            meta,
            topics,
            groups,
            clock,
            config,
            slots: Mutex::new(slots),
            producers: Mutex::new(producers),
            held: Mutex::new(held),
        });
        tokio::spawn(run_checks(Arc::downgrade(&coordinator)));
        Ok(coordinator)
    }

    /// The settings in force.
    pub fn config(&self) -> &TransactionConfig {
        &self.config
    }

    fn slot(&self, id: &str) -> Option<SlotRef> {
        lock(&self.slots).get(id).cloned()
    }

    fn slot_or_new(&self, id: &str) -> Result<SlotRef, TxnError> {
        let mut slots = lock(&self.slots);
        if let Some(slot) = slots.get(id) {
            return Ok(Arc::clone(slot));
        }
        if slots.len() >= self.config.transactions_max {
            return Err(TxnError::LimitExceeded(format!(
                "the broker holds its maximum of {} transactional ids",
                self.config.transactions_max
            )));
        }
        let slot = Arc::new(tokio::sync::Mutex::new(Slot { record: None, deadline_ms: i64::MAX }));
        slots.insert(id.to_string(), Arc::clone(&slot));
        Ok(slot)
    }

    async fn persist(&self, id: &str, record: &TxnRecord) -> Result<(), TxnError> {
        let bytes = serde_json::to_vec(record).map_err(|e| TxnError::Storage(e.to_string()))?;
        let op = MetaOp::put(Table::Transactions, id, bytes);
        let meta = Arc::clone(&self.meta);
        tokio::task::spawn_blocking(move || meta.commit(&[op]))
            .await
            .map_err(|e| TxnError::Storage(e.to_string()))??;
        Ok(())
    }

    /// InitProducerId with a transactional id: a producer id and a new epoch for it, fencing
    /// older instances. An `Ongoing` transaction is aborted first (with the new epoch, so its
    /// markers fence the old instance's records too). `expected` is the producer id and epoch a
    /// producer that already has one sends to start over (KIP-360).
    pub async fn init_producer(
        &self,
        id: &str,
        timeout_ms: i64,
        expected: Option<ProducerIdentity>,
    ) -> Result<ProducerIdentity, TxnError> {
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(TxnError::InvalidTimeout { asked: timeout_ms, max: self.config.max_timeout_ms });
        }
        let slot = self.slot_or_new(id)?;
        let mut slot = slot.lock().await;
        let now_ms = self.clock.now_ms();
        let record = match slot.record.clone() {
            Some(mut record) => {
                if let Some(expected) = expected {
                    if expected.producer_id != record.producer_id {
                        return Err(TxnError::InvalidProducerIdMapping);
                    }
                    if expected.epoch != record.epoch && Some(expected.epoch) != record.timed_out_epoch {
                        return Err(TxnError::ProducerFenced);
                    }
                }
                if record.state.is_preparing()
                    && let Err(e) = self.finish(id, &mut record).await
                {
                    // Stored Prepare*: memory must say so too, or a produce could slip in.
                    slot.record = Some(record);
                    return Err(e);
                }
                if record.epoch >= i16::MAX - 1 {
                    // The epoch is spent: a new producer id, fencing the old one for good.
                    let fresh = self.new_producer_id().await?;
                    if record.state == TxnState::Ongoing {
                        record.state = TxnState::PrepareAbort;
                        self.persist(id, &record).await?;
                        if let Err(e) = self.finish(id, &mut record).await {
                            // Stored Prepare*: memory must say so too, or a produce could slip in.
                            slot.record = Some(record);
                            return Err(e);
                        }
                    }
                    lock(&self.producers).remove(&record.producer_id);
                    record.producer_id = fresh;
                    record.epoch = 0;
                } else {
                    record.epoch += 1;
                    if record.state == TxnState::Ongoing {
                        record.state = TxnState::PrepareAbort;
                        self.persist(id, &record).await?;
                        if let Err(e) = self.finish(id, &mut record).await {
                            // Stored Prepare*: memory must say so too, or a produce could slip in.
                            slot.record = Some(record);
                            return Err(e);
                        }
                    }
                }
                record.timed_out_epoch = None;
                record.timeout_ms = timeout_ms;
                record.updated_ms = now_ms;
                record
            }
            None => {
                if expected.is_some() {
                    return Err(TxnError::InvalidProducerIdMapping);
                }
                TxnRecord {
                    producer_id: self.new_producer_id().await?,
                    epoch: 0,
                    timed_out_epoch: None,
                    timeout_ms,
                    state: TxnState::Empty,
                    partitions: BTreeMap::new(),
                    offsets: BTreeMap::new(),
                    started_ms: -1,
                    updated_ms: now_ms,
                }
            }
        };
        if record.state.is_preparing() {
            return Err(TxnError::ConcurrentTransactions);
        }
        self.persist(id, &record).await?;
        lock(&self.producers).insert(record.producer_id, id.to_string());
        let identity = ProducerIdentity { producer_id: record.producer_id, epoch: record.epoch };
        slot.record = Some(record);
        Ok(identity)
    }

    async fn new_producer_id(&self) -> Result<i64, TxnError> {
        let topics = Arc::clone(&self.topics);
        let identity = tokio::task::spawn_blocking(move || topics.init_producer(None))
            .await
            .map_err(|e| TxnError::Storage(e.to_string()))?
            .map_err(|e| TxnError::Storage(e.to_string()))?;
        Ok(identity.producer_id)
    }

    /// The record of `id` for a request of producer `producer_id`/`epoch` that adds to the
    /// current transaction (starting one if none is open).
    fn ongoing<'a>(
        &self,
        slot: &'a mut Slot,
        producer_id: i64,
        epoch: i16,
    ) -> Result<&'a mut TxnRecord, TxnError> {
        let record = slot.record.as_mut().ok_or(TxnError::InvalidProducerIdMapping)?;
        record.check_producer(producer_id, epoch)?;
        if record.state.is_preparing() {
            return Err(TxnError::ConcurrentTransactions);
        }
        if record.state != TxnState::Ongoing {
            let now_ms = self.clock.now_ms();
            record.state = TxnState::Ongoing;
            record.started_ms = now_ms;
            record.partitions.clear();
            record.offsets.clear();
            slot.deadline_ms = now_ms.saturating_add(record.timeout_ms);
        }
        Ok(record)
    }

    /// AddPartitionsToTxn: adds partitions to the producer's transaction (starting it).
    pub async fn add_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, u32)],
    ) -> Result<(), TxnError> {
        let slot = self.slot(id).ok_or(TxnError::InvalidProducerIdMapping)?;
        let mut slot = slot.lock().await;
        self.add_locked(id, &mut slot, producer_id, epoch, partitions).await
    }

    async fn add_locked(
        &self,
        id: &str,
        slot: &mut Slot,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, u32)],
    ) -> Result<(), TxnError> {
        let mut located = Vec::with_capacity(partitions.len());
        for (topic, index) in partitions {
            let partition = self.topics.partition(topic, *index).ok_or_else(|| {
                TxnError::UnknownTopicOrPartition { topic: topic.clone(), partition: *index }
            })?;
            located.push((topic, *index, partition));
        }
        let before = slot.record.clone();
        let record = self.ongoing(slot, producer_id, epoch)?;
        let mut changed = before.as_ref() != Some(record);
        for (topic, index, partition) in located {
            let entry = record.partitions.entry(topic.clone()).or_default();
            if let std::collections::btree_map::Entry::Vacant(v) = entry.entry(index) {
                v.insert(partition.offsets().log_end_offset);
                changed = true;
            }
        }
        if record.partition_count() > self.config.partitions_max {
            slot.record = before;
            return Err(TxnError::LimitExceeded(format!(
                "a transaction holds at most {} partitions",
                self.config.partitions_max
            )));
        }
        record.updated_ms = self.clock.now_ms();
        if changed && let Err(e) = self.persist(id, record).await {
            slot.record = before;
            return Err(e);
        }
        Ok(())
    }

    /// AddOffsetsToTxn: adds a group to the producer's transaction, so that offsets committed
    /// for it in the transaction take effect when it commits.
    pub async fn add_offsets(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
    ) -> Result<(), TxnError> {
        if group.is_empty() {
            return Err(TxnError::Group(CommitError::InvalidGroupId));
        }
        let slot = self.slot(id).ok_or(TxnError::InvalidProducerIdMapping)?;
        let mut slot = slot.lock().await;
        let before = slot.record.clone();
        let record = self.ongoing(&mut slot, producer_id, epoch)?;
        let changed = before.as_ref() != Some(record) || !record.offsets.contains_key(group);
        record.offsets.entry(group.to_string()).or_default();
        record.updated_ms = self.clock.now_ms();
        if changed && let Err(e) = self.persist(id, record).await {
            slot.record = before;
            return Err(e);
        }
        Ok(())
    }

    /// TxnOffsetCommit: holds offsets for `group` in the producer's transaction (after
    /// [`TransactionCoordinator::add_offsets`]); `who` is the consumer the offsets come from,
    /// checked against the group as an offset commit would be.
    pub async fn commit_offsets(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
        who: &MemberRef,
        offsets: Vec<(TopicPartition, OffsetCommit)>,
    ) -> Result<(), TxnError> {
        let slot = self.slot(id).ok_or(TxnError::InvalidProducerIdMapping)?;
        let mut slot = slot.lock().await;
        let record = slot.record.as_mut().ok_or(TxnError::InvalidProducerIdMapping)?;
        record.check_producer(producer_id, epoch)?;
        if record.state.is_preparing() {
            return Err(TxnError::ConcurrentTransactions);
        }
        if record.state != TxnState::Ongoing || !record.offsets.contains_key(group) {
            return Err(TxnError::InvalidTxnState(format!(
                "group {group:?} was not added to the transaction (AddOffsetsToTxn)"
            )));
        }
        self.groups.check_member(group, who)?;
        let before = record.clone();
        let added: Vec<TopicPartition> = offsets.iter().map(|(tp, _)| tp.clone()).collect();
        let held = record.offsets.entry(group.to_string()).or_default();
        for (tp, commit) in offsets {
            held.retain(|h| h.topic != tp.topic || h.partition != tp.partition);
            held.push(HeldOffset { topic: tp.topic, partition: tp.partition, commit });
        }
        if record.offset_count() > self.config.offsets_max {
            *record = before;
            return Err(TxnError::LimitExceeded(format!(
                "a transaction holds at most {} offsets",
                self.config.offsets_max
            )));
        }
        record.updated_ms = self.clock.now_ms();
        // Held before they are stored, so that no OffsetFetch with require_stable sees neither
        // the held offsets nor a committed one while the store commits.
        let mut newly: Vec<(String, TopicPartition)> = added
            .into_iter()
            .filter(|tp| {
                !before
                    .offsets
                    .get(group)
                    .is_some_and(|h| h.iter().any(|o| o.topic == tp.topic && o.partition == tp.partition))
            })
            .map(|tp| (group.to_string(), tp))
            .collect();
        newly.sort();
        newly.dedup();
        {
            let mut counts = lock(&self.held);
            for key in &newly {
                *counts.entry(key.clone()).or_default() += 1;
            }
        }
        if let Err(e) = self.persist(id, record).await {
            *record = before;
            self.unhold(newly);
            return Err(e);
        }
        Ok(())
    }

    /// EndTxn: commits or aborts the producer's transaction; returns once its markers and (on
    /// commit) its offsets are durable and the outcome is stored.
    pub async fn end(&self, id: &str, producer_id: i64, epoch: i16, commit: bool) -> Result<(), TxnError> {
        let slot = self.slot(id).ok_or(TxnError::InvalidProducerIdMapping)?;
        let mut slot = slot.lock().await;
        let mut record = slot.record.clone().ok_or(TxnError::InvalidProducerIdMapping)?;
        record.check_producer(producer_id, epoch)?;
        let wanted = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
        let done = if commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        match record.state {
            TxnState::Ongoing => {
                record.state = wanted;
                record.updated_ms = self.clock.now_ms();
                self.persist(id, &record).await?;
                slot.record = Some(record.clone());
            }
            state if state == wanted => {}
            // A retried EndTxn whose first attempt completed.
            state if state == done => return Ok(()),
            state => {
                return Err(TxnError::InvalidTxnState(format!(
                    "cannot {} a transaction in state {}",
                    if commit { "commit" } else { "abort" },
                    state.name()
                )));
            }
        }
        let result = self.finish(id, &mut record).await;
        slot.record = Some(record);
        result
    }

    /// Writes the markers of a `Prepare*` transaction, commits its offsets, and stores it
    /// `Complete*`. On failure the record stays `Prepare*`, to be finished later.
    async fn finish(&self, id: &str, record: &mut TxnRecord) -> Result<(), TxnError> {
        let commit = match record.state {
            TxnState::PrepareCommit => true,
            TxnState::PrepareAbort => false,
            _ => return Ok(()),
        };
        let marker = if commit { Marker::Commit } else { Marker::Abort };
        let now_ms = self.clock.now_ms();
        let mut written: Vec<Appended> = Vec::new();
        for (topic, partitions) in &record.partitions {
            for &index in partitions.keys() {
                // A partition deleted since has nothing left to close.
                let Some(partition) = self.topics.partition(topic, index) else { continue };
                match partition.write_marker(record.producer_id, record.epoch, marker, now_ms) {
                    Ok(Some(appended)) => written.push(appended),
                    Ok(None) => {}
                    Err(e) => return Err(TxnError::Storage(format!("{topic}-{index}: {e}"))),
                }
            }
        }
        for appended in written {
            appended.durable().await.map_err(|e| TxnError::Storage(e.to_string()))?;
        }
        if commit {
            for (group, held) in &record.offsets {
                if held.is_empty() {
                    continue;
                }
                let offsets = held
                    .iter()
                    .map(|h| (TopicPartition::new(h.topic.clone(), h.partition), h.commit.clone()))
                    .collect();
                self.groups.commit_transactional(group, offsets).await?;
            }
        }
        let mut complete = record.clone();
        complete.state = if commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        complete.partitions.clear();
        complete.offsets.clear();
        complete.updated_ms = self.clock.now_ms();
        self.persist(id, &complete).await?;
        self.release_held(record);
        *record = complete;
        Ok(())
    }

    fn release_held(&self, record: &TxnRecord) {
        self.unhold(held_keys(record));
    }

    fn unhold(&self, keys: Vec<(String, TopicPartition)>) {
        let mut held = lock(&self.held);
        for key in keys {
            if let Some(count) = held.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    held.remove(&key);
                }
            }
        }
    }

    /// Appends a transactional produce: the producer's transaction must be open and hold the
    /// partition, unless `add_implicitly` (Produce v12, KIP-890), which adds it. The append has
    /// taken effect when this returns; [`Appended::durable`] waits for the disk.
    pub async fn produce(
        &self,
        topic: &str,
        partition: u32,
        records: &[u8],
        producer_id: i64,
        epoch: i16,
        add_implicitly: bool,
    ) -> Result<Appended, ProduceError> {
        let id = lock(&self.producers).get(&producer_id).cloned();
        let id = id.ok_or(ProduceError::Transaction(TxnError::InvalidProducerIdMapping))?;
        let slot = self.slot(&id).ok_or(ProduceError::Transaction(TxnError::InvalidProducerIdMapping))?;
        let mut slot = slot.lock().await;
        let record =
            slot.record.as_ref().ok_or(ProduceError::Transaction(TxnError::InvalidProducerIdMapping))?;
        record.check_producer(producer_id, epoch).map_err(ProduceError::Transaction)?;
        let in_transaction = record.state == TxnState::Ongoing
            && record.partitions.get(topic).is_some_and(|p| p.contains_key(&partition));
        if !in_transaction {
            if !add_implicitly {
                return Err(ProduceError::TransactionNotStarted);
            }
            self.add_locked(&id, &mut slot, producer_id, epoch, &[(topic.to_string(), partition)])
                .await
                .map_err(|e| match e {
                    TxnError::UnknownTopicOrPartition { .. } => ProduceError::UnknownTopicOrPartition,
                    other => ProduceError::Transaction(other),
                })?;
        }
        self.topics.produce_transactional(topic, partition, records, producer_id)
    }

    /// Whether an unfinished transaction holds an offset for `partition` of `group` (OffsetFetch
    /// with `require_stable` answers UNSTABLE_OFFSET_COMMIT then).
    pub fn holds_offset(&self, group: &str, partition: &TopicPartition) -> bool {
        lock(&self.held).contains_key(&(group.to_string(), partition.clone()))
    }

    /// The transaction of `id`, if the id is known.
    pub async fn describe(&self, id: &str) -> Option<TransactionInfo> {
        let slot = self.slot(id)?;
        let slot = slot.lock().await;
        slot.record.as_ref().map(|r| info(id, r))
    }

    /// Every known transaction, by transactional id.
    pub async fn list(&self) -> Vec<TransactionInfo> {
        let mut slots: Vec<(String, SlotRef)> =
            lock(&self.slots).iter().map(|(id, s)| (id.clone(), Arc::clone(s))).collect();
        slots.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::with_capacity(slots.len());
        for (id, slot) in slots {
            if let Some(record) = &slot.lock().await.record {
                out.push(info(&id, record));
            }
        }
        out
    }

    /// One pass of the checker: aborts timed-out transactions, finishes `Prepare*` ones, and
    /// forgets transactional ids idle past their expiration.
    pub async fn check_once(&self) {
        let slots: Vec<(String, SlotRef)> =
            lock(&self.slots).iter().map(|(id, s)| (id.clone(), Arc::clone(s))).collect();
        for (id, slot) in slots {
            let now_ms = self.clock.now_ms();
            let mut slot = slot.lock().await;
            let deadline_ms = slot.deadline_ms;
            let Some(mut record) = slot.record.clone() else { continue };
            match record.state {
                TxnState::Ongoing if now_ms >= deadline_ms => {
                    tracing::info!(transactional_id = %id, timeout_ms = record.timeout_ms,
                        "transaction timed out: aborting it");
                    let before = record.clone();
                    record.timed_out_epoch = Some(record.epoch);
                    record.epoch = record.epoch.saturating_add(1);
                    record.state = TxnState::PrepareAbort;
                    record.updated_ms = now_ms;
                    if let Err(e) = self.persist(&id, &record).await {
                        tracing::warn!(transactional_id = %id, error = %e, "timed-out transaction not aborted yet");
                        slot.record = Some(before);
                        continue;
                    }
                }
                TxnState::PrepareCommit | TxnState::PrepareAbort => {}
                TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                    if now_ms.saturating_sub(record.updated_ms) > self.config.id_expiration_ms =>
                {
                    let meta = Arc::clone(&self.meta);
                    let key = id.clone();
                    let removed = tokio::task::spawn_blocking(move || {
                        meta.commit(&[MetaOp::delete(Table::Transactions, key)])
                    })
                    .await;
                    if matches!(removed, Ok(Ok(()))) {
                        slot.record = None;
                        lock(&self.producers).remove(&record.producer_id);
                        lock(&self.slots).remove(&id);
                    }
                    continue;
                }
                _ => continue,
            }
            let result = self.finish(&id, &mut record).await;
            if let Err(e) = &result {
                tracing::warn!(transactional_id = %id, error = %e, "transaction not finished yet; retrying");
            }
            slot.record = Some(record);
        }
    }
}

fn held_keys(record: &TxnRecord) -> Vec<(String, TopicPartition)> {
    record
        .offsets
        .iter()
        .flat_map(|(group, held)| {
            held.iter().map(|h| (group.clone(), TopicPartition::new(h.topic.clone(), h.partition)))
        })
        .collect()
}

fn info(id: &str, record: &TxnRecord) -> TransactionInfo {
    TransactionInfo {
        transactional_id: id.to_string(),
        producer_id: record.producer_id,
        epoch: record.epoch,
        state: record.state,
        timeout_ms: record.timeout_ms,
        started_ms: record.started_ms,
        partitions: record
            .partitions
            .iter()
            .flat_map(|(topic, p)| p.keys().map(|i| (topic.clone(), *i)))
            .collect(),
    }
}

async fn run_checks(coordinator: Weak<TransactionCoordinator>) {
    loop {
        let Some(this) = coordinator.upgrade() else { return };
        this.check_once().await;
        let deadline = this.clock.now_ms() + this.config.check_interval_ms as i64;
        let sleep = this.clock.sleep_until(deadline);
        drop(this);
        sleep.await;
    }
}
