//! The delivery state machine of one queue: pure logic over offsets and times, no I/O.
//!
//! A plain message (no priority, delay, own TTL or group, never delivered) has no object in
//! memory: it is an offset between the read `cursor` and `end` that is neither settled nor
//! recorded. Only messages that carry state get a [`Rec`]: in flight, delayed, prioritised,
//! grouped (FIFO), expiring on their own TTL, or delivered before.
//!
//! Every change that must survive a restart is pushed to `events` for the journal; the caller
//! drains them with [`DeliveryState::take_events`].

use std::collections::{BTreeSet, HashMap, VecDeque};

use super::ranges::RangeSet;
use super::recs::RecStore;
use super::timers::Wheel;
use super::types::OverflowPolicy;

/// What the state needs to know about a message it holds no record for.
pub trait MessageSource {
    /// (enqueue time ms, size in bytes) of the message at `offset`, `None` if it is gone.
    fn meta(&mut self, offset: u64) -> Option<(i64, u32)>;
}

/// Why a message left the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SettleReason {
    /// Deleted by a consumer.
    Acked,
    /// Moved to the dead-letter target (max deliveries, nack, overflow).
    DeadLettered,
    /// TTL ran out and it was moved to the dead-letter target.
    ExpiredDeadLettered,
    /// TTL ran out and it was dropped.
    Expired,
    /// Dropped (overflow, retention, dead-lettering without a target).
    Dropped,
}

/// A durable change of delivery state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum JournalOp {
    /// The message at `offset` was delivered for the `count`-th time.
    Delivered {
        /// Offset of the message.
        offset: u64,
        /// Its delivery count after this delivery.
        count: u32,
    },
    /// The message at `offset` left the queue.
    Settled {
        /// Offset of the message.
        offset: u64,
        /// Why.
        reason: SettleReason,
    },
    /// Every message below `end` left the queue (purge).
    Purged {
        /// First offset not purged.
        end: u64,
    },
}

/// The policies of a queue as the state machine applies them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// FIFO groups.
    pub fifo: bool,
    /// Deliveries after which a message is dead-lettered.
    pub max_deliveries: Option<u32>,
    /// A dead-letter target is configured.
    pub dead_letter: bool,
    /// Queue-wide TTL applied to plain messages at the head.
    pub ttl_ms: Option<u64>,
    /// Retention period.
    pub retention_ms: u64,
    /// Most queued (ready + delayed) messages.
    pub max_length: Option<u64>,
    /// Most queued bytes.
    pub max_bytes: Option<u64>,
    /// Overflow handling.
    pub overflow: OverflowPolicy,
}

/// A message being added, as the state sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Incoming {
    /// Its offset; offsets are registered in increasing order.
    pub offset: u64,
    /// Effective priority (0 = none).
    pub priority: u8,
    /// FIFO group.
    pub group: Option<String>,
    /// Receivable from this time (0 = now).
    pub due_ms: i64,
    /// Expiry time from its own TTL or retention (0 = none beyond the queue's at the head).
    pub expire_ms: i64,
    /// The expiry comes from a TTL (dead-letterable) rather than retention (dropped).
    pub expire_is_ttl: bool,
    /// Size in bytes.
    pub size: u32,
    /// Deliveries so far (restored from the journal after a restart).
    pub count: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Ready,
    Delayed,
    InFlight,
    /// Handed to the caller for dead-lettering; settled once the target has it.
    Leaving,
}

/// The per-message record of a message with state: 24 bytes. Expiry times live in a side
/// map, only for messages that have one.
#[derive(Clone, Debug)]
struct Rec {
    /// Due time when delayed, lease end when in flight.
    deadline_ms: i64,
    /// First delivery, seconds since the epoch (0 = never).
    first_received_s: u32,
    size: u32,
    /// 0 = no group.
    group: u32,
    /// Deliveries so far, saturating.
    count: u16,
    priority: u8,
    state: St,
}

impl Rec {
    fn new(size: u32, group: u32, priority: u8, count: u32, state: St) -> Rec {
        Rec {
            deadline_ms: 0,
            first_received_s: 0,
            size,
            group,
            count: u16::try_from(count).unwrap_or(u16::MAX),
            priority,
            state,
        }
    }

    fn count(&self) -> u32 {
        u32::from(self.count)
    }

    fn first_received_ms(&self) -> i64 {
        i64::from(self.first_received_s) * 1_000
    }
}

/// The deadline of the record at `offset` if it is in state `st`.
fn deadline_in(recs: &RecStore<Rec>, offset: u64, st: St) -> Option<i64> {
    recs.get(&offset).filter(|r| r.state == st).map(|r| r.deadline_ms)
}

