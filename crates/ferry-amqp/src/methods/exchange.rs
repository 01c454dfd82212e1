//! The `exchange` class: declare, delete, and exchange-to-exchange bind and unbind, through
//! the broker's router (which owns the rules: reserved names, equivalence, auto-delete).

use amq_protocol::protocol::{AMQPClass, exchange};
use ferry_broker::routing::{Destination, ExchangeDef, ExchangeKind, RoutingError};

use crate::errors::{AmqpError, MethodId, routing_error};
use crate::message;
use crate::session::Session;

const DECLARE: MethodId = MethodId::new(40, 10);
const DELETE: MethodId = MethodId::new(40, 20);
const BIND: MethodId = MethodId::new(40, 30);
const UNBIND: MethodId = MethodId::new(40, 40);

/// `exchange.declare`: creates the exchange, or checks the existing one is equivalent (or,
/// with `passive`, only that it exists).
pub(crate) fn declare(session: &mut Session, id: u16, method: exchange::Declare) -> Result<(), AmqpError> {
    let arguments = message::table(&method.arguments);
    let router = session.broker().router();
    let kind = if method.passive {
        // A passive declare names no type worth checking; the router only looks the name up.
        ExchangeKind::Direct
    } else {
        ExchangeKind::parse(method.kind.as_str(), &arguments).map_err(|e| routing_error(e, DECLARE))?
    };
    let def = ExchangeDef {
        durable: method.durable,
        auto_delete: method.auto_delete,
        internal: method.internal,
        arguments,
        ..ExchangeDef::new(method.exchange.as_str(), kind)
    };
    router.declare_exchange(def, method.passive).map_err(|e| routing_error(e, DECLARE))?;
    if !method.nowait {
        session.send(id, AMQPClass::Exchange(exchange::AMQPMethod::DeclareOk(exchange::DeclareOk {})));
    }
    Ok(())
}

/// `exchange.delete`: with its bindings; with `if-unused`, only when it is the source of none.
pub(crate) fn delete(session: &mut Session, id: u16, method: exchange::Delete) -> Result<(), AmqpError> {
    let router = session.broker().router();
    router
        .delete_exchange(method.exchange.as_str(), method.if_unused)
        .map_err(|e| routing_error(e, DELETE))?;
    if !method.nowait {
        session.send(id, AMQPClass::Exchange(exchange::AMQPMethod::DeleteOk(exchange::DeleteOk {})));
    }
    Ok(())
}

/// `exchange.bind`: messages routed to `source` continue to `destination`.
pub(crate) fn bind(session: &mut Session, id: u16, method: exchange::Bind) -> Result<(), AmqpError> {
    let router = session.broker().router();
    router
        .bind(
            method.source.as_str(),
            Destination::Exchange(method.destination.to_string()),
            method.routing_key.as_str(),
            message::table(&method.arguments),
        )
        .map_err(|e| routing_error(e, BIND))?;
    if !method.nowait {
        session.send(id, AMQPClass::Exchange(exchange::AMQPMethod::BindOk(exchange::BindOk {})));
    }
    Ok(())
}

/// `exchange.unbind`: removes the binding equal to these parts (none there, or either exchange
/// missing: success, as RabbitMQ answers).
pub(crate) fn unbind(session: &mut Session, id: u16, method: exchange::Unbind) -> Result<(), AmqpError> {
    let router = session.broker().router();
    match router.unbind(
        method.source.as_str(),
        Destination::Exchange(method.destination.to_string()),
        method.routing_key.as_str(),
        message::table(&method.arguments),
    ) {
        Ok(()) | Err(RoutingError::ExchangeNotFound { .. }) => {}
        Err(e) => return Err(routing_error(e, UNBIND)),
    }
    if !method.nowait {
        session.send(id, AMQPClass::Exchange(exchange::AMQPMethod::UnbindOk(exchange::UnbindOk {})));
    }
    Ok(())
}
