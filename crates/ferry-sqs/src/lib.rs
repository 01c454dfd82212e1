//! Amazon SQS-compatible front-end (see ARCHITECTURE.md).
//!
//! # Layout
//!
//! - [`protocol`]: the two wire protocols (AWS JSON 1.0 and query/XML): decoding a request into
//!   one JSON-shaped parameter map, rendering results and errors.
//! - [`params`]: typed access to parameters (integers as numbers or text, range checks).
//! - [`error`]: SQS error codes with their HTTP status, JSON `__type` and query code.
//! - [`names`]: queue names, queue URLs and ARNs.
//! - [`message`]: bodies and message attributes: parsing, limits, sizes.
//! - [`md5`]: `MD5OfMessageBody`, `MD5OfMessageAttributes`, `MD5OfMessageSystemAttributes`.

pub mod error;
pub mod md5;
pub mod message;
pub mod names;
pub mod params;
pub mod protocol;
