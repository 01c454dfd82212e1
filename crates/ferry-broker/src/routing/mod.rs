//! The router: exchanges, bindings, and which queues and topics a published message goes to.
//!
//! RabbitMQ's model, in domain terms (no AMQP type here; the front-end translates):
//! - an exchange ([`ExchangeDef`]) of a kind ([`ExchangeKind`]: direct, fanout, topic, headers,
//!   or `x-delayed-message` routing as one of those) reads a message's routing key or headers
//!   and picks [`Destination`]s among its [`Binding`]s;
//! - a destination is a queue, a topic (an AMQP stream queue), or another exchange, where
//!   routing continues; [`Router::route`] resolves the chain to final [`Target`]s, each once,
//!   visiting each exchange once (cycles are harmless), and follows an exchange's
//!   `alternate-exchange` when that exchange itself picks nothing;
//! - the default exchange `""` reaches every queue by its own name without bindings (see
//!   [`Router::set_default_exchange_resolver`]), and `amq.direct`, `amq.fanout`, `amq.topic`,
//!   `amq.headers` and `amq.match` exist from the start.
//!
//! A binding to a fanout exchange may carry a filter policy (`x-filter-policy`, in the
//! language of SNS subscription filter policies; [`filter_policy`]), read against the
//! message's headers or its JSON body (`x-filter-policy-scope`): it lets through only the
//! messages that match. A binding with an [`X_SUBSCRIPTION`] argument is a subscription (an SNS
//! one): it belongs to its exchange and stays when its destination queue is deleted.
//!
//! Durable exchanges, and bindings whose source and destination are both durable, are stored in
//! the [`MetadataStore`] (`Table::Exchanges`, `Table::Bindings`; format in `store`) and
//! recovered by [`Router::open`]; the others live in memory only.
//!
//! Module map: `exchange` (kinds, definitions, redeclare rules), `binding` (destinations,
//! targets, binding identity), `index` (one exchange's bindings arranged for its kind),
//! `filter_policy` (the filters of bindings), `update` (changes in place), `state`
//! (the in-memory state and what a removal takes with it),
//! [`topic_trie`] (topic matching), `headers` (header matching), `store` (stored form), `error`.
//!
//! **Invariant:** the router never waits on the disk while holding the lock [`Router::route`]
//! takes. A change is decided under a read lock, committed to the store under a writer mutex
//! (so changes reach the store in the order they reach memory), and then applied under a short
//! write lock; a failed commit changes nothing.

mod binding;
mod error;
mod exchange;
pub mod filter_policy;
#[cfg(test)]
mod filter_policy_tests;
#[cfg(test)]
mod filter_route_tests;
mod headers;
mod index;
#[cfg(test)]
mod route_tests;
mod state;
mod store;
#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod tests;
pub mod topic_trie;
#[cfg(test)]
mod topic_trie_tests;
mod update;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::message::{Table, Value, lookup};
use crate::metadata::MetadataStore;

pub use binding::{Binding, Destination, Target, X_SUBSCRIPTION};
pub use error::RoutingError;
pub use exchange::{
    ALTERNATE_EXCHANGE, DELAYED_MESSAGE, DELAYED_TYPE, DeclareOutcome, ExchangeDef, ExchangeKind,
};
pub use filter_policy::{
    FilterPolicy, FilterPolicyError, FilterScope, X_FILTER_POLICY, X_FILTER_POLICY_SCOPE,
};
pub use headers::{HeadersRule, MatchKind, X_MATCH, loosely_equal};

use binding::BindingId;
use exchange::{is_reserved, predeclared};
use filter_policy::LazyBody;
use state::{ExchangeEntry, State, collect_bindings, rule_for};

