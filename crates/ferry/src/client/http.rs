//! A blocking JSON client of ferry's REST API (`/api/v1`, see docs/http-api.md).

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::error::ClientError;

/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an answer may take; above the longest long poll the API allows (`wait_ms` ≤ 20 s).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(40);
/// Page size used to walk a paged list to its end (the API's maximum).
const PAGE_LIMIT: &str = "1000";

/// Everything but letters, digits and `-_~` is escaped in a path segment, so that a name with
/// `/`, `?`, `#`, `%` or made only of dots stays one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

/// Escapes a name for use as one path segment.
pub fn segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// A connection to one ferry's REST API.
pub struct Client {
    /// The server's base URL without a trailing slash, as the user gave it.
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the server at `url` (`http://host:port`). Only plain HTTP is supported.
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let base = url.trim_end_matches('/').to_owned();
        if base.starts_with("https://") {
            return Err(ClientError::usage(format!("--url {url}: https is not supported yet; use http://")));
        }
        if !base.starts_with("http://") || base.len() <= "http://".len() {
            return Err(ClientError::usage(format!("--url {url}: expected http://HOST:PORT")));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(ANSWER_TIMEOUT))
            .timeout_recv_body(Some(ANSWER_TIMEOUT))
            .max_redirects(0)
            .build();
        Ok(Client { base, agent: config.into() })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /api/v1{path}` with query parameters; `path` has its names already escaped.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError> {
        let mut request = self.agent.get(self.url(path));
        for (k, v) in query {
            request = request.query(*k, v);
        }
        self.finish("GET", path, request.call())
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.finish("POST", path, self.agent.post(self.url(path)).send_json(body))
    }

    pub fn patch(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.finish("PATCH", path, self.agent.patch(self.url(path)).send_json(body))
    }

    pub fn delete(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError> {
        let mut request = self.agent.delete(self.url(path));
        for (k, v) in query {
            request = request.query(*k, v);
        }
        self.finish("DELETE", path, request.call())
    }

    /// Every item of a paged list (`{"items": [...], "next": NAME | null}`), page after page.
    pub fn list(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<Value>, ClientError> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("limit", PAGE_LIMIT.to_owned()));
            if let Some(a) = &after {
                q.push(("after", a.clone()));
            }
            let page = self.get(path, &q)?;
            match page.get("items").and_then(Value::as_array) {
                Some(page_items) => items.extend(page_items.iter().cloned()),
                // An answer that is a bare array is taken whole.
                None => match page {
                    Value::Array(all) => return Ok(all),
                    _ => return Ok(items),
                },
            }
            match page.get("next").and_then(Value::as_str) {
                Some(next) if after.as_deref() != Some(next) => after = Some(next.to_owned()),
                _ => return Ok(items),
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    fn finish(
        &self,
        method: &str,
        path: &str,
        answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, ClientError> {
        let mut response = answer.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(|e| self.transport_error(e))?;
        if !(200..300).contains(&status) {
            return Err(ClientError::from_answer(status, &format!("{method} /api/v1{path}"), &text));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Api {
            status,
            code: None,
            message: format!("the answer to {method} /api/v1{path} is not JSON: {e}"),
        })
    }

    fn transport_error(&self, e: ureq::Error) -> ClientError {
        let reason = match &e {
            ureq::Error::Io(io) => match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                std::io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
                std::io::ErrorKind::TimedOut => "timed out".to_owned(),
                _ => io.to_string(),
            },
            ureq::Error::HostNotFound => "host not found".to_owned(),
            ureq::Error::Timeout(which) => format!("no answer in time: {which}"),
            ureq::Error::ConnectionFailed => "connection failed".to_owned(),
            ureq::Error::BadUri(uri) => {
                return ClientError::usage(format!("--url {}: bad URL ({uri})", self.base));
            }
            other => other.to_string(),
        };
        ClientError::Unreachable { url: self.base.clone(), reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_escapes_separators_and_dots() {
        assert_eq!(segment("orders"), "orders");
        assert_eq!(segment("orders.eu"), "orders%2Eeu");
        assert_eq!(segment("a/b?c#d%e f"), "a%2Fb%3Fc%23d%25e%20f");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("dead-letter_1~x"), "dead-letter_1~x");
        assert_eq!(segment("café"), "caf%C3%A9");
    }

    #[test]
    fn url_must_be_plain_http() {
        assert!(matches!(Client::new("https://x:8080"), Err(ClientError::Usage(_))));
        assert!(matches!(Client::new("127.0.0.1:8080"), Err(ClientError::Usage(_))));
        assert_eq!(Client::new("http://127.0.0.1:8080/").unwrap().base(), "http://127.0.0.1:8080");
    }
}
