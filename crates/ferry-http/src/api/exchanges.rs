//! `/api/v1/exchanges` and `/api/v1/bindings`: RabbitMQ's routing model — exchanges, the
//! bindings from them to queues, topics and other exchanges, and publishing through them.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_broker::queues::NewMessage;
use ferry_broker::routing::{Binding, DeclareOutcome, Destination, ExchangeDef, ExchangeKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::common::{
    ErrorAnswer, JsonBody, Name, Page, Params, attributes_of, blocking, body_of, queue_error, routing_error,
};
use crate::error::ApiError;
use crate::server::HttpContext;
use crate::values::{json_to_table, table_to_json};

/// An exchange.
#[derive(Debug, Serialize, ToSchema)]
pub struct Exchange {
    /// `""` is the default exchange.
    pub name: String,
    /// direct, fanout, topic, headers or x-delayed-message.
    #[serde(rename = "type")]
    pub kind: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
}

/// A page of exchanges.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangeList {
    pub items: Vec<Exchange>,
    pub next: Option<String>,
}

/// An exchange with the bindings it routes by.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangeDetail {
    #[serde(flatten)]
    pub exchange: Exchange,
    pub bindings: Vec<BindingBody>,
}

/// An exchange to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExchange {
    pub name: String,
    /// direct, fanout, topic, headers or x-delayed-message (with `x-delayed-type`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Default true.
    pub durable: Option<bool>,
    pub auto_delete: Option<bool>,
    pub internal: Option<bool>,
    #[schema(value_type = Object)]
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

/// A binding from an exchange.
#[derive(Debug, Serialize, ToSchema)]
pub struct BindingBody {
    pub source: String,
    pub destination: String,
    /// queue, exchange or topic.
    pub destination_type: String,
    pub routing_key: String,
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
}

/// A page of bindings.
#[derive(Debug, Serialize, ToSchema)]
pub struct BindingList {
    pub items: Vec<BindingBody>,
}

/// A binding to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBinding {
    pub source: String,
    pub destination: String,
    /// queue (default), exchange or topic.
    pub destination_type: Option<String>,
    pub routing_key: Option<String>,
    #[schema(value_type = Object)]
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

/// Which bindings to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BindingQuery {
    /// Only bindings from this exchange.
    pub source: Option<String>,
    /// Only bindings to this queue, exchange or topic.
    pub destination: Option<String>,
}

/// The binding to delete.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BindingKey {
    pub source: String,
    pub destination: String,
    /// queue (default), exchange or topic.
    pub destination_type: Option<String>,
    pub routing_key: Option<String>,
}

/// A message to publish through an exchange.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    pub routing_key: Option<String>,
    pub body: Option<String>,
    pub body_base64: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Where a published message went.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishResult {
    /// False when no binding matched (the message was dropped, as AMQP drops an unroutable
    /// message published without `mandatory`).
    pub routed: bool,
    pub queues: Vec<String>,
    pub topics: Vec<String>,
}

/// Query of a delete.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Refuse (409) while the exchange is the source of a binding.
    pub if_unused: Option<bool>,
}

fn exchange_of(def: &ExchangeDef) -> Exchange {
    Exchange {
        name: def.name.clone(),
        kind: def.kind.type_name().to_owned(),
        durable: def.durable,
        auto_delete: def.auto_delete,
        internal: def.internal,
        arguments: table_to_json(&def.arguments),
    }
}

fn binding_of(b: &Binding) -> BindingBody {
    let (destination, destination_type) = match &b.destination {
        Destination::Queue(q) => (q.clone(), "queue"),
        Destination::Exchange(x) => (x.clone(), "exchange"),
        Destination::Topic(t) => (t.clone(), "topic"),
    };
    BindingBody {
        source: b.source.clone(),
        destination,
        destination_type: destination_type.into(),
        routing_key: b.routing_key.clone(),
        arguments: table_to_json(&b.arguments),
    }
}

/// The name `amq.default` stands for the default exchange, whose own name (empty) cannot be a
/// path segment; RabbitMQ's management API names it so too.
fn in_path(name: String) -> String {
    if name == DEFAULT_IN_PATH { String::new() } else { name }
}

const DEFAULT_IN_PATH: &str = "amq.default";

fn exchange_not_found(name: &str) -> ApiError {
    ApiError::not_found("exchange_not_found", format!("no exchange named \"{name}\""))
}

/// A name a client may give an exchange: 1 to 255 bytes, no control characters.
fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_name",
            format!("{what} name must be 1 to 255 bytes without control characters"),
        ));
    }
    Ok(())
}

