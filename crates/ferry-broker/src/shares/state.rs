//! The delivery state of one share-partition: the queue engine's [`DeliveryState`] over a topic
//! partition's offsets, plus which member holds each acquired record. Pure logic, no I/O.

use std::collections::HashMap;
use std::sync::Arc;

use crate::queues::ranges::RangeSet;
use crate::queues::state::{
    Counters, DeliveryState, Incoming, JournalOp, MessageSource, Outgoing, Policy, ReceiptError, SettleReason,
};

use super::config::ShareGroupConfig;

/// Most records one share-partition holds acquired at once (Kafka's
/// `group.share.partition.max.record.locks`, 2000 by default).
pub const MAX_RECORD_LOCKS: u64 = 2_000;
/// Most offsets registered with the state in one call, so a share-partition that starts far
/// behind the high watermark catches up in bounded steps.
const EXTEND_MAX: u64 = 1 << 20;

/// What a member does with a record it acquired (the protocol's AcknowledgeType, 0 to 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckKind {
    /// The offset holds no record for the consumer (a control record, a compacted gap): done.
    Gap,
    /// Processed: the record is archived.
    Accept,
    /// Handed back: available again, counted as a delivery.
    Release,
    /// Unprocessable: archived (and dead-lettered when the group has a dead-letter queue).
    Reject,
}

impl AckKind {
    /// The kind the protocol's code names, if any.
    pub fn from_code(code: i8) -> Option<AckKind> {
        Some(match code {
            0 => AckKind::Gap,
            1 => AckKind::Accept,
            2 => AckKind::Release,
            3 => AckKind::Reject,
            _ => return None,
        })
    }
}

/// Why an acknowledgement was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// The record is not acquired by this member (never was, its lock ran out, or it was
    /// acquired again since): Kafka's INVALID_RECORD_STATE.
    #[error("the record is not acquired by this member")]
    NotAcquired,
}

/// A run of consecutive offsets acquired with the same delivery count (Kafka's AcquiredRecords).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcquiredRange {
    /// First offset.
    pub first: u64,
    /// Last offset (inclusive).
    pub last: u64,
    /// Deliveries of these records, this one included.
    pub delivery_count: u32,
}

/// The member holding an acquired record, and the delivery under which it holds it.
#[derive(Clone, Debug)]
struct Holder {
    member: Arc<str>,
    count: u32,
}

/// Figures of one share-partition, for describe and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShareStats {
    /// The share-partition start offset: every record below it is archived.
    pub start_offset: u64,
    /// One past the last offset registered.
    pub end_offset: u64,
    /// Records available for acquisition (registered ones).
    pub available: u64,
    /// Records acquired.
    pub acquired: u64,
    /// Records archived by dead-lettering.
    pub dead_lettered: u64,
    /// Records archived without being accepted or dead-lettered (rejected or at the delivery
    /// limit with no dead-letter queue, or gone from the log).
    pub dropped: u64,
}

/// One share-partition's delivery state.
#[derive(Debug)]
pub struct ShareState {
    state: DeliveryState,
    holders: HashMap<u64, Holder>,
    /// Delivery counts recovered from the journal for offsets not registered yet.
    pending_counts: HashMap<u64, u32>,
}

/// The queue engine's policy for a share-partition of a group configured as `config`.
pub fn policy(config: &ShareGroupConfig) -> Policy {
    Policy {
        max_deliveries: Some(config.delivery_count_limit),
        dead_letter: config.dead_letter_queue.is_some(),
        // Records stay as long as the topic keeps them: the topic's retention, not the group's.
        retention_ms: i64::MAX as u64,
        ..Policy::default()
    }
}

/// The log as the state sees it: every offset from the log start on is there.
pub struct LogBounds {
    /// The partition's first offset.
    pub log_start: u64,
}

impl MessageSource for LogBounds {
    fn meta(&mut self, offset: u64) -> Option<(i64, u32)> {
        (offset >= self.log_start).then_some((0, 0))
    }
}

impl ShareState {
    /// A share-partition whose first record is `start`.
    pub fn new(start: u64) -> ShareState {
        ShareState {
            state: DeliveryState::new(start),
            holders: HashMap::new(),
            pending_counts: HashMap::new(),
        }
    }

    /// The state recovered from a journal: `settled` (including everything below the start
    /// offset), delivery counts of records not archived, and counters.
    pub fn restore(settled: &RangeSet, counts: &[(u64, u32)], counters: Counters) -> ShareState {
        let mut s = ShareState::new(settled.skip(0));
        s.state.restore_settled(settled);
        s.state.set_counters(counters);
        s.pending_counts = counts.iter().copied().collect();
        s
    }

    /// Registers the offsets up to `end` (the high watermark) not registered yet.
    pub fn extend_to(&mut self, end: u64, now_ms: i64) {
        let mut at = self.state.end();
        let stop = end.min(at.saturating_add(EXTEND_MAX));
        while at < stop {
            at = self.state.settled().skip(at);
            if at >= stop {
                break;
            }
            let count = self.pending_counts.remove(&at).unwrap_or(0);
            self.state.register(Incoming { offset: at, count, ..Incoming::default() }, now_ms);
            at += 1;
        }
    }

