//! DeleteMessage and DeleteMessageBatch: acknowledging receipts.

use ferry_broker::queues::QueueError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use super::batch::{Failed, Succeeded, check_ids};
use super::{Ctx, Output, invalid_receipt, map_queue_error, output};
use crate::error::{ErrorCode, SqsError, SqsResult};
use crate::params::{parse, required};

/// The outcome of an ack as DeleteMessage answers it: a receipt whose lease has ended still
/// deletes without error, as on SQS.
fn ack_outcome(receipt: &str, result: Result<(), QueueError>) -> SqsResult<()> {
    match result {
        Ok(()) | Err(QueueError::ReceiptExpired) => Ok(()),
        Err(QueueError::InvalidReceipt(_)) => Err(invalid_receipt(receipt)),
        Err(e) => Err(map_queue_error(e)),
    }
}

/// Acks one receipt.
async fn delete_one(ctx: &Ctx, name: &str, receipt: &str) -> SqsResult<()> {
    if receipt.is_empty() {
        return Err(invalid_receipt(receipt));
    }
    ack_outcome(receipt, ctx.queues.ack(name, receipt).await)
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
    // The acks run together so that the engine's group commit covers them with one journal sync.
    let mut outcomes: Vec<Option<SqsResult<()>>> = Vec::with_capacity(entries.len());
    let mut acks = JoinSet::new();
    for (i, entry) in entries.into_iter().enumerate() {
        match entry.receipt_handle.filter(|r| !r.is_empty()) {
            Some(receipt) => {
                outcomes.push(None);
                let (queues, name) = (ctx.queues.clone(), name.to_owned());
                acks.spawn(async move {
                    let result = queues.ack(&name, &receipt).await;
                    (i, ack_outcome(&receipt, result))
                });
            }
            None => outcomes.push(Some(Err(SqsError::missing("ReceiptHandle")))),
        }
    }
    while let Some(joined) = acks.join_next().await {
        let (i, outcome) =
            joined.map_err(|e| SqsError::new(ErrorCode::InternalError, format!("An ack failed: {e}.")))?;
        outcomes[i] = Some(outcome);
    }
    let mut result = BatchResult { successful: Vec::new(), failed: Vec::new() };
    for (id, outcome) in ids.into_iter().zip(outcomes) {
        match outcome.unwrap_or_else(|| Err(SqsError::new(ErrorCode::InternalError, "An ack was lost."))) {
            Ok(()) => result.successful.push(Succeeded { id }),
            Err(e) => result.failed.push(Failed::new(id, e)),
        }
    }
    output(result)
}
