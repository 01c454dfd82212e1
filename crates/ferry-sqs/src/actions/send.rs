//! SendMessage and SendMessageBatch: checking each message as SQS does, handing the valid ones to
//! the engine in one call, and answering with the digests SDKs verify.

use std::collections::BTreeMap;

use bytes::Bytes;
use ferry_broker::queues::{AttrValue, Enqueued, MessageAttribute, NewMessage, QueueAttributes};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::batch::{Failed, entry_ids};
use super::{Ctx, Output, map_queue_error, output};
use crate::error::{ErrorCode, SqsError, SqsResult};
use crate::md5::md5_of_body;
use crate::message::{self, Attribute, MAX_MESSAGE_BYTES, WireAttributeValue};
use crate::params::{in_range, opt_int, parse, required};

/// Longest `MessageGroupId` and `MessageDeduplicationId`.
const MAX_ID_CHARS: usize = 128;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    id: Option<String>,
    message_body: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    delay_seconds: Option<i64>,
    message_attributes: Option<BTreeMap<String, WireAttributeValue>>,
    message_system_attributes: Option<BTreeMap<String, WireAttributeValue>>,
    message_deduplication_id: Option<String>,
    message_group_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageRequest {
    queue_url: Option<String>,
    message_body: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    delay_seconds: Option<i64>,
    message_attributes: Option<BTreeMap<String, WireAttributeValue>>,
    message_system_attributes: Option<BTreeMap<String, WireAttributeValue>>,
    message_deduplication_id: Option<String>,
    message_group_id: Option<String>,
}

/// A checked message, ready for the engine, with the digests of what was sent.
struct Prepared {
    message: NewMessage,
    digests: Digests,
}

impl Prepared {
    fn split(self) -> (NewMessage, Digests) {
        (self.message, self.digests)
    }
}

/// The digests answered for a sent message.
struct Digests {
    md5_of_body: String,
    md5_of_attributes: Option<String>,
    md5_of_system_attributes: Option<String>,
}

/// The result of one sent message (SendMessage's result, a batch's succeeded entry).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Sent {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    message_id: String,
    #[serde(rename = "MD5OfMessageBody")]
    md5_of_message_body: String,
    #[serde(rename = "MD5OfMessageAttributes", skip_serializing_if = "Option::is_none")]
    md5_of_message_attributes: Option<String>,
    #[serde(rename = "MD5OfMessageSystemAttributes", skip_serializing_if = "Option::is_none")]
    md5_of_message_system_attributes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence_number: Option<String>,
}

impl Sent {
    fn new(id: Option<String>, digests: Digests, enqueued: Enqueued) -> Sent {
        Sent {
            id,
            message_id: enqueued.message_id,
            md5_of_message_body: digests.md5_of_body,
            md5_of_message_attributes: digests.md5_of_attributes,
            md5_of_message_system_attributes: digests.md5_of_system_attributes,
            sequence_number: enqueued.sequence_number.map(|n| format!("{n:020}")),
        }
    }
}

fn to_engine(attributes: Vec<Attribute>) -> Vec<MessageAttribute> {
    attributes
        .into_iter()
        .map(|a| MessageAttribute {
            name: a.name,
            data_type: a.data_type,
            value: match a.value {
                message::Value::Text(t) => AttrValue::Text(t),
                message::Value::Binary(b) => AttrValue::Binary(Bytes::from(b)),
            },
        })
        .collect()
}

fn not_for_this_queue_type(param: &str, value: impl std::fmt::Display) -> SqsError {
    SqsError::invalid_value(
        param,
        value,
        "The request include parameter that is not valid for this queue type.",
    )
}

fn check_fifo_id(param: &str, value: &str) -> SqsResult<()> {
    let ok = !value.is_empty() && value.len() <= MAX_ID_CHARS && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(SqsError::invalid_value(
            param,
            value,
            "It can contain only alphanumeric characters and punctuation and be 1 to 128 characters long.",
        ))
    }
}