/// Bounds on what the router holds; a declare or bind beyond one is refused
/// ([`RoutingError::TooManyExchanges`], [`RoutingError::TooManyBindings`], both AMQP 406
/// PRECONDITION_FAILED: the channel closes, the connection stays).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouterLimits {
    /// Most exchanges, the six predeclared ones included.
    pub max_exchanges: usize,
    /// Most bindings, over every exchange (the default exchange's implicit ones not counted).
    pub max_bindings: usize,
}

impl Default for RouterLimits {
    fn default() -> Self {
        RouterLimits { max_exchanges: 10_000, max_bindings: 1_000_000 }
    }
}

/// Where a published message goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routed {
    /// The final targets, each once, in a stable order (queues by name, then topics by name).
    pub targets: Vec<Target>,
    /// The exchange published to is of type `x-delayed-message` (its `x-delay` header holds
    /// the message back).
    pub delayed: bool,
}

impl Routed {
    /// True when the message reaches nothing (AMQP: returned if mandatory, else dropped).
    pub fn is_unroutable(&self) -> bool {
        self.targets.is_empty()
    }
}

/// Turns a routing key sent to the default exchange into the target of that name, if one exists.
type DefaultResolver = dyn Fn(&str) -> Option<Target> + Send + Sync;

/// The exchanges and bindings of the broker, and routing over them. Synchronous and cheap to
/// share (`Arc<Router>`); every method takes its locks only for its own duration.
pub struct Router {
    meta: Arc<dyn MetadataStore>,
    limits: RouterLimits,
    state: RwLock<State>,
    /// Held by every change from its decision to its application, so that changes are
    /// serialised and reach the store in the order they reach memory.
    writer: Mutex<()>,
    default_resolver: RwLock<Option<Arc<DefaultResolver>>>,
}

impl Router {
    /// Opens the router over `meta` with the default limits, recovering durable exchanges and
    /// bindings.
    pub fn open(meta: Arc<dyn MetadataStore>) -> Result<Router, RoutingError> {
        Router::open_with_limits(meta, RouterLimits::default())
    }

    /// Opens the router over `meta` with `limits`. Recovered records are not held to the
    /// limits (they were admitted once); a stored binding whose source or destination exchange
    /// is gone is skipped with a warning.
    pub fn open_with_limits(
        meta: Arc<dyn MetadataStore>,
        limits: RouterLimits,
    ) -> Result<Router, RoutingError> {
        let mut state = State::default();
        for def in predeclared() {
            state.insert_exchange(def);
        }
        for def in store::load_exchanges(&*meta)? {
            if state.exchanges.contains_key(&def.name) {
                tracing::warn!(exchange = %def.name, "stored exchange has a predeclared name; ignored");
                continue;
            }
            state.insert_exchange(def);
        }
        for binding in store::load_bindings(&*meta)? {
            let Some(source) = state.exchanges.get(&binding.source) else {
                tracing::warn!(exchange = %binding.source, destination = %binding.destination, "stored binding from a missing exchange skipped");
                continue;
            };
            if let Destination::Exchange(d) = &binding.destination
                && !state.exchanges.contains_key(d)
            {
                tracing::warn!(exchange = %binding.source, destination = %binding.destination, "stored binding to a missing exchange skipped");
                continue;
            }
            let rule = match rule_for(&source.def, &binding) {
                Ok(rule) => rule,
                Err(e) => {
                    tracing::warn!(error = %e, "stored binding skipped");
                    continue;
                }
            };
            let id = Arc::new(BindingId::of(&binding));
            state.insert_binding(id, binding, rule, true);
        }
        tracing::info!(exchanges = state.exchanges.len(), bindings = state.bindings.len(), "router opened");
        Ok(Router {
            meta,
            limits,
            state: RwLock::new(state),
            writer: Mutex::new(()),
            default_resolver: RwLock::new(None),
        })
    }

