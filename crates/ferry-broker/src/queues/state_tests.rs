//! Property tests of the delivery state machine against a simple model: a list of messages,
//! each ready, delayed, in flight or settled, scanned in full on every operation.

use std::collections::HashMap;

use proptest::prelude::*;

use super::state::{DeliveryState, Incoming, Leased, MessageSource, NOISY_IN_FLIGHT_MIN, Outgoing, Policy};

struct Metas(HashMap<u64, (i64, u32)>);

impl MessageSource for Metas {
    fn meta(&mut self, offset: u64) -> Option<(i64, u32)> {
        self.0.get(&offset).copied()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MState {
    Ready,
    Delayed(i64),
    InFlight(i64),
    Settled,
}

#[derive(Clone, Debug)]
struct MMsg {
    offset: u64,
    priority: u8,
    group: Option<u8>,
    count: u32,
    state: MState,
}

struct Model {
    msgs: Vec<MMsg>,
    max_deliveries: Option<u32>,
    fifo: bool,
}

/// A standard queue's next message: the first ready one (priority, then arrival) without a
/// group or of a quiet tenant; else the head of the noisy tenant with the fewest in flight.
fn next_fair(msgs: &[MMsg]) -> Option<usize> {
    let key = |m: &MMsg| (std::cmp::Reverse(m.priority), m.offset);
    let total = msgs.iter().filter(|m| matches!(m.state, MState::InFlight(_))).count() as u64;
    let in_flight = |g: u8| {
        msgs.iter().filter(|m| m.group == Some(g) && matches!(m.state, MState::InFlight(_))).count() as u64
    };
    let noisy = |g: Option<u8>| {
        g.is_some_and(|g| in_flight(g) >= u64::from(NOISY_IN_FLIGHT_MIN) && in_flight(g) * 10 > total)
    };
    let ready = || (0..msgs.len()).filter(|&i| msgs[i].state == MState::Ready);
    ready()
        .filter(|&i| !noisy(msgs[i].group))
        .min_by_key(|&i| key(&msgs[i]))
        .or_else(|| ready().min_by_key(|&i| (in_flight(msgs[i].group.unwrap_or(0)), key(&msgs[i]))))
}

impl Model {
    /// A message whose count reached the limit leaves instead of coming back.
    fn back(&mut self, i: usize, delay: Option<u64>, now: i64, check: bool) {
        let m = &mut self.msgs[i];
        if check && self.max_deliveries.is_some_and(|x| m.count >= x) {
            m.state = MState::Settled;
            return;
        }
        m.state = match delay {
            Some(d) if d > 0 => MState::Delayed(now + d as i64),
            _ => MState::Ready,
        };
    }

    fn tick(&mut self, now: i64) {
        for i in 0..self.msgs.len() {
            match self.msgs[i].state {
                MState::InFlight(d) if d <= now => self.back(i, None, now, true),
                MState::Delayed(d) if d <= now => self.msgs[i].state = MState::Ready,
                _ => {}
            }
        }
    }

    fn receive(&mut self, now: i64, max: usize, lease: u64) -> Vec<(u64, u32)> {
        self.tick(now);
        let mut out = Vec::new();
        if self.fifo {
            loop {
                if out.len() >= max {
                    break;
                }
                // Eligible groups: nothing in flight and the oldest unsettled message ready.
                let mut heads: Vec<(u64, u8)> = Vec::new();
                let groups: Vec<u8> = {
                    let mut g: Vec<u8> = self.msgs.iter().filter_map(|m| m.group).collect();
                    g.sort_unstable();
                    g.dedup();
                    g
                };
                for g in groups {
                    let pending: Vec<&MMsg> = self
                        .msgs
                        .iter()
                        .filter(|m| m.group == Some(g) && m.state != MState::Settled)
                        .collect();
                    if pending.iter().any(|m| matches!(m.state, MState::InFlight(_))) {
                        continue;
                    }
                    if let Some(h) = pending.first()
                        && h.state == MState::Ready
                    {
                        heads.push((h.offset, g));
                    }
                }
                heads.sort_unstable();
                let Some(&(_, g)) = heads.first() else { break };
                let idx: Vec<usize> = (0..self.msgs.len())
                    .filter(|&i| self.msgs[i].group == Some(g) && self.msgs[i].state != MState::Settled)
                    .collect();
                for i in idx {
                    if out.len() >= max || self.msgs[i].state != MState::Ready {
                        break;
                    }
                    if self.max_deliveries.is_some_and(|x| self.msgs[i].count >= x) {
                        self.msgs[i].state = MState::Settled;
                        continue;
                    }
                    self.msgs[i].count += 1;
                    self.msgs[i].state = MState::InFlight(now + lease as i64);
                    out.push((self.msgs[i].offset, self.msgs[i].count));
                }
            }
            return out;
        }
        while out.len() < max {
            let Some(i) = next_fair(&self.msgs) else { break };
            if self.max_deliveries.is_some_and(|x| self.msgs[i].count >= x) {
                self.msgs[i].state = MState::Settled;
                continue;
            }
            self.msgs[i].count += 1;
            self.msgs[i].state = MState::InFlight(now + lease as i64);
            out.push((self.msgs[i].offset, self.msgs[i].count));
        }
        out
    }

    fn find(&self, offset: u64) -> Option<usize> {
        self.msgs.iter().position(|m| m.offset == offset)
    }

    fn counts(&self) -> (u64, u64, u64) {
        let mut c = (0, 0, 0);
        for m in &self.msgs {
            match m.state {
                MState::Ready => c.0 += 1,
                MState::InFlight(_) => c.1 += 1,
                MState::Delayed(_) => c.2 += 1,
                MState::Settled => {}
            }
        }
        c
    }
}

#[derive(Clone, Debug)]
enum Op {
    Enqueue { priority: u8, delay: u64, group: u8 },
    Receive { max: usize, lease: u64 },
    Ack(usize),
    Nack(usize, u64),
    ChangeLease(usize, u64),
    Advance(u64),
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, prop_oneof![3 => Just(0u64), 1 => 1u64..50], 0u8..3)
            .prop_map(|(priority, delay, group)| Op::Enqueue { priority, delay, group }),
        3 => (1usize..4, 1u64..60).prop_map(|(max, lease)| Op::Receive { max, lease }),
        2 => (0usize..8).prop_map(Op::Ack),
        1 => (0usize..8, prop_oneof![Just(0u64), 1u64..30]).prop_map(|(i, d)| Op::Nack(i, d)),
        1 => (0usize..8, 0u64..40).prop_map(|(i, l)| Op::ChangeLease(i, l)),
        2 => (1u64..40).prop_map(Op::Advance),
        1 => Just(Op::Purge),
    ]
}

