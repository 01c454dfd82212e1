//! Bindings and what they point at: destinations (queues, topics, exchanges) and final targets.

use std::fmt;

use crate::message::{Table, encode_table};

/// The binding argument that makes a binding a subscription (its value is the subscription's
/// id, as text): it stays when its destination queue is deleted (see
/// [`super::Router::remove_destination`]).
pub const X_SUBSCRIPTION: &str = "x-subscription";

/// What a binding delivers to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    /// A queue, by name.
    Queue(String),
    /// Another exchange (exchange-to-exchange binding): routing continues there.
    Exchange(String),
    /// A topic, by name (an AMQP stream queue is a single-partition topic).
    Topic(String),
}

impl Destination {
    /// The destination's name, without its kind.
    pub fn name(&self) -> &str {
        match self {
            Destination::Queue(n) | Destination::Exchange(n) | Destination::Topic(n) => n,
        }
    }

    /// The final target this destination is, or `None` for an exchange.
    pub fn target(&self) -> Option<Target> {
        match self {
            Destination::Queue(n) => Some(Target::Queue(n.clone())),
            Destination::Topic(n) => Some(Target::Topic(n.clone())),
            Destination::Exchange(_) => None,
        }
    }

    /// One letter per kind, in stored binding keys.
    pub(crate) fn tag(&self) -> char {
        match self {
            Destination::Queue(_) => 'q',
            Destination::Exchange(_) => 'e',
            Destination::Topic(_) => 't',
        }
    }

    /// The destination of kind `tag` (see [`Destination::tag`]) named `name`.
    pub(crate) fn from_tag(tag: char, name: String) -> Option<Destination> {
        match tag {
            'q' => Some(Destination::Queue(name)),
            'e' => Some(Destination::Exchange(name)),
            't' => Some(Destination::Topic(name)),
            _ => None,
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Queue(n) => write!(f, "queue '{n}'"),
            Destination::Exchange(n) => write!(f, "exchange '{n}'"),
            Destination::Topic(n) => write!(f, "topic '{n}'"),
        }
    }
}

/// Where a routed message is finally written: exchanges resolved away.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A queue, by name.
    Queue(String),
    /// A topic, by name.
    Topic(String),
}

impl Target {
    /// The target's name, without its kind.
    pub fn name(&self) -> &str {
        match self {
            Target::Queue(n) | Target::Topic(n) => n,
        }
    }
}

/// A binding: messages routed by `source` with a matching key or headers go to `destination`.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// The exchange the binding is read by.
    pub source: String,
    /// Where matching messages go.
    pub destination: Destination,
    /// The binding key: exact key (direct), pattern (topic), ignored by fanout and headers.
    pub routing_key: String,
    /// The binding's arguments (`x-match` and the values a headers exchange compares).
    pub arguments: Table,
}

/// A binding's identity, as RabbitMQ has it: source, destination, key and arguments, the
/// arguments compared in name order (a rebind with the same arguments in another order is the
/// same binding). Hashable, unlike [`Table`] (which holds floats).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct BindingId {
    pub(crate) source: String,
    pub(crate) destination: Destination,
    pub(crate) routing_key: String,
    /// The arguments sorted by name (stably), in the stored form of `message::encode_table`.
    pub(crate) arguments: Vec<u8>,
}

impl BindingId {
    pub(crate) fn of(binding: &Binding) -> BindingId {
        BindingId {
            source: binding.source.clone(),
            destination: binding.destination.clone(),
            routing_key: binding.routing_key.clone(),
            arguments: canonical_arguments(&binding.arguments),
        }
    }
}

/// `arguments` stably sorted by name, encoded.
pub(crate) fn canonical_arguments(arguments: &Table) -> Vec<u8> {
    let mut sorted: Vec<&(String, crate::message::Value)> = arguments.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let sorted: Table = sorted.into_iter().cloned().collect();
    let mut out = Vec::new();
    encode_table(&sorted, &mut out);
    out
}
