//! [`QueueService`]: the catalog of queues and the async operations front-ends call.
//!
//! Each queue has one lock (never held across an `.await`) and one timer task that sleeps on
//! the injected clock until the queue's next deadline (lease end, delay end, expiry), runs it,
//! and wakes long-polling receivers. Waits for fsync run on blocking threads.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};

use ferry_log::{Disk, Durability, Log, LogConfig, StdDisk};
use rand::Rng;

use super::dedup::{self, DedupEntry};
use super::error::QueueError;
use super::flusher::Flusher;
use super::moves::MoveTask;
use super::queue::{Queue, QueueRecord};
use super::storage::{MemoryLog, MessageLog};
use super::types::{
    Backoff, CreateOutcome, Delivery, Enqueued, MoveTaskInfo, NackMode, NewMessage, QueueAttributes,
    QueueStats, Receipt, ReceiveOptions,
};
use crate::clock::Clock;
use crate::metadata::{MetaOp, MetadataStore, Table};

/// Most messages one receive returns.
pub const MAX_RECEIVE_MESSAGES: usize = 1_000;
/// Most messages one enqueue call takes.
pub const MAX_ENQUEUE_MESSAGES: usize = 10_000;
/// Longest long-poll wait.
pub const MAX_WAIT_MS: u64 = 20 * 60_000;
/// Largest `max_message_bytes` a queue may have.
pub const MAX_MESSAGE_BYTES_LIMIT: u32 = 16 << 20;
/// Most dead-letter hops followed in one go (a target's own overflow dead-letters onward).
pub(super) const MAX_DEAD_LETTER_HOPS: usize = 8;

/// Where queue messages are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueStorage {
    /// A ferry-log per queue on `disk`.
    #[default]
    Disk,
    /// In memory (the journal still goes to `disk`): messages are lost at exit; for tests.
    Memory,
}

/// Service-wide settings.
#[derive(Clone, Debug)]
pub struct QueueServiceConfig {
    /// Where messages are kept.
    pub storage: QueueStorage,
    /// The file system under the queues (tests inject faults through it).
    pub disk: Arc<dyn Disk>,
    /// Size at which a queue's log rolls to a new segment; settled segments are deleted whole.
    pub segment_bytes: u64,
    /// When enqueued messages are fsynced (`Always`: before the enqueue returns).
    pub durability: Durability,
    /// Journal size that triggers a checkpoint (and the deletion of settled segments).
    pub journal_checkpoint_bytes: u64,
    /// How long a deleted queue's name cannot be reused (`QueueDeletedRecently`); 0 = at once.
    pub deleted_name_cooldown_ms: u64,
    /// Most queues.
    pub max_queues: usize,
}

impl Default for QueueServiceConfig {
    fn default() -> Self {
        QueueServiceConfig {
            storage: QueueStorage::default(),
            disk: Arc::new(StdDisk),
            segment_bytes: 64 << 20,
            durability: Durability::Always,
            journal_checkpoint_bytes: 4 << 20,
            deleted_name_cooldown_ms: 0,
            max_queues: 100_000,
        }
    }
}

/// What a queue holds: per-message records and settled ranges in memory, log bytes on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueFootprint {
    /// Messages with a per-message record (in flight, delayed, prioritised, grouped...).
    pub records: usize,
    /// Disjoint ranges of settled offsets kept.
    pub settled_ranges: usize,
    /// Bytes of the message log.
    pub log_bytes: u64,
}

/// An enqueue appended but not yet durable nor receivable (see [`QueueService::begin_enqueue`]).
#[derive(Debug)]
#[must_use = "a pending enqueue's messages stay invisible until it is finished"]
pub struct PendingEnqueue {
    svc: Arc<QueueService>,
    q: Arc<Queue>,
    staged: super::queue::Staged,
}

impl PendingEnqueue {
    /// One result per message, as known once appended (a full queue's refusal, a duplicate).
    pub fn results(&self) -> &[Result<Enqueued, QueueError>] {
        &self.staged.results
    }

