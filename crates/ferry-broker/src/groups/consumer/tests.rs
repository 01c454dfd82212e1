//! The assignors, the reconciliation of members and the group's epochs, driven through the pure
//! [`ConsumerGroup`] with time passed in.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::assignor::{self, AssignorMember};
use super::reconcile::{self, Reconciled};
use super::types::{
    ConsumerHeartbeat, ConsumerHeartbeatError, ConsumerHeartbeatResponse, TopicPartitionCounts,
};
use super::{Assignment, ConsumerGroup, MemberState};
use crate::groups::config::GroupConfig;
use crate::groups::error::CommitError;
use crate::groups::types::TopicPartition;

fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

fn topics(list: &[(&str, u32)]) -> TopicPartitionCounts {
    list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

fn members<'a>(subs: &[(&str, &[&'a str])]) -> BTreeMap<String, AssignorMember<'a>> {
    subs.iter()
        .map(|(id, ts)| {
            (id.to_string(), AssignorMember { topics: ts.iter().copied().collect(), previous: None })
        })
        .collect()
}

fn counts(out: &BTreeMap<String, Assignment>) -> Vec<usize> {
    out.values().map(BTreeSet::len).collect()
}

fn assert_partitioned(out: &BTreeMap<String, Assignment>, topics: &TopicPartitionCounts) {
    let mut seen = BTreeSet::new();
    for set in out.values() {
        for tp in set {
            assert!(seen.insert(tp.clone()), "{tp:?} assigned twice in {out:?}");
        }
    }
    let all: BTreeSet<TopicPartition> =
        topics.iter().flat_map(|(t, n)| (0..*n as i32).map(move |p| tp(t, p))).collect();
    assert_eq!(seen, all);
}

#[test]
fn uniform_spreads_partitions_evenly() {
    let t = topics(&[("a", 7), ("b", 2)]);
    let out = assignor::assign(
        assignor::UNIFORM,
        &members(&[("m1", &["a", "b"]), ("m2", &["a", "b"]), ("m3", &["a", "b"])]),
        &t,
    );
    assert_partitioned(&out, &t);
    assert_eq!(counts(&out), vec![3, 3, 3]);
}

#[test]
fn uniform_keeps_partitions_where_they_were_when_a_member_joins() {
    let t = topics(&[("a", 6)]);
    let first = assignor::assign(assignor::UNIFORM, &members(&[("m1", &["a"]), ("m2", &["a"])]), &t);
    let mut next = members(&[("m1", &["a"]), ("m2", &["a"]), ("m3", &["a"])]);
    next.get_mut("m1").unwrap().previous = first.get("m1");
    next.get_mut("m2").unwrap().previous = first.get("m2");
    let second = assignor::assign(assignor::UNIFORM, &next, &t);
    assert_partitioned(&second, &t);
    assert_eq!(counts(&second), vec![2, 2, 2]);
    for m in ["m1", "m2"] {
        assert!(second[m].is_subset(&first[m]), "{m} keeps part of what it had: {first:?} -> {second:?}");
    }
}

#[test]
fn uniform_gives_each_topic_only_to_its_subscribers() {
    let t = topics(&[("a", 4), ("b", 4)]);
    let out = assignor::assign(assignor::UNIFORM, &members(&[("m1", &["a"]), ("m2", &["a", "b"])]), &t);
    assert_partitioned(&out, &t);
    assert!(out["m1"].iter().all(|tp| tp.topic == "a"));
    assert_eq!(counts(&out), vec![4, 4]);
}

#[test]
fn range_gives_consecutive_ranges_per_topic_in_member_order() {
    let t = topics(&[("a", 5), ("b", 2)]);
    let out = assignor::assign(assignor::RANGE, &members(&[("m1", &["a", "b"]), ("m2", &["a", "b"])]), &t);
    assert_partitioned(&out, &t);
    assert_eq!(out["m1"], [tp("a", 0), tp("a", 1), tp("a", 2), tp("b", 0)].into_iter().collect());
    assert_eq!(out["m2"], [tp("a", 3), tp("a", 4), tp("b", 1)].into_iter().collect());
}

