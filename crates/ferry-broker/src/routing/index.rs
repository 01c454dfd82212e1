//! One exchange's bindings arranged for its kind: a map by key (direct), a set (fanout), a trie
//! (topic), a list of rules (headers, which RabbitMQ also scans).

use std::collections::HashMap;

use crate::message::Value;

use super::binding::{Binding, BindingId, Destination};
use super::exchange::ExchangeKind;
use super::headers::HeadersRule;
use super::topic_trie::TopicTrie;

/// Destinations with how many bindings of the index lead to each.
type Counted = HashMap<Destination, u32>;

/// The bindings of one exchange, as its kind looks them up.
#[derive(Debug)]
pub(crate) enum Index {
    Direct(HashMap<String, Counted>),
    Fanout(Counted),
    Topic(TopicTrie<Destination>),
    Headers(HashMap<BindingId, (Destination, HeadersRule)>),
}

impl Index {
    pub(crate) fn new(kind: &ExchangeKind) -> Index {
        match kind.routing_kind() {
            ExchangeKind::Direct => Index::Direct(HashMap::new()),
            ExchangeKind::Fanout => Index::Fanout(HashMap::new()),
            ExchangeKind::Topic => Index::Topic(TopicTrie::new()),
            // `routing_kind` never answers a delayed kind; it reads as its inner one would.
            ExchangeKind::Headers | ExchangeKind::DelayedMessage { .. } => Index::Headers(HashMap::new()),
        }
    }

    /// Adds a binding; `rule` is its parsed arguments when the index is a headers one.
    pub(crate) fn add(&mut self, id: &BindingId, binding: &Binding, rule: Option<HeadersRule>) {
        let dest = binding.destination.clone();
        match self {
            Index::Direct(by_key) => {
                *by_key.entry(binding.routing_key.clone()).or_default().entry(dest).or_insert(0) += 1
            }
            Index::Fanout(all) => *all.entry(dest).or_insert(0) += 1,
            Index::Topic(trie) => trie.insert(&binding.routing_key, dest),
            Index::Headers(rules) => {
                if let Some(rule) = rule {
                    rules.insert(id.clone(), (dest, rule));
                }
            }
        }
    }

    pub(crate) fn remove(&mut self, id: &BindingId) {
        fn take(counted: &mut Counted, dest: &Destination) {
            if let Some(n) = counted.get_mut(dest) {
                *n -= 1;
                if *n == 0 {
                    counted.remove(dest);
                }
            }
        }
        match self {
            Index::Direct(by_key) => {
                if let Some(counted) = by_key.get_mut(&id.routing_key) {
                    take(counted, &id.destination);
                    if counted.is_empty() {
                        by_key.remove(&id.routing_key);
                    }
                }
            }
            Index::Fanout(all) => take(all, &id.destination),
            Index::Topic(trie) => {
                trie.remove(&id.routing_key, &id.destination);
            }
            Index::Headers(rules) => {
                rules.remove(id);
            }
        }
    }

    /// Appends the destinations a message with `routing_key` and `headers` goes to (a
    /// destination may appear more than once).
    pub(crate) fn route<'a>(
        &'a self,
        routing_key: &str,
        headers: &[(String, Value)],
        out: &mut Vec<&'a Destination>,
    ) {
        match self {
            Index::Direct(by_key) => {
                if let Some(counted) = by_key.get(routing_key) {
                    out.extend(counted.keys());
                }
            }
            Index::Fanout(all) => out.extend(all.keys()),
            Index::Topic(trie) => trie.matches(routing_key, out),
            Index::Headers(rules) => {
                out.extend(rules.values().filter(|(_, rule)| rule.matches(headers)).map(|(d, _)| d))
            }
        }
    }
}
