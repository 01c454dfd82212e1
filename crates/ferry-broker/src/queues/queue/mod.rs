//! One queue: its message log, delivery state, journal and dedup window behind one lock.
//!
//! Every method here is synchronous and short; the lock is a std `Mutex` never held across an
//! `.await`. Slow waits (fsync of the log or the journal) happen outside it: methods return
//! what to wait for and the service waits on a blocking thread.

mod cache;
mod enqueue;
pub use enqueue::Staged;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ferry_log::Disk;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::codec::{self, StoredMessage};
use super::dedup::{DedupEntry, DedupWindow};
use super::error::QueueError;
use super::journal::{Journal, Snapshot};
use super::state::{DeliveryState, Incoming, Leased, Outgoing, Policy, ReceiptError, SettleReason};
use super::storage::MessageLog;
use super::types::{Delivery, QueueAttributes, QueueStats, Receipt};
use crate::metadata::MetaOp;
use cache::{ReadCache, Source};

/// Enqueues larger than this are split into several batches (all synced together).
pub const BATCH_SPLIT_BYTES: usize = 4 << 20;
/// How long a receive-request attempt id is remembered (as SQS does).
const RECEIVE_ATTEMPT_WINDOW_MS: i64 = 300_000;
/// Most attempt ids remembered per queue.
const MAX_RECEIVE_ATTEMPTS: usize = 10_000;
/// Bytes read from the log at a time when serving messages.
const READ_CHUNK_BYTES: usize = 256 * 1024;

/// What the metadata store keeps about a queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRecord {
    /// Its configuration.
    pub attrs: QueueAttributes,
    /// Creation time.
    pub created_ms: i64,
    /// Last attribute change.
    pub modified_ms: i64,
    /// Random id of this incarnation of the name: receipts and the directory carry it.
    pub incarnation: u64,
}

/// A message that must be copied to the dead-letter target, then settled here.
#[derive(Debug)]
pub struct Leaving {
    /// The state machine's hand-off.
    pub out: Outgoing,
    /// The message as stored.
    pub msg: StoredMessage,
}

struct Inner {
    rec: QueueRecord,
    policy: Policy,
    state: DeliveryState,
    /// Appended batches not yet durable: base offset -> messages to register once durable.
    pending: BTreeMap<u64, Vec<Incoming>>,
    pending_len: u64,
    pending_bytes: u64,
    dedup: DedupWindow,
    cache: ReadCache,
    /// Receive-request attempt id -> (expiry, what that receive leased), so that a retried
    /// receive gets the same messages and receipts back while they are still leased.
    attempts: HashMap<String, (i64, Vec<Leased>)>,
    deleted: bool,
}

/// An open queue.
pub struct Queue {
    /// Its name.
    pub name: String,
    /// Directory of its log and journal.
    pub dir: PathBuf,
    disk: Arc<dyn Disk>,
    incarnation: u64,
    log: Arc<dyn MessageLog>,
    journal: Journal,
    inner: Mutex<Inner>,
    /// Woken when messages may have become ready (receivers long-poll on it) or the queue is gone.
    pub ready: Notify,
    /// Woken when the next timer deadline may have moved earlier.
    pub timers: Notify,
    /// Last time the queue was used (declared, received from, subscribed to), for `expires_ms`.
    pub last_used_ms: std::sync::atomic::AtomicI64,
    /// How far the log is known durable; every change (a sync done, or failed) is announced,
    /// so enqueues wait on it without a thread each.
    pub durable_upto: tokio::sync::watch::Sender<u64>,
    /// True while one enqueue fsyncs the log for every waiter.
    pub syncing: std::sync::atomic::AtomicBool,
    /// What happened to the queue's messages since the broker started (for metrics).
    activity: Activity,
}

/// Counters of a queue's traffic since the broker started: Prometheus counters, which may
/// restart from zero with the process (unlike the journal's `Counters`, which are kept).
#[derive(Debug, Default)]
struct Activity {
    enqueued: AtomicU64,
    delivered: AtomicU64,
    redelivered: AtomicU64,
    acked: AtomicU64,
    nacked: AtomicU64,
}

impl Activity {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("name", &self.name).finish()
    }
}