fn at(
    state: MemberState,
    epoch: i32,
    assigned: &[TopicPartition],
    revoking: &[TopicPartition],
) -> Reconciled {
    Reconciled {
        state,
        epoch,
        assigned: assigned.iter().cloned().collect(),
        revoking: revoking.iter().cloned().collect(),
    }
}

#[test]
fn a_member_revokes_before_it_moves_to_the_new_epoch() {
    let current = at(MemberState::Stable, 1, &[tp("a", 0), tp("a", 1)], &[]);
    let target: Assignment = [tp("a", 0)].into_iter().collect();
    let next = reconcile::next(&current, &target, 2, None, |_| false);
    assert_eq!(next, at(MemberState::UnrevokedPartitions, 1, &[tp("a", 0)], &[tp("a", 1)]));
    // Still owning it: nothing moves.
    let owned: Assignment = [tp("a", 0), tp("a", 1)].into_iter().collect();
    assert_eq!(reconcile::next(&next, &target, 2, Some(&owned), |_| false), next);
    // Revoked: the new epoch.
    let owned: Assignment = [tp("a", 0)].into_iter().collect();
    let done = reconcile::next(&next, &target, 2, Some(&owned), |_| false);
    assert_eq!(done, at(MemberState::Stable, 2, &[tp("a", 0)], &[]));
}

#[test]
fn a_partition_waits_until_its_previous_owner_released_it() {
    let current = at(MemberState::Stable, 1, &[], &[]);
    let target: Assignment = [tp("a", 0), tp("a", 1)].into_iter().collect();
    let held = tp("a", 1);
    let next = reconcile::next(&current, &target, 2, None, |p| *p == held);
    assert_eq!(next, at(MemberState::UnreleasedPartitions, 2, &[tp("a", 0)], &[]));
    let released = reconcile::next(&next, &target, 2, None, |_| false);
    assert_eq!(released, at(MemberState::Stable, 2, &[tp("a", 0), tp("a", 1)], &[]));
}

// ---- the group ----

const SESSION_MS: i64 = 45_000;

fn cfg() -> GroupConfig {
    GroupConfig::default()
}

fn join(id: &str, subscribed: &[&str]) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        group_id: "g".into(),
        member_id: id.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 60_000,
        subscribed_topic_names: Some(subscribed.iter().map(|s| s.to_string()).collect()),
        owned: Some(Vec::new()),
        ..ConsumerHeartbeat::default()
    }
}

fn beat(id: &str, epoch: i32, owned: Option<&Assignment>) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        group_id: "g".into(),
        member_id: id.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        owned: owned.map(|o| o.iter().cloned().collect()),
        ..ConsumerHeartbeat::default()
    }
}

/// A client as librdkafka behaves: it takes what an answer assigns, and reports what it owns.
#[derive(Debug, Default)]
struct Client {
    epoch: i32,
    owned: Assignment,
}

impl Client {
    fn apply(&mut self, response: &ConsumerHeartbeatResponse) {
        self.epoch = response.member_epoch;
        if let Some(assignment) = &response.assignment {
            self.owned = assignment.iter().cloned().collect();
        }
    }
}

#[test]
fn two_members_split_a_topic_once_the_first_revokes() {
    let mut g = ConsumerGroup::new(0);
    let t = topics(&[("a", 4)]);
    let r1 = g.heartbeat(&join("m1", &["a"]), &t, 0, &cfg()).unwrap();
    assert_eq!(r1.member_epoch, 1);
    assert_eq!(r1.assignment.as_ref().map(Vec::len), Some(4));
    let mut c1 = Client::default();
    c1.apply(&r1);

    let r2 = g.heartbeat(&join("m2", &["a"]), &t, 10, &cfg()).unwrap();
    assert_eq!(r2.member_epoch, 2, "the joiner moves to the new epoch");
    assert_eq!(r2.assignment, Some(Vec::new()), "but gets nothing m1 still owns");
    let mut c2 = Client::default();
    c2.apply(&r2);

    let r1 = g.heartbeat(&beat("m1", 1, Some(&c1.owned)), &t, 20, &cfg()).unwrap();
    assert_eq!(r1.member_epoch, 1, "m1 stays in its epoch until it revokes");
    c1.apply(&r1);
    assert_eq!(c1.owned.len(), 2);
    assert!(g.check_commit("m1", 1).is_ok(), "it may commit while revoking");

    let r1 = g.heartbeat(&beat("m1", 1, Some(&c1.owned)), &t, 30, &cfg()).unwrap();
    assert_eq!(r1.member_epoch, 2);
    c1.apply(&r1);
    let r2 = g.heartbeat(&beat("m2", 2, Some(&c2.owned)), &t, 40, &cfg()).unwrap();
    c2.apply(&r2);
    assert_eq!(c2.owned.len(), 2);
    assert!(c1.owned.is_disjoint(&c2.owned));
    assert_eq!(g.state(), super::types::ConsumerGroupState::Stable);
}

