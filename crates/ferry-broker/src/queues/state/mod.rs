//! The delivery state machine of one queue: pure logic over offsets and times, no I/O.
//!
//! A plain message (no priority, delay, own TTL or group, never delivered) has no object in
//! memory: it is an offset between the read `cursor` and `end` that is neither settled nor
//! recorded. Only messages that carry state get a [`Rec`]: in flight, delayed, prioritised,
//! grouped (FIFO group, or fair-queue tenant), expiring on their own TTL, or delivered before.
//!
//! Groups are FIFO groups on a FIFO queue and tenants on a standard one ([`DeliveryState::fair`]):
//! SQS fair queues. A tenant holding many messages in flight (at least [`NOISY_IN_FLIGHT_MIN`]
//! and more than a tenth of the queue's) is noisy: its messages are delivered only when no quiet
//! tenant's message (nor one without a group) is ready, the least busy noisy tenant first.
//!
//! Every change that must survive a restart is pushed to `events` for the journal; the caller
//! drains them with [`DeliveryState::take_events`].

use crate::message::DeathCause;
use std::collections::{BTreeSet, HashMap, VecDeque};

mod deliver;
mod settle;
mod vocab;

pub use vocab::*;

use super::ranges::RangeSet;
use super::recs::RecStore;
use super::timers::Wheel;

/// What the state needs to know about a message it holds no record for.
pub trait MessageSource {
    /// (enqueue time ms, size in bytes) of the message at `offset`, `None` if it is gone.
    fn meta(&mut self, offset: u64) -> Option<(i64, u32)>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Ready,
    Delayed,
    InFlight,
    /// Handed to the caller for dead-lettering; settled once the target has it.
    Leaving,
}

/// The per-message record of a message with state: 32 bytes. Expiry times live in a side
/// map, only for messages that have one.
#[derive(Clone, Debug)]
struct Rec {
    /// Due time when delayed, lease end when in flight.
    deadline_ms: i64,
    /// First delivery, milliseconds since the epoch (0 = never): SQS reports it to the millisecond.
    first_received_ms: i64,
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
            first_received_ms: 0,
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
        self.first_received_ms
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
    /// FIFO: unsettled offsets of the group in order.
    pending: VecDeque<u64>,
    /// Fair tenant: its ready records by [`ready_key`].
    ready: BTreeSet<u64>,
    /// Fair tenant: its unsettled records (ready, delayed, in flight).
    members: u64,
    in_flight: u32,
    /// Key under which the group sits in `fifo_ready` (offset) or `fair_ready` (ready key).
    listed: Option<u64>,
}

/// In-flight messages a tenant needs before it can count as noisy (SQS's documented threshold).
pub const NOISY_IN_FLIGHT_MIN: u32 = 30;
/// A tenant with more than 1/`NOISY_SHARE_DIVISOR` of the queue's in-flight messages (and at
/// least [`NOISY_IN_FLIGHT_MIN`]) is noisy: SQS's 10 %.
const NOISY_SHARE_DIVISOR: u64 = 10;

