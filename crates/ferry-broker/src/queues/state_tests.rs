//! Property tests of the delivery state machine against a simple model: a list of messages,
//! each ready, delayed, in flight or settled, scanned in full on every operation.

use std::collections::HashMap;

use proptest::prelude::*;

use super::state::{DeliveryState, Incoming, Leased, MessageSource, Outgoing, Policy};

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
            let next = (0..self.msgs.len())
                .filter(|&i| self.msgs[i].state == MState::Ready)
                .min_by_key(|&i| (std::cmp::Reverse(self.msgs[i].priority), self.msgs[i].offset));
            let Some(i) = next else { break };
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

fn run(ops: Vec<Op>, fifo: bool, max_deliveries: Option<u32>) -> Result<(), TestCaseError> {
    let policy = Policy { fifo, max_deliveries, retention_ms: u64::MAX / 4, ..Policy::default() };
    let mut state = DeliveryState::new(0);
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
                let group = fifo.then_some(group);
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