/// The destination named by a binding, checked to exist.
fn destination(ctx: &HttpContext, name: &str, kind: Option<&str>) -> Result<(Destination, bool), ApiError> {
    match kind.unwrap_or("queue") {
        "queue" => {
            let attrs = ctx.broker.queues().queue_attributes(name).map_err(queue_error)?;
            Ok((Destination::Queue(name.to_owned()), attrs.durable))
        }
        "exchange" => {
            let def = ctx.broker.router().exchange(name).ok_or_else(|| exchange_not_found(name))?;
            Ok((Destination::Exchange(name.to_owned()), def.durable))
        }
        "topic" => {
            ctx.broker.topics().topic(name).ok_or_else(|| {
                ApiError::not_found("topic_not_found", format!("no topic named \"{name}\""))
            })?;
            Ok((Destination::Topic(name.to_owned()), true))
        }
        other => Err(ApiError::bad_request(
            "invalid_destination_type",
            format!("destination_type must be queue, exchange or topic, not \"{other}\""),
        )),
    }
}

/// List exchanges
#[utoipa::path(get, path = "/api/v1/exchanges", tag = "exchanges", params(Page),
    responses((status = 200, body = ExchangeList), (status = 400, body = ErrorAnswer)))]
pub async fn list(
    State(ctx): State<Arc<HttpContext>>,
    Params(page): Params<Page>,
) -> Result<Json<ExchangeList>, ApiError> {
    let defs = ctx.broker.router().list_exchanges();
    // The default exchange's name is empty; it sorts first and pages like any other.
    let (names, next) = page.slice(defs.iter().map(|d| d.name.clone()).collect())?;
    let items = names.iter().filter_map(|n| defs.iter().find(|d| &d.name == n)).map(exchange_of).collect();
    Ok(Json(ExchangeList { items, next }))
}

/// Create an exchange
///
/// Creating one that exists with the same settings answers 200; with others, 409.
#[utoipa::path(post, path = "/api/v1/exchanges", tag = "exchanges", request_body = NewExchange,
    responses((status = 201, body = Exchange), (status = 200, body = Exchange), (status = 400, body = ErrorAnswer),
        (status = 403, body = ErrorAnswer), (status = 409, body = ErrorAnswer), (status = 415, body = ErrorAnswer)))]
pub async fn create(
    State(ctx): State<Arc<HttpContext>>,
    JsonBody(new): JsonBody<NewExchange>,
) -> Result<Response, ApiError> {
    check_name("an exchange", &new.name)?;
    let arguments = json_to_table(&new.arguments);
    let kind = ExchangeKind::parse(&new.kind, &arguments).map_err(routing_error)?;
    let def = ExchangeDef {
        name: new.name.clone(),
        kind,
        durable: new.durable.unwrap_or(true),
        auto_delete: new.auto_delete.unwrap_or(false),
        internal: new.internal.unwrap_or(false),
        arguments,
    };
    let outcome =
        blocking(&ctx, move |ctx| ctx.broker.router().declare_exchange(def, false).map_err(routing_error))
            .await?;
    let status = match outcome {
        DeclareOutcome::Created => StatusCode::CREATED,
        DeclareOutcome::Existed => StatusCode::OK,
    };
    let def = ctx.broker.router().exchange(&new.name).ok_or_else(|| exchange_not_found(&new.name))?;
    Ok((status, Json(exchange_of(&def))).into_response())
}

/// Describe an exchange with its bindings
#[utoipa::path(get, path = "/api/v1/exchanges/{name}", tag = "exchanges", params(("name" = String, Path)),
    responses((status = 200, body = ExchangeDetail),
        (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub async fn describe(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
) -> Result<Json<ExchangeDetail>, ApiError> {
    let name = in_path(name);
    let def = ctx.broker.router().exchange(&name).ok_or_else(|| exchange_not_found(&name))?;
    let bindings = ctx.broker.router().bindings_from(&name).iter().map(binding_of).collect();
    Ok(Json(ExchangeDetail { exchange: exchange_of(&def), bindings }))
}

/// Delete an exchange
#[utoipa::path(delete, path = "/api/v1/exchanges/{name}", tag = "exchanges", params(("name" = String, Path), DeleteQuery),
    responses((status = 204), (status = 400, body = ErrorAnswer), (status = 403, body = ErrorAnswer),
        (status = 404, body = ErrorAnswer), (status = 409, body = ErrorAnswer)))]
pub async fn delete(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
    Params(q): Params<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    let name = in_path(name);
    if ctx.broker.router().exchange(&name).is_none() {
        return Err(exchange_not_found(&name));
    }
    let if_unused = q.if_unused.unwrap_or(false);
    blocking(&ctx, move |ctx| ctx.broker.router().delete_exchange(&name, if_unused).map_err(routing_error))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publish a message through an exchange
#[utoipa::path(post, path = "/api/v1/exchanges/{name}/publish", tag = "exchanges", params(("name" = String, Path)),
    request_body = PublishRequest,
    responses((status = 200, body = PublishResult), (status = 400, body = ErrorAnswer), (status = 403, body = ErrorAnswer),
        (status = 404, body = ErrorAnswer), (status = 409, body = ErrorAnswer), (status = 413, body = ErrorAnswer),
        (status = 415, body = ErrorAnswer), (status = 503, body = ErrorAnswer)))]
