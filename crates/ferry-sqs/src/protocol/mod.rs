//! The two wire protocols of SQS: AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Action>`) and the query
//! protocol (form-encoded `Action=…`, XML answers). Both decode into one [`Request`] in the JSON
//! shape, and both render the same result value.

pub mod query;
pub mod xml;

use serde_json::{Map, Value};

use crate::error::{ErrorCode, SqsError};

/// Which wire protocol a request came in, and so which one its answer goes out in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// AWS JSON 1.0: JSON bodies, `__type` errors with the `x-amzn-query-error` header.
    Json,
    /// The query protocol: form parameters in, XML out.
    Query,
}

/// The JSON target prefix of SQS actions.
pub const TARGET_PREFIX: &str = "AmazonSQS.";
/// Content type of JSON requests and responses.
pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// Content type of query-protocol responses.
pub const XML_CONTENT_TYPE: &str = "text/xml";

/// A decoded request: the action and its parameters in the JSON shape.
#[derive(Clone, Debug)]
pub struct Request {
    /// Protocol to answer in.
    pub protocol: Protocol,
    /// Action name, e.g. `SendMessage`.
    pub action: String,
    /// Parameters, shaped as the JSON protocol shapes them.
    pub params: Map<String, Value>,
}

/// What the HTTP layer needs to know about an incoming request.
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    /// `X-Amz-Target`, if present.
    pub target: Option<&'a str>,
    /// The raw query string of the URL, if any.
    pub query_string: Option<&'a str>,
    /// The request body.
    pub body: &'a [u8],
}

/// Decodes a request of either protocol. On failure, says which protocol to answer the error in.
pub fn decode(envelope: Envelope<'_>) -> Result<Request, (Protocol, SqsError)> {
    if let Some(target) = envelope.target {
        let fail = |e| (Protocol::Json, e);
        let action = target.strip_prefix(TARGET_PREFIX).ok_or_else(|| {
            fail(SqsError::new(
                ErrorCode::InvalidAction,
                format!("The action or operation requested is invalid: {target}."),
            ))
        })?;
        let params = if envelope.body.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(envelope.body) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(fail(SqsError::new(
                        ErrorCode::MalformedRequest,
                        "The request body must be a JSON object.",
                    )));
                }
                Err(e) => {
                    return Err(fail(SqsError::new(
                        ErrorCode::MalformedRequest,
                        format!("The request body is not valid JSON: {e}."),
                    )));
                }
            }
        };
        return Ok(Request { protocol: Protocol::Json, action: action.to_owned(), params });
    }
    let fail = |e| (Protocol::Query, e);
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(qs) = envelope.query_string {
        pairs.extend(query::parse_form(qs.as_bytes()).map_err(fail)?);
    }
    pairs.extend(query::parse_form(envelope.body).map_err(fail)?);
    let (action, params) = query::params_to_json(&pairs).map_err(fail)?;
    let action = action.ok_or_else(|| {
        fail(SqsError::new(ErrorCode::InvalidAction, "The request must contain the parameter Action."))
    })?;
    Ok(Request { protocol: Protocol::Query, action, params })
}

/// An encoded answer, ready for the HTTP layer.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// `x-amzn-query-error` for JSON errors.
    pub query_error: Option<String>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Encodes a successful result (`None` for actions that return nothing).
pub fn render_ok(
    protocol: Protocol,
    action: &str,
    result: Option<Map<String, Value>>,
    request_id: &str,
) -> Rendered {
    match protocol {
        Protocol::Json => Rendered {
            status: 200,
            content_type: JSON_CONTENT_TYPE,
            query_error: None,
            body: serde_json::to_vec(&Value::Object(result.unwrap_or_default()))
                .unwrap_or_else(|_| b"{}".to_vec()),
        },
        Protocol::Query => Rendered {
            status: 200,
            content_type: XML_CONTENT_TYPE,
            query_error: None,
            body: xml::response(action, result.as_ref(), request_id).into_bytes(),
        },
    }
}