#[test]
fn wrong_epochs_are_fenced_and_unknown_members_told_to_rejoin() {
    let mut g = ConsumerGroup::new(0);
    let t = topics(&[("a", 2)]);
    g.heartbeat(&join("m1", &["a"]), &t, 0, &cfg()).unwrap();
    assert_eq!(
        g.heartbeat(&beat("m1", 7, None), &t, 1, &cfg()),
        Err(ConsumerHeartbeatError::FencedMemberEpoch)
    );
    assert_eq!(
        g.heartbeat(&beat("nobody", 1, None), &t, 1, &cfg()),
        Err(ConsumerHeartbeatError::UnknownMemberId)
    );
    assert!(matches!(g.check_commit("m1", 0), Err(CommitError::StaleMemberEpoch)));
}

#[test]
fn an_expired_session_removes_the_member_and_frees_its_partitions() {
    let mut g = ConsumerGroup::new(0);
    let t = topics(&[("a", 2)]);
    g.heartbeat(&join("m1", &["a"]), &t, 0, &cfg()).unwrap();
    let r2 = g.heartbeat(&join("m2", &["a"]), &t, SESSION_MS / 2, &cfg()).unwrap();
    assert_eq!(g.next_deadline_ms(), Some(SESSION_MS));
    assert_eq!(g.on_timer(SESSION_MS), vec!["m1".to_string()]);
    let r2 = g
        .heartbeat(&beat("m2", r2.member_epoch, Some(&Assignment::new())), &t, SESSION_MS + 1, &cfg())
        .unwrap();
    assert_eq!(r2.assignment.map(|a| a.len()), Some(2));
}

#[test]
fn the_groups_own_session_timeout_and_heartbeat_interval_win_over_the_brokers() {
    let mut g = ConsumerGroup::new(0);
    let mut req = join("m1", &["a"]);
    req.session_timeout_ms = Some(10_000);
    req.heartbeat_interval_ms = Some(700);
    let r = g.heartbeat(&req, &topics(&[("a", 1)]), 0, &cfg()).unwrap();
    assert_eq!(r.heartbeat_interval_ms, 700);
    assert_eq!(g.next_deadline_ms(), Some(10_000));
    let r = g.heartbeat(&beat("m1", r.member_epoch, None), &topics(&[("a", 1)]), 1, &cfg()).unwrap();
    assert_eq!(r.heartbeat_interval_ms, cfg().consumer_group_heartbeat_interval_ms);
    assert_eq!(g.next_deadline_ms(), Some(1 + SESSION_MS));
}

