//! ferry's HTTP front-end on one listener (see ARCHITECTURE.md and docs/http-api.md): the REST
//! API under `/api/v1`, Prometheus metrics, health probes, the RabbitMQ management API subset
//! and the web console. It calls `ferry-broker` through the [`ferry_broker::Broker`] facade,
//! as every front-end does.
//!
//! # Layout
//!
//! - `api`: the REST API under `/api/v1` and its OpenAPI document.
//! - [`server`]: [`serve`], the router of every path, the body bound and read timeout.
//! - [`listener`]: connections (their bound, idle and header-read timeouts, the answer of a
//!   full listener), shared with the AWS front-end.
//! - [`config`]: [`HttpConfig`], the `[http]` settings.
//! - [`error`]: [`ApiError`], the JSON error every endpoint answers with.
//! - `health`: `/healthz` and `/readyz`.
//! - `metrics`: `/metrics` (Prometheus and OpenMetrics): figures read from the broker on the
//!   blocking pool at each scrape.
//! - `management`: the read-only subset of RabbitMQ's management API (`/api/overview`,
//!   `/api/queues`, ...) behind basic authentication, for Flower and `rabbitmqadmin`.
//! - [`values`]: typed header and argument values as JSON and back.
//! - [`overview`]: `/api/v1/overview`, the same figures summed up for the console and the CLI.
//! - `console`: the web console at `/` and `/console/…`, its files under `assets/` built in.

mod api;
pub mod config;
mod console;
pub mod error;
mod health;
pub mod listener;
mod management;
mod metrics;
pub mod overview;
pub mod server;
pub mod values;

pub use api::openapi_json;
pub use config::HttpConfig;
pub use error::ApiError;
pub use metrics::page as metrics_page;
pub use server::{HttpContext, serve};
