//! One module per group of SQS actions. Each action parses its parameters, translates them into
//! calls on [`QueueService`], and returns its result in the JSON shape (or `None` when SQS returns
//! nothing). No queue semantics live here.

mod attributes;
mod batch;
mod delete;
mod move_tasks;
mod permissions;
mod queues;
mod receive;
mod send;
mod tags;
mod visibility;

use std::sync::Arc;

use ferry_broker::queues::{QueueError, QueueService, Receipt};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::SqsConfig;
use crate::error::{ErrorCode, SqsError, SqsResult};
use crate::names;

/// What an action needs: the engine, the settings, and the host its queue URLs name.
pub struct Ctx {
    /// The queue engine.
    pub queues: Arc<QueueService>,
    /// Listener settings.
    pub config: Arc<SqsConfig>,
    /// `host[:port]` for queue URLs.
    pub host: String,
    /// Resolves when the server shuts down; long polls end early then.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Ctx {
    /// `http://<host>/<account>/<name>`.
    pub fn queue_url(&self, name: &str) -> String {
        format!("http://{}/{}/{}", self.host, self.config.account_id, name)
    }

    /// The queue a `QueueUrl` parameter names.
    pub fn queue_name<'a>(&self, url: &'a str) -> SqsResult<&'a str> {
        names::queue_name_from_url(url, &self.config.account_id)
    }

    /// The ARN of a queue.
    pub fn arn(&self, name: &str) -> String {
        names::queue_arn(&self.config.region, &self.config.account_id, name)
    }

    /// The queue an ARN names, if it is an SQS ARN of this region and account.
    pub fn name_of_arn<'a>(&self, arn: &'a str) -> Option<&'a str> {
        names::queue_name_from_arn(arn, &self.config.region, &self.config.account_id)
    }
}

/// The result of an action: its fields in the JSON shape, or `None` for an empty result.
pub type Output = Option<Map<String, Value>>;

/// Serializes a result struct into its JSON shape.
pub(crate) fn output<T: Serialize>(result: T) -> SqsResult<Output> {
    match serde_json::to_value(result) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) | Err(_) => Err(SqsError::new(ErrorCode::InternalError, "The result could not be encoded.")),
    }
}

/// Runs one action.
pub async fn dispatch(ctx: &Ctx, action: &str, params: Map<String, Value>) -> SqsResult<Output> {
    match action {
        "CreateQueue" => queues::create_queue(ctx, params).await,
        "GetQueueUrl" => queues::get_queue_url(ctx, params),
        "ListQueues" => queues::list_queues(ctx, params),
        "DeleteQueue" => queues::delete_queue(ctx, params).await,
        "PurgeQueue" => queues::purge_queue(ctx, params).await,
        "ListDeadLetterSourceQueues" => queues::list_dead_letter_source_queues(ctx, params),
        "GetQueueAttributes" => attributes::get_queue_attributes(ctx, params),
        "SetQueueAttributes" => attributes::set_queue_attributes(ctx, params).await,
        "SendMessage" => send::send_message(ctx, params).await,
        "SendMessageBatch" => send::send_message_batch(ctx, params).await,
        "ReceiveMessage" => receive::receive_message(ctx, params).await,
        "DeleteMessage" => delete::delete_message(ctx, params).await,
        "DeleteMessageBatch" => delete::delete_message_batch(ctx, params).await,
        "ChangeMessageVisibility" => visibility::change_message_visibility(ctx, params).await,
        "ChangeMessageVisibilityBatch" => visibility::change_message_visibility_batch(ctx, params).await,
        "TagQueue" => tags::tag_queue(ctx, params).await,
        "UntagQueue" => tags::untag_queue(ctx, params).await,
        "ListQueueTags" => tags::list_queue_tags(ctx, params),
        "AddPermission" => permissions::add_permission(ctx, params).await,
        "RemovePermission" => permissions::remove_permission(ctx, params).await,
        "StartMessageMoveTask" => move_tasks::start_message_move_task(ctx, params),
        "ListMessageMoveTasks" => move_tasks::list_message_move_tasks(ctx, params),
        "CancelMessageMoveTask" => move_tasks::cancel_message_move_task(ctx, params),
        other => Err(SqsError::new(
            ErrorCode::InvalidAction,
            format!("The action or operation requested is invalid: {other}."),
        )),
    }
}

/// The SQS error for an engine error, in the terms most actions use.
pub(crate) fn map_queue_error(error: QueueError) -> SqsError {
    match error {
        QueueError::NoSuchQueue(_) => SqsError::no_such_queue(),
        QueueError::QueueExists(name) => SqsError::new(
            ErrorCode::QueueNameExists,
            format!(
                "A queue already exists with the same name ({name}) and a different value for attribute(s)."
            ),
        ),
        QueueError::QueueDeletedRecently(_) => SqsError::new(
            ErrorCode::QueueDeletedRecently,
            "You must wait 60 seconds after deleting a queue before you can create another with the same name.",
        ),
        // The engine's text is a reason, not the handle; actions holding the handle quote it.
        QueueError::InvalidReceipt(_) => SqsError::new(
            ErrorCode::ReceiptHandleIsInvalid,
            "The input receipt handle is not a valid receipt handle.",
        ),
        QueueError::ReceiptSuperseded(receipt) => invalid_receipt(&receipt),
        QueueError::ReceiptExpired => {
            SqsError::new(ErrorCode::MessageNotInflight, "The message referred to isn't in flight.")
        }
        QueueError::MessageTooLarge { max, .. } => crate::message::too_large(max as usize),
        QueueError::InvalidAttribute(reason) => SqsError::new(ErrorCode::InvalidAttributeValue, reason),
        QueueError::Overflow(name) => {
            SqsError::new(ErrorCode::OverLimit, format!("Queue {name} is full and refuses new messages."))
        }
        QueueError::FifoRequiresGroupId => SqsError::missing("MessageGroupId"),
        QueueError::DedupIdRequired => SqsError::new(
            ErrorCode::InvalidParameterValue,
            "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
        ),
        QueueError::DelayNotAllowedOnFifo => SqsError::invalid_value(
            "DelaySeconds",
            "(per message)",
            "The request include parameter that is not valid for this queue type.",
        ),
        QueueError::NameInvalid(reason) => SqsError::new(ErrorCode::InvalidParameterValue, reason),
        QueueError::MoveTask(reason) => SqsError::new(ErrorCode::ResourceNotFound, reason),
        other => {
            tracing::warn!(error = %other, "queue engine error");
            SqsError::new(ErrorCode::InternalError, format!("The broker failed: {other}."))
        }
    }
}

/// The receipt a receipt handle of queue `name` names: a handle that is not one is
/// `ReceiptHandleIsInvalid`, once the queue is known to exist (a missing queue is told first).
pub(crate) fn read_receipt(queues: &QueueService, name: &str, handle: &str) -> SqsResult<Receipt> {
    Receipt::parse(handle).map_err(|_| {
        if queues.exists(name) {
            invalid_receipt(handle)
        } else {
            map_queue_error(QueueError::NoSuchQueue(name.to_owned()))
        }
    })
}

/// `ReceiptHandleIsInvalid` worded as SQS words it.
pub(crate) fn invalid_receipt(receipt: &str) -> SqsError {
    SqsError::new(
        ErrorCode::ReceiptHandleIsInvalid,
        format!("The input receipt handle \"{receipt}\" is not a valid receipt handle."),
    )
}