/// The policy the state machine applies for `attrs`.
pub fn policy_of(attrs: &QueueAttributes) -> Policy {
    Policy {
        fifo: attrs.fifo,
        max_deliveries: attrs.max_deliveries,
        dead_letter: attrs.has_dead_letter_target(),
        ttl_ms: attrs.message_ttl_ms,
        retention_ms: attrs.retention_ms,
        max_length: attrs.max_length,
        max_bytes: attrs.max_bytes,
        overflow: attrs.overflow,
    }
}

/// How the state sees a stored message under `attrs` (used at enqueue and at recovery).
fn incoming_of(m: &StoredMessage, attrs: &QueueAttributes, count: u32) -> Incoming {
    let ts = m.timestamp_ms;
    let priority = match attrs.max_priority {
        Some(max) => m.priority.min(max),
        None => 0,
    };
    // On a standard queue a group id names a fair-queue tenant.
    let group = if attrs.fifo { Some(m.group_id.clone().unwrap_or_default()) } else { m.group_id.clone() };
    let due_ms = if m.delay_ms > 0 { ts.saturating_add(m.delay_ms as i64) } else { 0 };
    let stateful = priority > 0 || group.is_some() || due_ms > 0 || m.ttl_ms.is_some() || count > 0;
    // Retention of records is checked lazily at delivery; only a TTL gets a timer.
    let ttl = [m.ttl_ms, attrs.message_ttl_ms].into_iter().flatten().min();
    let (expire_ms, expire_is_ttl) = match ttl {
        Some(t) if stateful => {
            let ttl_at = ts.saturating_add(t as i64);
            let retention_at = ts.saturating_add(attrs.retention_ms as i64);
            if ttl_at <= retention_at { (ttl_at, true) } else { (retention_at, false) }
        }
        _ => (0, false),
    };
    Incoming {
        offset: m.offset,
        priority,
        group,
        due_ms,
        expire_ms,
        expire_is_ttl,
        size: u32::try_from(m.size_bytes()).unwrap_or(u32::MAX),
        count,
    }
}

fn receipt_error(e: ReceiptError, r: Receipt) -> QueueError {
    match e {
        ReceiptError::Superseded => QueueError::ReceiptSuperseded(r.to_string()),
        ReceiptError::Unknown => QueueError::InvalidReceipt(format!("{r} names no delivery of its message")),
        ReceiptError::NotInFlight => QueueError::ReceiptExpired,
    }
}

/// The dedup entry a message stored by an enqueue holds while its window lasts (copies made by
/// dead-lettering and moves never entered the window).
fn dedup_entry_of(m: &StoredMessage, attrs: &QueueAttributes, now_ms: i64) -> Option<DedupEntry> {
    let expires_ms = m.timestamp_ms.saturating_add(attrs.dedup_window_ms as i64);
    (m.dedup_id.is_some() && m.dead_letter_source.is_none() && expires_ms > now_ms).then(|| DedupEntry {
        message_id: m.message_id.clone(),
        sequence_number: attrs.fifo.then_some(m.offset),
        expires_ms,
    })
}

