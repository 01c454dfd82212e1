//! ferry-amqp: the AMQP 0-9-1 front-end, speaking to clients as RabbitMQ does. Frames and
//! method types come from the `amq-protocol` crate; the semantics stay in `ferry-broker`.
//!
//! # Layout
//!
//! - [`config`]: [`AmqpConfig`], the listener's settings and users.
//! - [`server`]: [`serve`], the accept loop, connection limit and shutdown.
//! - `connection`: one client connection: protocol header, the frame read/write loop, routing
//!   of frames by handshake phase and channel, timers (handshake, heartbeats, close).
//! - `session`: the state methods act on: phase, negotiated limits, channels, queued output.
//! - `methods`: dispatch on (class, method), and one module per class
//!   (`methods/connection.rs`, `channel.rs`, `exchange.rs`, `queue.rs`, `basic.rs`, `confirm.rs`,
//!   `tx.rs`).
//! - `channel`: one channel's state and the assembly of published content (method, header,
//!   body frames), bounded by `max_message_bytes`.
//! - `consumer`: push consumers: a task per `basic.consume` forwards a broker subscription's
//!   deliveries to the connection and returns credit as they are settled.
//! - `ack_timeout`: delivery acknowledgement timeouts (RabbitMQ's consumer timeout), which
//!   close a channel holding a delivery too long.
//! - `message`: AMQP properties and field tables onto ferry's message model and back.
//! - `frame`: the codec: bytes to frames (bounded by `frame_max` before any payload is read)
//!   and back; no I/O.
//! - `errors`: reply codes, and the channel and connection errors every module returns.
//!
//! A frame's path: `server` accepts → `connection` reads bytes → `frame::decode` →
//! `connection::route` → `methods::dispatch` → `methods/<class>.rs` → answers queued in the
//! session and written before the next read.

pub mod config;
pub mod errors;
pub mod server;

mod ack_timeout;
mod channel;
mod connection;
mod consumer;
mod frame;
mod message;
mod methods;
mod session;

pub use config::{AmqpConfig, AmqpUser};
pub use server::serve;