#[test]
fn a_static_member_that_comes_back_takes_over_its_partitions_without_a_rebalance() {
    let mut g = ConsumerGroup::new(0);
    let t = topics(&[("a", 4)]);
    let static_join =
        |id: &str| ConsumerHeartbeat { instance_id: Some("worker-1".into()), ..join(id, &["a"]) };
    let first = g.heartbeat(&static_join("m1"), &t, 0, &cfg()).unwrap();
    let other = g.heartbeat(&join("m2", &["a"]), &t, 0, &cfg()).unwrap();
    let mut c1 = Client::default();
    c1.apply(&first);
    let r = g.heartbeat(&beat("m1", c1.epoch, Some(&c1.owned)), &t, 10, &cfg()).unwrap();
    c1.apply(&r);
    let r = g.heartbeat(&beat("m1", c1.epoch, Some(&c1.owned)), &t, 20, &cfg()).unwrap();
    c1.apply(&r);
    assert_eq!(c1.owned.len(), 2);
    assert_eq!(
        g.heartbeat(&static_join("m3"), &t, 30, &cfg()),
        Err(ConsumerHeartbeatError::UnreleasedInstanceId),
        "the instance id is still in use"
    );

    let mut leave = beat("m1", -2, None);
    leave.instance_id = Some("worker-1".into());
    assert_eq!(g.heartbeat(&leave, &t, 40, &cfg()).unwrap().member_epoch, -2);
    let epoch = g.epoch;
    let back = g.heartbeat(&static_join("m3"), &t, 50, &cfg()).unwrap();
    assert_eq!(g.epoch, epoch, "no rebalance");
    assert_eq!(back.member_epoch, c1.epoch);
    assert_eq!(back.assignment.map(|a| a.into_iter().collect::<Assignment>()), Some(c1.owned.clone()));
    let mut stale = beat("m1", c1.epoch, None);
    stale.instance_id = Some("worker-1".into());
    assert_eq!(g.heartbeat(&stale, &t, 60, &cfg()), Err(ConsumerHeartbeatError::FencedInstanceId));
    let _ = other;
}

#[test]
fn a_departed_static_member_is_removed_when_its_session_runs_out() {
    let mut g = ConsumerGroup::new(0);
    let t = topics(&[("a", 2)]);
    let mut req = join("m1", &["a"]);
    req.instance_id = Some("worker-1".into());
    g.heartbeat(&req, &t, 0, &cfg()).unwrap();
    let mut leave = beat("m1", -2, None);
    leave.instance_id = Some("worker-1".into());
    g.heartbeat(&leave, &t, 10, &cfg()).unwrap();
    assert_eq!(g.on_timer(SESSION_MS - 1), Vec::<String>::new());
    assert_eq!(g.on_timer(SESSION_MS), vec!["m1".to_string()]);
    assert!(g.holders.is_empty());
}

#[test]
fn a_refused_rejoin_releases_what_the_member_held() {
    let mut g = ConsumerGroup::new(0);
    let t = topics(&[("a", 2)]);
    g.heartbeat(&join("m1", &["a"]), &t, 0, &cfg()).unwrap();
    let r2 = g.heartbeat(&join("m2", &["a"]), &t, 0, &cfg()).unwrap();
    let mut bad = join("m1", &["a"]);
    bad.subscribed_topic_regex = Some("(".into());
    assert!(g.heartbeat(&bad, &t, 1, &cfg()).is_err());
    assert!(!g.members.contains_key("m1"));
    let r2 = g.heartbeat(&beat("m2", r2.member_epoch, Some(&Assignment::new())), &t, 2, &cfg()).unwrap();
    assert_eq!(r2.assignment.map(|a| a.len()), Some(2), "m1's partitions went to m2");
}

#[test]
fn a_regex_subscription_picks_up_a_topic_created_later() {
    let mut g = ConsumerGroup::new(0);
    let mut req = join("m1", &[]);
    req.subscribed_topic_names = None;
    req.subscribed_topic_regex = Some("^orders-.*".into());
    let r = g.heartbeat(&req, &topics(&[("orders-1", 1), ("other", 1)]), 0, &cfg()).unwrap();
    assert_eq!(r.assignment, Some(vec![tp("orders-1", 0)]));
    let owned: Assignment = [tp("orders-1", 0)].into_iter().collect();
    let later = topics(&[("orders-1", 1), ("orders-2", 2), ("other", 1)]);
    let r = g.heartbeat(&beat("m1", r.member_epoch, Some(&owned)), &later, 1, &cfg()).unwrap();
    assert_eq!(r.member_epoch, 2);
    assert_eq!(r.assignment.map(|a| a.len()), Some(3));
}

