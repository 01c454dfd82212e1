//! GetQueueAttributes and SetQueueAttributes, and the translation between SQS queue attributes
//! (`VisibilityTimeout`, `RedrivePolicy`, …) and the engine's [`QueueAttributes`].

use std::collections::BTreeMap;

use ferry_broker::queues::{QueueAttributes, QueueStats};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Ctx, Output, map_queue_error, output};
use crate::error::{ErrorCode, SqsError, SqsResult};
use crate::params::{parse, required};

/// Queue attributes SQS computes and never accepts from a caller.
const READ_ONLY: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

/// Attributes of FIFO queues only.
const FIFO_ONLY: &[&str] =
    &["FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"];

/// Attributes kept verbatim for the caller (`extra`): no engine meaning.
const VERBATIM: &[&str] = &[
    "Policy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// ferry's own queue attributes: set like any other, returned only when asked for by name
/// (never under `All`, so tools that compare SQS's attribute set see SQS's).
const FERRY_ONLY: &[&str] = &[SYNC_SETTLEMENTS];

/// "true": DeleteMessage and ChangeMessageVisibility answer once durable; "false": at once, made
/// durable by a shared background sync within milliseconds. Default: true on FIFO queues only.
const SYNC_SETTLEMENTS: &str = "FerrySyncSettlements";

/// Every queue attribute name SQS knows, in the order `All` lists them.
struct QueueAttributeNames;

impl QueueAttributeNames {
    /// All names `GetQueueAttributes` understands.
    pub(crate) const ALL: &'static [&'static str] = &[
        "QueueArn",
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
        "CreatedTimestamp",
        "LastModifiedTimestamp",
        "VisibilityTimeout",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
        "RedrivePolicy",
        "RedriveAllowPolicy",
        "Policy",
        "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds",
        "SqsManagedSseEnabled",
        "FifoQueue",
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "FifoThroughputLimit",
    ];
}

fn seconds(name: &str, value: &str, min: u64, max: u64) -> SqsResult<u64> {
    match value.trim().parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(SqsError::invalid_attribute(name, &format!("Must be an integer from {min} to {max}."))),
    }
}

fn boolean(name: &str, value: &str) -> SqsResult<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(SqsError::invalid_attribute(name, "Must be true or false.")),
    }
}