/// Key of a ready record in the ready index: higher priority first, then lower offset.
fn ready_key(priority: u8, offset: u64) -> u64 {
    debug_assert!(offset < 1 << 56);
    (u64::from(255 - priority) << 56) | (offset & ((1 << 56) - 1))
}

fn key_offset(key: u64) -> u64 {
    key & ((1 << 56) - 1)
}

#[derive(Debug, Default)]
struct Group {
    name: String,
    /// Unsettled offsets of the group in order.
    pending: VecDeque<u64>,
    in_flight: u32,
    /// Key under which the group sits in `fifo_ready`.
    listed: Option<u64>,
}

/// A message leased by `receive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leased {
    /// Offset of the message.
    pub offset: u64,
    /// Delivery count including this one (the receipt's generation).
    pub count: u32,
    /// First delivery time.
    pub first_received_ms: i64,
}

/// A message the caller must move to the dead-letter target (or that was dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Offset of the message.
    pub offset: u64,
    /// Why it leaves.
    pub reason: SettleReason,
}

/// Why a receipt was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptError {
    /// The receipt names a message that was delivered again since, or never delivered.
    Stale,
    /// The message is no longer leased under that receipt.
    NotInFlight,
}

/// Counters kept for stats and restored from the journal.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Messages moved to the dead-letter target.
    pub dead_lettered: u64,
    /// Messages whose TTL ran out.
    pub expired: u64,
    /// Messages dropped.
    pub dropped: u64,
}

/// Most plain head messages examined for expiry in one `tick`, so a tick stays short.
const HEAD_EXPIRY_BATCH: usize = 10_000;
const NO_GROUP: u32 = 0;

/// The delivery state of one queue.
#[derive(Debug, Default)]
pub struct DeliveryState {
    /// Offsets below `start` are settled and gone from the log.
    start: u64,
    /// One past the last registered offset.
    end: u64,
    /// Next plain offset to deliver.
    cursor: u64,
    plain_ready: u64,
    /// Records in the Ready state (any group).
    rec_ready: u64,
    settled: RangeSet,
    recs: RecStore<Rec>,
    /// Non-FIFO ready records by [`ready_key`].
    ready: BTreeSet<u64>,
    /// Delayed records by due time (stale entries allowed, see [`Wheel`]).
    delayed: Wheel,
    delayed_count: u64,
    /// In-flight records by lease end (stale entries allowed).
    in_flight: Wheel,
    in_flight_count: u64,
    /// Ready or delayed records with their own expiry.
    expiring: BTreeSet<(i64, u64)>,
    /// Expiry of records that have one: (time, from a TTL rather than retention).
    expires: HashMap<u64, (i64, bool)>,
    groups: HashMap<u32, Group>,
    group_ids: HashMap<String, u32>,
    next_group: u32,
    /// Eligible FIFO groups by (head offset, group).
    fifo_ready: BTreeSet<(u64, u32)>,
    /// Ready + delayed bytes.
    queued_bytes: u64,
    counters: Counters,
    events: Vec<JournalOp>,
}

impl DeliveryState {
    /// An empty state whose first offset is `start`.
    pub fn new(start: u64) -> DeliveryState {
        DeliveryState { start, end: start, cursor: start, next_group: 1, ..DeliveryState::default() }
    }

    /// Drains the changes to journal.
    pub fn take_events(&mut self) -> Vec<JournalOp> {
        std::mem::take(&mut self.events)
    }

    /// The settled ranges (for checkpoints).
    pub fn settled(&self) -> &RangeSet {
        &self.settled
    }

    /// Offsets below this are settled or gone.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// One past the last registered offset.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The lowest offset still unsettled (everything below can leave the log).
    pub fn low_water(&self) -> u64 {
        self.settled.skip(self.start).min(self.end)
    }

    /// Counters since creation.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Restores counters (recovery).
    pub fn set_counters(&mut self, c: Counters) {
        self.counters = c;
    }

    /// Marks `[start, end)` settled before any registration (recovery from a checkpoint).
    pub fn restore_settled(&mut self, settled: &RangeSet) {
        for (s, e) in settled.iter() {
            self.settled.insert_range(s.max(self.start), e);
        }
    }

    /// True when the message at `offset` is settled.
    pub fn is_settled(&self, offset: u64) -> bool {
        offset < self.start || self.settled.contains(offset)
    }