/// Busy standard queues: enough messages in flight for tenants to turn noisy and quiet again.
fn busy_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3).prop_map(|group| Op::Enqueue { priority: 0, delay: 0, group }),
        3 => (1usize..12, 50u64..400).prop_map(|(max, lease)| Op::Receive { max, lease }),
        2 => (0usize..64).prop_map(Op::Ack),
        1 => (0usize..64, prop_oneof![Just(0u64), 1u64..30]).prop_map(|(i, d)| Op::Nack(i, d)),
        1 => (1u64..40).prop_map(Op::Advance),
    ]
}

/// Runs `ops` against the state and the model. On a standard queue, messages of groups 0 and 1
/// carry a fair-queue tenant and group 2 none.
fn run(ops: Vec<Op>, fifo: bool, max_deliveries: Option<u32>) -> Result<(), TestCaseError> {
    let policy = Policy { fifo, max_deliveries, retention_ms: u64::MAX / 4, ..Policy::default() };
    let mut state = DeliveryState::new(0).with_fair_groups(!fifo);
    let mut model = Model { msgs: Vec::new(), max_deliveries, fifo };
    let mut metas = Metas(HashMap::new());
    let mut now: i64 = 1_000;
    let mut next: u64 = 0;
    // Receipts handed out so far: (offset, count).
    let mut receipts: Vec<Leased> = Vec::new();
    let mut outs: Vec<Outgoing> = Vec::new();
    for op in ops {
        match op {
            Op::Enqueue { priority, delay, group } => {
                let offset = next;
                next += 1;
                let group = (fifo || group < 2).then_some(group);
                let due = if delay > 0 { now + delay as i64 } else { 0 };
                metas.0.insert(offset, (now, 1));
                state.register(
                    Incoming {
                        offset,
                        priority: if fifo { 0 } else { priority },
                        group: group.map(|g| format!("g{g}")),
                        due_ms: due,
                        size: 1,
                        ..Incoming::default()
                    },
                    now,
                );
                model.msgs.push(MMsg {
                    offset,
                    priority: if fifo { 0 } else { priority },
                    group,
                    count: 0,
                    state: if due > now { MState::Delayed(due) } else { MState::Ready },
                });
            }
            Op::Receive { max, lease } => {
                let got = state.receive(now, max, lease, &policy, &mut metas, &mut outs);
                let want = model.receive(now, max, lease);
                let got_pairs: Vec<(u64, u32)> = got.iter().map(|l| (l.offset, l.count)).collect();
                prop_assert_eq!(got_pairs, want);
                receipts.extend(got);
            }
            Op::Ack(k) => {
                if let Some(l) = receipts.get(k % receipts.len().max(1)).copied() {
                    let res = state.ack(l.offset, l.count);
                    let i = model.find(l.offset).expect("known offset");
                    let m = &model.msgs[i];
                    let expect_ok = m.state == MState::Settled || m.count == l.count;
                    prop_assert_eq!(res.is_ok(), expect_ok, "ack {:?} of {:?}", l, m);
                    if expect_ok {
                        model.msgs[i].state = MState::Settled;
                    }
                }
            }
            Op::Nack(k, delay) => {
                if let Some(l) = receipts.get(k % receipts.len().max(1)).copied() {
                    let d = (delay > 0).then_some(delay);
                    let res = state.nack(l.offset, l.count, d, now, &policy, &mut outs);
                    let i = model.find(l.offset).expect("known offset");
                    let ok =
                        model.msgs[i].count == l.count && matches!(model.msgs[i].state, MState::InFlight(_));
                    prop_assert_eq!(res.is_ok(), ok);
                    if ok {
                        model.back(i, d, now, true);
                    }
                }
            }
            Op::ChangeLease(k, lease) => {
                if let Some(l) = receipts.get(k % receipts.len().max(1)).copied() {
                    let res = state.change_lease(l.offset, l.count, lease, now, &policy, &mut outs);
                    let i = model.find(l.offset).expect("known offset");
                    let ok =
                        model.msgs[i].count == l.count && matches!(model.msgs[i].state, MState::InFlight(_));
                    prop_assert_eq!(res.is_ok(), ok);
                    if ok {
                        if lease == 0 {
                            model.back(i, None, now, false);
                        } else {
                            model.msgs[i].state = MState::InFlight(now + lease as i64);
                        }
                    }
                }
            }
            Op::Advance(ms) => {
                now += ms as i64;
                state.tick(now, &policy, &mut metas, &mut outs);
                model.tick(now);
            }
            Op::Purge => {
                state.purge();
                for m in &mut model.msgs {
                    m.state = MState::Settled;
                }
            }
        }
        let (ready, in_flight, delayed) = model.counts();
        prop_assert_eq!(
            (state.ready_len(), state.in_flight_len(), state.delayed_len()),
            (ready, in_flight, delayed),
            "after {:?}",
            model.msgs
        );
        // Every message of the model is one byte long.
        prop_assert_eq!(
            (state.queued_bytes(), state.delayed_bytes(), state.in_flight_bytes()),
            (ready + delayed, delayed, in_flight),
            "bytes after {:?}",
            model.msgs
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn standard_queue_matches_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops, false, None)?;
    }

    #[test]
    fn busy_fair_queue_matches_the_model(ops in proptest::collection::vec(busy_op(), 1..400)) {
        run(ops, false, None)?;
    }

    #[test]
    fn standard_queue_with_max_deliveries_matches_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops, false, Some(2))?;
    }

    #[test]
    fn fifo_queue_matches_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops, true, None)?;
    }

    #[test]
    fn fifo_queue_with_max_deliveries_matches_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops, true, Some(3))?;
    }
}