/// Whether attributes are being set at creation (`FifoQueue` allowed) or later.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Create,
    Set,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RedrivePolicy {
    dead_letter_target_arn: Option<String>,
    max_receive_count: Option<Value>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct RedriveAllowPolicy {
    redrive_permission: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_queue_arns: Option<Vec<String>>,
}

fn redrive_error(value: &str, reason: &str) -> SqsError {
    SqsError::invalid_value("RedrivePolicy", value, reason)
}

/// Applies SQS attributes onto `attrs` (the queue `name`'s, `fifo` after any `FifoQueue`),
/// checking names, ranges and cross-queue rules as SQS does.
pub(crate) fn apply(
    ctx: &Ctx,
    name: &str,
    attrs: &mut QueueAttributes,
    sqs: &BTreeMap<String, String>,
    mode: Mode,
) -> SqsResult<()> {
    if let Some(fifo) = sqs.get("FifoQueue") {
        if mode == Mode::Set {
            return Err(SqsError::invalid_attribute("FifoQueue", "Modifying queue type is not supported."));
        }
        attrs.fifo = boolean("FifoQueue", fifo)?;
    }
    for (key, value) in sqs {
        let key = key.as_str();
        if READ_ONLY.contains(&key) || !(QueueAttributeNames::ALL.contains(&key) || FERRY_ONLY.contains(&key))
        {
            return Err(SqsError::unknown_attribute(key));
        }
        if FIFO_ONLY.contains(&key) && !attrs.fifo {
            return Err(SqsError::unknown_attribute(key));
        }
        match key {
            "FifoQueue" => {}
            "VisibilityTimeout" => attrs.visibility_timeout_ms = seconds(key, value, 0, 43_200)? * 1000,
            "DelaySeconds" => attrs.delay_ms = seconds(key, value, 0, 900)? * 1000,
            "MessageRetentionPeriod" => attrs.retention_ms = seconds(key, value, 60, 1_209_600)? * 1000,
            "MaximumMessageSize" => {
                attrs.max_message_bytes = seconds(key, value, 1024, 1_048_576)? as u32;
            }
            "ReceiveMessageWaitTimeSeconds" => attrs.receive_wait_ms = seconds(key, value, 0, 20)? * 1000,
            "ContentBasedDeduplication" => attrs.content_based_dedup = boolean(key, value)?,
            SYNC_SETTLEMENTS => attrs.sync_settlements = Some(boolean(key, value)?),
            "RedrivePolicy" => apply_redrive_policy(ctx, name, attrs, value)?,
            "RedriveAllowPolicy" => attrs.redrive_allow = parse_redrive_allow(value)?,
            "DeduplicationScope" if !matches!(value.as_str(), "messageGroup" | "queue") => {
                return Err(SqsError::invalid_attribute(key, "Must be messageGroup or queue."));
            }
            "FifoThroughputLimit" if !matches!(value.as_str(), "perQueue" | "perMessageGroupId") => {
                return Err(SqsError::invalid_attribute(key, "Must be perQueue or perMessageGroupId."));
            }
            "KmsDataKeyReusePeriodSeconds" => {
                seconds(key, value, 60, 86_400)?;
                attrs.extra.insert(key.to_owned(), value.clone());
            }
            "SqsManagedSseEnabled" => {
                boolean(key, value)?;
                attrs.extra.insert(key.to_owned(), value.to_ascii_lowercase());
            }
            "Policy" if !value.is_empty() && serde_json::from_str::<Map<String, Value>>(value).is_err() => {
                return Err(SqsError::invalid_attribute(key, "The policy is not a valid JSON document."));
            }
            _ if VERBATIM.contains(&key) => {
                if value.is_empty() {
                    attrs.extra.remove(key);
                } else {
                    attrs.extra.insert(key.to_owned(), value.clone());
                }
            }
            _ => return Err(SqsError::unknown_attribute(key)),
        }
    }
    Ok(())
}

fn apply_redrive_policy(ctx: &Ctx, name: &str, attrs: &mut QueueAttributes, value: &str) -> SqsResult<()> {
    if value.is_empty() {
        attrs.dead_letter = None;
        attrs.max_deliveries = None;
        return Ok(());
    }
    let policy: RedrivePolicy = serde_json::from_str(value)
        .map_err(|_| redrive_error(value, "Redrive policy is not a valid JSON map."))?;
    let arn = policy.dead_letter_target_arn.ok_or_else(|| {
        redrive_error(value, "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
    })?;
    let count = match policy.max_receive_count {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        redrive_error(value, "Redrive policy does not contain mandatory attribute: maxReceiveCount.")
    })?;
    if !(1..=1000).contains(&count) {
        return Err(redrive_error(value, "Invalid value for maxReceiveCount: must be between 1 and 1000."));
    }
    let target = ctx
        .name_of_arn(&arn)
        .ok_or_else(|| redrive_error(value, "Dead-letter target does not exist."))?
        .to_owned();
    let target_attrs = ctx
        .queues
        .queue_attributes(&target)
        .map_err(|_| redrive_error(value, "Dead-letter target does not exist."))?;
    if target_attrs.fifo != attrs.fifo {
        return Err(redrive_error(value, "Dead-letter queue must be same type of queue as the source."));
    }
    if target == name {
        return Err(redrive_error(value, "A queue cannot be its own dead-letter queue."));
    }
    if let Some(allow) = target_attrs.redrive_allow.as_deref() {
        let allow: RedriveAllowPolicy = serde_json::from_str(allow).map_err(|_| {
            SqsError::new(ErrorCode::InternalError, "The stored redrive allow policy is corrupt.")
        })?;
        let source_arn = ctx.arn(name);
        let allowed = match allow.redrive_permission.as_str() {
            "denyAll" => false,
            "byQueue" => allow.source_queue_arns.unwrap_or_default().contains(&source_arn),
            _ => true,
        };
        if !allowed {
            return Err(redrive_error(
                value,
                &format!("Queue {source_arn} is not allowed to use {arn} as its dead-letter queue."),
            ));
        }
    }
    attrs.dead_letter = Some(target);
    attrs.max_deliveries = Some(count as u32);
    Ok(())
}

fn parse_redrive_allow(value: &str) -> SqsResult<Option<String>> {
    if value.is_empty() {
        return Ok(None);
    }
    let bad = |reason: &str| SqsError::invalid_value("RedriveAllowPolicy", value, reason);
    let policy: RedriveAllowPolicy =
        serde_json::from_str(value).map_err(|_| bad("Redrive allow policy is not a valid JSON map."))?;
    match (policy.redrive_permission.as_str(), policy.source_queue_arns.as_ref()) {
        ("allowAll" | "denyAll", None) => {}
        ("allowAll" | "denyAll", Some(arns)) if arns.is_empty() => {}
        ("byQueue", Some(arns)) if (1..=10).contains(&arns.len()) => {}
        ("byQueue", _) => return Err(bad("byQueue requires 1 to 10 sourceQueueArns.")),
        ("allowAll" | "denyAll", Some(_)) => {
            return Err(bad("sourceQueueArns is only allowed with redrivePermission byQueue."));
        }
        _ => return Err(bad("redrivePermission must be allowAll, denyAll or byQueue.")),
    }
    serde_json::to_string(&policy).map(Some).map_err(|_| bad("Redrive allow policy cannot be encoded."))
}

/// The value of one SQS attribute of a queue, `None` when it has none.
fn render_one(
    ctx: &Ctx,
    name: &str,
    attrs: &QueueAttributes,
    stats: &QueueStats,
    key: &str,
) -> Option<String> {
    let secs = |ms: u64| (ms / 1000).to_string();
    Some(match key {
        "QueueArn" => ctx.arn(name),
        "ApproximateNumberOfMessages" => stats.ready.to_string(),
        "ApproximateNumberOfMessagesNotVisible" => stats.in_flight.to_string(),
        "ApproximateNumberOfMessagesDelayed" => stats.delayed.to_string(),
        "CreatedTimestamp" => (stats.created_ms / 1000).to_string(),
        "LastModifiedTimestamp" => (stats.modified_ms / 1000).to_string(),
        "VisibilityTimeout" => secs(attrs.visibility_timeout_ms),
        "MaximumMessageSize" => attrs.max_message_bytes.to_string(),
        "MessageRetentionPeriod" => secs(attrs.retention_ms),
        "DelaySeconds" => secs(attrs.delay_ms),
        "ReceiveMessageWaitTimeSeconds" => secs(attrs.receive_wait_ms),
        "RedrivePolicy" => {
            let target = attrs.dead_letter.as_deref()?;
            json!({
                "deadLetterTargetArn": ctx.arn(target),
                "maxReceiveCount": attrs.max_deliveries.unwrap_or(1),
            })
            .to_string()
        }
        "RedriveAllowPolicy" => attrs.redrive_allow.clone()?,
        "SqsManagedSseEnabled" => attrs.extra.get(key).cloned().unwrap_or_else(|| "false".to_owned()),
        "FifoQueue" if attrs.fifo => "true".to_owned(),
        "ContentBasedDeduplication" if attrs.fifo => attrs.content_based_dedup.to_string(),
        "DeduplicationScope" if attrs.fifo => {
            attrs.extra.get(key).cloned().unwrap_or_else(|| "queue".to_owned())
        }
        "FifoThroughputLimit" if attrs.fifo => {
            attrs.extra.get(key).cloned().unwrap_or_else(|| "perQueue".to_owned())
        }
        _ => attrs.extra.get(key).cloned()?,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetQueueAttributesRequest {
    queue_url: Option<String>,
    #[serde(default)]
    attribute_names: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetQueueAttributesResult {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: BTreeMap<String, String>,
}

pub(super) fn get_queue_attributes(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: GetQueueAttributesRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let name = ctx.queue_name(&url)?;
    let attrs = ctx.queues.queue_attributes(name).map_err(map_queue_error)?;
    let stats = ctx.queues.queue_stats(name).map_err(map_queue_error)?;
    for key in &req.attribute_names {
        if key != "All"
            && !QueueAttributeNames::ALL.contains(&key.as_str())
            && !FERRY_ONLY.contains(&key.as_str())
        {
            return Err(SqsError::unknown_attribute(key));
        }
    }
    let all = req.attribute_names.iter().any(|k| k == "All");
    let mut out = BTreeMap::new();
    for key in QueueAttributeNames::ALL {
        if (all || req.attribute_names.iter().any(|k| k == key))
            && let Some(value) = render_one(ctx, name, &attrs, &stats, key)
        {
            out.insert((*key).to_owned(), value);
        }
    }
    if req.attribute_names.iter().any(|k| k == SYNC_SETTLEMENTS) {
        out.insert(SYNC_SETTLEMENTS.to_owned(), attrs.settles_synchronously().to_string());
    }
    output(GetQueueAttributesResult { attributes: out })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetQueueAttributesRequest {
    queue_url: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
}

pub(super) async fn set_queue_attributes(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: SetQueueAttributesRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let sqs = required(req.attributes, "Attributes")?;
    let name = ctx.queue_name(&url)?;
    let mut attrs = ctx.queues.queue_attributes(name).map_err(map_queue_error)?;
    apply(ctx, name, &mut attrs, &sqs, Mode::Set)?;
    ctx.queues.set_queue_attributes(name, attrs).await.map_err(map_queue_error)?;
    Ok(None)
}
