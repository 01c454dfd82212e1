//! One partition: its log, its high watermark, the fetches waiting on it, and its producer state.
//!
//! Mutations go through one lock per partition (sequence check + append, never held across an
//! `.await`); durability is awaited outside it so concurrent producers share one fsync.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use ferry_log::record::Marker;
use ferry_log::{BatchHeader, Durability, Log};
use tokio::sync::Notify;

use super::error::{FetchError, ProduceError};
use super::producers::{BatchIdentity, BatchPosition, ProducerTable, SequenceCheck};
use super::txn::{AbortedIndex, AbortedTxn, TxnInLog};

/// How many offsets back from the log end are scanned on open to rebuild producer state.
/// A producer silent for longer than this is forgotten, and its next batch is accepted as new.
pub const PRODUCER_SCAN_OFFSETS: u64 = 100_000;

/// How many bytes one read asks for while scanning.
const SCAN_CHUNK_BYTES: usize = 1 << 20;

/// Where a produce landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Offset of the first record of the first batch.
    pub base_offset: u64,
    /// Offset of the last record of the last batch.
    pub last_offset: u64,
    /// The partition's first offset after the append.
    pub log_start_offset: u64,
    /// Whether the batches were retries already in the log (answered with their original offsets).
    pub duplicate: bool,
}

/// What a topic asks of the batches appended to it.
#[derive(Clone, Copy, Debug)]
pub struct AppendRules {
    /// Largest batch accepted, in bytes.
    pub max_batch_bytes: u32,
    /// Whether every record must have a key (compacted topics).
    pub keys_required: bool,
}

/// An append that has taken effect; its fsync (when the log needs one) is under way.
///
/// Dropping it does not undo or stop anything: the batches stay appended and become durable (and
/// visible, under `fsync = always`) when the fsync completes.
#[derive(Debug)]
pub struct Appended {
    outcome: AppendOutcome,
    sync: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl Appended {
    /// Where the batches landed, known as soon as they are appended.
    pub fn outcome(&self) -> AppendOutcome {
        self.outcome
    }

    /// Waits until the batches are durable (at once when the log does not fsync on append).
    /// Cancellation-safe: dropping the wait leaves the fsync running.
    pub async fn durable(self) -> Result<AppendOutcome, ProduceError> {
        if let Some(sync) = self.sync {
            match sync.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(ProduceError::Storage(e)),
                Err(e) => return Err(ProduceError::Storage(e.to_string())),
            }
        }
        Ok(self.outcome)
    }
}

/// Which records a read may return (Kafka's `isolation.level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Everything below the high watermark, open and aborted transactions included.
    ReadUncommitted,
    /// Only below the last stable offset, with the aborted transactions the records include.
    ReadCommitted,
}

/// Records read from a partition.
#[derive(Clone, Debug)]
pub struct ReadOutcome {
    /// Whole record batches, as stored.
    pub records: Bytes,
    /// Consumers see offsets below this (everything durable).
    pub high_watermark: u64,
    /// No open transaction has records below this; `read_committed` consumers see up to here.
    pub last_stable_offset: u64,
    /// Under [`Isolation::ReadCommitted`], the aborted transactions with records among those
    /// returned, by first offset (empty otherwise).
    pub aborted: Vec<AbortedTxn>,
    /// The first offset still in the log.
    pub log_start_offset: u64,
    /// Offset after the last record written (durable or not).
    pub log_end_offset: u64,
}

/// First, visible-end and written-end offsets of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// The first offset still in the log.
    pub log_start_offset: u64,
    /// Consumers see offsets below this.
    pub high_watermark: u64,
    /// `read_committed` consumers see offsets below this.
    pub last_stable_offset: u64,
    /// Offset after the last record written.
    pub log_end_offset: u64,
}

/// What the partition's single writer guards: producer numbering and open transactions.
#[derive(Default)]
struct Writer {
    producers: ProducerTable,
    /// Producers with an open transaction here, and the offset of its first record.
    open: HashMap<i64, u64>,
}