#[test]
fn a_bad_regex_or_assignor_is_refused() {
    let mut g = ConsumerGroup::new(0);
    let mut req = join("m1", &[]);
    req.subscribed_topic_regex = Some("(".into());
    assert!(matches!(
        g.heartbeat(&req, &topics(&[]), 0, &cfg()),
        Err(ConsumerHeartbeatError::InvalidRegularExpression(_))
    ));
    let mut req = join("m1", &["a"]);
    req.server_assignor = Some("sticky".into());
    assert_eq!(g.heartbeat(&req, &topics(&[]), 0, &cfg()), Err(ConsumerHeartbeatError::UnsupportedAssignor));
    assert!(g.members.is_empty());
}

// ---- a property over random histories ----

#[derive(Clone, Debug)]
enum Op {
    Join(usize),
    Leave(usize),
    Heartbeat(usize),
    /// The member heartbeats without saying what it owns.
    Quiet(usize),
    /// The member's process dies; its session runs out.
    Crash(usize),
    /// A static member closes (epoch -2) and its instance starts again under a new member id.
    Bounce(usize),
    AddPartitions(usize),
    /// Topic "b" is deleted, or created again when it was.
    ToggleTopic,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..4usize).prop_map(Op::Join),
        1 => (0..4usize).prop_map(Op::Leave),
        6 => (0..4usize).prop_map(Op::Heartbeat),
        1 => (0..4usize).prop_map(Op::Quiet),
        1 => (0..4usize).prop_map(Op::Crash),
        1 => (0..4usize).prop_map(Op::Bounce),
        1 => (0..2usize).prop_map(Op::AddPartitions),
        1 => Just(Op::ToggleTopic),
    ]
}

const TOPICS: [&str; 2] = ["a", "b"];

fn subscription(member: usize) -> Vec<&'static str> {
    // Members 0 and 1 read both topics, 2 only "a", 3 only "b": heterogeneous subscriptions.
    match member {
        2 => vec!["a"],
        3 => vec!["b"],
        _ => TOPICS.to_vec(),
    }
}

/// Members 0 and 2 are static.
fn instance(member: usize) -> Option<String> {
    member.is_multiple_of(2).then(|| format!("instance-{member}"))
}

/// A simulated client: its member id and what it believes.
struct Sim {
    id: String,
    client: Client,
}

fn sim_join(g: &mut ConsumerGroup, m: usize, id: String, t: &TopicPartitionCounts, now: i64) -> Sim {
    let mut req = join(&id, &subscription(m));
    req.instance_id = instance(m);
    let r = g.heartbeat(&req, t, now, &cfg()).unwrap();
    let mut client = Client::default();
    client.apply(&r);
    Sim { id, client }
}

/// A heartbeat as the front-end passes it on: partitions of topics that no longer exist are not
/// reported (their ids no longer map to a name).
fn sim_beat(
    g: &mut ConsumerGroup,
    m: usize,
    sim: &mut Sim,
    report: bool,
    t: &TopicPartitionCounts,
    now: i64,
) {
    let owned: Assignment = sim.client.owned.iter().filter(|tp| t.contains_key(&tp.topic)).cloned().collect();
    let mut req = beat(&sim.id, sim.client.epoch, report.then_some(&owned));
    req.instance_id = instance(m);
    let r = g.heartbeat(&req, t, now, &cfg()).unwrap();
    sim.client.apply(&r);
    sim.client.owned.retain(|tp| t.contains_key(&tp.topic));
}