/// A standard queue's state with `tenants` registered in order: (tenant, messages).
fn fair_state(tenants: &[(&str, u64)]) -> (DeliveryState, Metas) {
    let mut state = DeliveryState::new(0).with_fair_groups(true);
    let mut metas = Metas(HashMap::new());
    let mut offset = 0;
    for &(tenant, count) in tenants {
        for _ in 0..count {
            metas.0.insert(offset, (1_000, 1));
            let incoming =
                Incoming { offset, group: Some(tenant.to_owned()), size: 1, ..Incoming::default() };
            state.register(incoming, 1_000);
            offset += 1;
        }
    }
    (state, metas)
}

fn receive_offsets(state: &mut DeliveryState, metas: &mut Metas, max: usize) -> Vec<u64> {
    let policy = Policy { retention_ms: u64::MAX / 4, ..Policy::default() };
    state.receive(1_000, max, 60_000, &policy, metas, &mut Vec::new()).iter().map(|l| l.offset).collect()
}

#[test]
fn tenants_without_a_backlog_in_flight_are_served_in_arrival_order() {
    let (mut state, mut metas) = fair_state(&[("a", 2), ("b", 2), ("a", 1)]);
    assert_eq!(receive_offsets(&mut state, &mut metas, 10), [0, 1, 2, 3, 4]);
}

