//! The SQS API (AWS JSON 1.0 over HTTP/1.1 keep-alive connections), as SQS workers use it:
//! SendMessage or SendMessageBatch, ReceiveMessage with long polling, then DeleteMessageBatch
//! of exactly the messages received (one receipt handle per message).
//!
//! A small client of its own rather than an SDK, so that the figures measure the server and not
//! an SDK's request signing; the requests are the ones aws-sdk-sqs and boto3 send.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use futures::FutureExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::target::{Ack, Consumer, Plan, Producer, Target};

/// SQS takes at most this many messages per batch call.
const BATCH_MAX: usize = 10;
/// Connections per producer at most, whatever the in-flight window.
const CONNECTIONS_MAX: usize = 64;

pub struct Sqs {
    /// host:port of the endpoint.
    host: String,
    /// Queue URLs by destination, filled by `prepare`.
    urls: Mutex<Vec<String>>,
    inflight: usize,
    batch: usize,
}

impl Sqs {
    pub fn new(endpoint: &str, inflight: usize, batch: usize) -> Result<Sqs> {
        let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
        if host.contains('/') || endpoint.starts_with("https://") {
            bail!("the SQS endpoint must be http://host:port, not {endpoint}");
        }
        if batch > BATCH_MAX {
            bail!("SQS sends at most {BATCH_MAX} messages per batch, not {batch}");
        }
        Ok(Sqs { host: host.to_owned(), urls: Mutex::new(Vec::new()), inflight, batch })
    }

    fn urls(&self) -> Vec<String> {
        self.urls.lock().expect("urls lock").clone()
    }
}

#[async_trait]
impl Target for Sqs {
    async fn prepare(&self, plan: &Plan) -> Result<()> {
        let mut conn = Conn::connect(&self.host).await?;
        let mut urls = Vec::with_capacity(plan.destinations);
        for d in 0..plan.destinations {
            let out = conn.call("CreateQueue", &json!({ "QueueName": plan.destination(d) })).await?;
            urls.push(out["QueueUrl"].as_str().context("CreateQueue returned no QueueUrl")?.to_owned());
        }
        *self.urls.lock().expect("urls lock") = urls;
        Ok(())
    }

    async fn producer(&self, _plan: &Plan) -> Result<Box<dyn Producer>> {
        let connections = self.inflight.div_ceil(self.batch.max(1)).clamp(1, CONNECTIONS_MAX);
        let (give_back, pool) = mpsc::channel(connections);
        for _ in 0..connections {
            give_back
                .send(Conn::connect(&self.host).await?)
                .await
                .map_err(|_| anyhow!("connection pool closed"))?;
        }
        Ok(Box::new(SqsProducer { urls: self.urls(), pool, give_back }))
    }

    async fn consumer(
        &self,
        plan: &Plan,
        destination: usize,
        _subscription: usize,
    ) -> Result<Box<dyn Consumer>> {
        let url = self.urls().get(destination).cloned().context("the queue was not created")?;
        let conn = Conn::connect(&self.host).await?;
        Ok(Box::new(SqsConsumer { conn, url, max: plan.prefetch.clamp(1, BATCH_MAX) }))
    }

    async fn cleanup(&self, _plan: &Plan) -> Result<()> {
        let mut conn = Conn::connect(&self.host).await?;
        for url in self.urls() {
            conn.call("DeleteQueue", &json!({ "QueueUrl": url })).await?;
        }
        Ok(())
    }
}

struct SqsProducer {
    urls: Vec<String>,
    pool: mpsc::Receiver<Conn>,
    give_back: mpsc::Sender<Conn>,
}

