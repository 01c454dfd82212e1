//! SQS errors: the codes SQS answers with, their HTTP status, and the JSON `__type` of each.

use std::fmt;

/// An SQS error code. Each knows its query-protocol code, its JSON shape name and its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The queue named in the request does not exist.
    QueueDoesNotExist,
    /// A queue of that name exists with other attributes.
    QueueNameExists,
    /// A queue of that name was deleted less than 60 seconds ago.
    QueueDeletedRecently,
    /// The receipt handle is not one this queue issued.
    ReceiptHandleIsInvalid,
    /// The message of a receipt handle is not in flight.
    MessageNotInflight,
    /// Two entries of a batch share an id.
    BatchEntryIdsNotDistinct,
    /// The batch is larger than the message size limit in total.
    BatchRequestTooLong,
    /// The batch has no entries.
    EmptyBatchRequest,
    /// A batch entry id has characters or a length SQS does not allow.
    InvalidBatchEntryId,
    /// The batch has more than 10 entries.
    TooManyEntriesInBatchRequest,
    /// A purge is running on the queue.
    PurgeQueueInProgress,
    /// The action is not supported for this queue.
    UnsupportedOperation,
    /// A queue attribute name is unknown (or not valid for this queue type).
    InvalidAttributeName,
    /// A queue attribute value is out of range or malformed.
    InvalidAttributeValue,
    /// The message body holds characters outside the allowed set.
    InvalidMessageContents,
    /// A limit (tags, permissions, in-flight messages) would be exceeded.
    OverLimit,
    /// A message move task or its source does not exist.
    ResourceNotFound,
    /// A parameter value is out of range or malformed (common error).
    InvalidParameterValue,
    /// A required parameter is missing (common error).
    MissingParameter,
    /// The action is unknown (common error).
    InvalidAction,
    /// Parameters that cannot be used together (common error).
    InvalidParameterCombination,
    /// The request body is not well formed (common error).
    MalformedRequest,
    /// The request is too large to read.
    RequestTooLarge,
    /// The request body stopped arriving before it was complete.
    RequestTimeout,
    /// The broker failed; the request may be retried.
    InternalError,
    /// The broker is shutting down or overloaded.
    ServiceUnavailable,
}

impl ErrorCode {
    /// The code of the query protocol, also sent in JSON's `x-amzn-query-error` header.
    pub fn query_code(self) -> &'static str {
        match self {
            ErrorCode::QueueDoesNotExist => "AWS.SimpleQueueService.NonExistentQueue",
            ErrorCode::QueueNameExists => "QueueAlreadyExists",
            ErrorCode::QueueDeletedRecently => "AWS.SimpleQueueService.QueueDeletedRecently",
            ErrorCode::ReceiptHandleIsInvalid => "ReceiptHandleIsInvalid",
            ErrorCode::MessageNotInflight => "AWS.SimpleQueueService.MessageNotInflight",
            ErrorCode::BatchEntryIdsNotDistinct => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            ErrorCode::BatchRequestTooLong => "AWS.SimpleQueueService.BatchRequestTooLong",
            ErrorCode::EmptyBatchRequest => "AWS.SimpleQueueService.EmptyBatchRequest",
            ErrorCode::InvalidBatchEntryId => "AWS.SimpleQueueService.InvalidBatchEntryId",
            ErrorCode::TooManyEntriesInBatchRequest => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            ErrorCode::PurgeQueueInProgress => "AWS.SimpleQueueService.PurgeQueueInProgress",
            ErrorCode::UnsupportedOperation => "AWS.SimpleQueueService.UnsupportedOperation",
            ErrorCode::InvalidAttributeName => "InvalidAttributeName",
            ErrorCode::InvalidAttributeValue => "InvalidAttributeValue",
            ErrorCode::InvalidMessageContents => "InvalidMessageContents",
            ErrorCode::OverLimit => "OverLimit",
            ErrorCode::ResourceNotFound => "ResourceNotFoundException",
            ErrorCode::InvalidParameterValue => "InvalidParameterValue",
            ErrorCode::MissingParameter => "MissingParameter",
            ErrorCode::InvalidAction => "InvalidAction",
            ErrorCode::InvalidParameterCombination => "InvalidParameterCombination",
            ErrorCode::MalformedRequest => "MalformedQueryString",
            ErrorCode::RequestTooLarge => "RequestEntityTooLarge",
            ErrorCode::RequestTimeout => "RequestTimeout",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
        }
    }

    /// The shape name JSON clients match on in `__type` (the modeled exception, or the common code).
    pub fn json_type(self) -> &'static str {
        match self {
            ErrorCode::QueueDoesNotExist => "QueueDoesNotExist",
            ErrorCode::QueueNameExists => "QueueNameExists",
            ErrorCode::QueueDeletedRecently => "QueueDeletedRecently",
            ErrorCode::MessageNotInflight => "MessageNotInflight",
            ErrorCode::BatchEntryIdsNotDistinct => "BatchEntryIdsNotDistinct",
            ErrorCode::BatchRequestTooLong => "BatchRequestTooLong",
            ErrorCode::EmptyBatchRequest => "EmptyBatchRequest",
            ErrorCode::InvalidBatchEntryId => "InvalidBatchEntryId",
            ErrorCode::TooManyEntriesInBatchRequest => "TooManyEntriesInBatchRequest",
            ErrorCode::PurgeQueueInProgress => "PurgeQueueInProgress",
            ErrorCode::UnsupportedOperation => "UnsupportedOperation",
            other => other.query_code(),
        }
    }

    /// HTTP status SQS answers this error with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::OverLimit | ErrorCode::PurgeQueueInProgress => 403,
            ErrorCode::ResourceNotFound => 404,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::RequestTooLarge => 413,
            ErrorCode::InternalError => 500,
            ErrorCode::ServiceUnavailable => 503,
            _ => 400,
        }
    }

    /// True when the caller is at fault (`Sender`), false for `Receiver` errors.
    pub fn sender_fault(self) -> bool {
        !matches!(self, ErrorCode::InternalError | ErrorCode::ServiceUnavailable)
    }
}