pub async fn publish(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
    JsonBody(p): JsonBody<PublishRequest>,
) -> Result<Json<PublishResult>, ApiError> {
    let name = in_path(name);
    if ctx.broker.disk_alarm().is_raised() {
        return Err(ApiError::unavailable(
            "the disk is nearly full: publishes are refused until space is freed",
        ));
    }
    if !name.is_empty() && ctx.broker.router().exchange(&name).is_none() {
        return Err(exchange_not_found(&name));
    }
    let message = NewMessage {
        body: body_of(p.body, p.body_base64, "body")?,
        attributes: attributes_of(p.headers),
        ..NewMessage::default()
    };
    let routing_key = p.routing_key.unwrap_or_default();
    let published = ctx.broker.publish(&name, &routing_key, message).await.map_err(|e| match e {
        ferry_broker::broker::PublishError::Routing(e) => routing_error(e),
        ferry_broker::broker::PublishError::Queue(e) => queue_error(e),
        other => ApiError::internal(other.to_string()),
    })?;
    Ok(Json(PublishResult {
        routed: !published.unroutable(),
        queues: published.queues,
        topics: published.streams.into_iter().map(|(t, _)| t).collect(),
    }))
}

/// List bindings
#[utoipa::path(get, path = "/api/v1/bindings", tag = "exchanges", params(BindingQuery),
    responses((status = 200, body = BindingList), (status = 400, body = ErrorAnswer)))]
pub async fn list_bindings(
    State(ctx): State<Arc<HttpContext>>,
    Params(q): Params<BindingQuery>,
) -> Result<Json<BindingList>, ApiError> {
    let router = ctx.broker.router();
    let sources: Vec<String> = match &q.source {
        Some(s) => vec![s.clone()],
        None => {
            let mut names: Vec<String> = router.list_exchanges().into_iter().map(|d| d.name).collect();
            names.sort();
            names
        }
    };
    let items = sources
        .iter()
        .flat_map(|s| router.bindings_from(s))
        .map(|b| binding_of(&b))
        .filter(|b| q.destination.as_ref().is_none_or(|d| &b.destination == d))
        .collect();
    Ok(Json(BindingList { items }))
}

/// Bind a queue, topic or exchange to an exchange
#[utoipa::path(post, path = "/api/v1/bindings", tag = "exchanges", request_body = NewBinding,
    responses((status = 201, body = BindingBody), (status = 400, body = ErrorAnswer), (status = 403, body = ErrorAnswer),
        (status = 404, body = ErrorAnswer), (status = 409, body = ErrorAnswer), (status = 415, body = ErrorAnswer)))]
pub async fn create_binding(
    State(ctx): State<Arc<HttpContext>>,
    JsonBody(b): JsonBody<NewBinding>,
) -> Result<(StatusCode, Json<BindingBody>), ApiError> {
    if ctx.broker.router().exchange(&b.source).is_none() {
        return Err(exchange_not_found(&b.source));
    }
    let (dest, durable) = destination(&ctx, &b.destination, b.destination_type.as_deref())?;
    let routing_key = b.routing_key.unwrap_or_default();
    let arguments = json_to_table(&b.arguments);
    let binding = Binding {
        source: b.source.clone(),
        destination: dest.clone(),
        routing_key: routing_key.clone(),
        arguments: arguments.clone(),
    };
    blocking(&ctx, move |ctx| {
        let router = ctx.broker.router();
        let done = if durable {
            router.bind(&b.source, dest, &routing_key, arguments)
        } else {
            router.bind_transient(&b.source, dest, &routing_key, arguments)
        };
        done.map_err(routing_error)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(binding_of(&binding))))
}

/// Remove a binding
#[utoipa::path(delete, path = "/api/v1/bindings", tag = "exchanges", params(BindingKey),
    responses((status = 204), (status = 400, body = ErrorAnswer), (status = 403, body = ErrorAnswer),
        (status = 404, body = ErrorAnswer)))]
pub async fn delete_binding(
    State(ctx): State<Arc<HttpContext>>,
    Params(k): Params<BindingKey>,
) -> Result<StatusCode, ApiError> {
    let dest = match k.destination_type.as_deref().unwrap_or("queue") {
        "queue" => Destination::Queue(k.destination.clone()),
        "exchange" => Destination::Exchange(k.destination.clone()),
        "topic" => Destination::Topic(k.destination.clone()),
        other => {
            return Err(ApiError::bad_request(
                "invalid_destination_type",
                format!("destination_type must be queue, exchange or topic, not \"{other}\""),
            ));
        }
    };
    let routing_key = k.routing_key.unwrap_or_default();
    // The binding's arguments are part of its identity; the one with this key is removed.
    let arguments = ctx
        .broker
        .router()
        .bindings_from(&k.source)
        .into_iter()
        .find(|b| b.destination == dest && b.routing_key == routing_key)
        .map(|b| b.arguments)
        .ok_or_else(|| ApiError::not_found("binding_not_found", "no such binding"))?;
    blocking(&ctx, move |ctx| {
        ctx.broker.router().unbind(&k.source, dest, &routing_key, arguments).map_err(routing_error)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
