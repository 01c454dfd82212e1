//! The AWS front-end of ferry: the Amazon SQS and Amazon SNS APIs on one listener (see
//! ARCHITECTURE.md).
//!
//! A request's path: [`server`] accepts it and tells the services apart as AWS SDKs address
//! them (the SigV4 credential scope names `sqs` or `sns`; an unsigned query-protocol request by
//! its action) → for SQS, [`protocol::decode`] turns either wire protocol into an action name
//! and JSON-shaped parameters → [`actions`] parses them, checks SQS's rules and calls the queue
//! engine → the result (or [`error::SqsError`]) is rendered in the request's protocol. An SNS
//! request goes to [`sns`] instead (query protocol only, as SNS has it).
//!
//! # Layout
//!
//! - [`server`]: the HTTP server ([`serve`]) and its request handler.
//!   Connections (their bound, idle and header-read timeouts) are `ferry_http::listener`'s; the
//!   answer of a full listener is SQS's 503.
//! - [`config`]: [`SqsConfig`], the `[sqs]` settings.
//! - [`protocol`]: the two wire protocols (AWS JSON 1.0 and query/XML): decoding a request into
//!   one JSON-shaped parameter map, rendering results and errors.
//! - [`actions`]: one module per group of SQS actions, translating to `QueueService` calls.
//! - [`params`]: typed access to parameters (integers as numbers or text, range checks).
//! - [`error`]: SQS error codes with their HTTP status, JSON `__type` and query code.
//! - [`names`]: queue names, queue URLs and ARNs.
//! - [`message`]: bodies and message attributes: parsing, limits, sizes.
//! - [`sns`]: the SNS API: topics are fanout exchanges of the broker's router, subscriptions
//!   bindings to queues (with their filter policy), publishes deliveries into queues.
//! - [`sts`]: STS `GetCallerIdentity`, answered on the same endpoint.
//! - [`md5`]: `MD5OfMessageBody`, `MD5OfMessageAttributes`, `MD5OfMessageSystemAttributes`.
//!
//! # Receipt handles
//!
//! Each receive of a message hands out a new receipt handle; only the latest one settles it.
//! As SQS documents for DeleteMessage, deleting with an earlier (superseded) handle of the same
//! message succeeds but deletes nothing: the message stays in flight under its latest handle.
//! DeleteMessageBatch reports such an entry as successful. ChangeMessageVisibility (and its
//! batch) refuses a superseded handle with `ReceiptHandleIsInvalid`. A malformed handle, or one
//! of another queue (or of a deleted and recreated queue of the same name), is
//! `ReceiptHandleIsInvalid` for every action. Deleting with the latest handle after its
//! visibility timeout ran out (and before another receive) still deletes the message.

pub mod actions;
pub mod config;
pub mod error;
pub mod md5;
pub mod message;
pub mod names;
pub mod params;
pub mod protocol;
pub mod server;
pub mod sns;
pub mod sts;

pub use config::SqsConfig;
pub use server::serve;
