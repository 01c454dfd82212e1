//! Queue names, queue URLs (`http://host:port/<account>/<name>`) and ARNs
//! (`arn:aws:sqs:<region>:<account>:<name>`).

use crate::error::{ErrorCode, SqsError, SqsResult};

/// Longest queue name SQS accepts, `.fifo` included.
pub const MAX_QUEUE_NAME_CHARS: usize = 80;

/// Checks a queue name: 1–80 characters of `[A-Za-z0-9_-]`, plus the `.fifo` suffix for FIFO queues.
pub fn validate_queue_name(name: &str, fifo: bool) -> SqsResult<()> {
    let stem = if fifo {
        name.strip_suffix(".fifo").ok_or_else(|| {
            SqsError::new(
                ErrorCode::InvalidParameterValue,
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.",
            )
        })?
    } else {
        name
    };
    let ok = !stem.is_empty()
        && name.len() <= MAX_QUEUE_NAME_CHARS
        && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SqsError::new(
            ErrorCode::InvalidParameterValue,
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ))
    }
}

/// The queue name a queue URL points at, checking its account segment.
///
/// Accepts `<scheme>://<host>/<account>/<name>`, the bare path `/<account>/<name>` and, as SQS
/// does, the bare queue name; `queue` is accepted in place of the account, as other local SQS
/// servers print it.
pub fn queue_name_from_url<'a>(url: &'a str, account_id: &str) -> SqsResult<&'a str> {
    if !url.is_empty() && !url.contains('/') && !url.contains(':') {
        return Ok(url);
    }
    let path = match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            rest.find('/').map_or("", |j| &rest[j..])
        }
        None => url,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut segments = path.trim_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some(account), Some(name), None)
            if !name.is_empty() && (account == account_id || account == "queue") =>
        {
            Ok(name)
        }
        _ => Err(SqsError::no_such_queue()),
    }
}

/// The queue name of an SQS ARN in this region and account.
pub fn queue_name_from_arn<'a>(arn: &'a str, region: &str, account_id: &str) -> Option<&'a str> {
    let mut parts = arn.splitn(6, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_partition), Some("sqs"), Some(r), Some(a), Some(name))
            if r == region && a == account_id && !name.is_empty() =>
        {
            Some(name)
        }
        _ => None,
    }
}

/// The ARN of a queue.
pub fn queue_arn(region: &str, account_id: &str, name: &str) -> String {
    format!("arn:aws:sqs:{region}:{account_id}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_follow_sqs_rules() {
        assert!(validate_queue_name("orders-1_a", false).is_ok());
        assert!(validate_queue_name("orders.fifo", true).is_ok());
        assert!(validate_queue_name("orders.fifo", false).is_err());
        assert!(validate_queue_name("orders", true).is_err());
        assert!(validate_queue_name("", false).is_err());
        assert!(validate_queue_name(&"a".repeat(80), false).is_ok());
        assert!(validate_queue_name(&"a".repeat(81), false).is_err());
        assert!(validate_queue_name(&format!("{}.fifo", "a".repeat(75)), true).is_ok());
        assert!(validate_queue_name(&format!("{}.fifo", "a".repeat(76)), true).is_err());
        assert!(validate_queue_name("has space", false).is_err());
    }

    #[test]
    fn queue_url_yields_the_name_of_this_account_only() {
        let acct = "000000000000";
        assert_eq!(queue_name_from_url("http://127.0.0.1:9324/000000000000/q1", acct).unwrap(), "q1");
        assert_eq!(queue_name_from_url("/000000000000/q1", acct).unwrap(), "q1");
        assert_eq!(queue_name_from_url("http://localhost:9324/queue/q2", acct).unwrap(), "q2");
        assert_eq!(queue_name_from_url("q3", acct).unwrap(), "q3");
        assert_eq!(queue_name_from_url("q3.fifo", acct).unwrap(), "q3.fifo");
        assert!(queue_name_from_url("", acct).is_err());
        let err = queue_name_from_url("http://h/123456789012/q1", acct).unwrap_err();
        assert_eq!(err.code, ErrorCode::QueueDoesNotExist);
        assert!(queue_name_from_url("http://h/", acct).is_err());
        assert!(queue_name_from_url("http://h/000000000000/a/b", acct).is_err());
    }

    #[test]
    fn arn_round_trips_to_the_queue_name() {
        let arn = queue_arn("us-east-1", "000000000000", "dlq");
        assert_eq!(arn, "arn:aws:sqs:us-east-1:000000000000:dlq");
        assert_eq!(queue_name_from_arn(&arn, "us-east-1", "000000000000"), Some("dlq"));
        assert_eq!(queue_name_from_arn(&arn, "eu-west-1", "000000000000"), None);
        assert_eq!(
            queue_name_from_arn("arn:aws:sns:us-east-1:000000000000:t", "us-east-1", "000000000000"),
            None
        );
    }
}
