//! Exchanges: their kinds, their definitions, the predeclared ones, and what a redeclare compares.

use crate::message::{Table, Value, lookup};

use super::error::RoutingError;

/// The argument naming the exchange a message goes to when its exchange routes it nowhere.
pub const ALTERNATE_EXCHANGE: &str = "alternate-exchange";
/// The argument of an `x-delayed-message` exchange naming the kind it routes as.
pub const DELAYED_TYPE: &str = "x-delayed-type";
/// The type name of the delayed-message exchange (RabbitMQ's plugin named it so).
pub const DELAYED_MESSAGE: &str = "x-delayed-message";

/// How an exchange picks the destinations of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExchangeKind {
    /// Destinations bound with exactly the message's routing key.
    Direct,
    /// Every destination bound, whatever the routing key.
    Fanout,
    /// Destinations whose binding pattern matches the routing key's dot-separated words
    /// (`*` one word, `#` zero or more).
    Topic,
    /// Destinations whose binding arguments match the message's headers (`x-match`).
    Headers,
    /// `x-delayed-message`: holds a message for its `x-delay` header, then routes it as `inner`
    /// (the `x-delayed-type` argument) would. The router routes it as `inner` at once; the
    /// holding is the caller's.
    DelayedMessage {
        /// The kind the exchange routes as; never itself delayed.
        inner: Box<ExchangeKind>,
    },
}

impl ExchangeKind {
    /// The kind named `type_name` in an exchange declare with these `arguments`
    /// (`x-delayed-message` reads `x-delayed-type` from them).
    pub fn parse(type_name: &str, arguments: &[(String, Value)]) -> Result<ExchangeKind, RoutingError> {
        let plain = |name: &str| match name {
            "direct" => Some(ExchangeKind::Direct),
            "fanout" => Some(ExchangeKind::Fanout),
            "topic" => Some(ExchangeKind::Topic),
            "headers" => Some(ExchangeKind::Headers),
            _ => None,
        };
        if let Some(kind) = plain(type_name) {
            return Ok(kind);
        }
        if type_name != DELAYED_MESSAGE {
            return Err(RoutingError::UnknownExchangeType { type_name: type_name.to_string() });
        }
        let invalid = |reason: String| RoutingError::InvalidArgument {
            subject: format!("an exchange of type '{DELAYED_MESSAGE}'"),
            argument: DELAYED_TYPE.to_string(),
            reason,
        };
        match lookup(arguments, DELAYED_TYPE) {
            None => {
                Err(invalid("missing: name the type it routes as (direct, fanout, topic or headers)".into()))
            }
            Some(Value::Text(inner)) => match plain(inner) {
                Some(kind) => Ok(ExchangeKind::DelayedMessage { inner: Box::new(kind) }),
                None => Err(invalid(format!("'{inner}' is not one of direct, fanout, topic or headers"))),
            },
            Some(other) => Err(invalid(format!("must be text, not {other:?}"))),
        }
    }

    /// The type name clients declare it with (`x-delayed-message` for a delayed one).
    pub fn type_name(&self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
            ExchangeKind::DelayedMessage { .. } => DELAYED_MESSAGE,
        }
    }

    /// The kind that decides routing: `inner` for a delayed exchange, itself otherwise.
    pub fn routing_kind(&self) -> &ExchangeKind {
        match self {
            ExchangeKind::DelayedMessage { inner } => inner.routing_kind(),
            other => other,
        }
    }
}

/// An exchange as declared: what `exchange.declare` carries, with the type already parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct ExchangeDef {
    /// The exchange's name; `""` is the default exchange, `amq.` names are reserved.
    pub name: String,
    /// How it routes.
    pub kind: ExchangeKind,
    /// Survives a restart (stored in `Table::Exchanges`), and so may its bindings.
    pub durable: bool,
    /// Deleted when its last binding as a source goes (never if it was never bound).
    pub auto_delete: bool,
    /// Cannot be published to directly; reached only through exchange-to-exchange bindings.
    pub internal: bool,
    /// The declare's arguments as sent (`alternate-exchange`, `x-delayed-type`, others kept).
    pub arguments: Table,
}

impl ExchangeDef {
    /// A durable, non-auto-delete, non-internal exchange without arguments.
    pub fn new(name: impl Into<String>, kind: ExchangeKind) -> ExchangeDef {
        ExchangeDef {
            name: name.into(),
            kind,
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: Table::new(),
        }
    }

