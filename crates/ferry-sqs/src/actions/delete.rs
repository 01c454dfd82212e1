//! DeleteMessage and DeleteMessageBatch: acknowledging receipts.

use ferry_broker::queues::{QueueError, Receipt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::batch::{Failed, Succeeded, entry_ids};
use super::{Ctx, Output, invalid_receipt, map_queue_error, output, read_receipt};
use crate::error::{ErrorCode, SqsError, SqsResult};
use crate::params::{parse, required};

/// The outcome of an ack as DeleteMessage answers it: a receipt whose lease has ended still
/// deletes without error, and a receipt superseded by a later receive succeeds without deleting
/// (the message stays in flight under its latest receipt), both as on SQS.
fn ack_outcome(receipt: &str, result: Result<(), QueueError>) -> SqsResult<()> {
    match result {
        Ok(()) | Err(QueueError::ReceiptExpired) | Err(QueueError::ReceiptSuperseded(_)) => Ok(()),
        Err(QueueError::InvalidReceipt(_)) => Err(invalid_receipt(receipt)),
        Err(e) => Err(map_queue_error(e)),
    }
}

/// Acks one receipt.
async fn delete_one(ctx: &Ctx, name: &str, receipt: &str) -> SqsResult<()> {
    if receipt.is_empty() {
        return Err(invalid_receipt(receipt));
    }
    let parsed = read_receipt(&ctx.queues, name, receipt)?;
    ack_outcome(receipt, ctx.queues.ack(name, parsed).await)
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
    let entries = req.entries.unwrap_or_default();
    let ids = entry_ids("DeleteMessageBatchRequestEntry", entries.iter().map(|e| e.id.clone()))?;
    let name = ctx.queue_name(&url)?;
    ctx.queues.queue_attributes(name).map_err(map_queue_error)?;
    // One engine call for the whole batch: one journal sync covers every ack.
    let mut receipts = Vec::with_capacity(entries.len());
    let mut slots = Vec::with_capacity(entries.len());
    for entry in entries {
        match entry.receipt_handle.filter(|r| !r.is_empty()) {
            Some(handle) => match read_receipt(&ctx.queues, name, &handle) {
                Ok(receipt) => {
                    slots.push(Ok(receipts.len()));
                    receipts.push((handle, receipt));
                }
                Err(e) => slots.push(Err(e)),
            },
            None => slots.push(Err(SqsError::missing("ReceiptHandle"))),
        }
    }
    let acked = if receipts.is_empty() {
        Vec::new()
    } else {
        let typed: Vec<Receipt> = receipts.iter().map(|(_, r)| *r).collect();
        ctx.queues.ack_batch(name, &typed).await.map_err(map_queue_error)?
    };
    let mut acked = acked.into_iter();
    let mut outcomes = Vec::with_capacity(slots.len());
    for slot in slots {
        outcomes.push(match slot {
            Ok(k) => match acked.next() {
                Some(result) => ack_outcome(&receipts[k].0, result),
                None => Err(SqsError::new(ErrorCode::InternalError, "The broker returned too few results.")),
            },
            Err(e) => Err(e),
        });
    }
    let mut result = BatchResult { successful: Vec::new(), failed: Vec::new() };
    for (id, outcome) in ids.into_iter().zip(outcomes) {
        match outcome {
            Ok(()) => result.successful.push(Succeeded { id }),
            Err(e) => result.failed.push(Failed::new(id, e)),
        }
    }
    output(result)
}
