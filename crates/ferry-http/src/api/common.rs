//! What every endpoint shares: extractors whose rejections answer in the API's JSON error
//! shape, paging, message bodies as text or base64, and broker errors mapped to statuses.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use ferry_broker::queues::{AttrValue, MessageAttribute, QueueError};
use ferry_broker::routing::RoutingError;
use ferry_broker::topics::{CatalogError, FetchError, ProduceError};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::server::HttpContext;
use crate::values::value_to_json;

/// Runs `f` on the blocking pool (service calls that commit to the metadata store or read logs).
pub async fn blocking<T: Send + 'static>(
    ctx: &Arc<HttpContext>,
    f: impl FnOnce(&HttpContext) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let ctx = Arc::clone(ctx);
    tokio::task::spawn_blocking(move || f(&ctx)).await.map_err(|e| ApiError::internal(e.to_string()))?
}

/// Default and largest page of a list.
pub const PAGE_DEFAULT: usize = 100;
pub const PAGE_MAX: usize = 1000;

/// A JSON request body; an empty body reads as `{}` (for requests whose fields are all
/// optional). Anything else than JSON is refused in the API's error shape.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::bad_request("bad_request", format!("cannot read the body: {e}")))?;
        if let Some(ct) = content_type
            && !bytes.is_empty()
        {
            let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!("the body must be JSON (Content-Type: application/json), not {ct}"),
                ));
            }
        }
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        let invalid = |e: serde_json::Error| {
            ApiError::bad_request("invalid_body", format!("the JSON body does not fit this request: {e}"))
        };
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(invalid)?;
        if has_integer_beyond_int64(&value) {
            return Err(ApiError::bad_request("invalid_body", INT64_MESSAGE));
        }
        serde_json::from_value(value).map(JsonBody).map_err(invalid)
    }
}

/// The query parameters that are numbers (the others, `after` and `prefix`, are names, which
/// may be made of digits).
const NUMERIC_PARAMS: &[&str] = &["limit", "offset", "timestamp_ms", "partition"];

/// What a number beyond the document's `int64` gets.
const INT64_MESSAGE: &str = "numbers must be at most 9223372036854775807 (int64)";

/// Whether `v` holds an integer above `i64::MAX` anywhere: the OpenAPI document declares every
/// integer `int64`, so the server refuses what the document does not allow rather than take it.
fn has_integer_beyond_int64(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.is_u64() && n.as_i64().is_none(),
        serde_json::Value::Array(items) => items.iter().any(has_integer_beyond_int64),
        serde_json::Value::Object(map) => map.values().any(has_integer_beyond_int64),
        _ => false,
    }
}

/// Query parameters, refused in the API's error shape when they do not parse.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let beyond = parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(k, _)| NUMERIC_PARAMS.contains(k))
            .any(|(_, v)| v.len() > 18 && v.bytes().all(|b| b.is_ascii_digit()) && v.parse::<i64>().is_err());
        if beyond {
            return Err(ApiError::bad_request("invalid_query", INT64_MESSAGE));
        }
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(params)| Params(params))
            .map_err(|e| {
                ApiError::bad_request("invalid_query", format!("invalid query parameters: {}", e.body_text()))
            })
    }
}

/// The one name in a path (`/queues/{name}`), percent-decoded.
pub struct Name(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Name {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(name)| Name(name))
            .map_err(|e| ApiError::bad_request("invalid_path", format!("invalid name in the path: {e}")))
    }
}

/// Paging of a list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Most items returned (1–1000, default 100).
    pub limit: Option<i64>,
    /// Return the items after this name (the `next` of the previous page).
    pub after: Option<String>,
}

impl Page {
    /// The limit, checked.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(PAGE_DEFAULT),
            Some(n) if (1..=PAGE_MAX as i64).contains(&n) => Ok(n as usize),
            Some(n) => {
                Err(ApiError::bad_request("invalid_limit", format!("limit must be 1 to {PAGE_MAX}, not {n}")))
            }
        }
    }

    /// The page of `names` (sorted here) this asks for, and the name to continue after.
    pub fn slice(&self, mut names: Vec<String>) -> Result<(Vec<String>, Option<String>), ApiError> {
        let limit = self.limit()?;
        names.sort();
        names.dedup();
        let start = match &self.after {
            Some(after) => names.partition_point(|n| n.as_str() <= after.as_str()),
            None => 0,
        };
        let page: Vec<String> = names[start..].iter().take(limit).cloned().collect();
        let next = (start + page.len() < names.len()).then(|| page.last().cloned()).flatten();
        Ok((page, next))
    }
}

