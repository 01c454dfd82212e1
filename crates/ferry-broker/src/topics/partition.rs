//! One partition: its log, its high watermark, the fetches waiting on it, and its producer state.
//!
//! Mutations go through one lock per partition (sequence check + append, never held across an
//! `.await`); durability is awaited outside it so concurrent producers share one fsync.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use ferry_log::{BatchHeader, Durability, Log};
use tokio::sync::Notify;

use super::error::{FetchError, ProduceError};
use super::producers::{BatchIdentity, BatchPosition, ProducerTable, SequenceCheck};

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

/// Records read from a partition.
#[derive(Clone, Debug)]
pub struct ReadOutcome {
    /// Whole record batches, as stored.
    pub records: Bytes,
    /// Consumers see offsets below this (everything durable).
    pub high_watermark: u64,
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
    /// Offset after the last record written.
    pub log_end_offset: u64,
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
    writer: Mutex<ProducerTable>,
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
        let partition = Partition {
            topic: topic.to_owned(),
            index,
            log: Arc::new(log),
            visible_when_durable,
            high_watermark: AtomicU64::new(0),
            writer: Mutex::new(ProducerTable::default()),
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
        let mut table = lock(&self.writer);
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
            log_end_offset: self.log.next_offset(),
        }
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
        let outcome = self.append_written(records, rules)?;
        let target = outcome.last_offset + 1;
        let outcome = AppendOutcome { log_start_offset: self.log.log_start_offset(), ..outcome };
        if self.visible_when_durable && self.log.durable_offset() < target {
            let this = Arc::clone(self);
            let sync = tokio::task::spawn_blocking(move || {
                let result = this.log.sync_to(target);
                this.publish_high_watermark();
                result.map_err(|e| e.to_string())
            });
            return Ok(Appended { outcome, sync: Some(sync) });
        }
        self.publish_high_watermark();
        Ok(Appended { outcome, sync: None })
    }

    /// Checks and writes every batch (no fsync); one producer-state decision per batch.
    fn append_written(&self, records: &[u8], rules: AppendRules) -> Result<AppendOutcome, ProduceError> {
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
            if header.is_transactional() {
                return Err(ProduceError::TransactionsUnsupported);
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

        let mut producers = lock(&self.writer);
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
        let hw = self.high_watermark();
        let start = self.log.log_start_offset();
        let end = self.log.next_offset();
        if offset < start || offset > end {
            return Err(FetchError::OffsetOutOfRange { offset, log_start_offset: start, high_watermark: hw });
        }
        let records = if offset >= hw {
            Bytes::new()
        } else {
            match self.log.read(offset, max_bytes, hw) {
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
        Ok(ReadOutcome { records, high_watermark: hw, log_start_offset: start, log_end_offset: end })
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
        }
        Ok(self.log.log_start_offset())
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
