//! The router's in-memory state: exchanges with their indexes, bindings by identity, source and
//! destination, and what a removal takes with it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::message::{Value, lookup};
use crate::metadata::MetaOp;

use super::binding::{Binding, BindingId, Destination};
use super::error::RoutingError;
use super::exchange::{ExchangeDef, ExchangeKind};
use super::filter_policy::{FilterPolicy, FilterScope, X_FILTER_POLICY, X_FILTER_POLICY_SCOPE};
use super::headers::HeadersRule;
use super::index::Index;
use super::store;

pub(super) struct ExchangeEntry {
    pub(super) def: ExchangeDef,
    pub(super) index: Index,
    /// Bindings with a filter policy, kept out of `index`: each is tested on every message.
    pub(super) filtered: HashMap<Arc<BindingId>, (Destination, Arc<FilterPolicy>)>,
}

/// What the router reads from a binding's arguments to route by it.
#[derive(Default)]
pub(super) struct Rule {
    /// The `x-match` rule of a binding to a headers exchange.
    pub(super) headers: Option<HeadersRule>,
    /// The `x-filter-policy` of a binding to a fanout exchange.
    pub(super) filter: Option<Arc<FilterPolicy>>,
}

pub(super) struct BindingEntry {
    pub(super) binding: Binding,
    /// Stored in `Table::Bindings` (source and destination durable).
    pub(super) durable: bool,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) exchanges: HashMap<String, ExchangeEntry>,
    pub(super) bindings: HashMap<Arc<BindingId>, BindingEntry>,
    pub(super) by_source: HashMap<String, HashSet<Arc<BindingId>>>,
    pub(super) by_destination: HashMap<Destination, HashSet<Arc<BindingId>>>,
}

impl State {
    pub(super) fn insert_exchange(&mut self, def: ExchangeDef) {
        let index = Index::new(&def.kind);
        self.exchanges.insert(def.name.clone(), ExchangeEntry { def, index, filtered: HashMap::new() });
    }

    pub(super) fn insert_binding(&mut self, id: Arc<BindingId>, binding: Binding, rule: Rule, durable: bool) {
        if let Some(x) = self.exchanges.get_mut(&binding.source) {
            match rule.filter {
                Some(policy) => {
                    x.filtered.insert(Arc::clone(&id), (binding.destination.clone(), policy));
                }
                None => x.index.add(&id, &binding, rule.headers),
            }
        }
        self.by_source.entry(binding.source.clone()).or_default().insert(Arc::clone(&id));
        self.by_destination.entry(binding.destination.clone()).or_default().insert(Arc::clone(&id));
        self.bindings.insert(id, BindingEntry { binding, durable });
    }

    pub(super) fn remove_binding(&mut self, id: &BindingId) {
        if self.bindings.remove(id).is_none() {
            return;
        }
        if let Some(x) = self.exchanges.get_mut(&id.source)
            && x.filtered.remove(id).is_none()
        {
            x.index.remove(id);
        }
        if let Some(set) = self.by_source.get_mut(&id.source) {
            set.remove(id);
            if set.is_empty() {
                self.by_source.remove(&id.source);
            }
        }
        if let Some(set) = self.by_destination.get_mut(&id.destination) {
            set.remove(id);
            if set.is_empty() {
                self.by_destination.remove(&id.destination);
            }
        }
    }

    pub(super) fn source_count(&self, exchange: &str) -> usize {
        self.by_source.get(exchange).map_or(0, HashSet::len)
    }

