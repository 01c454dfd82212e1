//! Server-side assignors of consumer-protocol groups: they turn the members' subscriptions and the
//! topics' partition counts into a target assignment. Both are deterministic (members and topics
//! in sorted order), so the same input gives the same target on every run.

use std::collections::{BTreeMap, BTreeSet};

use super::Assignment;
use crate::groups::types::TopicPartition;

/// The assignor used when no member names one (Kafka's default too).
pub const DEFAULT_ASSIGNOR: &str = UNIFORM;
/// Spreads every subscribed partition evenly over the members subscribed to its topic, keeping
/// partitions where they were in the previous target as far as balance allows.
pub const UNIFORM: &str = "uniform";
/// Per topic, consecutive ranges of partitions to the members subscribed to it, in member id
/// order, the first members taking one more when the count does not divide evenly.
pub const RANGE: &str = "range";

/// Whether `name` is an assignor this broker runs.
pub fn is_supported(name: &str) -> bool {
    name == UNIFORM || name == RANGE
}

/// What an assignor sees of one member.
pub(crate) struct AssignorMember<'a> {
    /// The topics it is subscribed to that exist.
    pub topics: BTreeSet<&'a str>,
    /// Its previous target, for stickiness.
    pub previous: Option<&'a Assignment>,
}

/// Computes the target assignment of every member. `topics` holds the partition count of every
/// topic some member subscribes to.
pub(crate) fn assign(
    assignor: &str,
    members: &BTreeMap<String, AssignorMember<'_>>,
    topics: &BTreeMap<String, u32>,
) -> BTreeMap<String, Assignment> {
    match assignor {
        RANGE => range(members, topics),
        _ => uniform(members, topics),
    }
}

fn range(
    members: &BTreeMap<String, AssignorMember<'_>>,
    topics: &BTreeMap<String, u32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> =
        members.keys().map(|m| (m.clone(), Assignment::new())).collect();
    for (topic, partitions) in topics {
        let subscribers: Vec<&String> =
            members.iter().filter(|(_, m)| m.topics.contains(topic.as_str())).map(|(id, _)| id).collect();
        if subscribers.is_empty() {
            continue;
        }
        let count = subscribers.len() as u32;
        let (per_member, extra) = (partitions / count, partitions % count);
        let mut next = 0;
        for (i, member) in subscribers.into_iter().enumerate() {
            let take = per_member + u32::from((i as u32) < extra);
            let assigned = out.entry(member.clone()).or_default();
            for p in next..next + take {
                assigned.insert(TopicPartition::new(topic.clone(), p as i32));
            }
            next += take;
        }
    }
    out
}

fn uniform(
    members: &BTreeMap<String, AssignorMember<'_>>,
    topics: &BTreeMap<String, u32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> =
        members.keys().map(|m| (m.clone(), Assignment::new())).collect();
    let eligible = |member: &str, tp: &TopicPartition| {
        members.get(member).is_some_and(|m| m.topics.contains(tp.topic.as_str()))
            && topics.get(&tp.topic).is_some_and(|n| tp.partition >= 0 && (tp.partition as u32) < *n)
    };
    // Keep what the previous target gave each member, as long as it is still valid.
    let mut taken = BTreeSet::new();
    for (id, member) in members {
        for tp in member.previous.into_iter().flatten() {
            if eligible(id, tp) && taken.insert(tp.clone()) {
                out.entry(id.clone()).or_default().insert(tp.clone());
            }
        }
    }
    // Hand out the rest, partitions with the fewest candidates first, each to its least loaded
    // candidate.
    let mut free: Vec<(usize, TopicPartition)> = topics
        .iter()
        .flat_map(|(topic, n)| (0..*n as i32).map(move |p| TopicPartition::new(topic.clone(), p)))
        .filter(|tp| !taken.contains(tp))
        .map(|tp| (members.values().filter(|m| m.topics.contains(tp.topic.as_str())).count(), tp))
        .filter(|(candidates, _)| *candidates > 0)
        .collect();
    free.sort();
    for (_, tp) in free {
        let least = out
            .iter()
            .filter(|(id, _)| eligible(id, &tp))
            .min_by_key(|(id, assigned)| (assigned.len(), (*id).clone()))
            .map(|(id, _)| id.clone());
        if let Some(id) = least {
            out.entry(id).or_default().insert(tp);
        }
    }
    // Even out: move a partition from a member holding two more than another eligible member.
    // Each move lowers the sum of squared loads, so this ends; the bound is a safety net.
    let total: usize = out.values().map(BTreeSet::len).sum();
    for _ in 0..=total {
        let Some((from, to, tp)) = best_move(&out, &eligible) else {
            break;
        };
        if let Some(set) = out.get_mut(&from) {
            set.remove(&tp);
        }
        out.entry(to).or_default().insert(tp);
    }
    out
}

/// A move from a member to one holding at least two fewer partitions, if any exists: the most
/// loaded giver first, then the least loaded taker.
fn best_move(
    out: &BTreeMap<String, Assignment>,
    eligible: &impl Fn(&str, &TopicPartition) -> bool,
) -> Option<(String, String, TopicPartition)> {
    let mut by_load: Vec<(&String, &Assignment)> = out.iter().collect();
    by_load.sort_by_key(|(id, a)| (std::cmp::Reverse(a.len()), (*id).clone()));
    for (giver, given) in &by_load {
        for (taker, held) in by_load.iter().rev() {
            if held.len() + 1 >= given.len() {
                break;
            }
            // The giver's last partitions move first, so that its first ones stay.
            if let Some(tp) = given.iter().rev().find(|tp| eligible(taker, tp)) {
                return Some(((*giver).clone(), (*taker).clone(), tp.clone()));
            }
        }
    }
    None
}
