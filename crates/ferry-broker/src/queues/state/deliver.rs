//! Delivering: receive (priority then arrival order, FIFO groups), leases, timers, returns.

use super::{
    DeliveryState, HEAD_EXPIRY_BATCH, JournalOp, Leased, MessageSource, NO_GROUP, Outgoing, Policy,
    SettleReason, St, deadline_in, key_offset, ready_key,
};
use crate::message::DeathCause;

impl DeliveryState {
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
            // A quiet tenant's head competes with messages without a group by priority then
            // arrival; a noisy tenant is served only when nothing else is ready.
            if let Some((key, _, quiet)) = self.next_tenant() {
                let first_ungrouped = match (rec_head, plain) {
                    (Some(k), Some(c)) => Some(k.min(ready_key(0, c))),
                    (k, c) => k.or(c.map(|c| ready_key(0, c))),
                };
                if first_ungrouped.is_none_or(|k| quiet && key < k) {
                    if let Some(l) = self.lease_record(key_offset(key), now_ms, deadline, policy, src, out) {
                        leased.push(l);
                    }
                    continue;
                }
            }
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
            out.push(Outgoing { offset, reason: SettleReason::Dropped, cause: DeathCause::Expired });
            return None;
        }
        let r = self.recs.get(&offset)?;
        let expiry = self.expires.get(&offset).copied();
        if let Some((at, ttl)) = expiry
            && at <= now_ms
        {
            if ttl {
                self.evict(offset, DeathCause::Expired, policy, out);
            } else {
                self.settle(offset, SettleReason::Dropped);
                out.push(Outgoing { offset, reason: SettleReason::Dropped, cause: DeathCause::Expired });
            }
            return None;
        }
        if policy.max_deliveries.is_some_and(|m| r.count() >= m) {
            self.evict(offset, DeathCause::DeliveryLimit, policy, out);
            return None;
        }
        let (priority, size, group) = (r.priority, r.size, r.group);
        self.rec_ready -= 1;
        self.ready.remove(&ready_key(priority, offset));
        if self.fair
            && let Some(g) = self.groups.get_mut(&group)
        {
            g.ready.remove(&ready_key(priority, offset));
        }
        if let Some((at, _)) = expiry {
            // In flight, a message does not expire; its expiry counts again when it comes back.
            self.expiring.remove(&(at, offset));
        }
        self.queued_bytes = self.queued_bytes.saturating_sub(u64::from(size));
        let r = self.recs.get_mut(&offset)?;
        r.count = r.count.saturating_add(1);
        if r.first_received_ms == 0 {
            r.first_received_ms = now_ms.max(1);
        }
        r.state = St::InFlight;
        r.deadline_ms = deadline;
        let l = Leased { offset, count: r.count(), first_received_ms: r.first_received_ms() };
        self.in_flight.push(deadline, offset);
        self.in_flight_count += 1;
        self.in_flight_bytes += u64::from(size);
        if group != NO_GROUP
            && let Some(g) = self.groups.get_mut(&group)
        {
            g.in_flight += 1;
            if self.fair {
                self.refresh_tenant(group);
            } else if let Some(head) = g.listed.take() {
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
                self.delayed_bytes = self.delayed_bytes.saturating_sub(u64::from(r.size));
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
                self.evict(offset, DeathCause::Expired, policy, out);
            } else {
                self.settle(offset, SettleReason::Dropped);
                out.push(Outgoing { offset, reason: SettleReason::Dropped, cause: DeathCause::Expired });
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
    pub(super) fn return_to_queue(
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
            self.evict(offset, DeathCause::DeliveryLimit, policy, out);
            return;
        }
        self.in_flight_count -= 1;
        self.in_flight_bytes = self.in_flight_bytes.saturating_sub(u64::from(size));
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
                self.delayed_bytes += u64::from(size);
                if group != NO_GROUP {
                    self.refresh_group(group);
                }
            }
            _ => self.make_ready(offset),
        }
    }
}
