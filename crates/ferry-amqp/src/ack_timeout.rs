//! Delivery acknowledgement timeouts (RabbitMQ's consumer timeout): a delivery a client holds
//! unacknowledged for longer than its timeout cancels its consumer (for clients that take a
//! server-sent `basic.cancel`) or closes its channel with 406 PRECONDITION_FAILED; what was
//! held goes back to its queues.
//!
//! The timeout of a delivery is the consumer's `x-consumer-timeout` argument of
//! `basic.consume`, else the queue's `x-consumer-timeout` argument, else `consumer_timeout_ms`
//! of the configuration (RabbitMQ's order); `basic.get` deliveries have the queue's or the
//! configured one.
//!
//! Deliveries are noted here in the order they are made, one lane per channel and timeout, so
//! each lane's deadlines only grow and its front is the first to run out. Settling a delivery
//! does not look it up here: settled ones are skipped when they reach the front, and a lane is
//! compacted when it holds many more entries than were held at its last compaction, so a lane
//! stays within about twice the channel's unacknowledged deliveries.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// Entries a lane may gain past twice its size at the last compaction before it is compacted.
const COMPACT_SLACK: usize = 1024;

/// The broker-side lease of a delivery with timeout `timeout_ms`: the lease is only the
/// backstop for a connection that cannot close its channel, so it ends well after the timeout.
pub(crate) fn backstop_lease_ms(timeout_ms: u64) -> u64 {
    /// Longest lease asked of the queue engine (about 139 years; it counts in i64 milliseconds).
    const LEASE_MS_MAX: u64 = 1 << 42;
    timeout_ms.saturating_add(timeout_ms.max(60_000)).min(LEASE_MS_MAX)
}

/// The reply text of a channel closed by a delivery timeout, in RabbitMQ's words.
pub(crate) fn timed_out_text(channel: u16, timeout_ms: u64) -> String {
    format!(
        "delivery acknowledgement on channel {channel} timed out. Timeout value used: {timeout_ms} ms. \
         It can be changed with x-consumer-timeout on the queue or the consumer, or with \
         amqp.consumer_timeout_ms in the broker's configuration"
    )
}

/// The deliveries of one connection that wait for an acknowledgement, with their deadlines.
#[derive(Debug, Default)]
pub(crate) struct AckTimeouts {
    lanes: HashMap<u16, Vec<Lane>>,
    /// When to look again: no later than the earliest deadline of any lane's front.
    next: Option<Instant>,
}

#[derive(Debug)]
struct Lane {
    timeout_ms: u64,
    /// (deadline, delivery tag), oldest first.
    entries: VecDeque<(Instant, u64)>,
    /// Entries kept by the last compaction.
    compacted_len: usize,
}

impl AckTimeouts {
    /// Notes that delivery `tag` of `channel`, made `now`, must be acknowledged within
    /// `timeout_ms`; `held` says whether a tag of the channel is still unacknowledged.
    pub(crate) fn start(
        &mut self,
        channel: u16,
        tag: u64,
        timeout_ms: u64,
        now: Instant,
        held: impl Fn(u64) -> bool,
    ) {
        let deadline = now + Duration::from_millis(timeout_ms);
        let lanes = self.lanes.entry(channel).or_default();
        let lane = match lanes.iter().position(|l| l.timeout_ms == timeout_ms) {
            Some(i) => &mut lanes[i],
            None => {
                lanes.push(Lane { timeout_ms, entries: VecDeque::new(), compacted_len: 0 });
                lanes.last_mut().expect("a lane was just pushed")
            }
        };
        lane.entries.push_back((deadline, tag));
        if lane.entries.len() > lane.compacted_len * 2 + COMPACT_SLACK {
            lane.entries.retain(|&(_, t)| held(t));
            lane.compacted_len = lane.entries.len();
        }
        if self.next.is_none_or(|next| deadline < next) {
            self.next = Some(deadline);
        }
    }

    /// Forgets a channel's deliveries (it closed, or its number is opened anew).
    pub(crate) fn forget_channel(&mut self, channel: u16) {
        self.lanes.remove(&channel);
    }

    /// Forgets every channel's deliveries.
    pub(crate) fn clear(&mut self) {
        self.lanes.clear();
        self.next = None;
    }

    /// When [`AckTimeouts::expired`] should next be called; `None` while nothing waits.
    pub(crate) fn next_check(&self) -> Option<Instant> {
        self.next
    }

