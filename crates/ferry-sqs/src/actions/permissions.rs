//! AddPermission and RemovePermission: statements of the queue's access policy (`Policy`),
//! recorded as SQS records them. ferry accepts any credentials, so the policy is not enforced.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Ctx, Output, map_queue_error};
use crate::error::{ErrorCode, SqsError, SqsResult};
use crate::params::{parse, required};

/// Most statements a queue policy holds (SQS's limit on permissions).
const MAX_STATEMENTS: usize = 20;

/// Actions a permission may grant.
const GRANTABLE: &[&str] = &[
    "*",
    "SendMessage",
    "ReceiveMessage",
    "DeleteMessage",
    "ChangeMessageVisibility",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "PurgeQueue",
    "ListQueueTags",
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AddPermissionRequest {
    queue_url: Option<String>,
    label: Option<String>,
    #[serde(rename = "AWSAccountIds")]
    aws_account_ids: Option<Vec<String>>,
    actions: Option<Vec<String>>,
}

fn validate_label(label: &str) -> SqsResult<()> {
    let ok = !label.is_empty()
        && label.len() <= 80
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SqsError::invalid_value(
            "Label",
            label,
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length.",
        ))
    }
}

fn statements(policy: Option<&String>) -> SqsResult<Vec<Value>> {
    match policy {
        None => Ok(Vec::new()),
        Some(text) => {
            let doc: Value = serde_json::from_str(text).map_err(|_| {
                SqsError::new(ErrorCode::InternalError, "The stored queue policy is corrupt.")
            })?;
            Ok(doc.get("Statement").and_then(Value::as_array).cloned().unwrap_or_default())
        }
    }
}

pub(super) async fn add_permission(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: AddPermissionRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let label = required(req.label, "Label")?;
    let accounts = required(req.aws_account_ids.filter(|a| !a.is_empty()), "AWSAccountIds")?;
    let actions = required(req.actions.filter(|a| !a.is_empty()), "Actions")?;
    validate_label(&label)?;
    for action in &actions {
        if !GRANTABLE.contains(&action.as_str()) {
            return Err(SqsError::invalid_value(
                "ActionName",
                action,
                "Please refer to the appropriate WSDL for a list of valid actions.",
            ));
        }
    }
    let name = ctx.queue_name(&url)?;
    let mut attrs = ctx.queues.queue_attributes(name).map_err(map_queue_error)?;
    let mut list = statements(attrs.extra.get("Policy"))?;
    if list.iter().any(|s| s.get("Sid").and_then(Value::as_str) == Some(&label)) {
        return Err(SqsError::invalid_value("Label", &label, "Already exists."));
    }
    if list.len() >= MAX_STATEMENTS {
        return Err(SqsError::new(
            ErrorCode::OverLimit,
            format!("{MAX_STATEMENTS} Actions were found, maximum allowed is {MAX_STATEMENTS}."),
        ));
    }
    let arn = ctx.arn(name);
    list.push(json!({
        "Sid": label,
        "Effect": "Allow",
        "Principal": {"AWS": accounts.iter().map(|a| format!("arn:aws:iam::{a}:root")).collect::<Vec<_>>()},
        "Action": actions.iter().map(|a| format!("SQS:{a}")).collect::<Vec<_>>(),
        "Resource": arn,
    }));
    let policy = json!({"Version": "2012-10-17", "Id": format!("{arn}/SQSDefaultPolicy"), "Statement": list});
    attrs.extra.insert("Policy".to_owned(), policy.to_string());
    ctx.queues.set_queue_attributes(name, attrs).await.map_err(map_queue_error)?;
    Ok(None)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RemovePermissionRequest {
    queue_url: Option<String>,
    label: Option<String>,
}

pub(super) async fn remove_permission(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: RemovePermissionRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let label = required(req.label, "Label")?;
    let name = ctx.queue_name(&url)?;
    let mut attrs = ctx.queues.queue_attributes(name).map_err(map_queue_error)?;
    let mut list = statements(attrs.extra.get("Policy"))?;
    let before = list.len();
    list.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(&label));
    if list.len() == before {
        return Err(SqsError::invalid_value("Label", &label, "can't find label on existing policy."));
    }
    if list.is_empty() {
        attrs.extra.remove("Policy");
    } else if let Some(text) = attrs.extra.get_mut("Policy") {
        let mut doc: Value = serde_json::from_str(text)
            .map_err(|_| SqsError::new(ErrorCode::InternalError, "The stored queue policy is corrupt."))?;
        doc["Statement"] = Value::Array(list);
        *text = doc.to_string();
    }
    ctx.queues.set_queue_attributes(name, attrs).await.map_err(map_queue_error)?;
    Ok(None)
}
