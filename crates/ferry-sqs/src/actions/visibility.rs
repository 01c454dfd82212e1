//! ChangeMessageVisibility and ChangeMessageVisibilityBatch: changing a receipt's lease.

use ferry_broker::queues::QueueError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::batch::{Failed, Succeeded, entry_ids};
use super::{Ctx, Output, invalid_receipt, map_queue_error, output, read_receipt};
use crate::error::SqsResult;
use crate::params::{in_range, opt_int, parse, required};

/// The longest visibility timeout, 12 hours.
const MAX_VISIBILITY_SECONDS: i64 = 43_200;

async fn change_one(ctx: &Ctx, name: &str, receipt: Option<String>, timeout: Option<i64>) -> SqsResult<()> {
    let receipt = required(receipt, "ReceiptHandle")?;
    let timeout = required(timeout, "VisibilityTimeout")?;
    let seconds = in_range("VisibilityTimeout", timeout, 0, MAX_VISIBILITY_SECONDS)?;
    if receipt.is_empty() {
        return Err(invalid_receipt(&receipt));
    }
    let parsed = read_receipt(&ctx.queues, name, &receipt)?;
    ctx.queues.change_lease(name, parsed, seconds as u64 * 1000).await.map_err(|e| match e {
        QueueError::InvalidReceipt(_) | QueueError::ReceiptSuperseded(_) => invalid_receipt(&receipt),
        e => map_queue_error(e),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeMessageVisibilityRequest {
    queue_url: Option<String>,
    receipt_handle: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    visibility_timeout: Option<i64>,
}

pub(super) async fn change_message_visibility(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: ChangeMessageVisibilityRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    change_one(ctx, ctx.queue_name(&url)?, req.receipt_handle, req.visibility_timeout).await?;
    Ok(None)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    id: Option<String>,
    receipt_handle: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    visibility_timeout: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeMessageVisibilityBatchRequest {
    queue_url: Option<String>,
    entries: Option<Vec<Entry>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchResult {
    successful: Vec<Succeeded>,
    failed: Vec<Failed>,
}

pub(super) async fn change_message_visibility_batch(
    ctx: &Ctx,
    params: Map<String, Value>,
) -> SqsResult<Output> {
    let req: ChangeMessageVisibilityBatchRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let entries = req.entries.unwrap_or_default();
    let ids = entry_ids("ChangeMessageVisibilityBatchRequestEntry", entries.iter().map(|e| e.id.clone()))?;
    let name = ctx.queue_name(&url)?;
    ctx.queues.queue_attributes(name).map_err(map_queue_error)?;
    let mut result = BatchResult { successful: Vec::new(), failed: Vec::new() };
    for (id, entry) in ids.into_iter().zip(entries) {
        // A batch entry without a timeout sets it to 0, as SQS does.
        let timeout = Some(entry.visibility_timeout.unwrap_or(0));
        match change_one(ctx, name, entry.receipt_handle, timeout).await {
            Ok(()) => result.successful.push(Succeeded { id }),
            Err(e) => result.failed.push(Failed::new(id, e)),
        }
    }
    output(result)
}