/// Checks one message against SQS's rules and the queue's type and size limit.
fn prepare(queue: &QueueAttributes, entry: Entry) -> SqsResult<(Prepared, usize)> {
    let body = required(entry.message_body, "MessageBody")?;
    message::validate_body(&body)?;
    let attributes = message::parse_attributes(entry.message_attributes)?;
    let system = message::parse_system_attributes(entry.message_system_attributes)?;
    let size = message::message_size(&body, &attributes);
    let max = (queue.max_message_bytes as usize).min(MAX_MESSAGE_BYTES);
    if size > max {
        return Err(message::too_large(max));
    }
    let delay_ms = match entry.delay_seconds {
        // FIFO queues take no per-message delay, but an explicit 0 asks for none.
        Some(0) if queue.fifo => None,
        Some(d) if queue.fifo => return Err(not_for_this_queue_type("DelaySeconds", d)),
        Some(d) => Some(in_range("DelaySeconds", d, 0, 900)? as u64 * 1000),
        None => None,
    };
    if queue.fifo {
        let group = entry.message_group_id.as_deref().ok_or_else(|| SqsError::missing("MessageGroupId"))?;
        check_fifo_id("MessageGroupId", group)?;
        match entry.message_deduplication_id.as_deref() {
            Some(dedup) => check_fifo_id("MessageDeduplicationId", dedup)?,
            None if !queue.content_based_dedup => {
                return Err(map_queue_error(ferry_broker::queues::QueueError::DedupIdRequired));
            }
            None => {}
        }
    } else {
        if let Some(dedup) = &entry.message_deduplication_id {
            return Err(not_for_this_queue_type("MessageDeduplicationId", dedup));
        }
        if let Some(group) = &entry.message_group_id {
            check_fifo_id("MessageGroupId", group)?;
        }
    }
    let prepared = Prepared {
        digests: Digests {
            md5_of_body: md5_of_body(body.as_bytes()),
            md5_of_attributes: message::md5_of(&attributes),
            md5_of_system_attributes: message::md5_of(&system),
        },
        message: NewMessage {
            body: Bytes::from(body),
            attributes: to_engine(attributes),
            system_attributes: to_engine(system),
            delay_ms,
            group_id: entry.message_group_id,
            dedup_id: entry.message_deduplication_id,
            ..NewMessage::default()
        },
    };
    Ok((prepared, size))
}

pub(super) async fn send_message(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: SendMessageRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let name = ctx.queue_name(&url)?;
    let queue = ctx.queues.queue_attributes(name).map_err(map_queue_error)?;
    let entry = Entry {
        id: None,
        message_body: req.message_body,
        delay_seconds: req.delay_seconds,
        message_attributes: req.message_attributes,
        message_system_attributes: req.message_system_attributes,
        message_deduplication_id: req.message_deduplication_id,
        message_group_id: req.message_group_id,
    };
    let (prepared, _) = prepare(&queue, entry)?;
    let (message, digests) = prepared.split();
    let mut results = ctx.queues.enqueue(name, vec![message]).await.map_err(map_queue_error)?;
    let enqueued = match results.pop() {
        Some(result) => result.map_err(map_queue_error)?,
        None => return Err(SqsError::new(ErrorCode::InternalError, "The broker returned no result.")),
    };
    output(Sent::new(None, digests, enqueued))
}

/// On a FIFO queue SQS refuses the whole batch, not the entry, when an entry lacks its group id,
/// or its deduplication id on a queue without content-based deduplication.
fn check_fifo_batch(queue: &QueueAttributes, entries: &[Entry]) -> SqsResult<()> {
    if entries.iter().any(|e| e.message_group_id.is_none()) {
        return Err(SqsError::missing("MessageGroupId"));
    }
    if !queue.content_based_dedup && entries.iter().any(|e| e.message_deduplication_id.is_none()) {
        return Err(map_queue_error(ferry_broker::queues::QueueError::DedupIdRequired));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageBatchRequest {
    queue_url: Option<String>,
    entries: Option<Vec<Entry>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageBatchResult {
    successful: Vec<Sent>,
    failed: Vec<Failed>,
}

pub(super) async fn send_message_batch(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: SendMessageBatchRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let entries = req.entries.unwrap_or_default();
    let ids = entry_ids("SendMessageBatchRequestEntry", entries.iter().map(|e| e.id.clone()))?;
    let name = ctx.queue_name(&url)?;
    let queue = ctx.queues.queue_attributes(name).map_err(map_queue_error)?;
    if queue.fifo {
        check_fifo_batch(&queue, &entries)?;
    }

    let mut failed = Vec::new();
    let mut ready = Vec::with_capacity(entries.len());
    let mut total = 0usize;
    for (id, entry) in ids.into_iter().zip(entries) {
        let raw = entry.message_body.as_ref().map_or(0, String::len);
        match prepare(&queue, entry) {
            Ok((prepared, size)) => {
                total += size;
                ready.push((id, prepared));
            }
            Err(e) => {
                total += raw;
                failed.push(Failed::new(id, e));
            }
        }
    }
    if total > MAX_MESSAGE_BYTES {
        return Err(SqsError::new(
            ErrorCode::BatchRequestTooLong,
            format!(
                "Batch requests cannot be longer than {MAX_MESSAGE_BYTES} bytes. You have sent {total} bytes."
            ),
        ));
    }
    let mut successful = Vec::with_capacity(ready.len());
    if !ready.is_empty() {
        let (messages, digests): (Vec<_>, Vec<_>) = ready
            .into_iter()
            .map(|(id, prepared)| {
                let (message, digests) = prepared.split();
                (message, (id, digests))
            })
            .unzip();
        let results = ctx.queues.enqueue(name, messages).await.map_err(map_queue_error)?;
        if results.len() != digests.len() {
            return Err(SqsError::new(ErrorCode::InternalError, "The broker returned too few results."));
        }
        for ((id, digests), result) in digests.into_iter().zip(results) {
            match result {
                Ok(enqueued) => successful.push(Sent::new(Some(id), digests, enqueued)),
                Err(e) => failed.push(Failed::new(id, map_queue_error(e))),
            }
        }
    }
    output(SendMessageBatchResult { successful, failed })
}