    // A panic while a lock is held cannot leave state half-changed in a way routing would
    // misread (every change is applied after its commit, in one go), so a poisoned lock is
    // still used.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn writer(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets how the default exchange finds the target named by a routing key: the owner of the
    /// queue and topic catalogs answers `Some(Target::Queue(name))` or `Some(Target::Topic(name))`
    /// when that exists, `None` otherwise (the message is then unroutable). It is called with
    /// no router lock held, so it may take the catalogs' locks and even call the router. Without a resolver
    /// the default exchange answers `Target::Queue(routing_key)` for any non-empty key, and the
    /// caller drops targets that do not exist.
    pub fn set_default_exchange_resolver(
        &self,
        resolve: impl Fn(&str) -> Option<Target> + Send + Sync + 'static,
    ) {
        *self.default_resolver.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(resolve));
    }

    fn resolve_default(&self, routing_key: &str) -> Option<Target> {
        let resolver = self.default_resolver.read().unwrap_or_else(|p| p.into_inner()).clone();
        match resolver {
            Some(resolve) => resolve(routing_key),
            None if routing_key.is_empty() => None,
            None => Some(Target::Queue(routing_key.to_string())),
        }
    }

    /// Declares `def`, or with `passive` only checks that an exchange of that name exists.
    ///
    /// A redeclare must be equivalent (see [`RoutingError::Inequivalent`]); names starting
    /// `amq.` cannot be created, though a predeclared one may be redeclared with its own
    /// properties; the default exchange cannot be declared at all, passively or not.
    pub fn declare_exchange(&self, def: ExchangeDef, passive: bool) -> Result<DeclareOutcome, RoutingError> {
        if def.name.is_empty() {
            return Err(RoutingError::DefaultExchange { operation: "declare" });
        }
        let _writer = self.writer();
        {
            let state = self.read();
            if let Some(existing) = state.exchanges.get(&def.name) {
                if !passive {
                    existing.def.check_equivalent(&def)?;
                }
                return Ok(DeclareOutcome::Existed);
            }
            if passive {
                return Err(RoutingError::ExchangeNotFound { exchange: def.name });
            }
            if is_reserved(&def.name) {
                return Err(RoutingError::ReservedName { exchange: def.name });
            }
            def.validate()?;
            if state.exchanges.len() >= self.limits.max_exchanges {
                return Err(RoutingError::TooManyExchanges {
                    exchange: def.name,
                    limit: self.limits.max_exchanges,
                });
            }
        }
        if def.durable {
            self.meta.commit(&[store::put_exchange(&def)])?;
        }
        tracing::debug!(exchange = %def.name, kind = def.kind.type_name(), durable = def.durable, "exchange declared");
        self.write().insert_exchange(def);
        Ok(DeclareOutcome::Created)
    }

    /// Deletes exchange `name` with its bindings, as a source and as a destination (then
    /// auto-delete exchanges those leave unbound go too). Deleting a missing exchange succeeds,
    /// as in RabbitMQ. With `if_unused`, an exchange that is the source of bindings is kept.
    pub fn delete_exchange(&self, name: &str, if_unused: bool) -> Result<(), RoutingError> {
        if name.is_empty() {
            return Err(RoutingError::DefaultExchange { operation: "delete" });
        }
        if is_reserved(name) {
            return Err(RoutingError::SystemExchange { exchange: name.to_string() });
        }
        let _writer = self.writer();
        let (removal, ops) = {
            let state = self.read();
            if !state.exchanges.contains_key(name) {
                return Ok(());
            }
            let bindings = state.source_count(name);
            if if_unused && bindings > 0 {
                return Err(RoutingError::InUse { exchange: name.to_string(), bindings });
            }
            let removal = state.plan_removal(Vec::new(), vec![name.to_string()]);
            let ops = state.removal_ops(&removal);
            (removal, ops)
        };
        self.meta.commit(&ops)?;
        tracing::debug!(
            exchange = name,
            exchanges = removal.exchanges.len(),
            bindings = removal.bindings.len(),
            "exchange deleted"
        );
        self.write().apply(removal);
        Ok(())
    }

    /// Binds `destination` to exchange `source`. Binding again what is already bound succeeds
    /// and changes nothing. The binding is stored when `source` is durable and so is the
    /// destination: an exchange destination by its own flag, a queue or topic always (ferry's
    /// queues and topics are durable; see [`Router::bind_transient`] for those that are not).
    pub fn bind(
        &self,
        source: &str,
        destination: Destination,
        routing_key: &str,
        arguments: Table,
    ) -> Result<(), RoutingError> {
        self.bind_inner(source, destination, routing_key, arguments, true)
    }

    /// [`Router::bind`] for a queue or topic that does not survive a restart (an exclusive or
    /// transient queue): the binding is kept in memory only.
    pub fn bind_transient(
        &self,
        source: &str,
        destination: Destination,
        routing_key: &str,
        arguments: Table,
    ) -> Result<(), RoutingError> {
        self.bind_inner(source, destination, routing_key, arguments, false)
    }

    fn bind_inner(
        &self,
        source: &str,
        destination: Destination,
        routing_key: &str,
        arguments: Table,
        destination_durable: bool,
    ) -> Result<(), RoutingError> {
        if source.is_empty() || destination == Destination::Exchange(String::new()) {
            return Err(RoutingError::DefaultExchange { operation: "bind" });
        }
        let binding = Binding {
            source: source.to_string(),
            destination,
            routing_key: routing_key.to_string(),
            arguments,
        };
        let id = Arc::new(BindingId::of(&binding));
        let _writer = self.writer();
        let (rule, durable) = {
            let state = self.read();
            let src = state.exchanges.get(source).ok_or_else(|| missing(source))?;
            let destination_durable = match &binding.destination {
                Destination::Exchange(d) => state.exchanges.get(d).ok_or_else(|| missing(d))?.def.durable,
                _ => destination_durable,
            };
            let rule = rule_for(&src.def, &binding)?;
            if state.bindings.contains_key(&id) {
                return Ok(());
            }
            if state.bindings.len() >= self.limits.max_bindings {
                return Err(RoutingError::TooManyBindings {
                    exchange: source.to_string(),
                    destination: binding.destination.to_string(),
                    limit: self.limits.max_bindings,
                });
            }
            (rule, src.def.durable && destination_durable)
        };
        if durable {
            self.meta.commit(&[store::put_binding(&id, &binding)])?;
        }
        self.write().insert_binding(id, binding, rule, durable);
        Ok(())
    }

    /// Removes the binding equal to these parts (arguments compared in any order). Removing a
    /// binding that does not exist succeeds; a missing exchange (source, or destination
    /// exchange) is [`RoutingError::ExchangeNotFound`], as RabbitMQ 3.x answered (4.x answers
    /// success there too). An auto-delete source left without bindings is deleted.
    pub fn unbind(
        &self,
        source: &str,
        destination: Destination,
        routing_key: &str,
        arguments: Table,
    ) -> Result<(), RoutingError> {
        if source.is_empty() || destination == Destination::Exchange(String::new()) {
            return Err(RoutingError::DefaultExchange { operation: "unbind" });
        }
        let binding = Binding {
            source: source.to_string(),
            destination,
            routing_key: routing_key.to_string(),
            arguments,
        };
        let id = BindingId::of(&binding);
        let _writer = self.writer();
        let (removal, ops) = {
            let state = self.read();
            if !state.exchanges.contains_key(source) {
                return Err(missing(source));
            }
            if let Destination::Exchange(d) = &binding.destination
                && !state.exchanges.contains_key(d)
            {
                return Err(missing(d));
            }
            let Some((id, _)) = state.bindings.get_key_value(&id) else { return Ok(()) };
            let removal = state.plan_removal(vec![Arc::clone(id)], Vec::new());
            let ops = state.removal_ops(&removal);
            (removal, ops)
        };
        self.meta.commit(&ops)?;
        self.write().apply(removal);
        Ok(())
    }

    /// Drops every binding to `destination` (call it when a queue or topic is deleted), then
    /// deletes the auto-delete exchanges this leaves without bindings as a source, as RabbitMQ
    /// does. Subscriptions (bindings with an [`X_SUBSCRIPTION`] argument) stay: they belong to
    /// their exchange, and a queue of the same name created later receives through them again.
    pub fn remove_destination(&self, destination: &Destination) -> Result<(), RoutingError> {
        let _writer = self.writer();
        let (removal, ops) = {
            let state = self.read();
            let Some(ids) = state.by_destination.get(destination) else { return Ok(()) };
            let ids: Vec<Arc<BindingId>> = ids
                .iter()
                .filter(|id| {
                    state
                        .bindings
                        .get(*id)
                        .is_none_or(|b| lookup(&b.binding.arguments, X_SUBSCRIPTION).is_none())
                })
                .cloned()
                .collect();
            if ids.is_empty() {
                return Ok(());
            }
            let removal = state.plan_removal(ids, Vec::new());
            let ops = state.removal_ops(&removal);
            (removal, ops)
        };
        self.meta.commit(&ops)?;
        self.write().apply(removal);
        Ok(())
    }

    /// Where a message published to `exchange` with `routing_key` and `headers` goes.
    ///
    /// Exchange-to-exchange bindings are followed (each exchange visited once), and so is the
    /// `alternate-exchange` of any exchange on the way that picks no destination itself (a
    /// missing alternate is ignored, as in RabbitMQ). Publishing to an internal exchange is
    /// refused; one reached through a binding routes normally.
    pub fn route(
        &self,
        exchange: &str,
        routing_key: &str,
        headers: &[(String, Value)],
    ) -> Result<Routed, RoutingError> {
        self.route_keys(exchange, &[routing_key], headers)
    }

    /// [`Router::route`] for a message with several routing keys, RabbitMQ's sender-selected
    /// distribution (AMQP's `CC` and `BCC` headers add keys to the publish's own): each exchange
    /// routes every key, and falls back to its alternate only when no key picked anything.
    pub fn route_keys(
        &self,
        exchange: &str,
        routing_keys: &[&str],
        headers: &[(String, Value)],
    ) -> Result<Routed, RoutingError> {
        self.route_inner(exchange, routing_keys, headers, None)
    }

    /// [`Router::route_keys`] for a message whose body is known, so that the filter policies
    /// that read the body (scope `MessageBody`) can; without it they match nothing.
    pub fn route_message(
        &self,
        exchange: &str,
        routing_keys: &[&str],
        headers: &[(String, Value)],
        body: &[u8],
    ) -> Result<Routed, RoutingError> {
        self.route_inner(exchange, routing_keys, headers, Some(body))
    }

    fn route_inner(
        &self,
        exchange: &str,
        routing_keys: &[&str],
        headers: &[(String, Value)],
        body: Option<&[u8]>,
    ) -> Result<Routed, RoutingError> {
        let parsed = LazyBody::new(body);
        let state = self.read();
        let first = state.exchanges.get(exchange).ok_or_else(|| missing(exchange))?;
        if first.def.internal {
            return Err(RoutingError::InternalExchange { exchange: exchange.to_string() });
        }
        let delayed = matches!(first.def.kind, ExchangeKind::DelayedMessage { .. });
        let mut work: Vec<&ExchangeEntry> = vec![first];
        // Exchanges queued so far besides the first; allocates only when a chain goes on.
        let mut seen: HashSet<&str> = HashSet::new();
        let mut found: Vec<&Destination> = Vec::new();
        let mut picked: Vec<&Destination> = Vec::new();
        // The default exchange's target is resolved once the state lock is released.
        let mut default_reached = false;
        while let Some(x) = work.pop() {
            if x.def.name.is_empty() {
                // It cannot be declared, so it has no alternate-exchange to fall back to.
                default_reached = true;
                continue;
            }
            for key in routing_keys {
                x.index.route(key, headers, &mut picked);
            }
            for (destination, policy) in x.filtered.values() {
                if policy.matches(headers, parsed.get(policy.scope())) {
                    picked.push(destination);
                }
            }
            let alternate = if picked.is_empty() { x.def.alternate_exchange() } else { None };
            let next = picked.drain(..).filter_map(|d| match d {
                Destination::Exchange(name) => Some(name.as_str()),
                other => {
                    found.push(other);
                    None
                }
            });
            for name in alternate.into_iter().chain(next) {
                if name != exchange
                    && seen.insert(name)
                    && let Some(entry) = state.exchanges.get(name)
                {
                    work.push(entry);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        let mut targets: Vec<Target> = found.into_iter().filter_map(Destination::target).collect();
        drop(state);
        if default_reached {
            targets.extend(routing_keys.iter().filter_map(|key| self.resolve_default(key)));
            targets.sort_unstable();
            targets.dedup();
        }
        Ok(Routed { targets, delayed })
    }

    /// The bindings of fanout exchange `exchange` that a message with these headers and body
    /// takes (every binding without a filter policy, and those whose policy matches), in a
    /// stable order. Only this exchange's own bindings: a destination exchange is not followed.
    pub fn matching_bindings(
        &self,
        exchange: &str,
        headers: &[(String, Value)],
        body: &[u8],
    ) -> Result<Vec<Binding>, RoutingError> {
        let parsed = LazyBody::new(Some(body));
        let state = self.read();
        let x = state.exchanges.get(exchange).ok_or_else(|| missing(exchange))?;
        if *x.def.kind.routing_kind() != ExchangeKind::Fanout {
            return Err(RoutingError::InvalidArgument {
                subject: format!("exchange '{exchange}'"),
                argument: "type".to_string(),
                reason: "only a fanout exchange's bindings are matched one by one".to_string(),
            });
        }
        let mut ids: Vec<&Arc<BindingId>> = state.by_source.get(exchange).into_iter().flatten().collect();
        ids.sort_unstable();
        Ok(ids
            .into_iter()
            .filter(|id| match x.filtered.get(*id) {
                Some((_, policy)) => policy.matches(headers, parsed.get(policy.scope())),
                None => true,
            })
            .filter_map(|id| state.bindings.get(id))
            .map(|b| b.binding.clone())
            .collect())
    }

    /// The definition of exchange `name`, if it exists.
    pub fn exchange(&self, name: &str) -> Option<ExchangeDef> {
        self.read().exchanges.get(name).map(|x| x.def.clone())
    }

    /// Every exchange, predeclared ones included, by name.
    pub fn list_exchanges(&self) -> Vec<ExchangeDef> {
        let mut all: Vec<ExchangeDef> = self.read().exchanges.values().map(|x| x.def.clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Every binding to `destination`, in a stable order (the default exchange's implicit one
    /// is not listed).
    pub fn bindings_of(&self, destination: &Destination) -> Vec<Binding> {
        let state = self.read();
        collect_bindings(&state, state.by_destination.get(destination))
    }

    /// Every binding whose source is `exchange`, in a stable order.
    pub fn bindings_from(&self, exchange: &str) -> Vec<Binding> {
        let state = self.read();
        collect_bindings(&state, state.by_source.get(exchange))
    }

    /// How many exchanges exist, the predeclared ones included.
    pub fn exchange_count(&self) -> usize {
        self.read().exchanges.len()
    }

    /// How many bindings exist.
    pub fn binding_count(&self) -> usize {
        self.read().bindings.len()
    }
}

fn missing(exchange: &str) -> RoutingError {
    RoutingError::ExchangeNotFound { exchange: exchange.to_string() }
}