#[async_trait]
impl Producer for SqsProducer {
    async fn send(&mut self, destination: usize, payloads: Vec<Vec<u8>>) -> Result<Ack> {
        let mut conn = self.pool.recv().await.context("connection pool closed")?;
        let url = self.urls[destination].clone();
        let give_back = self.give_back.clone();
        // The request runs on its own task, so that it proceeds while the caller sends more.
        let request = tokio::spawn(async move {
            let bodies: Vec<String> =
                payloads.into_iter().map(|p| String::from_utf8_lossy(&p).into_owned()).collect();
            let result = if bodies.len() == 1 {
                conn.call("SendMessage", &json!({ "QueueUrl": url, "MessageBody": bodies[0] }))
                    .await
                    .map(|_| ())
            } else {
                let entries: Vec<Value> = bodies
                    .iter()
                    .enumerate()
                    .map(|(i, body)| json!({ "Id": format!("m{i}"), "MessageBody": body }))
                    .collect();
                let expected = entries.len();
                conn.call("SendMessageBatch", &json!({ "QueueUrl": url, "Entries": entries })).await.and_then(
                    |out| match out["Successful"].as_array().map_or(0, Vec::len) {
                        n if n == expected => Ok(()),
                        _ => Err(anyhow!("SendMessageBatch failed: {out}")),
                    },
                )
            };
            if result.is_ok() {
                let _ = give_back.send(conn).await;
            }
            result
        });
        Ok(async move { request.await.map_err(|e| anyhow!("SQS send task failed: {e}"))? }.boxed())
    }
}

struct SqsConsumer {
    conn: Conn,
    url: String,
    max: usize,
}

#[async_trait]
impl Consumer for SqsConsumer {
    async fn receive(
        &mut self,
        wait: Duration,
        seen: &mut (dyn for<'p> FnMut(&'p [u8]) + Send),
    ) -> Result<usize> {
        let request = json!({
            "QueueUrl": self.url,
            "MaxNumberOfMessages": self.max,
            "WaitTimeSeconds": wait.as_secs().max(1),
        });
        let out = self.conn.call("ReceiveMessage", &request).await?;
        let messages = out["Messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            return Ok(0);
        }
        let mut entries = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            seen(m["Body"].as_str().unwrap_or_default().as_bytes());
            entries.push(json!({ "Id": format!("d{i}"), "ReceiptHandle": m["ReceiptHandle"] }));
        }
        let out = self
            .conn
            .call("DeleteMessageBatch", &json!({ "QueueUrl": self.url, "Entries": entries }))
            .await?;
        if out["Failed"].as_array().is_some_and(|f| !f.is_empty()) {
            bail!("DeleteMessageBatch failed: {out}");
        }
        Ok(messages.len())
    }
}

/// One keep-alive HTTP/1.1 connection speaking AWS JSON 1.0.
struct Conn {
    host: String,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    line: String,
}

impl Conn {
    async fn connect(host: &str) -> Result<Conn> {
        let stream = TcpStream::connect(host).await.with_context(|| format!("connecting to {host}"))?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        Ok(Conn { host: host.to_owned(), reader: BufReader::new(r), writer: w, line: String::new() })
    }

    async fn call(&mut self, action: &str, body: &Value) -> Result<Value> {
        let payload = serde_json::to_vec(body)?;
        let mut request = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AmazonSQS.{action}\r\nContent-Length: {}\r\n\r\n",
            self.host,
            payload.len()
        )
        .into_bytes();
        request.extend_from_slice(&payload);
        self.writer.write_all(&request).await?;
        self.line.clear();
        if self.reader.read_line(&mut self.line).await? == 0 {
            bail!("{action}: the server closed the connection");
        }
        let ok = self.line.split(' ').nth(1) == Some("200");
        let mut length = 0usize;
        loop {
            self.line.clear();
            self.reader.read_line(&mut self.line).await?;
            let header = self.line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
        }
        let mut buf = vec![0; length];
        self.reader.read_exact(&mut buf).await?;
        if !ok {
            bail!("{action} failed: {}", String::from_utf8_lossy(&buf));
        }
        Ok(serde_json::from_slice(&buf)?)
    }
}
