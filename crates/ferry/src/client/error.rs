//! What can go wrong in a client command, the one line printed for it and the exit code.

use std::fmt;
use std::process::ExitCode;

/// An error of a client command. Each kind has its own exit code, so scripts can tell them apart.
#[derive(Debug)]
pub enum ClientError {
    /// The server answered with an error status (exit 1).
    Api {
        status: u16,
        /// The API's error code, e.g. `queue_not_found`; `None` when the body was not an API error.
        code: Option<String>,
        message: String,
    },
    /// The command line or the input read from stdin is wrong (exit 2, as clap's own errors).
    Usage(String),
    /// No answer from the server: refused, unknown host, timed out (exit 3).
    Unreachable { url: String, reason: String },
}

impl ClientError {
    /// 0 is success; 1 the server refused; 2 a usage error; 3 the server could not be reached.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            ClientError::Api { .. } => 1,
            ClientError::Usage(_) => 2,
            ClientError::Unreachable { .. } => 3,
        })
    }

    pub fn usage(message: impl Into<String>) -> Self {
        ClientError::Usage(message.into())
    }

    /// Reads an error answer: the API's `{"error": {"code", "message"}}`, or whatever came instead.
    pub fn from_answer(status: u16, what: &str, body: &str) -> Self {
        let parsed: Option<(Option<String>, Option<String>)> =
            serde_json::from_str::<serde_json::Value>(body).ok().and_then(|v| v.get("error").cloned()).map(
                |e| {
                    let text = |k: &str| e.get(k).and_then(|s| s.as_str()).map(str::to_owned);
                    (text("code"), text("message"))
                },
            );
        match parsed {
            Some((code, Some(message))) => ClientError::Api { status, code, message },
            Some((Some(code), None)) => {
                ClientError::Api { status, message: code.replace('_', " "), code: Some(code) }
            }
            _ => {
                let body = body.trim();
                let detail =
                    if body.is_empty() || body.len() > 200 { String::new() } else { format!(": {body}") };
                ClientError::Api {
                    status,
                    code: None,
                    message: format!("the server answered {status} to {what}{detail}"),
                }
            }
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Api { code: Some(code), message, .. } => write!(f, "{message} ({code})"),
            ClientError::Api { code: None, message, .. } => f.write_str(message),
            ClientError::Usage(message) => f.write_str(message),
            ClientError::Unreachable { url, reason } => {
                write!(f, "cannot reach ferry at {url} ({reason}); start it with `ferry serve` or pass --url")
            }
        }
    }
}

impl std::error::Error for ClientError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_prints_message_then_code() {
        let e = ClientError::from_answer(
            404,
            "GET /api/v1/queues/orders",
            r#"{"error": {"code": "queue_not_found", "message": "no queue named \"orders\""}}"#,
        );
        assert_eq!(e.to_string(), r#"no queue named "orders" (queue_not_found)"#);
        assert_eq!(e.exit_code(), ExitCode::from(1));
    }

    #[test]
    fn answer_that_is_not_an_api_error_names_the_status_and_request() {
        let e = ClientError::from_answer(404, "GET /api/v1/nope", "Not Found");
        assert_eq!(e.to_string(), "the server answered 404 to GET /api/v1/nope: Not Found");
    }

    #[test]
    fn unreachable_says_how_to_start_the_server() {
        let e = ClientError::Unreachable {
            url: "http://127.0.0.1:8080".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot reach ferry at http://127.0.0.1:8080 (connection refused); start it with `ferry serve` or pass --url"
        );
        assert_eq!(e.exit_code(), ExitCode::from(3));
    }
}