/// A body given as text or as base64.
pub fn body_of(text: Option<String>, base64: Option<String>, field: &str) -> Result<Bytes, ApiError> {
    match (text, base64) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "invalid_body",
            format!("give either {field} or {field}_base64, not both"),
        )),
        (Some(t), None) => Ok(Bytes::from(t)),
        (None, Some(b)) => BASE64
            .decode(b.trim())
            .map(Bytes::from)
            .map_err(|e| ApiError::bad_request("invalid_body", format!("{field}_base64 is not base64: {e}"))),
        (None, None) => {
            Err(ApiError::bad_request("invalid_body", format!("{field} or {field}_base64 is required")))
        }
    }
}

/// Bytes as the answer carries them: base64 always, text when they are UTF-8.
pub fn text_and_base64(bytes: &[u8]) -> (Option<String>, String) {
    (std::str::from_utf8(bytes).ok().map(str::to_owned), BASE64.encode(bytes))
}

/// Headers given as strings become String message attributes.
pub fn attributes_of(headers: BTreeMap<String, String>) -> Vec<MessageAttribute> {
    headers
        .into_iter()
        .map(|(name, value)| MessageAttribute {
            name,
            data_type: "String".into(),
            value: AttrValue::Text(value),
        })
        .collect()
}

/// Message attributes as JSON values: text as strings, bytes as base64, typed values as JSON.
pub fn headers_of(attributes: &[MessageAttribute]) -> BTreeMap<String, serde_json::Value> {
    attributes
        .iter()
        .map(|a| {
            let v = match &a.value {
                AttrValue::Text(t) => serde_json::Value::String(t.clone()),
                AttrValue::Binary(b) => serde_json::Value::String(BASE64.encode(b)),
                AttrValue::Typed(v) => value_to_json(v),
            };
            (a.name.clone(), v)
        })
        .collect()
}

/// A queue error as the API answers it.
pub fn queue_error(e: QueueError) -> ApiError {
    let message = e.to_string();
    match e {
        QueueError::NoSuchQueue(_) => ApiError::not_found("queue_not_found", message),
        QueueError::QueueExists(_) => ApiError::conflict("already_exists", message),
        QueueError::QueueDeletedRecently(_) | QueueError::MoveTask(_) => {
            ApiError::conflict("conflict", message)
        }
        QueueError::InvalidReceipt(_) => ApiError::bad_request("invalid_receipt", message),
        QueueError::ReceiptSuperseded(_) | QueueError::ReceiptExpired => {
            ApiError::conflict("receipt_expired", message)
        }
        QueueError::MessageTooLarge { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "message_too_large", message)
        }
        QueueError::InvalidAttribute(_) => ApiError::bad_request("invalid_settings", message),
        QueueError::NameInvalid(_) => ApiError::bad_request("invalid_name", message),
        QueueError::Overflow(_) => ApiError::conflict("queue_full", message),
        QueueError::FifoRequiresGroupId | QueueError::DedupIdRequired | QueueError::DelayNotAllowedOnFifo => {
            ApiError::bad_request("invalid_message", message)
        }
        QueueError::ConsumerExclusive(_)
        | QueueError::ExclusiveToAnother(_)
        | QueueError::TooManyConsumers(_) => ApiError::conflict("conflict", message),
        QueueError::Storage(_) => ApiError::internal(message),
        _ => ApiError::internal(message),
    }
}

/// A topic catalog error as the API answers it.
pub fn catalog_error(e: CatalogError) -> ApiError {
    let message = e.to_string();
    match e {
        CatalogError::InvalidName(_) => ApiError::bad_request("invalid_name", message),
        CatalogError::AlreadyExists(_) => ApiError::conflict("already_exists", message),
        CatalogError::UnknownTopic(_) => ApiError::not_found("topic_not_found", message),
        CatalogError::InvalidPartitions(_) | CatalogError::PartitionLimit { .. } => {
            ApiError::bad_request("invalid_partitions", message)
        }
        CatalogError::InvalidConfig(_) => ApiError::bad_request("invalid_config", message),
        _ => ApiError::internal(message),
    }
}

