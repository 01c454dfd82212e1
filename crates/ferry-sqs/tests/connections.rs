//! The listener's connections at the socket level: idle and half-sent connections are closed
//! after their timeouts, and a full listener still answers a new client at once.

mod common;

use std::time::Duration;

use ferry_sqs::SqsConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

fn config(idle_ms: u64, header_ms: u64, body_ms: u64, max_connections: usize) -> SqsConfig {
    SqsConfig {
        idle_timeout_ms: idle_ms,
        header_read_timeout_ms: header_ms,
        body_read_timeout_ms: body_ms,
        max_connections,
        ..SqsConfig::default()
    }
}

async fn connect(endpoint: &str) -> TcpStream {
    TcpStream::connect(endpoint.trim_start_matches("http://")).await.expect("connect")
}

/// Reads until the server closes the connection; returns what it sent and how long that took.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match timeout(limit, stream.read(&mut chunk)).await.expect("the server closes the connection") {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
    (String::from_utf8_lossy(&raw).into_owned(), started.elapsed())
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_idle_timeout() {
    let server = common::start_with(config(300, 10_000, 10_000, 16)).await;
    let mut silent = connect(&server.endpoint).await;
    let (sent, waited) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert_eq!(sent, "");
    assert!(waited >= Duration::from_millis(250), "closed after {waited:?}");
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_idle_timeout_after_its_last_answer() {
    let server = common::start_with(config(400, 10_000, 10_000, 16)).await;
    let host = server.endpoint.trim_start_matches("http://");
    let mut stream = connect(&server.endpoint).await;
    let body = "Action=ListQueues&Version=2012-11-05";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // Requests closer together than the timeout keep the connection open.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut chunk = [0u8; 4096];
        let n =
            timeout(Duration::from_secs(5), stream.read(&mut chunk)).await.expect("answer").expect("read");
        assert!(String::from_utf8_lossy(&chunk[..n]).starts_with("HTTP/1.1 200"));
    }
    let (sent, waited) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(sent, "");
    assert!(waited >= Duration::from_millis(300), "closed after {waited:?}");
}

#[tokio::test]
async fn headers_that_stop_arriving_close_the_connection_after_header_read_timeout() {
    let server = common::start_with(config(30_000, 300, 30_000, 16)).await;
    let mut stream = connect(&server.endpoint).await;
    stream.write_all(b"POST / HTTP/1.1\r\nHost: ferry\r\nContent-Ty").await.expect("write");
    let (_, waited) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(waited < Duration::from_secs(5));
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_request_timeout() {
    let server = common::start_with(config(30_000, 30_000, 300, 16)).await;
    let mut stream = connect(&server.endpoint).await;
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: ferry\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 100\r\n\r\nAction=ListQueues",
        )
        .await
        .expect("write");
    let (sent, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    assert!(sent.contains("<Code>RequestTimeout</Code>"), "{sent}");
    assert!(sent.to_ascii_lowercase().contains("connection: close"), "{sent}");
}

#[tokio::test]
async fn a_full_listener_closes_its_longest_idle_connection_for_a_new_client() {
    let server = common::start_with(config(60_000, 60_000, 60_000, 8)).await;
    let mut silent = Vec::new();
    for _ in 0..18 {
        silent.push(connect(&server.endpoint).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let listed = timeout(Duration::from_secs(5), server.client.list_queues().send()).await;
    listed.expect("an SDK call on a full listener is answered at once").expect("list queues");
    // The longest idle of the first eight was closed to make room.
    let (sent, _) = read_until_closed(&mut silent[0], Duration::from_secs(5)).await;
    assert_eq!(sent, "");
}

#[tokio::test]
async fn a_full_listener_without_idle_connections_answers_service_unavailable() {
    let server = common::start_with(config(60_000, 60_000, 60_000, 2)).await;
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&server.endpoint).await;
        stream.write_all(b"POST / HTTP/1.1\r\nHost: ferry\r\n").await.expect("write");
        busy.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut refused = connect(&server.endpoint).await;
    refused
        .write_all(
            b"POST / HTTP/1.1\r\nHost: ferry\r\nX-Amz-Target: AmazonSQS.ListQueues\r\n\
              Content-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\n\r\n{}",
        )
        .await
        .expect("write");
    let (sent, waited) = read_until_closed(&mut refused, Duration::from_secs(5)).await;
    assert!(sent.starts_with("HTTP/1.1 503"), "{sent}");
    assert!(sent.contains("\"__type\":\"com.amazonaws.sqs#ServiceUnavailable\""), "{sent}");
    assert!(waited < Duration::from_secs(2), "answered after {waited:?}");
}