#[test]
fn a_quiet_tenants_messages_are_delivered_ahead_of_a_noisy_tenants_backlog() {
    // Tenant "noisy" sent 200 messages before tenant "quiet" sent 5 (offsets 200..205).
    let (mut state, mut metas) = fair_state(&[("noisy", 200), ("quiet", 5)]);
    for batch in 0..3u64 {
        let want: Vec<u64> = (batch * 10..batch * 10 + 10).collect();
        assert_eq!(receive_offsets(&mut state, &mut metas, 10), want);
    }
    // 30 of noisy's messages are in flight, all of the queue's: it is noisy now, and the quiet
    // tenant's messages come first although they arrived after 170 others.
    let got = receive_offsets(&mut state, &mut metas, 10);
    assert_eq!(got, [200, 201, 202, 203, 204, 30, 31, 32, 33, 34]);
    // With no quiet message ready, the noisy tenant is served again.
    assert_eq!(receive_offsets(&mut state, &mut metas, 3), [35, 36, 37]);
}

#[test]
fn a_tenant_is_quiet_again_once_its_messages_in_flight_are_settled() {
    let (mut state, mut metas) = fair_state(&[("noisy", 40), ("late", 3)]);
    let first = receive_offsets(&mut state, &mut metas, 10);
    let mut leased = first.clone();
    for _ in 0..2 {
        leased.extend(receive_offsets(&mut state, &mut metas, 10));
    }
    assert_eq!(leased, (0..30).collect::<Vec<_>>());
    for offset in leased {
        state.ack(offset, 1).expect("ack");
    }
    // Nothing in flight: arrival order again, the noisy tenant's older messages first.
    assert_eq!(receive_offsets(&mut state, &mut metas, 10), [30, 31, 32, 33, 34, 35, 36, 37, 38, 39]);
    assert_eq!(receive_offsets(&mut state, &mut metas, 10), [40, 41, 42]);
}

#[test]
fn noisy_tenants_are_served_least_busy_first_when_nothing_quiet_is_ready() {
    let (mut state, mut metas) = fair_state(&[("a", 100), ("b", 100)]);
    // "a" turns noisy after 30 in flight; "b" is served until it is noisy as well.
    let mut got = Vec::new();
    for _ in 0..6 {
        got.extend(receive_offsets(&mut state, &mut metas, 10));
    }
    let from_a = got.iter().filter(|&&o| o < 100).count();
    let from_b = got.len() - from_a;
    assert_eq!((from_a, from_b), (30, 30));
    // Both noisy with 30 each: the next ones alternate between the least busy.
    let next = receive_offsets(&mut state, &mut metas, 2);
    assert_eq!(next.iter().filter(|&&o| o < 100).count(), 1, "{next:?}");
}