fn assert_no_partition_has_two_owners(g: &ConsumerGroup, sims: &BTreeMap<usize, Sim>) {
    let mut held = BTreeMap::new();
    for m in g.members.values() {
        for tp in m.current.assigned.iter().chain(&m.current.revoking) {
            if let Some(other) = held.insert(tp.clone(), m.id.clone()) {
                panic!("{tp:?} held by {other} and {}", m.id);
            }
        }
    }
    let mut owned = BTreeMap::new();
    for (m, sim) in sims {
        for tp in &sim.client.owned {
            if let Some(other) = owned.insert(tp.clone(), *m) {
                panic!("{tp:?} owned by clients {other} and {m}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_partition_is_owned_twice_and_a_quiet_group_assigns_everything(ops in proptest::collection::vec(op(), 1..60)) {
        let cfg = cfg();
        let mut g = ConsumerGroup::new(0);
        let mut t = topics(&[("a", 3), ("b", 2)]);
        let mut sims: BTreeMap<usize, Sim> = BTreeMap::new();
        let mut now = 0i64;
        let mut incarnation = 0;
        for op in ops {
            now += 100;
            match op {
                Op::Join(m) if !sims.contains_key(&m) => {
                    incarnation += 1;
                    let sim = sim_join(&mut g, m, format!("m{m}-{incarnation}"), &t, now);
                    sims.insert(m, sim);
                }
                Op::Leave(m) if sims.contains_key(&m) => {
                    let sim = sims.remove(&m).unwrap();
                    g.heartbeat(&beat(&sim.id, -1, None), &t, now, &cfg).unwrap();
                }
                Op::Heartbeat(m) | Op::Quiet(m) if sims.contains_key(&m) => {
                    let sim = sims.get_mut(&m).unwrap();
                    sim_beat(&mut g, m, sim, matches!(op, Op::Heartbeat(_)), &t, now);
                }
                Op::Bounce(m) if sims.contains_key(&m) && instance(m).is_some() => {
                    let sim = sims.remove(&m).unwrap();
                    let mut leave = beat(&sim.id, -2, None);
                    leave.instance_id = instance(m);
                    g.heartbeat(&leave, &t, now, &cfg).unwrap();
                    incarnation += 1;
                    let mut back = sim_join(&mut g, m, format!("m{m}-{incarnation}"), &t, now);
                    // Its epoch, or a later one when this heartbeat brings a pending change (new partitions).
                    prop_assert!(back.client.epoch >= sim.client.epoch);
                    back.client.owned.retain(|tp| t.contains_key(&tp.topic));
                    sims.insert(m, back);
                }
                Op::Crash(m) if sims.contains_key(&m) => {
                    let dead = sims.remove(&m).unwrap();
                    // Everyone else heartbeats through the dead member's session.
                    now += SESSION_MS;
                    for (other, sim) in sims.iter_mut() {
                        sim_beat(&mut g, *other, sim, true, &t, now - 1);
                    }
                    g.on_timer(now);
                    prop_assert!(!g.members.contains_key(&dead.id));
                    // A member that did not revoke within its rebalance timeout is gone too; its
                    // client learns it at its next heartbeat and starts over.
                    sims.retain(|_, sim| g.members.contains_key(&sim.id));
                }
                Op::AddPartitions(i) => {
                    if let Some(n) = t.get_mut(TOPICS[i]) {
                        *n += 1;
                    }
                }
                Op::ToggleTopic => {
                    if t.remove("b").is_none() {
                        t.insert("b".into(), 2);
                    }
                }
                _ => continue,
            }
            assert_no_partition_has_two_owners(&g, &sims);
        }
        // Quiet: every member heartbeats, reporting what it owns, until nothing changes.
        for _ in 0..8 {
            now += 100;
            for (m, sim) in sims.iter_mut() {
                sim_beat(&mut g, *m, sim, true, &t, now);
                assert_no_partition_has_two_owners(&g, &BTreeMap::new());
            }
        }
        assert_no_partition_has_two_owners(&g, &sims);
        if sims.is_empty() {
            return Ok(());
        }
        prop_assert_eq!(g.state(), super::types::ConsumerGroupState::Stable);
        let subscribed: BTreeSet<&str> = sims.keys().flat_map(|m| subscription(*m)).collect();
        let expected: BTreeSet<TopicPartition> = t
            .iter()
            .filter(|(topic, _)| subscribed.contains(topic.as_str()))
            .flat_map(|(topic, n)| (0..*n as i32).map(move |p| tp(topic, p)))
            .collect();
        let owned: BTreeSet<TopicPartition> = sims.values().flat_map(|s| s.client.owned.iter().cloned()).collect();
        prop_assert_eq!(owned, expected);
        for sim in sims.values() {
            prop_assert_eq!(&g.members[&sim.id].current.assigned, &sim.client.owned);
            prop_assert_eq!(sim.client.epoch, g.assignment_epoch);
        }
    }
}
