//! `/healthz`: the process answers. `/readyz`: storage is recovered and every listener bound
//! (what an orchestrator waits for before sending traffic).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::server::HttpContext;

pub(crate) fn routes() -> Router<Arc<HttpContext>> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(ctx): State<Arc<HttpContext>>) -> (StatusCode, &'static str) {
    if ctx.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting: listeners not yet bound\n")
    }
}
