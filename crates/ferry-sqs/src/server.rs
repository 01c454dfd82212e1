//! The HTTP server: every request through one handler that reads the body within its timeout,
//! decodes either protocol, dispatches the action and renders the answer in the same protocol.
//! Connections (their bound and their timeouts) are [`crate::listener`]'s.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use ferry_broker::Broker;
use ferry_broker::telemetry::Protocol as Frontend;
use ferry_http::listener::{ConnectionInfo, ConnectionTimeouts, Listener};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{Instrument, debug, info_span, warn};

use crate::actions::{Ctx, dispatch};
use crate::config::SqsConfig;
use crate::error::{ErrorCode, SqsError};
use crate::protocol::{self, Envelope, Protocol, Rendered};
use crate::{sns, sts};

struct Shared {
    broker: Arc<Broker>,
    /// Serialises SNS catalog changes (topics, subscriptions), which read then write the router.
    sns_catalog: Arc<tokio::sync::Mutex<()>>,
    config: Arc<SqsConfig>,
    local_addr: SocketAddr,
    shutdown: watch::Receiver<bool>,
}

/// Serves the SQS and SNS APIs on `listener` until `shutdown` resolves, then lets requests in
/// progress finish (long polls answer at once with no messages).
pub async fn serve(
    listener: TcpListener,
    config: SqsConfig,
    broker: Arc<Broker>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let local_addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let timeouts = ConnectionTimeouts {
        idle: Duration::from_millis(config.idle_timeout_ms.max(1)),
        header_read: Duration::from_millis(config.header_read_timeout_ms.max(1)),
    };
    let listener = Listener::new("sqs", listener, config.max_connections, timeouts, refusal);
    let gauge = listener.gauge();
    broker.telemetry().count_connections_with(Frontend::Sqs, Box::new(move || gauge.open() as u64));
    let shared = Arc::new(Shared {
        broker,
        sns_catalog: Arc::new(tokio::sync::Mutex::new(())),
        config: Arc::new(config),
        local_addr,
        shutdown: stop_rx,
    });
    let app = Router::new().fallback(handle).with_state(shared);
    axum::serve(listener, app.into_make_service_with_connect_info::<ConnectionInfo>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Long polls see `true` even after the sender is gone: `wait_for` checks the value first.
            let _ = stop_tx.send(true);
        })
        .await
}

/// The answer of a full listener: `503 ServiceUnavailable` in the protocol the request head names.
fn refusal(head: &[u8]) -> Vec<u8> {
    let json = String::from_utf8_lossy(head).to_ascii_lowercase().contains("\r\nx-amz-target:");
    let protocol = if json { Protocol::Json } else { Protocol::Query };
    let error = SqsError::new(
        ErrorCode::ServiceUnavailable,
        "The server has reached its connection limit (max_connections). Retry the request.",
    );
    let request_id = uuid::Uuid::new_v4().to_string();
    let rendered = protocol::render_error(protocol, &error, &request_id);
    let mut response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {}\r\ncontent-length: {}\r\n\
         x-amzn-requestid: {request_id}\r\nconnection: close\r\nretry-after: 1\r\n",
        rendered.content_type,
        rendered.body.len()
    );
    if let Some(query_error) = &rendered.query_error {
        response.push_str(&format!("x-amzn-query-error: {query_error}\r\n"));
    }
    response.push_str("\r\n");
    let mut bytes = response.into_bytes();
    bytes.extend_from_slice(&rendered.body);
    bytes
}

