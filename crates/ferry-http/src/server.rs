//! The HTTP server: every path's router, behind one middleware that reads the request body
//! within its bound and timeout (so no handler can be held by a slow or endless body).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use ferry_broker::Broker;
use ferry_broker::telemetry::Protocol;
use tokio::net::TcpListener;

use crate::config::HttpConfig;
use crate::error::ApiError;
use crate::listener::{ConnectionInfo, ConnectionTimeouts, Listener};
use crate::{api, health, management, metrics, overview};

/// What every handler reaches: the broker and the listener's own state.
pub struct HttpContext {
    /// The broker facade.
    pub broker: Arc<Broker>,
    /// The settings.
    pub config: HttpConfig,
    /// Set by `ferry serve` once storage is recovered and every listener is bound.
    pub ready: Arc<AtomicBool>,
    /// When the broker started (for uptime).
    pub started: Instant,
}

/// Serves the HTTP API, metrics and console on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<HttpContext>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let config = &ctx.config;
    let timeouts = ConnectionTimeouts {
        idle: Duration::from_millis(config.idle_timeout_ms.max(1)),
        header_read: Duration::from_millis(config.header_read_timeout_ms.max(1)),
    };
    let listener = Listener::new("http", listener, config.max_connections, timeouts, refusal);
    let gauge = listener.gauge();
    ctx.broker.telemetry().count_connections_with(Protocol::Http, Box::new(move || gauge.open() as u64));
    let app = router(Arc::clone(&ctx));
    axum::serve(listener, app.into_make_service_with_connect_info::<ConnectionInfo>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Every path of the listener.
pub fn router(ctx: Arc<HttpContext>) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(api::routes())
        .merge(metrics::routes())
        .merge(overview::routes())
        .merge(management::routes(Arc::clone(&ctx)))
        .merge(crate::console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(Arc::clone(&ctx), read_body))
        .with_state(ctx)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not take that method (the Allow header lists those it takes)",
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such path; the API is under /api/v1 (see /api/v1/openapi.json)")
}

/// Reads the whole body within `max_request_bytes` and `body_read_timeout_ms` before the
/// handler runs, and marks the connection busy for the request's duration.
async fn read_body(State(ctx): State<Arc<HttpContext>>, request: Request, next: Next) -> Response {
    let connection = request.extensions().get::<ConnectInfo<ConnectionInfo>>();
    let _in_request = connection.map(|ConnectInfo(ConnectionInfo(c))| c.begin_request());
    let started = Instant::now();
    let operation = match request.extensions().get::<MatchedPath>() {
        Some(path) => format!("{} {}", request.method(), path.as_str()),
        None => "unmatched".to_owned(),
    };
    let (parts, body) = request.into_parts();
    let limit = ctx.config.max_request_bytes;
    let timeout = Duration::from_millis(ctx.config.body_read_timeout_ms.max(1));
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is larger than {limit} bytes (max_request_bytes)"),
            )
            .into_response();
        }
        Err(_) => {
            let mut response = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body did not arrive within {} ms (body_read_timeout_ms)",
                    ctx.config.body_read_timeout_ms
                ),
            )
            .into_response();
            // The rest of the body may still come; the connection cannot carry another request.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
    };
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    ctx.broker.telemetry().observe_request(Protocol::Http, &operation, started.elapsed());
    response
}

/// The answer of a full listener.
fn refusal(_head: &[u8]) -> Vec<u8> {
    let body = br#"{"error":{"code":"unavailable","message":"the HTTP listener has reached its connection limit (max_connections); retry"}}"#;
    let mut response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\nretry-after: 1\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}
