//! The router's error: one enum, each variant naming the exchange, binding or argument at fault.
//!
//! Every variant says which AMQP 0-9-1 reply code the front-end sends for it, the one RabbitMQ
//! sends in the same case, so that clients written against RabbitMQ see what they expect.

use crate::metadata::{MetadataError, Table};

/// Why a router operation was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoutingError {
    /// The exchange type is not one ferry knows. AMQP: channel close 406 PRECONDITION_FAILED, as
    /// RabbitMQ answers it.
    #[error("unknown exchange type '{type_name}': use direct, fanout, topic, headers or x-delayed-message")]
    UnknownExchangeType {
        /// The type as the client sent it.
        type_name: String,
    },
    /// An exchange or binding argument has a value the router cannot use (a missing or unknown
    /// `x-delayed-type`, an `alternate-exchange` that is not text, an unknown `x-match`).
    /// AMQP: channel close 406 PRECONDITION_FAILED.
    #[error("invalid argument '{argument}' for {subject}: {reason}")]
    InvalidArgument {
        /// What carried the argument: "exchange 'x'" or "binding of queue 'q' to exchange 'x'".
        subject: String,
        /// The argument's name.
        argument: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A user tried to declare an exchange whose name starts with `amq.`, a prefix reserved for
    /// the predeclared exchanges. AMQP: channel close 403 ACCESS_REFUSED.
    #[error("exchange name '{exchange}' contains reserved prefix 'amq.*'")]
    ReservedName {
        /// The refused name.
        exchange: String,
    },
    /// The default exchange (`""`) cannot be declared, deleted, bound to or unbound from.
    /// AMQP: channel close 403 ACCESS_REFUSED.
    #[error("operation not permitted on the default exchange ({operation})")]
    DefaultExchange {
        /// What was attempted: "declare", "delete", "bind" or "unbind".
        operation: &'static str,
    },
    /// A predeclared `amq.*` exchange cannot be deleted. AMQP: channel close 403 ACCESS_REFUSED.
    #[error("deletion of system exchange '{exchange}' not allowed")]
    SystemExchange {
        /// The predeclared exchange.
        exchange: String,
    },
    /// An internal exchange receives messages only through exchange-to-exchange bindings.
    /// AMQP: channel close 403 ACCESS_REFUSED.
    #[error("cannot publish to internal exchange '{exchange}'")]
    InternalExchange {
        /// The internal exchange published to.
        exchange: String,
    },
    /// A redeclare differs from the exchange that exists. AMQP: channel close 406
    /// PRECONDITION_FAILED.
    #[error(
        "inequivalent arg '{argument}' for exchange '{exchange}': received {received} but current is {current}"
    )]
    Inequivalent {
        /// The existing exchange.
        exchange: String,
        /// The property that differs: type, durable, auto_delete, internal, or an argument name.
        argument: String,
        /// The value in the redeclare, quoted.
        received: String,
        /// The value of the existing exchange, quoted.
        current: String,
    },
    /// No exchange of that name (a passive declare, a bind, an unbind, a publish).
    /// AMQP: channel close 404 NOT_FOUND.
    #[error("no exchange '{exchange}'")]
    ExchangeNotFound {
        /// The missing exchange.
        exchange: String,
    },
    /// `delete_exchange` with if-unused on an exchange that is the source of bindings.
    /// AMQP: channel close 406 PRECONDITION_FAILED.
    #[error("exchange '{exchange}' in use: it is the source of {bindings} binding(s)")]
    InUse {
        /// The exchange not deleted.
        exchange: String,
        /// How many bindings it is the source of.
        bindings: usize,
    },
    /// The broker holds its configured maximum of exchanges ([`super::RouterLimits`]).
    /// AMQP: channel close 406 PRECONDITION_FAILED, as RabbitMQ answers a declare beyond a
    /// virtual host's limit: the channel closes, the connection and its other work survive.
    #[error("cannot declare exchange '{exchange}': the broker's limit of {limit} exchanges is reached")]
    TooManyExchanges {
        /// The exchange not declared.
        exchange: String,
        /// The configured limit.
        limit: usize,
    },
    /// The broker holds its configured maximum of bindings ([`super::RouterLimits`]).
    /// AMQP: channel close 406 PRECONDITION_FAILED (see [`RoutingError::TooManyExchanges`]).
    #[error(
        "cannot bind {destination} to exchange '{exchange}': the broker's limit of {limit} bindings is reached"
    )]
    TooManyBindings {
        /// The source exchange of the refused binding.
        exchange: String,
        /// The destination of the refused binding, with its kind ("queue 'q'").
        destination: String,
        /// The configured limit.
        limit: usize,
    },
    /// `replace_binding` of a binding that does not exist. AMQP: channel close 404 NOT_FOUND.
    #[error("no binding of {destination} to exchange '{exchange}'")]
    BindingNotFound {
        /// The source exchange.
        exchange: String,
        /// The destination, with its kind ("queue 'q'").
        destination: String,
    },
    /// A stored exchange or binding could not be decoded when the router opened.
    /// AMQP: connection close 541 INTERNAL_ERROR (the broker does not start with it).
    #[error("undecodable {table:?} record '{key}' in the metadata store: {reason}")]
    Corrupt {
        /// The table read.
        table: Table,
        /// The record's key.
        key: String,
        /// What could not be decoded.
        reason: String,
    },
    /// The metadata store failed; nothing was changed. AMQP: connection close 541 INTERNAL_ERROR.
    #[error("routing metadata could not be stored: {0}")]
    Storage(#[from] MetadataError),
}
