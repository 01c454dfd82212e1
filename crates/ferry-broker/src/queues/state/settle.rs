//! Receipts (ack, nack, reject, lease changes), dead-letter hand-offs, purge, limits, peek.

use super::super::types::OverflowPolicy;
use super::{
    DeliveryState, JournalOp, MessageSource, NO_GROUP, Outgoing, Policy, ReceiptError, SettleReason, St,
    deadline_in, key_offset, ready_key,
};
use crate::message::DeathCause;

impl DeliveryState {
    fn check_receipt(&self, offset: u64, count: u32) -> Result<Option<St>, ReceiptError> {
        if self.is_settled(offset) {
            return Ok(None);
        }
        match self.recs.get(&offset) {
            Some(r) if r.count() == count && count > 0 => Ok(Some(r.state)),
            Some(r) if count > 0 && count < r.count() => Err(ReceiptError::Superseded),
            _ => Err(ReceiptError::Unknown),
        }
    }

    /// Deletes the message leased under (offset, count); true when this settled it. Deleting a
    /// settled message succeeds (false); a message delivered again since is refused
    /// (`Superseded`) and stays leased.
    pub fn ack(&mut self, offset: u64, count: u32) -> Result<bool, ReceiptError> {
        match self.check_receipt(offset, count)? {
            None | Some(St::Leaving) => Ok(false),
            Some(_) => {
                self.settle(offset, SettleReason::Acked);
                Ok(true)
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
                self.evict(offset, DeathCause::Rejected, policy, out);
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
            if self.fair {
                g.members += 1;
            } else {
                let pos = g.pending.partition_point(|&o| o < offset);
                g.pending.insert(pos, offset);
            }
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
        self.delayed_bytes = 0;
        self.in_flight.clear();
        self.in_flight_count = 0;
        self.in_flight_bytes = 0;
        self.expiring.clear();
        self.groups.clear();
        self.group_ids.clear();
        self.fifo_ready.clear();
        self.fair_ready.clear();
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
        if policy.overflow.refuses_new() {
            return;
        }
        while policy.max_length.is_some_and(|m| self.queued_len() > m)
            || policy.max_bytes.is_some_and(|m| self.queued_bytes > m)
        {
            let Some(offset) = self.head(src) else { break };
            match policy.overflow {
                OverflowPolicy::DeadLetterOldest => self.evict(offset, DeathCause::MaxLength, policy, out),
                _ => {
                    self.settle(offset, SettleReason::Dropped);
                    out.push(Outgoing {
                        offset,
                        reason: SettleReason::Dropped,
                        cause: DeathCause::MaxLength,
                    });
                }
            }
        }
    }

    /// The next message in delivery order (any group), adopting a plain head as a record.
    fn head(&mut self, src: &mut dyn MessageSource) -> Option<u64> {
        let rec_head = self.ready.iter().next().copied();
        let plain = self.plain_head();
        let fifo_head = self.fifo_ready.iter().next().map(|&(o, _)| o);
        let tenant_head = self.fair_ready.iter().next().map(|&(k, _)| key_offset(k));
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
            .or(tenant_head)
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
        for &(_, gid) in &self.fair_ready {
            if let Some(g) = self.groups.get(&gid) {
                out.extend(g.ready.iter().take(max));
            }
            if out.len() >= max * 2 {
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
}