/// A produce error as the API answers it.
pub fn produce_error(e: ProduceError) -> ApiError {
    let message = e.to_string();
    match e {
        ProduceError::UnknownTopicOrPartition => ApiError::not_found("partition_not_found", message),
        ProduceError::MessageTooLarge { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "message_too_large", message)
        }
        ProduceError::RecordWithoutKey { .. } => ApiError::bad_request("key_required", message),
        _ => ApiError::internal(message),
    }
}

/// A fetch error as the API answers it.
pub fn fetch_error(e: FetchError) -> ApiError {
    let message = e.to_string();
    match e {
        FetchError::UnknownTopicOrPartition => ApiError::not_found("partition_not_found", message),
        FetchError::OffsetOutOfRange { .. } => ApiError::bad_request("offset_out_of_range", message),
        _ => ApiError::internal(message),
    }
}

/// A routing error as the API answers it.
pub fn routing_error(e: RoutingError) -> ApiError {
    let message = e.to_string();
    match e {
        RoutingError::ExchangeNotFound { .. } => ApiError::not_found("exchange_not_found", message),
        RoutingError::BindingNotFound { .. } => ApiError::not_found("binding_not_found", message),
        RoutingError::Inequivalent { .. } | RoutingError::InUse { .. } => {
            ApiError::conflict("conflict", message)
        }
        RoutingError::TooManyExchanges { .. } | RoutingError::TooManyBindings { .. } => {
            ApiError::conflict("limit_reached", message)
        }
        RoutingError::ReservedName { .. }
        | RoutingError::DefaultExchange { .. }
        | RoutingError::SystemExchange { .. }
        | RoutingError::InternalExchange { .. } => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
        RoutingError::UnknownExchangeType { .. } => ApiError::bad_request("invalid_type", message),
        RoutingError::InvalidArgument { .. } => ApiError::bad_request("invalid_arguments", message),
        _ => ApiError::internal(message),
    }
}

/// An error schema for the OpenAPI document.
#[derive(ToSchema, serde::Serialize)]
pub struct ErrorAnswer {
    pub error: ErrorFields,
}

/// The fields of an error.
#[derive(ToSchema, serde::Serialize)]
pub struct ErrorFields {
    /// Machine-readable code, e.g. `queue_not_found`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_continue_after_the_last_name() {
        let names: Vec<String> = ["c", "a", "b", "d"].iter().map(|s| s.to_string()).collect();
        let first = Page { limit: Some(2), after: None };
        assert_eq!(first.slice(names.clone()).unwrap(), (vec!["a".into(), "b".into()], Some("b".into())));
        let second = Page { limit: Some(2), after: Some("b".into()) };
        assert_eq!(second.slice(names.clone()).unwrap(), (vec!["c".into(), "d".into()], None));
        assert!(Page { limit: Some(0), after: None }.slice(names).is_err());
    }

    #[test]
    fn integers_beyond_int64_are_found_anywhere() {
        assert!(!has_integer_beyond_int64(&serde_json::json!({"a": [i64::MAX, -1, 1.5]})));
        assert!(has_integer_beyond_int64(&serde_json::json!({"a": {"b": [1u64 << 63]}})));
    }

    #[test]
    fn bodies_are_text_or_base64_not_both() {
        assert_eq!(body_of(Some("hi".into()), None, "body").unwrap(), Bytes::from_static(b"hi"));
        assert_eq!(body_of(None, Some("aGk=".into()), "body").unwrap(), Bytes::from_static(b"hi"));
        assert!(body_of(Some("a".into()), Some("aGk=".into()), "body").is_err());
        assert!(body_of(None, Some("!!".into()), "body").is_err());
        assert!(body_of(None, None, "body").is_err());
        assert_eq!(text_and_base64(&[0xff]), (None, "/w==".to_owned()));
    }
}