impl Writer {
    fn first_open(&self) -> u64 {
        self.open.values().copied().min().unwrap_or(u64::MAX)
    }
}

struct Waiters {
    next_id: u64,
    list: Vec<(u64, Arc<Notify>)>,
}

/// One partition of a topic.
pub struct Partition {
    topic: String,
    index: u32,
    log: Arc<Log>,
    /// Under `Durability::Always` consumers only see fsynced data.
    visible_when_durable: bool,
    high_watermark: AtomicU64,
    writer: Mutex<Writer>,
    /// The first offset of the oldest open transaction (`u64::MAX` when none): the last stable
    /// offset is the lower of this and the high watermark.
    first_open: AtomicU64,
    aborted: Mutex<AbortedIndex>,
    waiters: Mutex<Waiters>,
}

/// Removes a fetch's registration when the fetch ends (cancellation-safe: dropping it is enough).
pub struct WaitRegistration {
    partition: Arc<Partition>,
    id: u64,
}

impl Drop for WaitRegistration {
    fn drop(&mut self) {
        self.partition.lock_waiters().list.retain(|(id, _)| *id != self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a partition lock leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Partition {
    /// Opens (creating if missing) the partition's log in `dir` and rebuilds its producer state.
    pub(crate) fn open(
        topic: &str,
        index: u32,
        dir: &Path,
        config: ferry_log::LogConfig,
    ) -> Result<Partition, ferry_log::OpenError> {
        let visible_when_durable = matches!(config.durability, Durability::Always);
        let log = Log::open(dir, config)?;
        let aborted =
            AbortedIndex::open(dir, log.log_start_offset(), log.next_offset()).map_err(|source| {
                ferry_log::OpenError::Storage(ferry_log::StorageError::Io {
                    op: "open the aborted-transaction index",
                    path: dir.to_owned(),
                    source,
                })
            })?;
        let partition = Partition {
            topic: topic.to_owned(),
            index,
            log: Arc::new(log),
            visible_when_durable,
            high_watermark: AtomicU64::new(0),
            writer: Mutex::new(Writer::default()),
            first_open: AtomicU64::new(u64::MAX),
            aborted: Mutex::new(aborted),
            waiters: Mutex::new(Waiters { next_id: 0, list: Vec::new() }),
        };
        partition.rebuild_producer_state();
        partition.publish_high_watermark();
        Ok(partition)
    }

    /// The topic this partition belongs to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition's index within its topic.
    pub fn index(&self) -> u32 {
        self.index
    }

    pub(crate) fn log(&self) -> &Arc<Log> {
        &self.log
    }

    fn lock_waiters(&self) -> MutexGuard<'_, Waiters> {
        lock(&self.waiters)
    }

    fn rebuild_producer_state(&self) {
        let end = self.log.next_offset();
        let mut offset = end.saturating_sub(PRODUCER_SCAN_OFFSETS).max(self.log.log_start_offset());
        let mut writer = lock(&self.writer);
        let table = &mut writer.producers;
        while offset < end {
            let read = match self.log.read(offset, SCAN_CHUNK_BYTES, end) {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!(topic = %self.topic, partition = self.index, offset, error = %e,
                        "producer state scan stopped early");
                    break;
                }
            };
            if read.next_offset <= offset {
                break;
            }
            for item in ferry_log::batches(&read.bytes) {
                let Ok((header, _)) = item else { break };
                if header.is_control() {
                    continue;
                }
                if let Some(id) = identity(&header) {
                    let base = header.base_offset as u64;
                    let last = base + header.last_offset_delta as u64;
                    table.record(&id, BatchPosition { base_offset: base, last_offset: last });
                }
            }
            offset = read.next_offset;
        }
        if !table.is_empty() {
            tracing::debug!(topic = %self.topic, partition = self.index, producers = table.len(),
                "producer state rebuilt from the log tail");
        }
    }

    /// Current offsets.
    pub fn offsets(&self) -> PartitionOffsets {
        PartitionOffsets {
            log_start_offset: self.log.log_start_offset(),
            high_watermark: self.high_watermark(),
            last_stable_offset: self.last_stable_offset(),
            log_end_offset: self.log.next_offset(),
        }
    }

    /// Offset below which no transaction is open: what `read_committed` consumers see.
    pub fn last_stable_offset(&self) -> u64 {
        let hw = self.high_watermark();
        hw.min(self.first_open.load(Ordering::Acquire)).max(self.log.log_start_offset().min(hw))
    }

    /// Bytes the partition's segments hold on disk.
    pub fn size_bytes(&self) -> u64 {
        self.log.size_bytes()
    }

    /// Offset below which records are visible to consumers.
    pub fn high_watermark(&self) -> u64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    fn publish_high_watermark(&self) {
        let hw = if self.visible_when_durable { self.log.durable_offset() } else { self.log.next_offset() };
        let previous = self.high_watermark.fetch_max(hw, Ordering::AcqRel);
        if hw > previous {
            for (_, notify) in &self.lock_waiters().list {
                notify.notify_one();
            }
        }
    }

    /// Registers `notify` to be woken whenever the high watermark advances.
    pub fn register_waiter(self: &Arc<Self>, notify: Arc<Notify>) -> WaitRegistration {
        let mut waiters = self.lock_waiters();
        let id = waiters.next_id;
        waiters.next_id += 1;
        waiters.list.push((id, notify));
        WaitRegistration { partition: Arc::clone(self), id }
    }

    /// Appends the record batches in `records` (one or more, RecordBatch v2): when this returns they
    /// have their offsets and later appends follow them. Retried idempotent batches are answered with
    /// their original offsets. Durability is awaited apart, with [`Appended::durable`], so that
    /// appends made one after another still share one fsync.
    ///
    /// Must be called inside a tokio runtime (the fsync runs on its blocking pool).
    pub fn append(self: &Arc<Self>, records: &[u8], rules: AppendRules) -> Result<Appended, ProduceError> {
        let outcome = self.append_written(records, rules, None)?;
        Ok(self.after_append(outcome))
    }

    /// Appends the transactional batches of producer `producer_id` (every batch in `records`
    /// must be one of its transactional batches); the first opens its transaction here, which
    /// holds the last stable offset back until [`Partition::write_marker`] closes it. The caller
    /// (the transaction coordinator) has checked that the transaction is open and includes this
    /// partition.
    pub fn append_transactional(
        self: &Arc<Self>,
        records: &[u8],
        rules: AppendRules,
        producer_id: i64,
    ) -> Result<Appended, ProduceError> {
        let outcome = self.append_written(records, rules, Some(producer_id))?;
        Ok(self.after_append(outcome))
    }

    /// Closes producer `producer_id`'s open transaction here with a commit or abort marker
    /// written with `epoch`; an abort is added to the aborted-transaction index. `None` when the
    /// producer has no open transaction in this partition (nothing to close).
    pub fn write_marker(
        self: &Arc<Self>,
        producer_id: i64,
        epoch: i16,
        marker: Marker,
        timestamp_ms: i64,
    ) -> Result<Option<Appended>, ProduceError> {
        let outcome = {
            let mut writer = lock(&self.writer);
            let Some(&first_offset) = writer.open.get(&producer_id) else {
                return Ok(None);
            };
            let batch = ferry_log::record::encode_marker(producer_id, epoch, marker, 0, timestamp_ms);
            let info = self.log.append_no_sync(&batch).map_err(ProduceError::from_log)?;
            if marker == Marker::Abort {
                let entry = AbortedTxn { producer_id, first_offset, last_offset: info.last_offset };
                if let Err(e) = lock(&self.aborted).append(entry) {
                    // The marker is written but cannot be indexed: fail the log as for any
                    // write error, so the transaction is not reported complete.
                    return Err(ProduceError::Storage(format!("aborted-transaction index: {e}")));
                }
            }
            writer.open.remove(&producer_id);
            self.first_open.store(writer.first_open(), Ordering::Release);
            AppendOutcome {
                base_offset: info.base_offset,
                last_offset: info.last_offset,
                log_start_offset: 0,
                duplicate: false,
            }
        };
        Ok(Some(self.after_append(outcome)))
    }

    /// Looks for producer `producer_id`'s latest transaction in the log from `from` on, and
    /// takes it as open here if it has no marker (after a restart, for a transaction the
    /// coordinator still has open). A closed, aborted one missing from the aborted-transaction
    /// index is added to it. Blocking (reads the log).
    pub fn recover_transaction(&self, producer_id: i64, from: u64) -> Result<TxnInLog, FetchError> {
        let end = self.log.next_offset();
        let mut offset = from.max(self.log.log_start_offset());
        let mut found = TxnInLog::Absent;
        while offset < end {
            let read = self
                .log
                .read(offset, SCAN_CHUNK_BYTES, end)
                .map_err(|e| FetchError::Storage(e.to_string()))?;
            if read.next_offset <= offset {
                break;
            }
            for item in ferry_log::batches(&read.bytes) {
                let Ok((header, bytes)) = item else { break };
                if header.producer_id != producer_id || !header.is_transactional() {
                    continue;
                }
                let base = header.base_offset as u64;
                found = match (found, header.is_control()) {
                    (TxnInLog::Open { first_offset }, true) => TxnInLog::Closed {
                        first_offset,
                        marker_offset: base,
                        aborted: ferry_log::record::decode_marker(bytes) == Some(Marker::Abort),
                    },
                    (TxnInLog::Absent | TxnInLog::Closed { .. }, false) => {
                        TxnInLog::Open { first_offset: base }
                    }
                    (other, _) => other,
                };
            }
            offset = read.next_offset;
        }
        match found {
            TxnInLog::Open { first_offset } => {
                let mut writer = lock(&self.writer);
                writer.open.entry(producer_id).or_insert(first_offset);
                self.first_open.store(writer.first_open(), Ordering::Release);
            }
            TxnInLog::Closed { first_offset, marker_offset, aborted: true } => {
                let mut index = lock(&self.aborted);
                if !index.contains_marker(marker_offset) {
                    let entry = AbortedTxn { producer_id, first_offset, last_offset: marker_offset };
                    index
                        .append(entry)
                        .and_then(|()| index.sync())
                        .map_err(|e| FetchError::Storage(format!("aborted-transaction index: {e}")))?;
                }
            }
            _ => {}
        }
        Ok(found)
    }

    /// Whether producer `producer_id` has an open transaction here.
    pub fn has_open_transaction(&self, producer_id: i64) -> bool {
        lock(&self.writer).open.contains_key(&producer_id)
    }

    /// Starts the fsync an append needs (the aborted-transaction index first, then the log) and
    /// publishes the high watermark when it is done.
    fn after_append(self: &Arc<Self>, outcome: AppendOutcome) -> Appended {
        let target = outcome.last_offset + 1;
        let outcome = AppendOutcome { log_start_offset: self.log.log_start_offset(), ..outcome };
        if self.visible_when_durable && self.log.durable_offset() < target {
            let this = Arc::clone(self);
            let sync = tokio::task::spawn_blocking(move || {
                lock(&this.aborted).sync().map_err(|e| format!("aborted-transaction index: {e}"))?;
                let result = this.log.sync_to(target);
                this.publish_high_watermark();
                result.map_err(|e| e.to_string())
            });
            return Appended { outcome, sync: Some(sync) };
        }
        self.publish_high_watermark();
        Appended { outcome, sync: None }
    }

    /// Checks and writes every batch (no fsync); one producer-state decision per batch.
    fn append_written(
        &self,
        records: &[u8],
        rules: AppendRules,
        transactional: Option<i64>,
    ) -> Result<AppendOutcome, ProduceError> {
        let max_batch_bytes = rules.max_batch_bytes;
        let mut batches = Vec::new();
        let mut rest = records;
        while !rest.is_empty() {
            let header = BatchHeader::parse(rest).map_err(|e| ProduceError::CorruptBatch(e.to_string()))?;
            let len = header.total_len();
            if header.magic != 2 {
                return Err(ProduceError::UnsupportedMessageFormat(header.magic));
            }
            if len > rest.len() {
                return Err(ProduceError::CorruptBatch(format!(
                    "batch claims {len} bytes but only {} remain",
                    rest.len()
                )));
            }
            if len > max_batch_bytes as usize {
                return Err(ProduceError::MessageTooLarge { size: len, max: max_batch_bytes as usize });
            }
            if header.is_control() {
                return Err(ProduceError::CorruptBatch("producers may not write control batches".into()));
            }
            match transactional {
                Some(pid) if !header.is_transactional() || header.producer_id != pid => {
                    return Err(ProduceError::CorruptBatch(
                        "a transactional produce holds a batch of another producer or outside the transaction".into(),
                    ));
                }
                None if header.is_transactional() => return Err(ProduceError::TransactionNotStarted),
                _ => {}
            }
            if rules.keys_required {
                self.check_keys(&header, &rest[..len])?;
            }
            batches.push((header, &rest[..len]));
            rest = &rest[len..];
        }
        if batches.is_empty() {
            return Err(ProduceError::CorruptBatch("no record batch".into()));
        }

        let mut writer = lock(&self.writer);
        let Writer { producers, open } = &mut *writer;
        let mut first: Option<u64> = None;
        let mut last = 0;
        let mut duplicate = false;
        for (header, bytes) in batches {
            let id = identity(&header);
            if let Some(id) = &id {
                match producers.check(id) {
                    SequenceCheck::Append => {}
                    SequenceCheck::Duplicate(position) => {
                        duplicate = true;
                        first.get_or_insert(position.base_offset);
                        last = position.last_offset;
                        continue;
                    }
                    SequenceCheck::OutOfOrder { expected } => {
                        return Err(ProduceError::OutOfOrderSequence { expected, received: id.first_seq });
                    }
                    SequenceCheck::StaleEpoch { current } => {
                        return Err(ProduceError::InvalidProducerEpoch { current, received: id.epoch });
                    }
                }
            }
            let info = self.log.append_no_sync(bytes).map_err(ProduceError::from_log)?;
            if let Some(pid) = transactional
                && !open.contains_key(&pid)
            {
                open.insert(pid, info.base_offset);
                self.first_open.fetch_min(info.base_offset, Ordering::AcqRel);
            }
            if let Some(id) = &id {
                producers.record(
                    id,
                    BatchPosition { base_offset: info.base_offset, last_offset: info.last_offset },
                );
            }
            first.get_or_insert(info.base_offset);
            last = info.last_offset;
        }
        let base_offset = first.unwrap_or(last);
        Ok(AppendOutcome { base_offset, last_offset: last, log_start_offset: 0, duplicate })
    }

    /// Refuses a batch holding a record without a key (compacted topics).
    fn check_keys(&self, header: &BatchHeader, batch: &[u8]) -> Result<(), ProduceError> {
        let body =
            ferry_log::record::records_body(batch).map_err(|e| ProduceError::CorruptBatch(e.to_string()))?;
        let records = ferry_log::record::decode_body(&body, header.record_count)
            .map_err(|e| ProduceError::CorruptBatch(e.to_string()))?;
        let offset_deltas: Vec<i32> =
            records.iter().filter(|r| r.key.is_none()).map(|r| r.offset_delta).collect();
        if offset_deltas.is_empty() {
            return Ok(());
        }
        Err(ProduceError::RecordWithoutKey { topic: self.topic.clone(), offset_deltas })
    }

    /// Reads whole batches from `offset`, at most `max_bytes`, never past the high watermark. With
    /// `first_may_exceed` the first batch is returned even when it alone is larger (so a consumer
    /// always makes progress); without, such a batch gives an empty read.
    pub fn read(
        &self,
        offset: u64,
        max_bytes: usize,
        first_may_exceed: bool,
    ) -> Result<ReadOutcome, FetchError> {
        self.read_isolated(offset, max_bytes, first_may_exceed, Isolation::ReadUncommitted)
    }

    /// [`Partition::read`] at an isolation level: under [`Isolation::ReadCommitted`] never past
    /// the last stable offset, and with the aborted transactions among the records returned.
    pub fn read_isolated(
        &self,
        offset: u64,
        max_bytes: usize,
        first_may_exceed: bool,
        isolation: Isolation,
    ) -> Result<ReadOutcome, FetchError> {
        let lso = self.last_stable_offset();
        let hw = self.high_watermark();
        let bound = match isolation {
            Isolation::ReadUncommitted => hw,
            Isolation::ReadCommitted => lso.min(hw),
        };
        let start = self.log.log_start_offset();
        let end = self.log.next_offset();
        if offset < start || offset > end {
            return Err(FetchError::OffsetOutOfRange { offset, log_start_offset: start, high_watermark: hw });
        }
        let records = if offset >= bound {
            Bytes::new()
        } else {
            match self.log.read(offset, max_bytes, bound) {
                // The log returns at most one batch over the limit, and only as the first.
                Ok(read) if !first_may_exceed && read.bytes.len() > max_bytes => Bytes::new(),
                Ok(read) => Bytes::from(read.bytes),
                Err(ferry_log::ReadError::OffsetOutOfRange { .. }) => {
                    return Err(FetchError::OffsetOutOfRange {
                        offset,
                        log_start_offset: self.log.log_start_offset(),
                        high_watermark: hw,
                    });
                }
                Err(e) => return Err(FetchError::Storage(e.to_string())),
            }
        };
        let aborted = if isolation == Isolation::ReadCommitted && !records.is_empty() {
            let to = ferry_log::batches(&records)
                .filter_map(Result::ok)
                .last()
                .map_or(offset, |(h, _)| h.base_offset as u64 + h.last_offset_delta as u64 + 1);
            lock(&self.aborted).overlapping(offset, to)
        } else {
            Vec::new()
        };
        Ok(ReadOutcome {
            records,
            high_watermark: hw,
            last_stable_offset: lso,
            aborted,
            log_start_offset: start,
            log_end_offset: end,
        })
    }

    /// The first record whose timestamp is >= `timestamp_ms`: its offset and timestamp.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(u64, i64)>, FetchError> {
        let hw = self.high_watermark();
        match self.log.offset_for_timestamp(timestamp_ms) {
            Ok(Some((offset, ts))) if offset < hw => Ok(Some((offset.max(self.log.log_start_offset()), ts))),
            Ok(_) => Ok(None),
            Err(e) => Err(FetchError::Storage(e.to_string())),
        }
    }

