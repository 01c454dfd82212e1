//! What every batch action shares: the checks on its entries (1–10 of them, distinct ids of
//! `[A-Za-z0-9_-]{1,80}`) and the shape of a failed entry.

use std::collections::HashSet;

use serde::Serialize;

use crate::error::{ErrorCode, SqsError, SqsResult};

/// Most entries in one batch request.
pub const MAX_ENTRIES: usize = 10;

/// A failed entry of a batch result.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Failed {
    /// The entry's id.
    pub id: String,
    /// True when the caller is at fault.
    pub sender_fault: bool,
    /// SQS error code.
    pub code: String,
    /// Human-readable detail.
    pub message: String,
}

impl Failed {
    /// A failed entry from an error.
    pub fn new(id: String, error: SqsError) -> Failed {
        Failed {
            id,
            sender_fault: error.code.sender_fault(),
            code: error.code.query_code().to_owned(),
            message: error.message,
        }
    }
}

/// A succeeded entry of DeleteMessageBatch and ChangeMessageVisibilityBatch.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Succeeded {
    /// The entry's id.
    pub id: String,
}

/// The ids of a batch's entries, checked as a whole by [`check_ids`]; an entry without one is
/// `MissingParameter` naming it as SQS does (`SendMessageBatchRequestEntry.2.Id`).
pub fn entry_ids(entry_type: &str, ids: impl Iterator<Item = Option<String>>) -> SqsResult<Vec<String>> {
    let ids = ids
        .enumerate()
        .map(|(i, id)| id.ok_or_else(|| SqsError::missing(&format!("{entry_type}.{}.Id", i + 1))))
        .collect::<SqsResult<Vec<_>>>()?;
    check_ids(entry_type, ids.iter().map(String::as_str))?;
    Ok(ids)
}

/// Checks a batch's entry ids as a whole; any failure refuses the entire request. `entry_type`
/// is the entry shape SQS names in its errors, e.g. `SendMessageBatchRequestEntry`.
pub fn check_ids<'a>(entry_type: &str, ids: impl ExactSizeIterator<Item = &'a str>) -> SqsResult<()> {
    let count = ids.len();
    if count == 0 {
        // The query protocol cannot send an empty list, so an absent one is an empty batch too.
        return Err(SqsError::new(
            ErrorCode::EmptyBatchRequest,
            format!("There should be at least one {entry_type} in the request."),
        ));
    }
    if count > MAX_ENTRIES {
        return Err(SqsError::new(
            ErrorCode::TooManyEntriesInBatchRequest,
            format!("Maximum number of entries per request are {MAX_ENTRIES}. You have sent {count}."),
        ));
    }
    let mut seen = HashSet::with_capacity(count);
    for id in ids {
        let ok = !id.is_empty()
            && id.len() <= 80
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(SqsError::new(
                ErrorCode::InvalidBatchEntryId,
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
            ));
        }
        if !seen.insert(id) {
            return Err(SqsError::new(ErrorCode::BatchEntryIdsNotDistinct, format!("Id {id} repeated.")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ids: &[&str]) -> Option<ErrorCode> {
        check_ids("SendMessageBatchRequestEntry", ids.iter().copied()).err().map(|e| e.code)
    }

    #[test]
    fn a_missing_entry_id_is_named_with_its_position() {
        let ids = [Some("a".to_owned()), None].into_iter();
        let missing = entry_ids("DeleteMessageBatchRequestEntry", ids).unwrap_err();
        assert_eq!(missing.code, ErrorCode::MissingParameter);
        assert_eq!(
            missing.message,
            "The request must contain the parameter DeleteMessageBatchRequestEntry.2.Id."
        );
    }

    #[test]
    fn an_empty_batch_names_its_entry_type() {
        let empty = check_ids("DeleteMessageBatchRequestEntry", std::iter::empty()).unwrap_err();
        assert_eq!(
            empty.message,
            "There should be at least one DeleteMessageBatchRequestEntry in the request."
        );
    }

    #[test]
    fn batch_entry_rules_give_sqs_codes() {
        assert_eq!(check(&[]), Some(ErrorCode::EmptyBatchRequest));
        assert_eq!(check(&["a"; 11]), Some(ErrorCode::TooManyEntriesInBatchRequest));
        assert_eq!(check(&["a", "a"]), Some(ErrorCode::BatchEntryIdsNotDistinct));
        assert_eq!(check(&["a b"]), Some(ErrorCode::InvalidBatchEntryId));
        assert_eq!(check(&[&"x".repeat(81)]), Some(ErrorCode::InvalidBatchEntryId));
        assert_eq!(check(&["a", "b-1", "C_2"]), None);
    }
}