impl Queue {
    /// Opens (or creates) the queue over `log`, replaying the journal in `dir` and rebuilding
    /// the delivery state from the unsettled part of the log. Messages that were in flight are
    /// ready again, counted as delivered. Dedup ids of stored messages that the metadata store
    /// lost are remembered again; the returned writes persist them.
    pub fn open(
        name: String,
        dir: PathBuf,
        disk: Arc<dyn Disk>,
        rec: QueueRecord,
        log: Arc<dyn MessageLog>,
        dedup_entries: Vec<(String, DedupEntry)>,
        now_ms: i64,
    ) -> Result<(Queue, Vec<MetaOp>), QueueError> {
        let (journal, snap) = Journal::open(disk.clone(), &dir).map_err(QueueError::storage)?;
        let mut state = DeliveryState::new(log.start_offset()).with_fair_groups(!rec.attrs.fifo);
        state.restore_settled(&snap.settled);
        state.set_counters(snap.counters.clone());
        let counts: BTreeMap<u64, u32> = snap.counts.iter().copied().collect();
        let mut dedup = DedupWindow::default();
        for (id, e) in dedup_entries {
            if e.expires_ms > now_ms {
                dedup.restore(id, e);
            }
        }
        // A crash between the log's fsync and the dedup entries' commit leaves stored messages
        // whose ids the store does not hold; such a message was never acknowledged, so it was
        // never received and lies in the unsettled part read below.
        let mut rebuilt = Vec::new();
        let end = log.next_offset();
        let mut at = state.low_water();
        while at < end {
            let bytes = log.read(at, 1 << 20).map_err(QueueError::storage)?;
            let mut msgs = Vec::new();
            codec::decode_batches(&bytes, at, &mut msgs).map_err(QueueError::storage)?;
            let Some(last) = msgs.last().map(|m| m.offset) else { break };
            for m in &msgs {
                if !state.is_settled(m.offset) {
                    let count = counts.get(&m.offset).copied().unwrap_or(0);
                    state.register(incoming_of(m, &rec.attrs, count), now_ms);
                }
                if let Some(entry) = dedup_entry_of(m, &rec.attrs, now_ms)
                    && let Some(id) = &m.dedup_id
                    && dedup.get(id, now_ms).is_none()
                {
                    rebuilt.push(dedup.insert(&name, id.clone(), entry));
                }
            }
            at = last + 1;
        }
        dedup.finish_restore();
        let policy = policy_of(&rec.attrs);
        let incarnation = rec.incarnation;
        let queue = Queue {
            name,
            dir,
            disk,
            incarnation,
            log,
            journal,
            inner: Mutex::new(Inner {
                rec,
                policy,
                state,
                pending: BTreeMap::new(),
                pending_len: 0,
                pending_bytes: 0,
                dedup,
                cache: ReadCache::default(),
                attempts: HashMap::new(),
                deleted: false,
            }),
            activity: Activity::default(),
            ready: Notify::new(),
            timers: Notify::new(),
            last_used_ms: std::sync::atomic::AtomicI64::new(now_ms),
            durable_upto: tokio::sync::watch::Sender::new(0),
            syncing: std::sync::atomic::AtomicBool::new(false),
        };
        Ok((queue, rebuilt))
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, QueueError> {
        let g = self.inner.lock().map_err(|_| QueueError::Storage("queue lock poisoned".into()))?;
        if g.deleted {
            return Err(QueueError::NoSuchQueue(self.name.clone()));
        }
        Ok(g)
    }

    /// Writes the state machine's pending events to the journal; the sequence to sync to.
    fn journal_events(&self, inner: &mut Inner) -> Result<u64, QueueError> {
        let events = inner.state.take_events();
        self.journal.append(&events).map_err(QueueError::storage)
    }

    /// Reads the messages of `outs` that go to the dead-letter target.
    fn leaving(&self, inner: &mut Inner, outs: Vec<Outgoing>) -> Vec<Leaving> {
        let mut v = Vec::new();
        for out in outs {
            if matches!(out.reason, SettleReason::DeadLettered | SettleReason::ExpiredDeadLettered) {
                match inner.cache.get(self.log.as_ref(), out.offset) {
                    Some(m) => v.push(Leaving { out, msg: m.clone() }),
                    None => inner.state.finish_leaving(out.offset, SettleReason::Dropped),
                }
            }
        }
        v
    }

    /// Marks the queue deleted: every later call fails with `NoSuchQueue`; waiters are woken.
    pub fn mark_deleted(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.deleted = true;
        }
        self.ready.notify_waiters();
        self.timers.notify_one();
    }

    /// Stops the queue (shutdown): later calls fail, waiters and the timer task end; then
    /// makes everything written durable.
    pub fn close(&self) -> Result<(), QueueError> {
        self.mark_deleted();
        self.log.sync_to(self.log.next_offset()).map_err(QueueError::Storage)?;
        self.journal.sync_to(u64::MAX).map_err(QueueError::storage)
    }

    /// True once deleted.
    pub fn is_deleted(&self) -> bool {
        self.inner.lock().map(|g| g.deleted).unwrap_or(true)
    }