    /// What removing `bindings` and deleting `exchanges` takes with it: the bindings of every
    /// exchange deleted (as source or destination), and, as RabbitMQ does, every auto-delete
    /// exchange left without bindings as a source, transitively.
    pub(super) fn plan_removal(&self, bindings: Vec<Arc<BindingId>>, exchanges: Vec<String>) -> Removal {
        let mut removed_bindings: HashSet<Arc<BindingId>> = HashSet::new();
        let mut removed_exchanges: HashSet<String> = HashSet::new();
        let mut left_as_source: HashMap<String, usize> = HashMap::new();
        let (mut binding_work, mut exchange_work) = (bindings, exchanges);
        loop {
            while let Some(id) = binding_work.pop() {
                if !removed_bindings.insert(Arc::clone(&id)) || removed_exchanges.contains(&id.source) {
                    continue;
                }
                let left =
                    left_as_source.entry(id.source.clone()).or_insert_with(|| self.source_count(&id.source));
                *left = left.saturating_sub(1);
                let auto_delete = self.exchanges.get(&id.source).is_some_and(|x| x.def.auto_delete);
                if *left == 0 && auto_delete {
                    exchange_work.push(id.source.clone());
                }
            }
            let Some(name) = exchange_work.pop() else { break };
            if !removed_exchanges.insert(name.clone()) {
                continue;
            }
            // Its bindings as a source go with it, uncounted; those to it may leave their
            // sources unbound, so they go through the count above.
            removed_bindings.extend(self.by_source.get(&name).into_iter().flatten().cloned());
            let to_it = self.by_destination.get(&Destination::Exchange(name));
            binding_work.extend(to_it.into_iter().flatten().cloned());
        }
        Removal {
            bindings: removed_bindings.into_iter().collect(),
            exchanges: removed_exchanges.into_iter().collect(),
        }
    }

    /// The store operations of `removal`: deletes of the durable records it removes.
    pub(super) fn removal_ops(&self, removal: &Removal) -> Vec<MetaOp> {
        let bindings = removal
            .bindings
            .iter()
            .filter(|id| self.bindings.get(*id).is_some_and(|b| b.durable))
            .map(|id| store::delete_binding(id));
        let exchanges = removal
            .exchanges
            .iter()
            .filter(|x| self.exchanges.get(*x).is_some_and(|x| x.def.durable))
            .map(|x| store::delete_exchange(x));
        bindings.chain(exchanges).collect()
    }

    pub(super) fn apply(&mut self, removal: Removal) {
        for id in &removal.bindings {
            self.remove_binding(id);
        }
        for name in &removal.exchanges {
            self.exchanges.remove(name);
        }
    }
}

/// Bindings and exchanges one change removes.
pub(super) struct Removal {
    pub(super) bindings: Vec<Arc<BindingId>>,
    pub(super) exchanges: Vec<String>,
}

/// What the router routes `binding` by: its parsed `x-match` rule when its source routes by
/// headers, its filter policy when it has one (only on a fanout exchange).
pub(super) fn rule_for(source: &ExchangeDef, binding: &Binding) -> Result<Rule, RoutingError> {
    let subject = || format!("binding of {} to exchange '{}'", binding.destination, binding.source);
    let invalid = |argument: &str, reason: String| RoutingError::InvalidArgument {
        subject: subject(),
        argument: argument.to_string(),
        reason,
    };
    let filter = match lookup(&binding.arguments, X_FILTER_POLICY) {
        None => None,
        Some(Value::Text(text)) => {
            if *source.kind.routing_kind() != ExchangeKind::Fanout {
                return Err(invalid(
                    X_FILTER_POLICY,
                    "a filter policy applies to fanout exchanges only".into(),
                ));
            }
            let scope = match lookup(&binding.arguments, X_FILTER_POLICY_SCOPE) {
                None => FilterScope::default(),
                Some(Value::Text(name)) => FilterScope::parse(name).ok_or_else(|| {
                    invalid(
                        X_FILTER_POLICY_SCOPE,
                        format!("'{name}' is not MessageAttributes or MessageBody"),
                    )
                })?,
                Some(other) => {
                    return Err(invalid(X_FILTER_POLICY_SCOPE, format!("must be text, not {other:?}")));
                }
            };
            let policy = FilterPolicy::parse(text, scope).map_err(|e| invalid(X_FILTER_POLICY, e.0))?;
            Some(Arc::new(policy))
        }
        Some(other) => return Err(invalid(X_FILTER_POLICY, format!("must be JSON text, not {other:?}"))),
    };
    let headers = if *source.kind.routing_kind() == ExchangeKind::Headers {
        Some(HeadersRule::parse(&binding.arguments, subject)?)
    } else {
        None
    };
    Ok(Rule { headers, filter })
}

pub(super) fn collect_bindings(state: &State, ids: Option<&HashSet<Arc<BindingId>>>) -> Vec<Binding> {
    let mut ids: Vec<&Arc<BindingId>> = ids.into_iter().flatten().collect();
    ids.sort_unstable();
    ids.into_iter().filter_map(|id| state.bindings.get(id)).map(|b| b.binding.clone()).collect()
}