    /// The channels holding a delivery past its deadline at `now`, each with the timeout that
    /// ran out and that delivery's tag; `held(channel, tag)` says whether a delivery is still
    /// unacknowledged. The caller settles what it found (cancelling its consumer, whose
    /// deliveries are then no longer held) or closes the channel and forgets it.
    pub(crate) fn expired(&mut self, now: Instant, held: impl Fn(u16, u64) -> bool) -> Vec<(u16, u64, u64)> {
        let mut expired = Vec::new();
        let mut next: Option<Instant> = None;
        self.lanes.retain(|&channel, lanes| {
            let mut timed_out: Option<(u64, u64)> = None;
            for lane in lanes.iter_mut() {
                while lane.entries.front().is_some_and(|&(_, tag)| !held(channel, tag)) {
                    lane.entries.pop_front();
                }
                if let Some(&(deadline, tag)) = lane.entries.front()
                    && deadline <= now
                    && timed_out.is_none_or(|(t, _)| lane.timeout_ms < t)
                {
                    timed_out = Some((lane.timeout_ms, tag));
                }
            }
            if let Some((timeout_ms, tag)) = timed_out {
                expired.push((channel, timeout_ms, tag));
            }
            lanes.retain(|l| !l.entries.is_empty());
            for lane in lanes.iter() {
                if let Some(&(deadline, _)) = lane.entries.front() {
                    next = Some(next.map_or(deadline, |n| n.min(deadline)));
                }
            }
            !lanes.is_empty()
        });
        self.next = next;
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashSet;

    #[test]
    fn a_delivery_held_past_its_timeout_expires_its_channel_once() {
        let t0 = Instant::now();
        let mut timeouts = AckTimeouts::default();
        timeouts.start(1, 1, 1000, t0, |_| true);
        timeouts.start(2, 1, 5000, t0, |_| true);
        assert_eq!(timeouts.next_check(), Some(t0 + Duration::from_millis(1000)));
        assert!(timeouts.expired(t0 + Duration::from_millis(999), |_, _| true).is_empty());
        assert_eq!(timeouts.expired(t0 + Duration::from_millis(1000), |_, _| true), [(1, 1000, 1)]);
        // Once the caller forgets the channel (it closes it), it is not reported again.
        timeouts.forget_channel(1);
        assert!(timeouts.expired(t0 + Duration::from_millis(1001), |_, _| true).is_empty());
        assert_eq!(timeouts.next_check(), Some(t0 + Duration::from_millis(5000)));
    }

    #[test]
    fn settled_deliveries_never_expire() {
        let t0 = Instant::now();
        let mut timeouts = AckTimeouts::default();
        timeouts.start(1, 1, 1000, t0, |_| true);
        timeouts.start(1, 2, 1000, t0 + Duration::from_millis(500), |_| true);
        // Tag 1 is acknowledged: the next look is at tag 2's deadline.
        assert!(timeouts.expired(t0 + Duration::from_millis(1000), |_, tag| tag != 1).is_empty());
        assert_eq!(timeouts.next_check(), Some(t0 + Duration::from_millis(1500)));
        assert!(timeouts.expired(t0 + Duration::from_millis(1500), |_, _| false).is_empty());
        assert_eq!(timeouts.next_check(), None);
    }

    #[test]
    fn consumers_of_one_channel_with_other_timeouts_keep_their_own_deadlines() {
        let t0 = Instant::now();
        let mut timeouts = AckTimeouts::default();
        timeouts.start(1, 1, 10_000, t0, |_| true);
        timeouts.start(1, 2, 100, t0, |_| true);
        assert_eq!(timeouts.expired(t0 + Duration::from_millis(100), |_, _| true), [(1, 100, 2)]);
    }

    #[test]
    fn a_lane_of_settled_deliveries_is_compacted() {
        let t0 = Instant::now();
        let mut timeouts = AckTimeouts::default();
        let held: RefCell<HashSet<u64>> = RefCell::new(HashSet::from([1]));
        for tag in 1..=100_000 {
            timeouts.start(1, tag, 1000, t0, |t| held.borrow().contains(&t));
        }
        held.borrow_mut().insert(100_000);
        let lane = &timeouts.lanes[&1][0];
        assert!(lane.entries.len() <= 2 + COMPACT_SLACK + 1, "{}", lane.entries.len());
    }

    #[test]
    fn the_backstop_lease_outlasts_the_timeout() {
        assert_eq!(backstop_lease_ms(1000), 61_000);
        assert_eq!(backstop_lease_ms(30 * 60_000), 60 * 60_000);
        assert!(backstop_lease_ms(u64::MAX) < i64::MAX as u64);
    }
}