    /// Waits until the messages (and their dedup ids) are durable; they are receivable then.
    pub async fn finish(self) -> Result<Vec<Result<Enqueued, QueueError>>, QueueError> {
        let PendingEnqueue { svc, q, mut staged } = self;
        let refused = std::mem::take(&mut staged.refused);
        svc.dead_letter_refused(&q, refused).await;
        if let Some(end) = staged.sync_to
            && let Err(e) = wait_log_durable(&svc, &q, end).await
        {
            q.abort_enqueue(end, &staged.dedup_ids);
            return Err(e);
        }
        // An answer waits for the dedup ids too: a retry after a crash must still be recognised.
        // The messages are durable (and receivable) whatever happens to their ids: the ids stay
        // remembered in memory (a retry is recognised) and are recovered from the log after a
        // restart.
        if !staged.dedup_ops.is_empty() {
            let meta = svc.meta.clone();
            let ops = staged.dedup_ops;
            if let Err(e) = blocking(move || meta.commit(&ops).map_err(QueueError::storage)).await {
                tracing::warn!(queue = %q.name, error = %e, "dedup ids not persisted; enqueue answered with an error");
                return Err(e);
            }
        }
        Ok(staged.results)
    }
}

/// Waits until `q`'s log is durable up to `end` and what was appended below it is receivable.
/// One waiter at a time fsyncs everything appended so far (on the blocking pool), makes it
/// receivable and announces it; the others wait for the announcement. Concurrent enqueues so
/// share one fsync and one commit under the queue lock, and park no thread each.
async fn wait_log_durable(svc: &QueueService, q: &Arc<Queue>, end: u64) -> Result<(), QueueError> {
    use std::sync::atomic::Ordering;
    let mut announced = q.durable_upto.subscribe();
    loop {
        if *announced.borrow_and_update() >= end {
            return Ok(());
        }
        if !q.syncing.swap(true, Ordering::AcqRel) {
            let turn = SyncTurn(q);
            let q2 = q.clone();
            let synced = blocking(move || {
                let target = q2.log_end();
                q2.sync_log(target).map(|()| target)
            })
            .await;
            let mut leaving = Vec::new();
            let outcome = synced.and_then(|target| {
                leaving = q.commit_enqueue(target, svc.clock().now_ms())?;
                q.durable_upto.send_modify(|d| *d = (*d).max(target));
                Ok(())
            });
            drop(turn);
            // After the turn: a dead-letter may go to this very queue and wait for its disk.
            svc.dead_letter(q, leaving).await;
            outcome?;
            continue;
        }
        if announced.changed().await.is_err() {
            return Err(QueueError::Storage("queue closed while waiting for the disk".into()));
        }
    }
}

/// The turn of the waiter that fsyncs: ended when dropped, even if the waiter is cancelled,
/// and announced, so that another waiter takes a turn if the durable offset did not move.
struct SyncTurn<'a>(&'a Arc<Queue>);

impl Drop for SyncTurn<'_> {
    fn drop(&mut self) {
        self.0.syncing.store(false, std::sync::atomic::Ordering::Release);
        self.0.durable_upto.send_modify(|_| {});
    }
}

/// Told the name of each deleted queue (see [`QueueService::set_deletion_listener`]).
pub type DeletionListener = Arc<dyn Fn(&str) + Send + Sync>;