/// Encodes an error the way SQS does in each protocol.
pub fn render_error(protocol: Protocol, error: &SqsError, request_id: &str) -> Rendered {
    let kind = if error.code.sender_fault() { "Sender" } else { "Receiver" };
    match protocol {
        Protocol::Json => {
            let body = serde_json::json!({
                "__type": format!("com.amazonaws.sqs#{}", error.code.json_type()),
                "message": error.message,
            });
            Rendered {
                status: error.code.http_status(),
                content_type: JSON_CONTENT_TYPE,
                query_error: Some(format!("{};{kind}", error.code.query_code())),
                body: serde_json::to_vec(&body).unwrap_or_default(),
            }
        }
        Protocol::Query => Rendered {
            status: error.code.http_status(),
            content_type: XML_CONTENT_TYPE,
            query_error: None,
            body: xml::error(kind, error.code.query_code(), &error.message, request_id).into_bytes(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_request_is_recognised_by_its_target() {
        let req = decode(Envelope {
            target: Some("AmazonSQS.ListQueues"),
            query_string: None,
            body: br#"{"QueueNamePrefix":"a"}"#,
        })
        .unwrap();
        assert_eq!(req.protocol, Protocol::Json);
        assert_eq!(req.action, "ListQueues");
        assert_eq!(req.params["QueueNamePrefix"], "a");
    }

    #[test]
    fn json_request_with_empty_body_has_no_params() {
        let req =
            decode(Envelope { target: Some("AmazonSQS.ListQueues"), query_string: None, body: b"" }).unwrap();
        assert!(req.params.is_empty());
    }

    #[test]
    fn malformed_json_is_answered_in_json() {
        let (protocol, err) =
            decode(Envelope { target: Some("AmazonSQS.ListQueues"), query_string: None, body: b"{" })
                .unwrap_err();
        assert_eq!(protocol, Protocol::Json);
        assert_eq!(err.code, ErrorCode::MalformedRequest);
    }

    #[test]
    fn query_request_merges_url_and_form_parameters() {
        let req = decode(Envelope {
            target: None,
            query_string: Some("Action=GetQueueUrl"),
            body: b"QueueName=a+b%2Fc&Version=2012-11-05",
        })
        .unwrap();
        assert_eq!(req.protocol, Protocol::Query);
        assert_eq!(req.action, "GetQueueUrl");
        assert_eq!(req.params["QueueName"], "a b/c");
    }

    #[test]
    fn query_request_without_action_is_invalid_action() {
        let (protocol, err) =
            decode(Envelope { target: None, query_string: None, body: b"QueueName=q" }).unwrap_err();
        assert_eq!(protocol, Protocol::Query);
        assert_eq!(err.code, ErrorCode::InvalidAction);
    }

    #[test]
    fn json_error_carries_type_and_query_error_header() {
        let r = render_error(Protocol::Json, &SqsError::no_such_queue(), "rid");
        assert_eq!(r.status, 400);
        assert_eq!(r.query_error.as_deref(), Some("AWS.SimpleQueueService.NonExistentQueue;Sender"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["__type"], "com.amazonaws.sqs#QueueDoesNotExist");
    }

    #[test]
    fn query_error_is_an_error_response_document() {
        let r = render_error(Protocol::Query, &SqsError::missing("QueueUrl"), "rid");
        assert_eq!(r.status, 400);
        let text = String::from_utf8(r.body).unwrap();
        assert!(text.contains("<Code>MissingParameter</Code>"));
    }
}

#[cfg(test)]
mod decode_properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Whatever arrives on the socket, decoding answers a request or an SQS error, never a panic.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            json in any::<bool>(),
            query in proptest::option::of("[A-Za-z0-9.=&%+]{0,64}"),
        ) {
            let target = if json { Some("AmazonSQS.SendMessage") } else { None };
            let _ = decode(Envelope { target, query_string: query.as_deref(), body: &body });
        }

        // Query parameters with any nesting of dotted keys decode or are refused as malformed.
        #[test]
        fn arbitrary_dotted_query_keys_never_panic(
            pairs in proptest::collection::vec(
                ("(Action|Attribute|MessageAttribute|Tag|AttributeName|SendMessageBatchRequestEntry|1|2|Name|Value|\\.){1,6}", ".{0,8}"),
                0..16,
            )
        ) {
            let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
            let _ = decode(Envelope { target: None, query_string: None, body: body.as_bytes() });
        }
    }
}