    /// Removes the log files (after `mark_deleted`).
    pub fn destroy(&self) -> Result<(), QueueError> {
        self.log.destroy().map_err(QueueError::storage)?;
        match self.disk.remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(QueueError::storage(e)),
        }
    }

    /// The queue's record (attributes and times).
    /// The queue's delivery limit, without copying its record (read per delivery).
    pub fn max_deliveries(&self) -> Option<u32> {
        self.lock().ok().and_then(|g| g.policy.max_deliveries)
    }

    pub fn record(&self) -> Result<QueueRecord, QueueError> {
        Ok(self.lock()?.rec.clone())
    }

    /// Replaces the attributes.
    pub fn set_record(&self, rec: QueueRecord) -> Result<(), QueueError> {
        let mut g = self.lock()?;
        g.policy = policy_of(&rec.attrs);
        g.rec = rec;
        drop(g);
        self.timers.notify_one();
        Ok(())
    }

    /// True when the queue answers settlements only once they are durable.
    pub fn settles_synchronously(&self) -> Result<bool, QueueError> {
        Ok(self.lock()?.rec.attrs.settles_synchronously())
    }

    /// Log sync for the service (blocking).
    /// The offset after the last message appended (durable or not).
    pub fn log_end(&self) -> u64 {
        self.log.next_offset()
    }

    pub fn sync_log(&self, offset: u64) -> Result<(), QueueError> {
        self.log.sync_to(offset).map_err(QueueError::Storage)
    }

    /// Journal sync for the service (blocking).
    pub fn sync_journal(&self, seq: u64) -> Result<(), QueueError> {
        self.journal.sync_to(seq).map_err(QueueError::storage)
    }

    /// Leases up to `max` messages now (no waiting). Returns the deliveries and the messages
    /// to dead-letter found on the way.
    pub fn receive_now(
        &self,
        now_ms: i64,
        max: usize,
        lease_ms: Option<u64>,
        attempt_id: Option<&str>,
    ) -> Result<(Vec<Delivery>, Vec<Leaving>), QueueError> {
        let mut g = self.lock()?;
        let inner = &mut *g;
        let lease = lease_ms.unwrap_or(inner.rec.attrs.visibility_timeout_ms);
        let mut outs = Vec::new();
        let mut src = Source { log: self.log.as_ref(), cache: &mut inner.cache };
        // Leases that ended must end before an attempt id can pin its messages.
        inner.state.tick(now_ms, &inner.policy, &mut src, &mut outs);
        if let Some(id) = attempt_id {
            inner.attempts.retain(|_, (expires, _)| *expires > now_ms);
            if let Some((_, leased)) = inner.attempts.get(id)
                && !leased.is_empty()
                && leased.iter().all(|l| inner.state.is_leased(l.offset, l.count))
            {
                let leased = leased.clone();
                self.journal_events(inner)?;
                let deliveries = leased.iter().filter_map(|l| self.delivery_of(inner, *l)).collect();
                let leaving = self.leaving(inner, outs);
                return Ok((deliveries, leaving));
            }
        }
        let mut src = Source { log: self.log.as_ref(), cache: &mut inner.cache };
        let leased = inner.state.receive(now_ms, max, lease, &inner.policy, &mut src, &mut outs);
        self.journal_events(inner)?;
        let deliveries: Vec<Delivery> = leased.iter().filter_map(|l| self.delivery_of(inner, *l)).collect();
        Activity::add(&self.activity.delivered, deliveries.len() as u64);
        Activity::add(&self.activity.redelivered, deliveries.iter().filter(|d| d.redelivered).count() as u64);
        if let Some(id) = attempt_id
            && inner.attempts.len() < MAX_RECEIVE_ATTEMPTS
        {
            inner.attempts.insert(id.to_string(), (now_ms.saturating_add(RECEIVE_ATTEMPT_WINDOW_MS), leased));
        }
        let leaving = self.leaving(inner, outs);
        if !leaving.is_empty() || !deliveries.is_empty() {
            self.timers.notify_one();
        }
        Ok((deliveries, leaving))
    }

    /// The delivery of a leased message, read from the log.
    fn delivery_of(&self, inner: &mut Inner, l: Leased) -> Option<Delivery> {
        let fifo = inner.policy.fifo;
        let Some(m) = inner.cache.get(self.log.as_ref(), l.offset) else {
            tracing::warn!(queue = %self.name, offset = l.offset, "leased message missing from the log");
            return None;
        };
        Some(Delivery {
            message_id: m.message_id.clone(),
            receipt: Receipt { incarnation: self.incarnation, offset: l.offset, count: l.count },
            body: m.body.clone(),
            attributes: m.attributes.clone(),
            system_attributes: m.system_attributes.clone(),
            delivery_count: l.count,
            sent_ms: m.timestamp_ms,
            first_received_ms: l.first_received_ms,
            group_id: m.group_id.clone(),
            dedup_id: m.dedup_id.clone(),
            sequence_number: fifo.then_some(m.offset),
            dead_letter_source: m.dead_letter_source.clone(),
            redelivered: l.count > 1,
            priority: m.priority,
            envelope: m.envelope.clone(),
        })
    }

    fn parse(&self, r: Receipt) -> Result<(u64, u32), QueueError> {
        if r.incarnation != self.incarnation {
            return Err(QueueError::InvalidReceipt(format!("{r} belongs to another queue")));
        }
        Ok((r.offset, r.count))
    }

    /// Deletes the message leased under `r`; returns the journal sequence to sync.
    pub fn ack(&self, r: Receipt) -> Result<u64, QueueError> {
        let (offset, count) = self.parse(r)?;
        let mut g = self.lock()?;
        let settled = g.state.ack(offset, count).map_err(|e| receipt_error(e, r))?;
        let seq = self.journal_events(&mut g)?;
        // A repeated ack of a message already settled changes nothing and counts nothing.
        Activity::add(&self.activity.acked, u64::from(settled));
        Ok(seq)
    }

    /// Returns a leased message after `delay_ms` (None: now) or dead-letters it (`reject`).
    pub fn nack(
        &self,
        r: Receipt,
        delay_ms: Option<u64>,
        reject: bool,
        now_ms: i64,
    ) -> Result<(u64, Vec<Leaving>), QueueError> {
        let (offset, count) = self.parse(r)?;
        let mut g = self.lock()?;
        let inner = &mut *g;
        let mut outs = Vec::new();
        let res = if reject {
            inner.state.reject(offset, count, &inner.policy, &mut outs)
        } else {
            inner.state.nack(offset, count, delay_ms, now_ms, &inner.policy, &mut outs)
        };
        res.map_err(|e| receipt_error(e, r))?;
        let seq = self.journal_events(inner)?;
        let leaving = self.leaving(inner, outs);
        drop(g);
        Activity::add(&self.activity.nacked, 1);
        self.ready.notify_waiters();
        self.timers.notify_one();
        Ok((seq, leaving))
    }

    /// The delivery count of the message leased under `r` (for backoff).
    pub fn delivery_count(&self, r: Receipt) -> Result<u32, QueueError> {
        let (_, count) = self.parse(r)?;
        Ok(count)
    }

    /// Sets the lease of the message under `r` to end `lease_ms` from now.
    pub fn change_lease(&self, r: Receipt, lease_ms: u64, now_ms: i64) -> Result<Vec<Leaving>, QueueError> {
        let (offset, count) = self.parse(r)?;
        let mut g = self.lock()?;
        let inner = &mut *g;
        let mut outs = Vec::new();
        inner
            .state
            .change_lease(offset, count, lease_ms, now_ms, &inner.policy, &mut outs)
            .map_err(|e| receipt_error(e, r))?;
        self.journal_events(inner)?;
        let leaving = self.leaving(inner, outs);
        drop(g);
        if lease_ms == 0 {
            self.ready.notify_waiters();
        }
        self.timers.notify_one();
        Ok(leaving)
    }

    /// Settles every message; returns the journal sequence to sync.
    pub fn purge(&self) -> Result<u64, QueueError> {
        let mut g = self.lock()?;
        g.state.purge();
        g.cache.clear();
        self.journal_events(&mut g)
    }

    /// Up to `max` ready messages in delivery order, unchanged.
    pub fn peek(&self, max: usize) -> Result<Vec<Delivery>, QueueError> {
        let mut g = self.lock()?;
        let inner = &mut *g;
        let offsets = inner.state.peek(max);
        let mut out = Vec::with_capacity(offsets.len());
        for o in offsets {
            let (count, first) = inner.state.delivery_info(o).unwrap_or((0, 0));
            if let Some(m) = inner.cache.get(self.log.as_ref(), o) {
                out.push(Delivery {
                    message_id: m.message_id.clone(),
                    receipt: Receipt::default(),
                    body: m.body.clone(),
                    attributes: m.attributes.clone(),
                    system_attributes: m.system_attributes.clone(),
                    delivery_count: count,
                    sent_ms: m.timestamp_ms,
                    first_received_ms: first,
                    group_id: m.group_id.clone(),
                    dedup_id: m.dedup_id.clone(),
                    sequence_number: inner.policy.fifo.then_some(o),
                    dead_letter_source: m.dead_letter_source.clone(),
                    redelivered: count > 0,
                    priority: m.priority,
                    envelope: m.envelope.clone(),
                });
            }
        }
        Ok(out)
    }

    /// Figures for the queue.
    pub fn stats(&self, now_ms: i64) -> Result<QueueStats, QueueError> {
        let mut g = self.lock()?;
        let inner = &mut *g;
        let oldest = inner.state.oldest_ready();
        let oldest_ts = oldest.and_then(|o| inner.cache.get(self.log.as_ref(), o).map(|m| m.timestamp_ms));
        let c = inner.state.counters();
        Ok(QueueStats {
            ready: inner.state.ready_len(),
            in_flight: inner.state.in_flight_len(),
            delayed: inner.state.delayed_len(),
            oldest_ready_age_ms: oldest_ts.map(|t| now_ms.saturating_sub(t).max(0) as u64).unwrap_or(0),
            dead_lettered_total: c.dead_lettered,
            expired_total: c.expired,
            dropped_total: c.dropped,
            ready_bytes: inner.state.queued_bytes().saturating_sub(inner.state.delayed_bytes()),
            in_flight_bytes: inner.state.in_flight_bytes(),
            delayed_bytes: inner.state.delayed_bytes(),
            enqueued_total: self.activity.enqueued.load(Ordering::Relaxed),
            delivered_total: self.activity.delivered.load(Ordering::Relaxed),
            redelivered_total: self.activity.redelivered.load(Ordering::Relaxed),
            acked_total: self.activity.acked.load(Ordering::Relaxed),
            nacked_total: self.activity.nacked.load(Ordering::Relaxed),
            created_ms: inner.rec.created_ms,
            modified_ms: inner.rec.modified_ms,
        })
    }

    /// Runs due timers. Returns messages to dead-letter and whether any message became ready.
    pub fn tick(&self, now_ms: i64) -> Result<(Vec<Leaving>, bool), QueueError> {
        let mut g = self.lock()?;
        let inner = &mut *g;
        let mut outs = Vec::new();
        let mut src = Source { log: self.log.as_ref(), cache: &mut inner.cache };
        inner.state.tick(now_ms, &inner.policy, &mut src, &mut outs);
        self.journal_events(inner)?;
        let leaving = self.leaving(inner, outs);
        let ready = inner.state.has_ready();
        Ok((leaving, ready))
    }

    /// The next time `tick` has work.
    pub fn next_deadline(&self) -> Result<Option<i64>, QueueError> {
        let mut g = self.lock()?;
        let inner = &mut *g;
        let mut src = Source { log: self.log.as_ref(), cache: &mut inner.cache };
        Ok(inner.state.next_deadline(&inner.policy, &mut src))
    }

    /// Settles dead-lettered messages once the target holds them; returns the journal sequence.
    pub fn finish_leaving(&self, done: &[(u64, SettleReason)]) -> Result<u64, QueueError> {
        let mut g = self.lock()?;
        for &(offset, reason) in done {
            g.state.finish_leaving(offset, reason);
        }
        self.journal_events(&mut g)
    }

    /// Puts back messages whose dead-lettering failed.
    pub fn abort_leaving(&self, failed: Vec<(u64, Option<String>)>) -> Result<(), QueueError> {
        let mut g = self.lock()?;
        for (offset, group) in failed {
            g.state.abort_leaving(offset, group);
        }
        drop(g);
        self.ready.notify_waiters();
        Ok(())
    }

    /// Writes a checkpoint and drops settled segments when the journal has grown past
    /// `journal_bytes_max`.
    pub fn maybe_checkpoint(&self, journal_bytes_max: u64) -> Result<(), QueueError> {
        if self.journal.len_bytes() < journal_bytes_max {
            return Ok(());
        }
        self.checkpoint()
    }

    /// Writes a checkpoint now and drops settled segments.
    pub fn checkpoint(&self) -> Result<(), QueueError> {
        let mut g = self.lock()?;
        self.journal_events(&mut g)?;
        let snap = Snapshot {
            generation: 0,
            settled: g.state.settled().clone(),
            counts: g.state.delivery_counts(),
            counters: g.state.counters().clone(),
        };
        self.journal.checkpoint(snap).map_err(QueueError::storage)?;
        let low = g.state.low_water();
        if low > self.log.start_offset() {
            self.log.advance_start_offset(low).map_err(QueueError::Storage)?;
            g.state.advance_start(low);
            g.cache.clear();
        }
        Ok(())
    }

    /// Records and settled ranges held in memory, and log bytes (for memory accounting).
    pub fn footprint(&self) -> Result<(usize, usize, u64), QueueError> {
        let g = self.lock()?;
        Ok((g.state.record_count(), g.state.settled_range_count(), self.log.size_bytes()))
    }
}