/// Every queue of the broker.
pub struct QueueService {
    dir: PathBuf,
    meta: Arc<dyn MetadataStore>,
    clock: Arc<dyn Clock>,
    config: QueueServiceConfig,
    queues: RwLock<BTreeMap<String, Arc<Queue>>>,
    /// name -> deletion time, for the reuse cooldown; only names within their cooldown.
    pub(super) deleted: Mutex<HashMap<String, i64>>,
    pub(super) moves: Mutex<BTreeMap<String, Arc<MoveTask>>>,
    /// Syncs the journals of queues that answer settlements before they are durable.
    flusher: Flusher,
    /// Push consumers of each queue.
    pub(super) consumers: super::subscription::Consumers,
    /// Routes dead-letters sent to an exchange (set once by the broker that owns the router).
    dead_letter_router: std::sync::OnceLock<Arc<dyn super::DeadLetterRouter>>,
    /// Told the name of every deleted queue (the broker drops its bindings).
    deletion_listener: std::sync::OnceLock<DeletionListener>,
    this: Weak<QueueService>,
}

impl std::fmt::Debug for QueueService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueService").field("dir", &self.dir).finish()
    }
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, QueueError> + Send + 'static,
) -> Result<T, QueueError> {
    tokio::task::spawn_blocking(f).await.map_err(QueueError::storage)?
}

/// Valid names: 1 to 255 characters, none of them '/', a control character or a space.
fn validate_name(name: &str) -> Result<(), QueueError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c.is_control() || c.is_whitespace());
    if ok { Ok(()) } else { Err(QueueError::NameInvalid(name.to_string())) }
}

fn validate_attrs(name: &str, a: &QueueAttributes) -> Result<(), QueueError> {
    if a.dead_letter.as_deref() == Some(name) && a.dead_letter_exchange.is_none() {
        return Err(QueueError::InvalidAttribute("a queue cannot be its own dead-letter target".into()));
    }
    if let Some(b) = &a.retry_backoff
        && b.base_ms > b.cap_ms
    {
        return Err(QueueError::InvalidAttribute("retry backoff base exceeds its cap".into()));
    }
    if a.max_deliveries == Some(0) {
        return Err(QueueError::InvalidAttribute("max deliveries must be at least 1".into()));
    }
    if a.max_message_bytes == 0 || a.max_message_bytes > MAX_MESSAGE_BYTES_LIMIT {
        return Err(QueueError::InvalidAttribute(format!(
            "max message bytes must be between 1 and {MAX_MESSAGE_BYTES_LIMIT}"
        )));
    }
    Ok(())
}

/// The delay before redelivering a message nacked after `count` deliveries.
pub fn backoff_ms(b: &Backoff, count: u32) -> u64 {
    let exp = count.saturating_sub(1).min(63);
    let d = if b.linear {
        b.base_ms.saturating_mul(u64::from(count.max(1))).min(b.cap_ms)
    } else {
        b.base_ms.saturating_mul(1u64.checked_shl(exp).unwrap_or(u64::MAX)).min(b.cap_ms)
    };
    if b.jitter && d > 0 { rand::rng().random_range(0..=d) } else { d }
}