/// An error answered to an SQS client: a code and a message a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.query_code())]
pub struct SqsError {
    /// What went wrong, in SQS's terms.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
}

impl SqsError {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl fmt::Display) -> SqsError {
        SqsError { code, message: message.to_string() }
    }

    /// `InvalidParameterValue` worded as SQS words it: "Value V for parameter P is invalid. Reason: R".
    pub fn invalid_value(param: &str, value: impl fmt::Display, reason: &str) -> SqsError {
        SqsError::new(
            ErrorCode::InvalidParameterValue,
            format!("Value {value} for parameter {param} is invalid. Reason: {reason}"),
        )
    }

    /// `MissingParameter` for a required parameter that is absent.
    pub fn missing(param: &str) -> SqsError {
        SqsError::new(ErrorCode::MissingParameter, format!("The request must contain the parameter {param}."))
    }

    /// `AWS.SimpleQueueService.NonExistentQueue`.
    pub fn no_such_queue() -> SqsError {
        SqsError::new(ErrorCode::QueueDoesNotExist, "The specified queue does not exist.")
    }

    /// `InvalidAttributeName` for a queue attribute SQS does not know.
    pub fn unknown_attribute(name: &str) -> SqsError {
        SqsError::new(ErrorCode::InvalidAttributeName, format!("Unknown Attribute {name}."))
    }

    /// `InvalidAttributeValue` worded as SQS words it.
    pub fn invalid_attribute(name: &str, reason: &str) -> SqsError {
        SqsError::new(
            ErrorCode::InvalidAttributeValue,
            format!("Invalid value for the parameter {name}. Reason: {reason}"),
        )
    }
}

/// Result of an SQS action.
pub type SqsResult<T> = Result<T, SqsError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modeled_errors_carry_their_shape_name_and_query_code() {
        assert_eq!(ErrorCode::QueueDoesNotExist.json_type(), "QueueDoesNotExist");
        assert_eq!(ErrorCode::QueueDoesNotExist.query_code(), "AWS.SimpleQueueService.NonExistentQueue");
        assert_eq!(ErrorCode::QueueNameExists.query_code(), "QueueAlreadyExists");
        assert_eq!(ErrorCode::ReceiptHandleIsInvalid.json_type(), "ReceiptHandleIsInvalid");
    }

    #[test]
    fn common_errors_use_their_code_as_type() {
        assert_eq!(ErrorCode::InvalidParameterValue.json_type(), "InvalidParameterValue");
        assert_eq!(ErrorCode::MissingParameter.http_status(), 400);
        assert_eq!(ErrorCode::ResourceNotFound.http_status(), 404);
        assert_eq!(ErrorCode::OverLimit.http_status(), 403);
        assert!(!ErrorCode::InternalError.sender_fault());
    }
}