fn host_for_urls(shared: &Shared, headers: &HeaderMap) -> String {
    if let Some(host) = &shared.config.public_host {
        return match shared.config.public_port {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
    }
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| shared.local_addr.to_string())
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(ConnectionInfo(connection)): ConnectInfo<ConnectionInfo>,
    request: Request<Body>,
) -> Response<Body> {
    let _in_request = connection.begin_request();
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = request.into_parts();
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let fallback_protocol = if target.is_some() { Protocol::Json } else { Protocol::Query };
    let body_read_timeout = Duration::from_millis(shared.config.body_read_timeout_ms.max(1));
    let read =
        tokio::time::timeout(body_read_timeout, axum::body::to_bytes(body, shared.config.max_request_bytes));
    let body = match read.await {
        Ok(Ok(bytes)) => bytes,
        Err(_) => {
            let error = SqsError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "The request body did not arrive within {} ms (body_read_timeout_ms).",
                    shared.config.body_read_timeout_ms
                ),
            );
            let mut response =
                respond(protocol::render_error(fallback_protocol, &error, &request_id), &request_id);
            // The rest of the body may still come; the connection cannot carry another request.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
        Ok(Err(_)) => {
            let error = SqsError::new(
                ErrorCode::RequestTooLarge,
                format!("The request is larger than {} bytes.", shared.config.max_request_bytes),
            );
            return respond(protocol::render_error(fallback_protocol, &error, &request_id), &request_id);
        }
    };
    let caller = || {
        let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        sts::access_key(authorization, parts.uri.query(), &body)
            .map(|key| sts::identity(&shared.config.account_id, &key))
    };
    if target.as_deref() == Some(sts::TARGET) {
        return respond(sts::render(Protocol::Json, caller().as_ref(), &request_id), &request_id);
    }
    if target.is_none() {
        let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let service = sns::signed_service(authorization, parts.uri.query());
        if let Some(pairs) = sns::addressed(service.as_deref(), parts.uri.query(), &body) {
            let ctx = sns::SnsCtx {
                broker: shared.broker.clone(),
                config: shared.config.clone(),
                host: host_for_urls(&shared, &parts.headers),
                catalog: shared.sns_catalog.clone(),
            };
            let action = pairs.iter().find(|(k, _)| k == "Action").map(|(_, v)| format!("sns.{v}"));
            let rendered = sns::handle(&ctx, pairs, &request_id).await;
            let operation = action.as_deref().unwrap_or("sns");
            shared.broker.telemetry().observe_request(Frontend::Sqs, operation, started.elapsed());
            return respond(rendered, &request_id);
        }
    }
    let decoded = protocol::decode(Envelope {
        target: target.as_deref(),
        query_string: parts.uri.query(),
        body: &body,
    });
    let request = match decoded {
        Ok(request) => request,
        Err((protocol, error)) => {
            return respond(protocol::render_error(protocol, &error, &request_id), &request_id);
        }
    };
    if request.protocol == Protocol::Query && request.action == sts::ACTION {
        return respond(sts::render(Protocol::Query, caller().as_ref(), &request_id), &request_id);
    }
    let mut params = request.params;
    // The query protocol may address a queue by posting to its URL instead of naming it.
    if request.protocol == Protocol::Query && !params.contains_key("QueueUrl") {
        let path = parts.uri.path();
        if path.trim_matches('/').contains('/') {
            params.insert("QueueUrl".to_owned(), serde_json::Value::String(path.to_owned()));
        }
    }
    let ctx = Ctx {
        queues: shared.broker.queues().clone(),
        config: shared.config.clone(),
        host: host_for_urls(&shared, &parts.headers),
        shutdown: shared.shutdown.clone(),
    };
    let span = info_span!("sqs", action = %request.action, request_id = %request_id);
    let result = dispatch(&ctx, &request.action, params).instrument(span).await;
    shared.broker.telemetry().observe_request(Frontend::Sqs, &request.action, started.elapsed());
    let rendered = match result {
        Ok(output) => protocol::render_ok(request.protocol, &request.action, output, &request_id),
        Err(error) => {
            if error.code.sender_fault() {
                debug!(action = %request.action, %error, "request refused");
            } else {
                warn!(action = %request.action, %error, "request failed");
            }
            protocol::render_error(request.protocol, &error, &request_id)
        }
    };
    respond(rendered, &request_id)
}

fn respond(rendered: Rendered, request_id: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(rendered.body));
    *response.status_mut() = StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(rendered.content_type));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    if let Some(query_error) = rendered.query_error.and_then(|q| HeaderValue::from_str(&q).ok()) {
        headers.insert("x-amzn-query-error", query_error);
    }
    response
}