    /// The committed record with the largest timestamp (the first of them on a tie), as
    /// (offset, timestamp); `None` while there is none.
    pub fn max_timestamp_record(&self) -> Result<Option<(u64, i64)>, FetchError> {
        let hw = self.high_watermark();
        match self.log.max_timestamp_record() {
            Ok(Some((offset, ts))) if offset < hw => Ok(Some((offset, ts))),
            Ok(_) => Ok(None),
            Err(e) => Err(FetchError::Storage(e.to_string())),
        }
    }

    /// Moves the first offset to `offset` (records below are deleted); returns the new first offset.
    pub fn delete_records_before(&self, offset: u64) -> Result<u64, FetchError> {
        let hw = self.high_watermark();
        if offset > hw {
            return Err(FetchError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log.log_start_offset(),
                high_watermark: hw,
            });
        }
        if offset > self.log.log_start_offset() {
            self.log.advance_start_offset(offset).map_err(|e| FetchError::Storage(e.to_string()))?;
            self.prune_aborted_index();
        }
        Ok(self.log.log_start_offset())
    }

    /// Forgets aborted transactions whose records are all below the log start.
    pub(crate) fn prune_aborted_index(&self) {
        if let Err(e) = lock(&self.aborted).prune(self.log.log_start_offset()) {
            tracing::warn!(topic = %self.topic, partition = self.index, error = %e,
                "aborted-transaction index not pruned");
        }
    }
}

fn identity(header: &BatchHeader) -> Option<BatchIdentity> {
    BatchIdentity::of(
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        header.last_offset_delta,
    )
}