    /// Delivery counts of unsettled messages delivered at least once (for checkpoints).
    pub fn delivery_counts(&self) -> Vec<(u64, u32)> {
        self.recs.iter().filter(|(_, r)| r.count > 0).map(|(o, r)| (o, r.count())).collect()
    }

    /// Number of per-message records held (memory accounting).
    pub fn record_count(&self) -> usize {
        self.recs.len()
    }

    /// Number of settled ranges held (memory accounting).
    pub fn settled_range_count(&self) -> usize {
        self.settled.range_count()
    }

    /// Ready messages.
    pub fn ready_len(&self) -> u64 {
        self.plain_ready + self.rec_ready
    }

    /// Messages leased.
    pub fn in_flight_len(&self) -> u64 {
        self.in_flight_count
    }

    /// Messages delayed.
    pub fn delayed_len(&self) -> u64 {
        self.delayed_count
    }

    /// Bytes of ready and delayed messages.
    pub fn queued_bytes(&self) -> u64 {
        self.queued_bytes
    }

    /// Offset of the oldest ready message.
    pub fn oldest_ready(&mut self) -> Option<u64> {
        let plain = self.plain_head();
        let rec = self.recs.iter().find(|(_, r)| r.state == St::Ready).map(|(o, _)| o);
        match (plain, rec) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn queued_len(&self) -> u64 {
        self.ready_len() + self.delayed_len()
    }

    /// Registers a new message. Offsets skipped since the last registration count as settled.
    pub fn register(&mut self, m: Incoming, now_ms: i64) {
        debug_assert!(m.offset >= self.end, "offsets are registered in order");
        if m.offset < self.end {
            return;
        }
        if m.offset > self.end {
            self.settled.insert_range(self.end, m.offset);
        }
        self.end = m.offset + 1;
        self.queued_bytes += u64::from(m.size);
        let plain =
            m.group.is_none() && m.priority == 0 && m.due_ms <= now_ms && m.expire_ms == 0 && m.count == 0;
        if plain {
            self.plain_ready += 1;
            return;
        }
        let group = match m.group {
            Some(name) => self.group_id(name),
            None => NO_GROUP,
        };
        let mut rec = Rec::new(m.size, group, m.priority, m.count, St::Delayed);
        rec.deadline_ms = m.due_ms;
        self.recs.insert(m.offset, rec);
        if group != NO_GROUP
            && let Some(g) = self.groups.get_mut(&group)
        {
            g.pending.push_back(m.offset);
        }
        if m.expire_ms != 0 {
            self.expires.insert(m.offset, (m.expire_ms, m.expire_is_ttl));
            self.expiring.insert((m.expire_ms, m.offset));
        }
        if m.due_ms > now_ms {
            self.delayed.push(m.due_ms, m.offset);
            self.delayed_count += 1;
        } else {
            self.make_ready(m.offset);
        }
    }

    fn group_id(&mut self, name: String) -> u32 {
        if let Some(&id) = self.group_ids.get(&name) {
            return id;
        }
        let id = self.next_group;
        self.next_group = self.next_group.wrapping_add(1).max(1);
        self.group_ids.insert(name.clone(), id);
        self.groups.insert(id, Group { name, ..Group::default() });
        id
    }

    /// Name of the group of the record at `offset`.
    pub fn group_name(&self, offset: u64) -> Option<&str> {
        let g = self.recs.get(&offset)?.group;
        self.groups.get(&g).map(|g| g.name.as_str())
    }

    /// Puts a record (currently not indexed as ready) into the ready structures.
    fn make_ready(&mut self, offset: u64) {
        let Some(r) = self.recs.get_mut(&offset) else { return };
        if r.state != St::Ready {
            self.rec_ready += 1;
        }
        r.state = St::Ready;
        if r.group != NO_GROUP {
            let g = r.group;
            self.refresh_group(g);
        } else {
            self.ready.insert(ready_key(r.priority, offset));
        }
    }

    fn refresh_group(&mut self, gid: u32) {
        let Some(g) = self.groups.get_mut(&gid) else { return };
        if let Some(head) = g.listed.take() {
            self.fifo_ready.remove(&(head, gid));
        }
        if g.pending.is_empty() && g.in_flight == 0 {
            let name = std::mem::take(&mut g.name);
            self.groups.remove(&gid);
            self.group_ids.remove(&name);
            return;
        }
        if g.in_flight > 0 {
            return;
        }
        if let Some(&head) = g.pending.front()
            && self.recs.get(&head).is_some_and(|r| r.state == St::Ready)
        {
            g.listed = Some(head);
            self.fifo_ready.insert((head, gid));
        }
    }

    /// Advances the cursor past settled and recorded offsets; the next plain ready offset.
    fn plain_head(&mut self) -> Option<u64> {
        if self.plain_ready == 0 {
            self.cursor = self.end;
            return None;
        }
        loop {
            let c = self.settled.skip(self.cursor.max(self.start));
            if c >= self.end {
                self.cursor = c;
                return None;
            }
            if self.recs.contains_key(&c) {
                self.cursor = c + 1;
                continue;
            }
            self.cursor = c;
            return Some(c);
        }
    }

    /// Removes the message's record from every index; returns it.
    fn unindex(&mut self, offset: u64) -> Option<Rec> {
        let r = self.recs.remove(&offset)?;
        match r.state {
            St::Ready => {
                self.rec_ready -= 1;
                self.ready.remove(&ready_key(r.priority, offset));
                self.queued_bytes = self.queued_bytes.saturating_sub(u64::from(r.size));
            }
            St::Delayed => {
                self.delayed_count -= 1;
                self.queued_bytes = self.queued_bytes.saturating_sub(u64::from(r.size));
            }
            St::InFlight => {
                self.in_flight_count -= 1;
            }
            St::Leaving => {}
        }
        if let Some((e, _)) = self.expires.remove(&offset) {
            self.expiring.remove(&(e, offset));
        }
        if r.group != NO_GROUP {
            if let Some(g) = self.groups.get_mut(&r.group) {
                if let Some(pos) = g.pending.iter().position(|&o| o == offset) {
                    g.pending.remove(pos);
                }
                if r.state == St::InFlight {
                    g.in_flight = g.in_flight.saturating_sub(1);
                }
            }
            self.refresh_group(r.group);
        }
        Some(r)
    }

    /// Settles the message at `offset` (a record or a plain message at the cursor) for `reason`.
    fn settle(&mut self, offset: u64, reason: SettleReason) {
        self.unindex(offset);
        self.settled.insert(offset);
        match reason {
            SettleReason::Acked => {}
            SettleReason::DeadLettered => self.counters.dead_lettered += 1,
            SettleReason::ExpiredDeadLettered => {
                self.counters.dead_lettered += 1;
                self.counters.expired += 1;
            }
            SettleReason::Expired => self.counters.expired += 1,
            SettleReason::Dropped => self.counters.dropped += 1,
        }
        self.events.push(JournalOp::Settled { offset, reason });
    }

    /// Takes a message out for dead-lettering, or drops it when there is no target.
    fn evict(&mut self, offset: u64, expired: bool, policy: &Policy, out: &mut Vec<Outgoing>) {
        if policy.dead_letter {
            self.unindex_keep(offset);
            let reason = if expired { SettleReason::ExpiredDeadLettered } else { SettleReason::DeadLettered };
            out.push(Outgoing { offset, reason });
        } else {
            let reason = if expired { SettleReason::Expired } else { SettleReason::Dropped };
            self.settle(offset, reason);
            out.push(Outgoing { offset, reason });
        }
    }

    /// Turns a record (or plain message) into a `Leaving` record, out of every index.
    fn unindex_keep(&mut self, offset: u64) {
        let mut r = self.unindex(offset).unwrap_or(Rec::new(0, NO_GROUP, 0, 0, St::Leaving));
        r.state = St::Leaving;
        r.group = NO_GROUP;
        self.recs.insert(offset, r);
    }

    /// Takes the plain message at `c` (the cursor head) off the plain stream as a record.
    fn adopt_plain(&mut self, c: u64, size: u32) {
        self.plain_ready -= 1;
        self.cursor = c + 1;
        self.recs.insert(c, Rec::new(size, NO_GROUP, 0, 0, St::Ready));
        self.ready.insert(ready_key(0, c));
        self.rec_ready += 1;
    }

    /// Checks the plain head against the queue TTL and retention; true when it was removed.
    fn expire_plain_head(
        &mut self,
        c: u64,
        now_ms: i64,
        policy: &Policy,
        src: &mut dyn MessageSource,
        out: &mut Vec<Outgoing>,
    ) -> bool {
        let Some((ts, size)) = src.meta(c) else {
            // The log no longer has it (truncated by recovery): nothing to deliver.
            self.plain_ready -= 1;
            self.cursor = c + 1;
            self.settle(c, SettleReason::Dropped);
            return true;
        };
        let ttl_due = policy.ttl_ms.map(|t| ts.saturating_add(t as i64));
        let retention_due = ts.saturating_add(policy.retention_ms as i64);
        if ttl_due.is_some_and(|d| d <= now_ms) && ttl_due.unwrap_or(0) <= retention_due {
            self.adopt_plain(c, size);
            self.evict(c, true, policy, out);
            true
        } else if retention_due <= now_ms {
            self.adopt_plain(c, size);
            self.settle(c, SettleReason::Dropped);
            out.push(Outgoing { offset: c, reason: SettleReason::Dropped });
            true
        } else {
            false
        }
    }

    /// Leases up to `max` ready messages for `lease_ms`, in priority then arrival order (FIFO:
    /// per group, never from a group with a message in flight). Messages past their max
    /// deliveries or TTL found on the way are pushed to `out` instead.
    pub fn receive(
        &mut self,
        now_ms: i64,
        max: usize,
        lease_ms: u64,
        policy: &Policy,
        src: &mut dyn MessageSource,
        out: &mut Vec<Outgoing>,
    ) -> Vec<Leased> {
        self.tick(now_ms, policy, src, out);
        let mut leased = Vec::new();
        let deadline = now_ms.saturating_add(lease_ms as i64);
        while leased.len() < max {
            if policy.fifo {
                let Some(&(_, gid)) = self.fifo_ready.iter().next() else { break };
                self.receive_group(gid, now_ms, deadline, max, policy, src, &mut leased, out);
                continue;
            }
            let rec_head = self.ready.iter().next().copied();
            let plain = self.plain_head();
            let offset = match (rec_head, plain) {
                (Some(k), Some(c)) if k < ready_key(0, c) => key_offset(k),
                (Some(k), None) => key_offset(k),
                (_, Some(c)) => {
                    if self.expire_plain_head(c, now_ms, policy, src, out) {
                        continue;
                    }
                    let size = src.meta(c).map(|m| m.1).unwrap_or(0);
                    self.adopt_plain(c, size);
                    c
                }
                (None, None) => break,
            };
            if let Some(l) = self.lease_record(offset, now_ms, deadline, policy, src, out) {
                leased.push(l);
            }
        }
        leased
    }

    #[allow(clippy::too_many_arguments)]
    fn receive_group(
        &mut self,
        gid: u32,
        now_ms: i64,
        deadline: i64,
        max: usize,
        policy: &Policy,
        src: &mut dyn MessageSource,
        leased: &mut Vec<Leased>,
        out: &mut Vec<Outgoing>,
    ) {
        if let Some(g) = self.groups.get_mut(&gid)
            && let Some(head) = g.listed.take()
        {
            self.fifo_ready.remove(&(head, gid));
        }
        // The group had nothing in flight: take consecutive ready messages from its head. Each
        // step leases or evicts one message, so the loop always makes progress.
        while leased.len() < max {
            let Some(g) = self.groups.get(&gid) else { return };
            let next =
                g.pending.iter().copied().find(|o| self.recs.get(o).is_some_and(|r| r.state != St::InFlight));
            let Some(offset) = next else { break };
            if self.recs.get(&offset).is_none_or(|r| r.state != St::Ready) {
                break;
            }
            if let Some(l) = self.lease_record(offset, now_ms, deadline, policy, src, out) {
                leased.push(l);
            }
        }
        self.refresh_group(gid);
    }

    /// Leases one ready record, or evicts it when it is past its TTL, retention or max
    /// deliveries. Retention is checked here, lazily, so that records need no expiry of their own.
    #[allow(clippy::too_many_arguments)]
    fn lease_record(
        &mut self,
        offset: u64,
        now_ms: i64,
        deadline: i64,
        policy: &Policy,
        src: &mut dyn MessageSource,
        out: &mut Vec<Outgoing>,
    ) -> Option<Leased> {
        if let Some((ts, _)) = src.meta(offset)
            && ts.saturating_add(policy.retention_ms as i64) <= now_ms
        {
            self.settle(offset, SettleReason::Dropped);
            out.push(Outgoing { offset, reason: SettleReason::Dropped });
            return None;
        }
        let r = self.recs.get(&offset)?;
        let expiry = self.expires.get(&offset).copied();
        if let Some((at, ttl)) = expiry
            && at <= now_ms
        {
            if ttl {
                self.evict(offset, true, policy, out);
            } else {
                self.settle(offset, SettleReason::Dropped);
                out.push(Outgoing { offset, reason: SettleReason::Dropped });
            }
            return None;
        }
        if policy.max_deliveries.is_some_and(|m| r.count() >= m) {
            self.evict(offset, false, policy, out);
            return None;
        }
        let (priority, size, group) = (r.priority, r.size, r.group);
        self.rec_ready -= 1;
        self.ready.remove(&ready_key(priority, offset));
        if let Some((at, _)) = expiry {
            // In flight, a message does not expire; its expiry counts again when it comes back.
            self.expiring.remove(&(at, offset));
        }
        self.queued_bytes = self.queued_bytes.saturating_sub(u64::from(size));
        let r = self.recs.get_mut(&offset)?;
        r.count = r.count.saturating_add(1);
        if r.first_received_s == 0 {
            r.first_received_s = u32::try_from(now_ms.max(0) / 1_000).unwrap_or(u32::MAX);
        }
        r.state = St::InFlight;
        r.deadline_ms = deadline;
        let l = Leased { offset, count: r.count(), first_received_ms: r.first_received_ms() };
        self.in_flight.push(deadline, offset);
        self.in_flight_count += 1;
        if group != NO_GROUP
            && let Some(g) = self.groups.get_mut(&group)
        {
            g.in_flight += 1;
            if let Some(head) = g.listed.take() {
                self.fifo_ready.remove(&(head, group));
            }
        }
        self.events.push(JournalOp::Delivered { offset, count: l.count });
        Some(l)
    }

    /// Moves due timers: lease expiries and delays back to ready, TTL and retention expiries
    /// out (pushed to `out`).
    pub fn tick(
        &mut self,
        now_ms: i64,
        policy: &Policy,
        src: &mut dyn MessageSource,
        out: &mut Vec<Outgoing>,
    ) {
        let recs = &self.recs;
        let expired = self.in_flight.pop_due(now_ms, |o| deadline_in(recs, o, St::InFlight));
        for offset in expired {
            self.return_to_queue(offset, now_ms, None, policy, out);
        }
        let recs = &self.recs;
        let due = self.delayed.pop_due(now_ms, |o| deadline_in(recs, o, St::Delayed));
        for offset in due {
            if let Some(r) = self.recs.get_mut(&offset) {
                r.deadline_ms = 0;
            }
            self.delayed_count -= 1;
            self.make_ready(offset);
        }
        while let Some((e, offset)) = self.expiring.pop_first() {
            if e > now_ms {
                self.expiring.insert((e, offset));
                break;
            }
            if !self.recs.contains_key(&offset) {
                self.expires.remove(&offset);
                continue;
            }
            let ttl = self.expires.get(&offset).is_some_and(|e| e.1);
            if ttl {
                self.evict(offset, true, policy, out);
            } else {
                self.settle(offset, SettleReason::Dropped);
                out.push(Outgoing { offset, reason: SettleReason::Dropped });
            }
        }
        if !policy.fifo {
            for _ in 0..HEAD_EXPIRY_BATCH {
                let Some(c) = self.plain_head() else { break };
                if !self.expire_plain_head(c, now_ms, policy, src, out) {
                    break;
                }
            }
        }
    }

    /// Brings a leased message back: ready now, delayed by `delay_ms`, or dead-lettered when it
    /// reached max deliveries.
    fn return_to_queue(
        &mut self,
        offset: u64,
        now_ms: i64,
        delay_ms: Option<u64>,
        policy: &Policy,
        out: &mut Vec<Outgoing>,
    ) {
        let Some(r) = self.recs.get(&offset) else { return };
        if r.state != St::InFlight {
            return;
        }
        let (count, size, group) = (r.count(), r.size, r.group);
        if policy.max_deliveries.is_some_and(|m| count >= m) {
            self.evict(offset, false, policy, out);
            return;
        }
        self.in_flight_count -= 1;
        self.queued_bytes += u64::from(size);
        if group != NO_GROUP
            && let Some(g) = self.groups.get_mut(&group)
        {
            g.in_flight = g.in_flight.saturating_sub(1);
        }
        if let Some(&(at, _)) = self.expires.get(&offset) {
            self.expiring.insert((at, offset));
        }
        if let Some(r) = self.recs.get_mut(&offset) {
            r.deadline_ms = 0;
            if delay_ms.is_some_and(|d| d > 0) {
                r.state = St::Delayed;
            }
        }
        match delay_ms {
            Some(d) if d > 0 => {
                let due = now_ms.saturating_add(d as i64);
                if let Some(r) = self.recs.get_mut(&offset) {
                    r.deadline_ms = due;
                }
                self.delayed.push(due, offset);
                self.delayed_count += 1;
                if group != NO_GROUP {
                    self.refresh_group(group);
                }
            }
            _ => self.make_ready(offset),
        }
    }

    fn check_receipt(&self, offset: u64, count: u32) -> Result<Option<St>, ReceiptError> {
        if self.is_settled(offset) {
            return Ok(None);
        }
        match self.recs.get(&offset) {
            Some(r) if r.count() == count && count > 0 => Ok(Some(r.state)),
            _ => Err(ReceiptError::Stale),
        }
    }

    /// Deletes the message leased under (offset, count). Deleting a settled message succeeds;
    /// a message delivered again since is refused.
    pub fn ack(&mut self, offset: u64, count: u32) -> Result<(), ReceiptError> {
        match self.check_receipt(offset, count)? {
            None | Some(St::Leaving) => Ok(()),
            Some(_) => {
                self.settle(offset, SettleReason::Acked);
                Ok(())
            }
        }
    }

    /// Returns a leased message: ready now (`delay_ms` None or 0) or after `delay_ms`.
    pub fn nack(
        &mut self,
        offset: u64,
        count: u32,
        delay_ms: Option<u64>,
        now_ms: i64,
        policy: &Policy,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), ReceiptError> {
        match self.check_receipt(offset, count)? {
            Some(St::InFlight) => {
                self.return_to_queue(offset, now_ms, delay_ms, policy, out);
                Ok(())
            }
            _ => Err(ReceiptError::NotInFlight),
        }
    }

    /// Dead-letters a leased message now (dropped when there is no target).
    pub fn reject(
        &mut self,
        offset: u64,
        count: u32,
        policy: &Policy,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), ReceiptError> {
        match self.check_receipt(offset, count)? {
            Some(St::InFlight) => {
                self.evict(offset, false, policy, out);
                Ok(())
            }
            _ => Err(ReceiptError::NotInFlight),
        }
    }

    /// Sets the lease of an in-flight message to end `lease_ms` from now (0: ready at once).
    pub fn change_lease(
        &mut self,
        offset: u64,
        count: u32,
        lease_ms: u64,
        now_ms: i64,
        policy: &Policy,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), ReceiptError> {
        match self.check_receipt(offset, count)? {
            Some(St::InFlight) => {
                if lease_ms == 0 {
                    // A zero lease hands the message back without counting against max deliveries.
                    let unlimited = Policy { max_deliveries: None, ..policy.clone() };
                    self.return_to_queue(offset, now_ms, None, &unlimited, out);
                    return Ok(());
                }
                if let Some(r) = self.recs.get_mut(&offset) {
                    let old = r.deadline_ms;
                    r.deadline_ms = now_ms.saturating_add(lease_ms as i64);
                    if old != r.deadline_ms {
                        self.in_flight.push(r.deadline_ms, offset);
                    }
                }
                Ok(())
            }
            _ => Err(ReceiptError::NotInFlight),
        }
    }

    /// Finishes a dead-lettering handed out in `Outgoing`: the target has the message.
    pub fn finish_leaving(&mut self, offset: u64, reason: SettleReason) {
        if self.recs.get(&offset).is_some_and(|r| r.state == St::Leaving) {
            self.settle(offset, reason);
        }
    }

    /// Cancels a dead-lettering that failed: the message is ready again, back in its FIFO
    /// `group` (as stored with the message) at its place.
    pub fn abort_leaving(&mut self, offset: u64, group: Option<String>) {
        if !self.recs.get(&offset).is_some_and(|r| r.state == St::Leaving) {
            return;
        }
        let gid = match group {
            Some(name) => self.group_id(name),
            None => NO_GROUP,
        };
        if let Some(r) = self.recs.get_mut(&offset) {
            self.queued_bytes += u64::from(r.size);
            r.group = gid;
        }
        if let Some(g) = self.groups.get_mut(&gid) {
            let pos = g.pending.partition_point(|&o| o < offset);
            g.pending.insert(pos, offset);
        }
        self.make_ready(offset);
    }

    /// Settles every message (ready, delayed and in flight).
    pub fn purge(&mut self) {
        self.settled.insert_range(self.start, self.end);
        self.recs.clear();
        self.expires.clear();
        self.ready.clear();
        self.delayed.clear();
        self.delayed_count = 0;
        self.in_flight.clear();
        self.in_flight_count = 0;
        self.expiring.clear();
        self.groups.clear();
        self.group_ids.clear();
        self.fifo_ready.clear();
        self.plain_ready = 0;
        self.rec_ready = 0;
        self.queued_bytes = 0;
        self.cursor = self.end;
        self.events.push(JournalOp::Purged { end: self.end });
    }

    /// Forgets settled ranges below `start` (the log start moved there).
    pub fn advance_start(&mut self, start: u64) {
        if start > self.start {
            self.start = start.min(self.low_water());
            self.settled.trim_below(self.start);
        }
    }

    /// True when one more message would exceed the queue's limits, counting `extra_len`
    /// messages and `extra_bytes` bytes (the new message included) not registered yet.
    pub fn is_full(&self, extra_len: u64, extra_bytes: u64, policy: &Policy) -> bool {
        policy.max_length.is_some_and(|m| self.queued_len() + extra_len + 1 > m)
            || policy.max_bytes.is_some_and(|m| self.queued_bytes + extra_bytes > m)
    }

    /// Applies DropOldest / DeadLetterOldest until the queue is within its limits.
    pub fn enforce_limits(&mut self, policy: &Policy, src: &mut dyn MessageSource, out: &mut Vec<Outgoing>) {
        if policy.overflow == OverflowPolicy::RejectNew {
            return;
        }
        while policy.max_length.is_some_and(|m| self.queued_len() > m)
            || policy.max_bytes.is_some_and(|m| self.queued_bytes > m)
        {
            let Some(offset) = self.head(src) else { break };
            match policy.overflow {
                OverflowPolicy::DeadLetterOldest => self.evict(offset, false, policy, out),
                _ => {
                    self.settle(offset, SettleReason::Dropped);
                    out.push(Outgoing { offset, reason: SettleReason::Dropped });
                }
            }
        }
    }

    /// The next message in delivery order (any group), adopting a plain head as a record.
    fn head(&mut self, src: &mut dyn MessageSource) -> Option<u64> {
        let rec_head = self.ready.iter().next().copied();
        let plain = self.plain_head();
        let fifo_head = self.fifo_ready.iter().next().map(|&(o, _)| o);
        let candidate = match (rec_head, plain) {
            (Some(k), Some(c)) if k < ready_key(0, c) => Some(key_offset(k)),
            (Some(k), None) => Some(key_offset(k)),
            (_, Some(c)) => {
                let size = src.meta(c).map(|m| m.1).unwrap_or(0);
                self.adopt_plain(c, size);
                Some(c)
            }
            (None, None) => None,
        };
        candidate
            .or(fifo_head)
            .or_else(|| self.recs.iter().find(|(_, r)| r.state == St::Delayed).map(|(o, _)| o))
    }

    /// Offsets of up to `max` ready messages in delivery order, without changing anything.
    pub fn peek(&self, max: usize) -> Vec<u64> {
        let mut out: Vec<u64> = self.ready.iter().take(max).copied().collect();
        let mut c = self.cursor.max(self.start);
        let mut plain = 0;
        while plain < max && self.plain_ready > 0 {
            c = self.settled.skip(c);
            if c >= self.end {
                break;
            }
            if !self.recs.contains_key(&c) {
                out.push(ready_key(0, c));
                plain += 1;
            }
            c += 1;
        }
        for &(_, gid) in &self.fifo_ready {
            if let Some(g) = self.groups.get(&gid) {
                for &o in &g.pending {
                    if self.recs.get(&o).is_none_or(|r| r.state != St::Ready) {
                        break;
                    }
                    out.push(ready_key(255, o));
                }
            }
            if out.len() >= max {
                break;
            }
        }
        out.sort_unstable();
        out.into_iter().take(max).map(key_offset).collect()
    }

    /// The earliest time at which `tick` has something to do.
    pub fn next_deadline(&mut self, policy: &Policy, src: &mut dyn MessageSource) -> Option<i64> {
        let recs = &self.recs;
        let mut d = [
            self.in_flight.next(|o| deadline_in(recs, o, St::InFlight)),
            self.delayed.next(|o| deadline_in(recs, o, St::Delayed)),
            self.expiring.iter().next().map(|x| x.0),
        ]
        .into_iter()
        .flatten()
        .min();
        if !policy.fifo
            && let Some(c) = self.plain_head()
        {
            let head = match src.meta(c) {
                Some((ts, _)) => {
                    let retention = ts.saturating_add(policy.retention_ms as i64);
                    let ttl = policy.ttl_ms.map(|t| ts.saturating_add(t as i64)).unwrap_or(i64::MAX);
                    retention.min(ttl)
                }
                None => i64::MIN,
            };
            d = Some(d.map_or(head, |x| x.min(head)));
        }
        d
    }

    /// Delivery count and first receive time of the record at `offset`.
    pub fn delivery_info(&self, offset: u64) -> Option<(u32, i64)> {
        self.recs.get(&offset).map(|r| (r.count(), r.first_received_ms()))
    }

    /// True when any message is ready now.
    pub fn has_ready(&mut self) -> bool {
        !self.ready.is_empty() || !self.fifo_ready.is_empty() || self.plain_head().is_some()
    }
}