    /// Acquires up to `max` available records for `member`, locked for the group's lock duration;
    /// returns them as runs, lowest offset first, with the records that reached the delivery
    /// limit on the way (to dead-letter).
    pub fn acquire(
        &mut self,
        member: &Arc<str>,
        max: usize,
        now_ms: i64,
        config: &ShareGroupConfig,
        src: &mut dyn MessageSource,
    ) -> (Vec<AcquiredRange>, Vec<Outgoing>) {
        let room = MAX_RECORD_LOCKS.saturating_sub(self.state.in_flight_len()) as usize;
        let mut out = Vec::new();
        let mut leased = self.state.receive(
            now_ms,
            max.min(room),
            config.record_lock_duration_ms,
            &policy(config),
            src,
            &mut out,
        );
        self.forget_lost_holders();
        leased.sort_unstable_by_key(|l| l.offset);
        let mut ranges: Vec<AcquiredRange> = Vec::new();
        for l in leased {
            self.holders.insert(l.offset, Holder { member: Arc::clone(member), count: l.count });
            match ranges.last_mut() {
                Some(r) if r.last + 1 == l.offset && r.delivery_count == l.count => r.last = l.offset,
                _ => ranges.push(AcquiredRange { first: l.offset, last: l.offset, delivery_count: l.count }),
            }
        }
        (ranges, out)
    }

    /// Applies `member`'s acknowledgement of the record at `offset`; returns records to
    /// dead-letter (a reject, or a release at the delivery limit).
    pub fn acknowledge(
        &mut self,
        member: &str,
        offset: u64,
        kind: AckKind,
        now_ms: i64,
        config: &ShareGroupConfig,
    ) -> Result<Vec<Outgoing>, AckError> {
        let Some(h) = self.holders.get(&offset) else { return Err(AckError::NotAcquired) };
        if &*h.member != member || !self.state.is_leased(offset, h.count) {
            return Err(AckError::NotAcquired);
        }
        let count = h.count;
        let mut out = Vec::new();
        let done = match kind {
            AckKind::Gap | AckKind::Accept => self.state.ack(offset, count).map(|_| ()),
            AckKind::Release => self.state.nack(offset, count, None, now_ms, &policy(config), &mut out),
            AckKind::Reject => self.state.reject(offset, count, &policy(config), &mut out),
        };
        self.holders.remove(&offset);
        done.map_err(|_: ReceiptError| AckError::NotAcquired)?;
        Ok(out)
    }

    /// Releases every record `member` holds (it left, or its share session closed); returns
    /// records that reached the delivery limit.
    pub fn release_member(&mut self, member: &str, now_ms: i64, config: &ShareGroupConfig) -> Vec<Outgoing> {
        let held: Vec<(u64, u32)> =
            self.holders.iter().filter(|(_, h)| &*h.member == member).map(|(&o, h)| (o, h.count)).collect();
        let mut out = Vec::new();
        for (offset, count) in held {
            self.holders.remove(&offset);
            // A lock that already ran out has nothing to release.
            let _ = self.state.nack(offset, count, None, now_ms, &policy(config), &mut out);
        }
        out
    }

    /// Ends the locks that ran out; returns records that reached the delivery limit.
    pub fn tick(
        &mut self,
        now_ms: i64,
        config: &ShareGroupConfig,
        src: &mut dyn MessageSource,
    ) -> Vec<Outgoing> {
        let mut out = Vec::new();
        self.state.tick(now_ms, &policy(config), src, &mut out);
        self.forget_lost_holders();
        out
    }

    /// The earliest lock expiry, if any record is acquired.
    pub fn next_deadline(&mut self, config: &ShareGroupConfig, src: &mut dyn MessageSource) -> Option<i64> {
        if self.state.in_flight_len() == 0 {
            return None;
        }
        self.state.next_deadline(&policy(config), src)
    }

    /// Archives a record handed out for dead-lettering: `reason` says whether the dead-letter
    /// queue took it.
    pub fn finish_leaving(&mut self, offset: u64, reason: SettleReason) {
        self.state.finish_leaving(offset, reason);
    }

    /// Holders whose lock ran out (or whose record left) hold nothing any more.
    fn forget_lost_holders(&mut self) {
        let state = &self.state;
        self.holders.retain(|&o, h| state.is_leased(o, h.count));
    }

    /// True when `member` holds the record at `offset`.
    pub fn held_by(&self, offset: u64, member: &str) -> bool {
        self.holders
            .get(&offset)
            .is_some_and(|h| &*h.member == member && self.state.is_leased(offset, h.count))
    }

    /// Drains the changes to journal.
    pub fn take_events(&mut self) -> Vec<JournalOp> {
        self.state.take_events()
    }

    /// The share-partition start offset: every record below it is archived.
    pub fn start_offset(&self) -> u64 {
        self.state.low_water()
    }

    /// What a checkpoint keeps: settled ranges (with everything below the start), delivery
    /// counts, counters.
    pub fn checkpoint(&mut self) -> (RangeSet, Vec<(u64, u32)>, Counters) {
        let low = self.state.low_water();
        self.state.advance_start(low);
        let mut settled = self.state.settled().clone();
        settled.insert_range(0, self.state.start());
        let mut counts = self.state.delivery_counts();
        counts.extend(self.pending_counts.iter().map(|(&o, &c)| (o, c)));
        (settled, counts, self.state.counters().clone())
    }

    /// Figures for describe and metrics.
    pub fn stats(&self) -> ShareStats {
        let c = self.state.counters();
        ShareStats {
            start_offset: self.state.low_water(),
            end_offset: self.state.end(),
            available: self.state.ready_len(),
            acquired: self.state.in_flight_len(),
            dead_lettered: c.dead_lettered,
            dropped: c.dropped,
        }
    }
}
