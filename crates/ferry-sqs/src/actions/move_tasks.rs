//! Dead-letter redrive: StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask.

use ferry_broker::queues::{MoveStatus, MoveTaskInfo};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Ctx, Output, map_queue_error, output};
use crate::error::{ErrorCode, SqsError, SqsResult};
use crate::params::{in_range, opt_int, parse, required};

/// Fastest move SQS allows, messages per second.
const MAX_PER_SECOND: i64 = 500;

fn not_found(param: &str) -> SqsError {
    SqsError::new(
        ErrorCode::ResourceNotFound,
        format!("The resource that you specified for the {param} parameter doesn't exist."),
    )
}

/// The name of an existing queue an ARN parameter names.
fn existing_queue<'a>(ctx: &Ctx, param: &str, arn: &'a str) -> SqsResult<&'a str> {
    let name = ctx.name_of_arn(arn).ok_or_else(|| not_found(param))?;
    ctx.queues.queue_attributes(name).map_err(|_| not_found(param))?;
    Ok(name)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartMessageMoveTaskRequest {
    source_arn: Option<String>,
    destination_arn: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    max_number_of_messages_per_second: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StartMessageMoveTaskResult {
    task_handle: String,
}

pub(super) fn start_message_move_task(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: StartMessageMoveTaskRequest = parse(params)?;
    let source_arn = required(req.source_arn, "SourceArn")?;
    let source = existing_queue(ctx, "SourceArn", &source_arn)?;
    let destination = req
        .destination_arn
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(|arn| existing_queue(ctx, "DestinationArn", arn))
        .transpose()?;
    let rate = req
        .max_number_of_messages_per_second
        .map(|r| in_range("MaxNumberOfMessagesPerSecond", r, 1, MAX_PER_SECOND))
        .transpose()?;
    if ctx.queues.dead_letter_sources(source).is_empty() {
        return Err(SqsError::invalid_value(
            "SourceArn",
            &source_arn,
            "Source queue must be configured as a Dead Letter Queue.",
        ));
    }
    let task = ctx.queues.start_move(source, destination, rate.map(|r| r as u32)).map_err(map_queue_error)?;
    output(StartMessageMoveTaskResult { task_handle: task.handle })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListMessageMoveTasksRequest {
    source_arn: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    max_results: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TaskEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    task_handle: Option<String>,
    status: &'static str,
    source_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_number_of_messages_per_second: Option<u32>,
    approximate_number_of_messages_moved: u64,
    approximate_number_of_messages_to_move: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
    started_timestamp: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListMessageMoveTasksResult {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    results: Vec<TaskEntry>,
}

fn status(s: MoveStatus) -> &'static str {
    match s {
        MoveStatus::Running => "RUNNING",
        MoveStatus::Completed => "COMPLETED",
        MoveStatus::Cancelled => "CANCELLED",
        MoveStatus::Failed => "FAILED",
    }
}

fn entry(ctx: &Ctx, task: MoveTaskInfo) -> TaskEntry {
    let running = task.status == MoveStatus::Running;
    TaskEntry {
        // SQS gives a handle only for the running task, the one that can be cancelled.
        task_handle: running.then_some(task.handle),
        status: status(task.status),
        source_arn: ctx.arn(&task.source),
        destination_arn: task.destination.as_deref().map(|d| ctx.arn(d)),
        max_number_of_messages_per_second: task.max_per_second,
        approximate_number_of_messages_moved: task.moved,
        approximate_number_of_messages_to_move: task.to_move,
        failure_reason: task.failure,
        started_timestamp: task.started_ms,
    }
}

pub(super) fn list_message_move_tasks(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: ListMessageMoveTasksRequest = parse(params)?;
    let source_arn = required(req.source_arn, "SourceArn")?;
    let source = existing_queue(ctx, "SourceArn", &source_arn)?;
    let max = in_range("MaxResults", req.max_results.unwrap_or(1), 1, 10)? as usize;
    let mut tasks = ctx.queues.list_moves(source);
    tasks.sort_by_key(|t| std::cmp::Reverse(t.started_ms));
    let results = tasks.into_iter().take(max).map(|t| entry(ctx, t)).collect();
    output(ListMessageMoveTasksResult { results })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CancelMessageMoveTaskRequest {
    task_handle: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CancelMessageMoveTaskResult {
    approximate_number_of_messages_moved: u64,
}

pub(super) fn cancel_message_move_task(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: CancelMessageMoveTaskRequest = parse(params)?;
    let handle = required(req.task_handle, "TaskHandle")?;
    let task = ctx.queues.cancel_move(&handle).map_err(|_| not_found("TaskHandle"))?;
    output(CancelMessageMoveTaskResult { approximate_number_of_messages_moved: task.moved })
}