    /// The exchange named by the `alternate-exchange` argument, if it is text.
    pub fn alternate_exchange(&self) -> Option<&str> {
        lookup(&self.arguments, ALTERNATE_EXCHANGE).and_then(Value::as_str)
    }

    /// Checks what the router relies on: a delayed exchange's `x-delayed-type` agrees with its
    /// kind, and `alternate-exchange` is text.
    pub(crate) fn validate(&self) -> Result<(), RoutingError> {
        let subject = || format!("exchange '{}'", self.name);
        if let ExchangeKind::DelayedMessage { inner } = &self.kind {
            // `parse` never nests a delayed kind, so a nested one differs here too.
            if ExchangeKind::parse(DELAYED_MESSAGE, &self.arguments)? != self.kind {
                return Err(RoutingError::InvalidArgument {
                    subject: subject(),
                    argument: DELAYED_TYPE.to_string(),
                    reason: format!("does not name the kind the exchange routes as ({})", inner.type_name()),
                });
            }
        }
        match lookup(&self.arguments, ALTERNATE_EXCHANGE) {
            None | Some(Value::Text(_)) => Ok(()),
            Some(other) => Err(RoutingError::InvalidArgument {
                subject: subject(),
                argument: ALTERNATE_EXCHANGE.to_string(),
                reason: format!("must be the name of an exchange as text, not {other:?}"),
            }),
        }
    }

    /// Whether a redeclare as `other` is accepted for this existing exchange.
    ///
    /// As in RabbitMQ: type, durable, auto_delete and internal must be equal, and of the
    /// arguments only those that change routing are compared (`alternate-exchange`, and
    /// `x-delayed-type` through the type); other arguments of a redeclare are ignored.
    pub(crate) fn check_equivalent(&self, other: &ExchangeDef) -> Result<(), RoutingError> {
        let differs = |argument: &str, received: String, current: String| {
            Err(RoutingError::Inequivalent {
                exchange: self.name.clone(),
                argument: argument.to_string(),
                received,
                current,
            })
        };
        if self.kind.type_name() != other.kind.type_name() {
            return differs("type", quote(other.kind.type_name()), quote(self.kind.type_name()));
        }
        if self.kind != other.kind {
            let inner = |k: &ExchangeKind| quote(k.routing_kind().type_name());
            return differs(DELAYED_TYPE, inner(&other.kind), inner(&self.kind));
        }
        for (name, received, current) in [
            ("durable", other.durable, self.durable),
            ("auto_delete", other.auto_delete, self.auto_delete),
            ("internal", other.internal, self.internal),
        ] {
            if received != current {
                return differs(name, quote(&received.to_string()), quote(&current.to_string()));
            }
        }
        let (received, current) = (other.alternate_exchange(), self.alternate_exchange());
        if received != current {
            let show = |v: Option<&str>| v.map_or_else(|| "none".to_string(), quote);
            return differs(ALTERNATE_EXCHANGE, show(received), show(current));
        }
        Ok(())
    }
}

fn quote(s: &str) -> String {
    format!("'{s}'")
}

/// What `declare_exchange` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclareOutcome {
    /// The exchange did not exist and now does.
    Created,
    /// An equivalent exchange already existed (or a passive declare found it); nothing changed.
    Existed,
}

/// The exchanges every broker has from the start, as RabbitMQ predeclares them: the default
/// exchange `""` (direct; every queue is reachable through it by its own name) and the `amq.*`
/// ones. All durable; none can be deleted.
pub(crate) fn predeclared() -> Vec<ExchangeDef> {
    [
        ("", ExchangeKind::Direct),
        ("amq.direct", ExchangeKind::Direct),
        ("amq.fanout", ExchangeKind::Fanout),
        ("amq.topic", ExchangeKind::Topic),
        ("amq.headers", ExchangeKind::Headers),
        ("amq.match", ExchangeKind::Headers),
    ]
    .into_iter()
    .map(|(name, kind)| ExchangeDef::new(name, kind))
    .collect()
}

/// Whether `name` is reserved for the broker (`amq.` prefix).
pub(crate) fn is_reserved(name: &str) -> bool {
    name.starts_with("amq.")
}
