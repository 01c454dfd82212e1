//! The subset of RabbitMQ's management HTTP API that existing tools read: Flower's broker tab,
//! `rabbitmqadmin list ...` and dashboards built on `/api/overview` and `/api/queues`. Read
//! only, behind HTTP basic authentication (`[http] management_user` / `management_password`,
//! guest/guest by default as RabbitMQ's). Field names and shapes are RabbitMQ's; ferry has one
//! virtual host, `/`.

mod auth;
mod shapes;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value as JsonValue, json};

use crate::metrics::collect;
use crate::server::HttpContext;

/// The one virtual host.
const VHOST: &str = "/";

pub(crate) fn routes(ctx: Arc<HttpContext>) -> Router<Arc<HttpContext>> {
    Router::new()
        .route("/api/overview", get(overview))
        .route("/api/whoami", get(whoami))
        .route("/api/vhosts", get(vhosts))
        .route("/api/queues", get(queues))
        .route("/api/queues/{vhost}", get(queues_in))
        // Flower asks for the default virtual host's queues as `queues/` (its URL join of
        // `queues/` and `/` drops the vhost).
        .route("/api/queues/", get(queues))
        .route("/api/queues/{vhost}/{name}", get(queue))
        .route("/api/exchanges", get(exchanges))
        .route("/api/exchanges/{vhost}", get(exchanges_in))
        .route("/api/exchanges/{vhost}/{name}", get(exchange))
        .route("/api/bindings", get(bindings))
        .route("/api/bindings/{vhost}", get(bindings_in))
        .route("/api/connections", get(connections))
        .layer(middleware::from_fn_with_state(ctx, auth::require))
}

/// RabbitMQ's answer for a missing object or virtual host.
fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": "Object Not Found", "reason": "Not Found"}))).into_response()
}

fn known_vhost(vhost: &str) -> bool {
    vhost == VHOST
}

async fn on_blocking<T: Send + 'static>(
    ctx: &Arc<HttpContext>,
    f: impl FnOnce(&HttpContext) -> T + Send + 'static,
) -> Result<T, Response> {
    let ctx = Arc::clone(ctx);
    tokio::task::spawn_blocking(move || f(&ctx)).await.map_err(|e| {
        (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "internal", "reason": e.to_string()})))
            .into_response()
    })
}

async fn overview(State(ctx): State<Arc<HttpContext>>) -> Result<Json<JsonValue>, Response> {
    on_blocking(&ctx, |ctx| {
        let figures = collect(&ctx.broker);
        Json(shapes::overview(ctx, &figures))
    })
    .await
}

async fn whoami(State(ctx): State<Arc<HttpContext>>) -> Json<JsonValue> {
    Json(json!({"name": ctx.config.management_user, "tags": ["administrator"]}))
}

async fn vhosts() -> Json<JsonValue> {
    Json(json!([{"name": VHOST, "description": "ferry's only virtual host", "tracing": false}]))
}

async fn queues(State(ctx): State<Arc<HttpContext>>) -> Result<Json<JsonValue>, Response> {
    on_blocking(&ctx, |ctx| Json(JsonValue::Array(shapes::queues(ctx)))).await
}

async fn queues_in(
    State(ctx): State<Arc<HttpContext>>,
    Path(vhost): Path<String>,
) -> Result<Response, Response> {
    if !known_vhost(&vhost) {
        return Ok(not_found());
    }
    queues(State(ctx)).await.map(IntoResponse::into_response)
}

async fn queue(
    State(ctx): State<Arc<HttpContext>>,
    Path((vhost, name)): Path<(String, String)>,
) -> Result<Response, Response> {
    if !known_vhost(&vhost) {
        return Ok(not_found());
    }
    on_blocking(&ctx, move |ctx| match shapes::queue(ctx, &name) {
        Some(q) => Json(q).into_response(),
        None => not_found(),
    })
    .await
}

async fn exchanges(State(ctx): State<Arc<HttpContext>>) -> Json<JsonValue> {
    Json(JsonValue::Array(ctx.broker.router().list_exchanges().iter().map(shapes::exchange).collect()))
}

async fn exchanges_in(State(ctx): State<Arc<HttpContext>>, Path(vhost): Path<String>) -> Response {
    if !known_vhost(&vhost) {
        return not_found();
    }
    exchanges(State(ctx)).await.into_response()
}

async fn exchange(
    State(ctx): State<Arc<HttpContext>>,
    Path((vhost, name)): Path<(String, String)>,
) -> Response {
    // RabbitMQ names the default exchange `amq.default` in paths.
    let name = if name == "amq.default" { String::new() } else { name };
    match ctx.broker.router().exchange(&name) {
        Some(def) if known_vhost(&vhost) => Json(shapes::exchange(&def)).into_response(),
        _ => not_found(),
    }
}

async fn bindings(State(ctx): State<Arc<HttpContext>>) -> Json<JsonValue> {
    Json(JsonValue::Array(shapes::bindings(&ctx)))
}

async fn bindings_in(State(ctx): State<Arc<HttpContext>>, Path(vhost): Path<String>) -> Response {
    if !known_vhost(&vhost) {
        return not_found();
    }
    bindings(State(ctx)).await.into_response()
}

async fn connections(State(ctx): State<Arc<HttpContext>>) -> Json<JsonValue> {
    Json(JsonValue::Array(shapes::connections(&ctx)))
}
