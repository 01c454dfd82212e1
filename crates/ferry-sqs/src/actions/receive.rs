//! ReceiveMessage: long polling through the engine, then each delivery shaped as an SQS message
//! with the system and user attributes the caller asked for.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ferry_broker::queues::{AttrValue, Delivery, ReceiveOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Ctx, Output, map_queue_error, output};
use crate::error::{SqsError, SqsResult};
use crate::md5::{AttrBytes, md5_of_attributes, md5_of_body};
use crate::message::{Shown, sqs_view};
use crate::params::{in_range, opt_int, parse, required};

/// Message system attribute names a receiver may ask for.
const SYSTEM_NAMES: &[&str] = &[
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveMessageRequest {
    queue_url: Option<String>,
    #[serde(default)]
    attribute_names: Vec<String>,
    #[serde(default)]
    message_system_attribute_names: Vec<String>,
    #[serde(default)]
    message_attribute_names: Vec<String>,
    #[serde(default, deserialize_with = "opt_int")]
    max_number_of_messages: Option<i64>,
    #[serde(default, deserialize_with = "opt_int")]
    visibility_timeout: Option<i64>,
    #[serde(default, deserialize_with = "opt_int")]
    wait_time_seconds: Option<i64>,
    receive_request_attempt_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OutAttribute {
    #[serde(skip_serializing_if = "Option::is_none")]
    string_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    binary_value: Option<String>,
    data_type: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Message {
    message_id: String,
    receipt_handle: String,
    #[serde(rename = "MD5OfBody")]
    md5_of_body: String,
    body: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: BTreeMap<String, String>,
    #[serde(rename = "MD5OfMessageAttributes", skip_serializing_if = "Option::is_none")]
    md5_of_message_attributes: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    message_attributes: BTreeMap<String, OutAttribute>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveMessageResult {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    messages: Vec<Message>,
}

/// Which message attributes a receiver asked for: `All`, `.*` or `*` (every one), exact names, or
/// `prefix.*`, every attribute whose name starts with `prefix` (`Custom.*` returns `Custom.Id`
/// and `Customer`, as SQS does).
fn wants_attribute(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| {
        p == "All"
            || p == ".*"
            || p == "*"
            || p == name
            || p.strip_suffix(".*").is_some_and(|prefix| name.starts_with(prefix))
    })
}

fn system_attributes(ctx: &Ctx, names: &[String], d: &Delivery) -> BTreeMap<String, String> {
    let all = names.iter().any(|n| n == "All");
    let mut out = BTreeMap::new();
    for key in SYSTEM_NAMES {
        if !all && !names.iter().any(|n| n == key) {
            continue;
        }
        let value = match *key {
            "SenderId" => Some(ctx.config.account_id.clone()),
            "SentTimestamp" => Some(d.sent_ms.to_string()),
            "ApproximateReceiveCount" => Some(d.delivery_count.to_string()),
            "ApproximateFirstReceiveTimestamp" => Some(d.first_received_ms.to_string()),
            "SequenceNumber" => d.sequence_number.map(|n| format!("{n:020}")),
            "MessageDeduplicationId" => d.dedup_id.clone(),
            "MessageGroupId" => d.group_id.clone(),
            "AWSTraceHeader" => {
                d.system_attributes.iter().find(|a| a.name == *key).and_then(|a| match &a.value {
                    AttrValue::Text(t) => Some(t.clone()),
                    AttrValue::Binary(_) | AttrValue::Typed(_) => None,
                })
            }
            "DeadLetterQueueSourceArn" => d.dead_letter_source.as_deref().map(|q| ctx.arn(q)),
            _ => None,
        };
        if let Some(value) = value {
            out.insert((*key).to_owned(), value);
        }
    }
    out
}

fn shape(ctx: &Ctx, req_system: &[String], req_user: &[String], d: Delivery) -> Message {
    let chosen: Vec<(&str, String, Shown)> = d
        .attributes
        .iter()
        .filter(|a| wants_attribute(req_user, &a.name))
        .map(|a| {
            let (data_type, value) = sqs_view(a);
            (a.name.as_str(), data_type, value)
        })
        .collect();
    let md5_of_message_attributes = md5_of_attributes(chosen.iter().map(|(name, data_type, value)| {
        let value = match value {
            Shown::Text(t) => AttrBytes::Text(t),
            Shown::Binary(b) => AttrBytes::Binary(b),
        };
        (*name, data_type.as_str(), value)
    }));
    let message_attributes = chosen
        .into_iter()
        .map(|(name, data_type, value)| {
            let (string_value, binary_value) = match value {
                Shown::Text(t) => (Some(t), None),
                Shown::Binary(b) => (None, Some(BASE64.encode(b))),
            };
            (name.to_owned(), OutAttribute { string_value, binary_value, data_type })
        })
        .collect();
    let attributes = system_attributes(ctx, req_system, &d);
    // Bodies from other protocols may not be UTF-8; SQS bodies are text.
    let body = String::from_utf8_lossy(&d.body).into_owned();
    Message {
        md5_of_body: md5_of_body(body.as_bytes()),
        message_id: d.message_id,
        receipt_handle: d.receipt.to_string(),
        body,
        attributes,
        md5_of_message_attributes,
        message_attributes,
    }
}

pub(super) async fn receive_message(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: ReceiveMessageRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let name = ctx.queue_name(&url)?;
    let max = in_range("MaxNumberOfMessages", req.max_number_of_messages.unwrap_or(1), 1, 10)?;
    let lease_ms = req.visibility_timeout.map(|v| in_range("VisibilityTimeout", v, 0, 43_200)).transpose()?;
    let wait_ms = req.wait_time_seconds.map(|w| in_range("WaitTimeSeconds", w, 0, 20)).transpose()?;
    let mut system_names = req.attribute_names;
    system_names.extend(req.message_system_attribute_names);
    for n in &system_names {
        if n != "All" && !SYSTEM_NAMES.contains(&n.as_str()) {
            return Err(SqsError::unknown_attribute(n));
        }
    }
    // SQS honours ReceiveRequestAttemptId on FIFO queues only; the engine gives a retried
    // attempt the messages and receipts it leased the first time.
    let attempt_id = match req.receive_request_attempt_id.filter(|id| !id.is_empty()) {
        Some(id) if ctx.queues.queue_attributes(name).map_err(map_queue_error)?.fifo => Some(id),
        _ => None,
    };
    let options = ReceiveOptions {
        max_messages: max as usize,
        lease_ms: lease_ms.map(|v| v as u64 * 1000),
        wait_ms: wait_ms.map(|w| w as u64 * 1000),
        receive_request_attempt_id: attempt_id,
    };
    let mut shutdown = ctx.shutdown.clone();
    let deliveries = tokio::select! {
        result = ctx.queues.receive(name, options) => result.map_err(map_queue_error)?,
        // A long poll must not hold the server open: answer "nothing yet" at shutdown.
        _ = shutdown.wait_for(|stop| *stop) => Vec::new(),
    };
    let messages: Vec<Message> =
        deliveries.into_iter().map(|d| shape(ctx, &system_names, &req.message_attribute_names, d)).collect();
    output(ReceiveMessageResult { messages })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn attribute_name_patterns_match_as_sqs_does() {
        assert!(wants_attribute(&pats(&["All"]), "x"));
        assert!(wants_attribute(&pats(&[".*"]), "x"));
        assert!(wants_attribute(&pats(&["x"]), "x"));
        assert!(!wants_attribute(&pats(&["x"]), "xy"));
        assert!(wants_attribute(&pats(&["*"]), "x"));
        assert!(wants_attribute(&pats(&["bar.*"]), "bar.baz"));
        assert!(wants_attribute(&pats(&["bar.*"]), "barbaz"));
        assert!(wants_attribute(&pats(&["Hel.*"]), "Help.Me"));
        assert!(!wants_attribute(&pats(&["bar.*"]), "ba"));
        assert!(!wants_attribute(&pats(&["bar.*"]), "foo.bar"));
        assert!(!wants_attribute(&[], "x"));
    }
}