/// Most plain head messages examined for expiry in one `tick`, so a tick stays short.
const HEAD_EXPIRY_BATCH: usize = 10_000;
const NO_GROUP: u32 = 0;
/// Records examined when looking for the oldest ready message.
const OLDEST_SCAN_MAX: usize = 10_000;

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
    /// Bytes of the messages delayed.
    delayed_bytes: u64,
    /// In-flight records by lease end (stale entries allowed).
    in_flight: Wheel,
    in_flight_count: u64,
    /// Bytes of the messages leased.
    in_flight_bytes: u64,
    /// Ready or delayed records with their own expiry.
    expiring: BTreeSet<(i64, u64)>,
    /// Expiry of records that have one: (time, from a TTL rather than retention).
    expires: HashMap<u64, (i64, bool)>,
    groups: HashMap<u32, Group>,
    group_ids: HashMap<String, u32>,
    next_group: u32,
    /// Eligible FIFO groups by (head offset, group).
    fifo_ready: BTreeSet<(u64, u32)>,
    /// Groups are fair-queue tenants (a standard queue), not FIFO groups.
    fair: bool,
    /// Tenants with a ready message by (ready key of their head, group).
    fair_ready: BTreeSet<(u64, u32)>,
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

    /// The same state for a standard queue: its groups are fair-queue tenants. Set before the
    /// first registration; a queue's type never changes.
    pub fn with_fair_groups(mut self, fair: bool) -> DeliveryState {
        self.fair = fair;
        self
    }

    /// True when groups are fair-queue tenants rather than FIFO groups.
    pub fn fair(&self) -> bool {
        self.fair
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

    /// Bytes of delayed messages.
    pub fn delayed_bytes(&self) -> u64 {
        self.delayed_bytes
    }

    /// Bytes of leased messages.
    pub fn in_flight_bytes(&self) -> u64 {
        self.in_flight_bytes
    }

    /// Offset of the oldest ready message.
    /// Approximate when most records are in flight: only the first [`OLDEST_SCAN_MAX`] records
    /// are looked at, so that stats stay cheap on a queue with millions of them.
    pub fn oldest_ready(&mut self) -> Option<u64> {
        let plain = self.plain_head();
        let rec = self.recs.iter().take(OLDEST_SCAN_MAX).find(|(_, r)| r.state == St::Ready).map(|(o, _)| o);
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
            if self.fair {
                g.members += 1;
            } else {
                g.pending.push_back(m.offset);
            }
        }
        if m.expire_ms != 0 {
            self.expires.insert(m.offset, (m.expire_ms, m.expire_is_ttl));
            self.expiring.insert((m.expire_ms, m.offset));
        }
        if m.due_ms > now_ms {
            self.delayed.push(m.due_ms, m.offset);
            self.delayed_count += 1;
            self.delayed_bytes += u64::from(m.size);
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
            let (gid, key) = (r.group, ready_key(r.priority, offset));
            if self.fair
                && let Some(g) = self.groups.get_mut(&gid)
            {
                g.ready.insert(key);
            }
            self.refresh_group(gid);
        } else {
            self.ready.insert(ready_key(r.priority, offset));
        }
    }

    fn refresh_group(&mut self, gid: u32) {
        if self.fair {
            self.refresh_tenant(gid);
            return;
        }
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

    /// Lists a tenant in `fair_ready` under its head ready key, or forgets it once it holds nothing.
    fn refresh_tenant(&mut self, gid: u32) {
        let Some(g) = self.groups.get_mut(&gid) else { return };
        if let Some(key) = g.listed.take() {
            self.fair_ready.remove(&(key, gid));
        }
        if g.members == 0 {
            let name = std::mem::take(&mut g.name);
            self.groups.remove(&gid);
            self.group_ids.remove(&name);
            return;
        }
        if let Some(&key) = g.ready.first() {
            g.listed = Some(key);
            self.fair_ready.insert((key, gid));
        }
    }

    /// True when a tenant holds a disproportionate share of the messages in flight.
    fn is_noisy(&self, g: &Group) -> bool {
        g.in_flight >= NOISY_IN_FLIGHT_MIN
            && u64::from(g.in_flight) * NOISY_SHARE_DIVISOR > self.in_flight_count
    }

    /// The next tenant to serve: the quiet tenant with the earliest head (`true`), else the noisy
    /// tenant with the fewest messages in flight (`false`). At most nine tenants can be noisy at
    /// once, so this looks at no more than ten entries beyond the first quiet one.
    fn next_tenant(&self) -> Option<(u64, u32, bool)> {
        let mut noisy: Option<(u32, u64, u32)> = None;
        for &(key, gid) in &self.fair_ready {
            let Some(g) = self.groups.get(&gid) else { continue };
            if !self.is_noisy(g) {
                return Some((key, gid, true));
            }
            if noisy.is_none_or(|(in_flight, _, _)| g.in_flight < in_flight) {
                noisy = Some((g.in_flight, key, gid));
            }
        }
        noisy.map(|(_, key, gid)| (key, gid, false))
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
                if self.fair
                    && let Some(g) = self.groups.get_mut(&r.group)
                {
                    g.ready.remove(&ready_key(r.priority, offset));
                }
                self.ready.remove(&ready_key(r.priority, offset));
                self.queued_bytes = self.queued_bytes.saturating_sub(u64::from(r.size));
            }
            St::Delayed => {
                self.delayed_count -= 1;
                self.delayed_bytes = self.delayed_bytes.saturating_sub(u64::from(r.size));
                self.queued_bytes = self.queued_bytes.saturating_sub(u64::from(r.size));
            }
            St::InFlight => {
                self.in_flight_count -= 1;
                self.in_flight_bytes = self.in_flight_bytes.saturating_sub(u64::from(r.size));
            }
            St::Leaving => {}
        }
        if let Some((e, _)) = self.expires.remove(&offset) {
            self.expiring.remove(&(e, offset));
        }
        if r.group != NO_GROUP {
            if let Some(g) = self.groups.get_mut(&r.group) {
                if self.fair {
                    g.members = g.members.saturating_sub(1);
                } else if let Some(pos) = g.pending.iter().position(|&o| o == offset) {
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
        self.counters.count(reason);
        self.events.push(JournalOp::Settled { offset, reason });
    }

    /// Takes a message out for dead-lettering, or drops it when there is no target.
    fn evict(&mut self, offset: u64, cause: DeathCause, policy: &Policy, out: &mut Vec<Outgoing>) {
        let expired = cause == DeathCause::Expired;
        if policy.dead_letter {
            self.unindex_keep(offset);
            let reason = if expired { SettleReason::ExpiredDeadLettered } else { SettleReason::DeadLettered };
            out.push(Outgoing { offset, reason, cause });
        } else {
            let reason = if expired { SettleReason::Expired } else { SettleReason::Dropped };
            self.settle(offset, reason);
            out.push(Outgoing { offset, reason, cause });
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
            self.evict(c, DeathCause::Expired, policy, out);
            true
        } else if retention_due <= now_ms {
            self.adopt_plain(c, size);
            self.settle(c, SettleReason::Dropped);
            out.push(Outgoing { offset: c, reason: SettleReason::Dropped, cause: DeathCause::Expired });
            true
        } else {
            false
        }
    }

    /// True when the message at `offset` is still leased under delivery `count`.
    pub fn is_leased(&self, offset: u64, count: u32) -> bool {
        self.recs.get(&offset).is_some_and(|r| r.state == St::InFlight && r.count() == count)
    }

    /// Delivery count and first receive time of the record at `offset`.
    pub fn delivery_info(&self, offset: u64) -> Option<(u32, i64)> {
        self.recs.get(&offset).map(|r| (r.count(), r.first_received_ms()))
    }

    /// True when any message is ready now.
    pub fn has_ready(&mut self) -> bool {
        !self.ready.is_empty()
            || !self.fifo_ready.is_empty()
            || !self.fair_ready.is_empty()
            || self.plain_head().is_some()
    }
}
