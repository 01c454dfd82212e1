//! DeleteMessage and DeleteMessageBatch: acknowledging receipts.

use ferry_broker::queues::QueueError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::batch::{Failed, Succeeded, check_ids};
use super::{Ctx, Output, invalid_receipt, map_queue_error, output};
use crate::error::{SqsError, SqsResult};
use crate::params::{parse, required};

/// Acks one receipt. A receipt whose lease has ended still deletes without error, as on SQS.
async fn delete_one(ctx: &Ctx, name: &str, receipt: &str) -> SqsResult<()> {
    if receipt.is_empty() {
        return Err(invalid_receipt(receipt));
    }
    match ctx.queues.ack(name, receipt).await {
        Ok(()) | Err(QueueError::ReceiptExpired) => Ok(()),
        Err(e) => Err(map_queue_error(e)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteMessageRequest {
    queue_url: Option<String>,
    receipt_handle: Option<String>,
}

pub(super) async fn delete_message(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: DeleteMessageRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let receipt = required(req.receipt_handle, "ReceiptHandle")?;
    delete_one(ctx, ctx.queue_name(&url)?, &receipt).await?;
    Ok(None)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    id: Option<String>,
    receipt_handle: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteMessageBatchRequest {
    queue_url: Option<String>,
    entries: Option<Vec<Entry>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchResult {
    successful: Vec<Succeeded>,
    failed: Vec<Failed>,
}

pub(super) async fn delete_message_batch(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: DeleteMessageBatchRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let entries = required(req.entries, "Entries")?;
    let ids = entries
        .iter()
        .map(|e| e.id.clone().ok_or_else(|| SqsError::missing("DeleteMessageBatchRequestEntry.N.Id")))
        .collect::<SqsResult<Vec<_>>>()?;
    check_ids(ids.iter().map(String::as_str))?;
    let name = ctx.queue_name(&url)?;
    ctx.queues.queue_attributes(name).map_err(map_queue_error)?;
    let mut result = BatchResult { successful: Vec::new(), failed: Vec::new() };
    for (id, entry) in ids.into_iter().zip(entries) {
        let outcome = match entry.receipt_handle {
            Some(receipt) => delete_one(ctx, name, &receipt).await,
            None => Err(SqsError::missing("ReceiptHandle")),
        };
        match outcome {
            Ok(()) => result.successful.push(Succeeded { id }),
            Err(e) => result.failed.push(Failed::new(id, e)),
        }
    }
    output(result)
}
