//! ferry's REST API under `/api/v1` (docs/http-api.md): queues, topics, consumer groups,
//! exchanges and bindings, over the `Broker` facade. The OpenAPI document at
//! `/api/v1/openapi.json` is generated from these handlers and types with `utoipa`.
//!
//! - `common`: extractors that answer in the API's error shape, paging, bodies, error mapping.
//! - `queues`, `topics`, `groups`, `exchanges`: one module per resource.

mod common;
mod exchanges;
mod groups;
mod queues;
mod topics;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use utoipa::OpenApi;

use crate::server::HttpContext;

#[derive(OpenApi)]
#[openapi(
    info(title = "ferry", description = "ferry's HTTP API: queues, topics, consumer groups, exchanges and bindings."),
    paths(
        crate::overview::overview,
        queues::list, queues::create, queues::describe, queues::update, queues::delete,
        queues::send, queues::peek, queues::receive, queues::ack, queues::nack, queues::purge, queues::redrive, queues::redrives,
        topics::list, topics::create, topics::describe, topics::update, topics::delete, topics::produce, topics::read,
        groups::list, groups::describe, groups::reset_offsets, groups::delete,
        exchanges::list, exchanges::create, exchanges::describe, exchanges::delete, exchanges::publish,
        exchanges::list_bindings, exchanges::create_binding, exchanges::delete_binding,
    ),
    tags(
        (name = "overview", description = "The broker at a glance"),
        (name = "queues", description = "Work queues: send, receive with a lease, ack, dead-letter, redrive"),
        (name = "topics", description = "Partitioned logs: produce and read by offset or time"),
        (name = "groups", description = "Kafka consumer groups: offsets and lag"),
        (name = "exchanges", description = "Routing: exchanges and bindings"),
    )
)]
struct ApiDoc;

/// The OpenAPI document, built once.
pub fn openapi_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    })
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json())
}

pub(crate) fn routes() -> Router<Arc<HttpContext>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/queues", get(queues::list).post(queues::create))
        .route("/api/v1/queues/{name}", get(queues::describe).patch(queues::update).delete(queues::delete))
        .route("/api/v1/queues/{name}/messages", get(queues::peek).post(queues::send))
        .route("/api/v1/queues/{name}/receive", post(queues::receive))
        .route("/api/v1/queues/{name}/ack", post(queues::ack))
        .route("/api/v1/queues/{name}/nack", post(queues::nack))
        .route("/api/v1/queues/{name}/purge", post(queues::purge))
        .route("/api/v1/queues/{name}/redrive", get(queues::redrives).post(queues::redrive))
        .route("/api/v1/topics", get(topics::list).post(topics::create))
        .route("/api/v1/topics/{name}", get(topics::describe).patch(topics::update).delete(topics::delete))
        .route("/api/v1/topics/{name}/records", get(topics::read).post(topics::produce))
        .route("/api/v1/groups", get(groups::list))
        .route("/api/v1/groups/{name}", get(groups::describe).delete(groups::delete))
        .route("/api/v1/groups/{name}/reset-offsets", post(groups::reset_offsets))
        .route("/api/v1/exchanges", get(exchanges::list).post(exchanges::create))
        .route("/api/v1/exchanges/{name}", get(exchanges::describe).delete(exchanges::delete))
        .route("/api/v1/exchanges/{name}/publish", post(exchanges::publish))
        .route(
            "/api/v1/bindings",
            get(exchanges::list_bindings).post(exchanges::create_binding).delete(exchanges::delete_binding),
        )
}