impl QueueService {
    /// Opens every queue recorded in the metadata store, recovering logs and journals under `dir`.
    pub async fn open(
        dir: PathBuf,
        meta: Arc<dyn MetadataStore>,
        clock: Arc<dyn Clock>,
        config: QueueServiceConfig,
    ) -> Result<Arc<QueueService>, QueueError> {
        let flusher = Flusher::start(config.journal_checkpoint_bytes);
        let svc = Arc::new_cyclic(|this| QueueService {
            dir,
            meta,
            clock,
            config,
            queues: RwLock::new(BTreeMap::new()),
            deleted: Mutex::new(HashMap::new()),
            moves: Mutex::new(BTreeMap::new()),
            flusher,
            consumers: Default::default(),
            dead_letter_router: std::sync::OnceLock::new(),
            deletion_listener: std::sync::OnceLock::new(),
            this: this.clone(),
        });
        let records = svc.meta.scan_prefix(Table::Queues, "").map_err(QueueError::storage)?;
        let mut transient = Vec::new();
        for (name, bytes) in records {
            let rec: QueueRecord = match serde_json::from_slice(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(queue = %name, error = %e, "unreadable queue record; queue skipped");
                    continue;
                }
            };
            if !rec.attrs.durable {
                transient.push(name.clone());
            }
            let q = svc.open_queue(&name, rec)?;
            svc.queues.write().map_err(QueueError::storage)?.insert(name, q.clone());
            svc.spawn_timer(q.clone());
            svc.spawn_expiry(q);
        }
        for name in transient {
            tracing::info!(queue = %name, "transient queue from before the restart deleted");
            svc.delete_queue(&name).await?;
        }
        Ok(svc)
    }

    fn queue_dir(&self, incarnation: u64) -> PathBuf {
        self.dir.join("queues").join(format!("{incarnation:016x}"))
    }

    fn open_log(&self, dir: &Path) -> Result<Arc<dyn MessageLog>, QueueError> {
        match self.config.storage {
            QueueStorage::Memory => Ok(Arc::new(MemoryLog::new())),
            QueueStorage::Disk => {
                let config = LogConfig {
                    segment_bytes: self.config.segment_bytes,
                    durability: self.config.durability.clone(),
                    // One message may carry up to 16 MiB of body and a few KiB of headers.
                    max_batch_bytes: 2 * MAX_MESSAGE_BYTES_LIMIT,
                    ..LogConfig::default()
                };
                let log = Log::open_with(dir.join("log"), config, self.config.disk.clone())
                    .map_err(QueueError::storage)?;
                Ok(Arc::new(log))
            }
        }
    }

    fn open_queue(&self, name: &str, rec: QueueRecord) -> Result<Arc<Queue>, QueueError> {
        let dir = self.queue_dir(rec.incarnation);
        let log = self.open_log(&dir)?;
        let mut entries = Vec::new();
        for (key, value) in
            self.meta.scan_prefix(Table::Dedup, &dedup::meta_prefix(name)).map_err(QueueError::storage)?
        {
            if let (Some(id), Ok(e)) =
                (key.strip_prefix(&dedup::meta_prefix(name)), serde_json::from_slice::<DedupEntry>(&value))
            {
                entries.push((id.to_string(), e));
            }
        }
        let (q, rebuilt) = Queue::open(
            name.to_string(),
            dir,
            self.config.disk.clone(),
            rec,
            log,
            entries,
            self.clock.now_ms(),
        )?;
        if !rebuilt.is_empty() {
            tracing::info!(queue = %name, ids = rebuilt.len(), "dedup ids recovered from the log");
            self.meta.commit(&rebuilt).map_err(QueueError::storage)?;
        }
        Ok(Arc::new(q))
    }

    /// The open queue named `name`.
    fn queue(&self, name: &str) -> Result<Arc<Queue>, QueueError> {
        self.queues
            .read()
            .map_err(QueueError::storage)?
            .get(name)
            .cloned()
            .ok_or_else(|| QueueError::NoSuchQueue(name.to_string()))
    }

    /// Whether a queue named `name` is open (a catalog lookup: no lock of the queue taken).
    pub fn exists(&self, name: &str) -> bool {
        self.queues.read().is_ok_and(|m| m.contains_key(name))
    }

    /// The clock the service runs on.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Creates a queue, or reports that it exists (and whether with the same attributes).
    pub async fn create_queue(
        &self,
        name: &str,
        attrs: QueueAttributes,
    ) -> Result<CreateOutcome, QueueError> {
        validate_name(name)?;
        validate_attrs(name, &attrs)?;
        if let Ok(q) = self.queue(name) {
            let rec = q.record()?;
            self.touch(&q);
            return Ok(CreateOutcome::Exists { same_attributes: rec.attrs == attrs });
        }
        let now = self.clock.now_ms();
        if self.config.deleted_name_cooldown_ms > 0
            && let Some(&at) = self.deleted.lock().map_err(QueueError::storage)?.get(name)
            && now < at.saturating_add(self.config.deleted_name_cooldown_ms as i64)
        {
            return Err(QueueError::QueueDeletedRecently(name.to_string()));
        }
        if self.queues.read().map_err(QueueError::storage)?.len() >= self.config.max_queues {
            return Err(QueueError::InvalidAttribute(format!("at most {} queues", self.config.max_queues)));
        }
        let rec = QueueRecord { attrs, created_ms: now, modified_ms: now, incarnation: rand::rng().random() };
        let value = serde_json::to_vec(&rec).map_err(QueueError::storage)?;
        let meta = self.meta.clone();
        let key = name.to_string();
        blocking(move || {
            meta.commit(&[
                MetaOp::put(Table::Queues, key.clone(), value),
                MetaOp::delete_prefix(Table::Dedup, dedup::meta_prefix(&key)),
            ])
            .map_err(QueueError::storage)
        })
        .await?;
        let q = self.open_queue(name, rec)?;
        {
            let mut queues = self.queues.write().map_err(QueueError::storage)?;
            if let Some(existing) = queues.get(name) {
                // Lost a race with a concurrent create of the same name.
                let same = existing.record()?.attrs == q.record()?.attrs;
                return Ok(CreateOutcome::Exists { same_attributes: same });
            }
            queues.insert(name.to_string(), q.clone());
        }
        self.spawn_timer(q.clone());
        self.spawn_expiry(q);
        Ok(CreateOutcome::Created)
    }

    /// Deletes a queue and its messages.
    pub async fn delete_queue(&self, name: &str) -> Result<(), QueueError> {
        let q = self
            .queues
            .write()
            .map_err(QueueError::storage)?
            .remove(name)
            .ok_or_else(|| QueueError::NoSuchQueue(name.to_string()))?;
        q.mark_deleted();
        self.consumers.kick(name);
        if let Some(listener) = self.deletion_listener.get() {
            listener(name);
        }
        self.remember_deleted(name)?;
        let meta = self.meta.clone();
        let key = name.to_string();
        blocking(move || {
            meta.commit(&[
                MetaOp::delete(Table::Queues, key.clone()),
                MetaOp::delete_prefix(Table::Dedup, dedup::meta_prefix(&key)),
            ])
            .map_err(QueueError::storage)?;
            q.destroy()
        })
        .await
    }

    /// Keeps `name` from being reused for the cooldown; forgets names whose cooldown is over, so
    /// the set holds at most the names deleted within one cooldown (none when it is 0).
    fn remember_deleted(&self, name: &str) -> Result<(), QueueError> {
        let cooldown_ms = self.config.deleted_name_cooldown_ms as i64;
        if cooldown_ms == 0 {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let mut deleted = self.deleted.lock().map_err(QueueError::storage)?;
        deleted.retain(|_, at| now < at.saturating_add(cooldown_ms));
        deleted.insert(name.to_string(), now);
        Ok(())
    }

    /// Stops every queue and makes what was written durable (shutdown). The service answers
    /// `NoSuchQueue` afterwards.
    pub async fn close(&self) -> Result<(), QueueError> {
        let queues: Vec<Arc<Queue>> =
            std::mem::take(&mut *self.queues.write().map_err(QueueError::storage)?).into_values().collect();
        if let Ok(moves) = self.moves.lock() {
            for t in moves.values() {
                t.cancel();
            }
        }
        blocking(move || {
            let mut first_err = Ok(());
            for q in queues {
                if let Err(e) = q.close() {
                    tracing::warn!(queue = %q.name, error = %e, "queue close failed");
                    if first_err.is_ok() {
                        first_err = Err(e);
                    }
                }
            }
            first_err
        })
        .await
    }

    /// Names of the queues, sorted, optionally only those starting with `prefix`.
    pub fn list_queues(&self, prefix: Option<&str>) -> Vec<String> {
        let Ok(queues) = self.queues.read() else { return Vec::new() };
        queues.keys().filter(|n| prefix.is_none_or(|p| n.starts_with(p))).cloned().collect()
    }

    /// The queue's attributes.
    pub fn queue_attributes(&self, name: &str) -> Result<QueueAttributes, QueueError> {
        Ok(self.queue(name)?.record()?.attrs)
    }

    /// The queue's figures.
    pub fn queue_stats(&self, name: &str) -> Result<QueueStats, QueueError> {
        self.queue(name)?.stats(self.clock.now_ms())
    }

    /// Replaces the queue's attributes (the whole set; read, change, write).
    pub async fn set_queue_attributes(&self, name: &str, attrs: QueueAttributes) -> Result<(), QueueError> {
        validate_attrs(name, &attrs)?;
        let q = self.queue(name)?;
        let mut rec = q.record()?;
        if rec.attrs.fifo != attrs.fifo {
            return Err(QueueError::InvalidAttribute("FIFO cannot be changed after creation".into()));
        }
        rec.attrs = attrs;
        rec.modified_ms = self.clock.now_ms();
        let value = serde_json::to_vec(&rec).map_err(QueueError::storage)?;
        let meta = self.meta.clone();
        let key = name.to_string();
        blocking(move || meta.commit(&[MetaOp::put(Table::Queues, key, value)]).map_err(QueueError::storage))
            .await?;
        q.set_record(rec)
    }

    /// Enqueues `msgs` as one batch (one fsync). Durable when it returns; one result per message.
    pub async fn enqueue(
        &self,
        name: &str,
        msgs: Vec<NewMessage>,
    ) -> Result<Vec<Result<Enqueued, QueueError>>, QueueError> {
        self.begin_enqueue(name, msgs).await?.finish().await
    }

    /// The first half of [`QueueService::enqueue`]: validates, deduplicates and appends `msgs`
    /// (in the order of calls: two enqueues begun one after the other are stored in that order),
    /// without waiting for the disk. [`PendingEnqueue::finish`] waits for it and makes the
    /// messages receivable; it must be called (the messages stay invisible until then), and
    /// several pending enqueues may finish together, sharing one fsync.
    pub async fn begin_enqueue(
        &self,
        name: &str,
        msgs: Vec<NewMessage>,
    ) -> Result<PendingEnqueue, QueueError> {
        if msgs.len() > MAX_ENQUEUE_MESSAGES {
            return Err(QueueError::InvalidAttribute(format!(
                "at most {MAX_ENQUEUE_MESSAGES} messages per enqueue"
            )));
        }
        let q = self.queue(name)?;
        let svc = self.this().ok_or_else(|| QueueError::Storage("queue service closed".into()))?;
        let now = self.clock.now_ms();
        // The append is a write into the page cache, done here so that a connection's
        // publishes are staged back to back (a hop to the blocking pool per message would bound
        // a publisher to one hop's latency per message); the fsync waits on the blocking pool.
        let staged = q.stage_enqueue(msgs, now)?;
        Ok(PendingEnqueue { svc, q, staged })
    }

    /// Leases up to `max_messages`, waiting up to `wait_ms` for at least one (woken by
    /// enqueues, lease expiries and delay expiries). Cancelling it loses nothing: messages
    /// leased by a cancelled call come back when their lease ends.
    pub async fn receive(&self, name: &str, opts: ReceiveOptions) -> Result<Vec<Delivery>, QueueError> {
        let q = self.queue(name)?;
        self.touch(&q);
        let max = opts.max_messages.clamp(1, MAX_RECEIVE_MESSAGES);
        let wait = opts.wait_ms.unwrap_or(q.record()?.attrs.receive_wait_ms).min(MAX_WAIT_MS);
        let deadline = self.clock.now_ms().saturating_add(wait as i64);
        loop {
            let notified = q.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (deliveries, leaving) = q.receive_now(
                self.clock.now_ms(),
                max,
                opts.lease_ms,
                opts.receive_request_attempt_id.as_deref(),
            )?;
            self.dead_letter(&q, leaving).await;
            if !deliveries.is_empty() || self.clock.now_ms() >= deadline {
                self.checkpoint_soon(&q);
                return Ok(deliveries);
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = self.clock.sleep_until(deadline) => {}
            }
        }
    }

    /// Deletes the message leased under `receipt`. Durable when it returns if the queue settles
    /// synchronously, within a few milliseconds otherwise (see `QueueAttributes::sync_settlements`).
    pub async fn ack(&self, name: &str, receipt: Receipt) -> Result<(), QueueError> {
        let q = self.queue(name)?;
        let seq = q.ack(receipt)?;
        self.settle(&q, seq).await
    }

    /// Deletes several leased messages with one journal sync; one result per receipt, in order.
    /// Durable as [`QueueService::ack`] is.
    pub async fn ack_batch(
        &self,
        name: &str,
        receipts: &[Receipt],
    ) -> Result<Vec<Result<(), QueueError>>, QueueError> {
        let q = self.queue(name)?;
        let mut seq = 0;
        let results = receipts
            .iter()
            .map(|r| {
                q.ack(*r).map(|s| {
                    seq = seq.max(s);
                })
            })
            .collect();
        self.settle(&q, seq).await?;
        Ok(results)
    }

    /// Makes a settlement durable up to journal `seq`: before returning for queues that settle
    /// synchronously, soon after (a shared background sync) for the others.
    async fn settle(&self, q: &Arc<Queue>, seq: u64) -> Result<(), QueueError> {
        if q.settles_synchronously()? || !self.flusher.defer(q, seq) {
            self.sync_journal(q, seq).await
        } else {
            Ok(())
        }
    }

    /// Waits until every settlement answered so far is durable (settlements of standard queues
    /// are answered before their journal sync).
    pub async fn sync_settlements(&self) -> Result<(), QueueError> {
        let this = self.this.upgrade().ok_or_else(|| QueueError::Storage("queue service closed".into()))?;
        blocking(move || {
            this.flusher.wait_idle();
            Ok(())
        })
        .await
    }

    async fn sync_journal(&self, q: &Arc<Queue>, seq: u64) -> Result<(), QueueError> {
        let q2 = q.clone();
        let limit = self.config.journal_checkpoint_bytes;
        blocking(move || {
            q2.sync_journal(seq)?;
            // The change is durable now; a failed checkpoint only delays truncation.
            if let Err(e) = q2.maybe_checkpoint(limit) {
                tracing::warn!(queue = %q2.name, error = %e, "queue checkpoint failed");
            }
            Ok(())
        })
        .await
    }

    fn checkpoint_soon(&self, q: &Arc<Queue>) {
        let q2 = q.clone();
        let limit = self.config.journal_checkpoint_bytes;
        tokio::task::spawn_blocking(move || {
            if let Err(e) = q2.maybe_checkpoint(limit) {
                tracing::warn!(queue = %q2.name, error = %e, "queue checkpoint failed");
            }
        });
    }

    /// Gives a leased message back (see [`NackMode`]).
    pub async fn nack(&self, name: &str, receipt: Receipt, mode: NackMode) -> Result<(), QueueError> {
        let q = self.queue(name)?;
        let now = self.clock.now_ms();
        let (seq, leaving) = match mode {
            NackMode::Requeue => q.nack(receipt, None, false, now)?,
            NackMode::Delay(ms) => q.nack(receipt, Some(ms), false, now)?,
            NackMode::Backoff => {
                let delay = q
                    .record()?
                    .attrs
                    .retry_backoff
                    .map(|b| backoff_ms(&b, q.delivery_count(receipt).unwrap_or(1)));
                q.nack(receipt, delay, false, now)?
            }
            NackMode::DeadLetter => q.nack(receipt, None, true, now)?,
        };
        self.dead_letter(&q, leaving).await;
        self.settle(&q, seq).await
    }

    /// Sets the lease of a leased message to end `lease_ms` from now (0: ready at once).
    pub async fn change_lease(&self, name: &str, receipt: Receipt, lease_ms: u64) -> Result<(), QueueError> {
        let q = self.queue(name)?;
        let leaving = q.change_lease(receipt, lease_ms, self.clock.now_ms())?;
        self.dead_letter(&q, leaving).await;
        Ok(())
    }

    /// Deletes every message of the queue, in flight ones included.
    pub async fn purge(&self, name: &str) -> Result<(), QueueError> {
        let q = self.queue(name)?;
        let seq = q.purge()?;
        self.sync_journal(&q, seq).await?;
        // The purge is durable; the checkpoint frees the purged segments, and may wait if it fails.
        let q2 = q.clone();
        if let Err(e) = blocking(move || q2.checkpoint()).await {
            tracing::warn!(queue = %name, error = %e, "checkpoint after purge failed");
        }
        Ok(())
    }

    /// Up to `max` ready messages in delivery order, without leasing them.
    pub async fn peek(&self, name: &str, max: usize) -> Result<Vec<Delivery>, QueueError> {
        let q = self.queue(name)?;
        let (leaving, _) = q.tick(self.clock.now_ms())?;
        self.dead_letter(&q, leaving).await;
        q.peek(max.min(MAX_RECEIVE_MESSAGES))
    }

    /// What the queue holds in memory and on disk (for memory accounting and operators).
    pub fn queue_footprint(&self, name: &str) -> Result<QueueFootprint, QueueError> {
        let (records, settled_ranges, log_bytes) = self.queue(name)?.footprint()?;
        Ok(QueueFootprint { records, settled_ranges, log_bytes })
    }

    /// The delivery limit of `name` (`max_deliveries`), cheap enough to ask per delivery.
    pub fn delivery_limit(&self, name: &str) -> Option<u32> {
        self.queue(name).ok().and_then(|q| q.max_deliveries())
    }

    /// Queues whose dead-letter target is `name`.
    pub fn dead_letter_sources(&self, name: &str) -> Vec<String> {
        let Ok(queues) = self.queues.read() else { return Vec::new() };
        queues
            .iter()
            .filter(|(_, q)| q.record().is_ok_and(|r| r.attrs.dead_letter.as_deref() == Some(name)))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Starts moving ready messages from `source` to `destination` (`None`: each message's
    /// dead-letter source) at most `max_per_second`.
    pub fn start_move(
        &self,
        source: &str,
        destination: Option<&str>,
        max_per_second: Option<u32>,
    ) -> Result<MoveTaskInfo, QueueError> {
        super::moves::start(self, source, destination, max_per_second)
    }

    /// Move tasks of `source`, newest first.
    pub fn list_moves(&self, source: &str) -> Vec<MoveTaskInfo> {
        super::moves::list(self, source)
    }

    /// Cancels a running move task.
    pub fn cancel_move(&self, handle: &str) -> Result<MoveTaskInfo, QueueError> {
        super::moves::cancel(self, handle)
    }

    /// Installs the router dead-letters to an exchange go through; only the first call counts.
    pub fn set_dead_letter_router(&self, router: Arc<dyn super::DeadLetterRouter>) {
        let _ = self.dead_letter_router.set(router);
    }

    /// Installs the function told the name of every deleted queue; only the first call counts.
    pub fn set_deletion_listener(&self, listener: DeletionListener) {
        let _ = self.deletion_listener.set(listener);
    }

    pub(super) fn dead_letter_router(&self) -> Option<&Arc<dyn super::DeadLetterRouter>> {
        self.dead_letter_router.get()
    }

    pub(super) fn this(&self) -> Option<Arc<QueueService>> {
        self.this.upgrade()
    }

    pub(super) fn weak(&self) -> Weak<QueueService> {
        self.this.clone()
    }

    pub(super) fn get(&self, name: &str) -> Result<Arc<Queue>, QueueError> {
        self.queue(name)
    }
}
