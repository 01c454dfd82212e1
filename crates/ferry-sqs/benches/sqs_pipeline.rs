//! End-to-end SQS figures: workers looping SendMessageBatch(10) → ReceiveMessage(10) →
//! DeleteMessageBatch against the real listener, separate producers and consumers, then message
//! latency at a fixed send rate.
//!
//! `cargo bench -p ferry-sqs --bench sqs_pipeline`. Settings (environment):
//! - `SQS_ENDPOINT`: a running `ferry serve` (e.g. `http://127.0.0.1:9324`); default: an in-process
//!   listener over a queue engine on a temporary data directory.
//! - `BENCH_SECS` (default 10): length of each throughput run; `BENCH_RATE` (default 5000): the
//!   fixed send rate, messages per second, of the latency run; `BENCH_WORKERS` (default "1,4").
//!
//! The client is a minimal keep-alive HTTP/1.1 JSON client, so that the figures measure the
//! server rather than a client SDK's signing and retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferry_broker::Broker;
use ferry_broker::clock::SystemClock;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One keep-alive connection speaking AWS JSON 1.0.
struct Conn {
    host: String,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    line: String,
}

impl Conn {
    async fn connect(host: &str) -> Result<Conn, BoxError> {
        let stream = TcpStream::connect(host).await?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        Ok(Conn { host: host.to_owned(), reader: BufReader::new(r), writer: w, line: String::new() })
    }

    async fn call(&mut self, action: &str, body: &Value) -> Result<Value, BoxError> {
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
        self.reader.read_line(&mut self.line).await?;
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
            return Err(format!("{action} failed: {}", String::from_utf8_lossy(&buf)).into());
        }
        Ok(serde_json::from_slice(&buf)?)
    }
}

fn now_us() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
}

async fn send_batch(conn: &mut Conn, url: &str, body: &str) -> Result<(), BoxError> {
    let entries: Vec<Value> = (0..10).map(|i| json!({"Id": format!("m{i}"), "MessageBody": body})).collect();
    let out = conn.call("SendMessageBatch", &json!({"QueueUrl": url, "Entries": entries})).await?;
    if out["Successful"].as_array().map_or(0, Vec::len) != 10 {
        return Err(format!("send failed: {out}").into());
    }
    Ok(())
}

/// Receives up to 10 and deletes them; returns the bodies.
async fn receive_delete(conn: &mut Conn, url: &str, wait_s: u32) -> Result<Vec<String>, BoxError> {
    let out = conn
        .call(
            "ReceiveMessage",
            &json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": wait_s}),
        )
        .await?;
    let messages = out["Messages"].as_array().cloned().unwrap_or_default();
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let entries: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"Id": format!("d{i}"), "ReceiptHandle": m["ReceiptHandle"]}))
        .collect();
    let out = conn.call("DeleteMessageBatch", &json!({"QueueUrl": url, "Entries": entries})).await?;
    if out["Failed"].as_array().is_some_and(|f| !f.is_empty()) {
        return Err(format!("delete failed: {out}").into());
    }
    Ok(messages.iter().map(|m| m["Body"].as_str().unwrap_or("").to_owned()).collect())
}

async fn create_queue(host: &str, name: &str) -> Result<String, BoxError> {
    let mut conn = Conn::connect(host).await?;
    // Set to compare synchronous settlements (each delete waits for its journal fsync).
    let attributes = match std::env::var("BENCH_SYNC_SETTLEMENTS") {
        Ok(v) => json!({ "FerrySyncSettlements": v }),
        Err(_) => json!({}),
    };
    let out = conn.call("CreateQueue", &json!({"QueueName": name, "Attributes": attributes})).await?;
    Ok(out["QueueUrl"].as_str().ok_or("no QueueUrl")?.to_owned())
}

/// Each worker loops send(10) → receive(10) → delete on one shared queue.
async fn throughput(host: &str, workers: usize, secs: u64) -> Result<f64, BoxError> {
    let url = create_queue(host, &format!("bench-tp-{workers}-{}", now_us())).await?;
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let body = "x".repeat(100);
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..workers {
        let (host, url, done, stop, body) =
            (host.to_owned(), url.clone(), done.clone(), stop.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&host).await?;
            while !stop.load(Ordering::Relaxed) {
                send_batch(&mut conn, &url, &body).await?;
                let got = receive_delete(&mut conn, &url, 1).await?;
                done.fetch_add(got.len() as u64, Ordering::Relaxed);
            }
            Ok::<(), BoxError>(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// How consumers delete what they receive.
#[derive(Clone, Copy, Debug)]
enum Deletes {
    /// One DeleteMessageBatch per receive.
    Batch,
    /// One DeleteMessage per message (Celery's SQS transport).
    Single,
}

/// `producers` loop SendMessageBatch(10) while `consumers` loop ReceiveMessage(10, long poll)
/// then delete, each call waiting for its answer. Returns (sent, deleted) msg/s.
async fn producers_consumers(
    host: &str,
    producers: usize,
    consumers: usize,
    deletes: Deletes,
    secs: u64,
) -> Result<(f64, f64), BoxError> {
    let url = create_queue(host, &format!("bench-pc-{producers}-{consumers}-{}", now_us())).await?;
    let sent = Arc::new(AtomicU64::new(0));
    let deleted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let body = "x".repeat(100);
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..producers {
        let (host, url, sent, stop, body) =
            (host.to_owned(), url.clone(), sent.clone(), stop.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&host).await?;
            while !stop.load(Ordering::Relaxed) {
                send_batch(&mut conn, &url, &body).await?;
                sent.fetch_add(10, Ordering::Relaxed);
            }
            Ok::<(), BoxError>(())
        }));
    }
    for _ in 0..consumers {
        let (host, url, deleted, stop) = (host.to_owned(), url.clone(), deleted.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&host).await?;
            while !stop.load(Ordering::Relaxed) {
                let n = match deletes {
                    Deletes::Batch => receive_delete(&mut conn, &url, 1).await?.len(),
                    Deletes::Single => receive_delete_each(&mut conn, &url).await?,
                };
                deleted.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok::<(), BoxError>(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let (sent, deleted) = (sent.load(Ordering::Relaxed), deleted.load(Ordering::Relaxed));
    for t in tasks {
        t.await??;
    }
    Ok((sent as f64 / elapsed, deleted as f64 / elapsed))
}

/// Receives up to 10 and deletes them one DeleteMessage call at a time; returns how many.
async fn receive_delete_each(conn: &mut Conn, url: &str) -> Result<usize, BoxError> {
    let out = conn
        .call("ReceiveMessage", &json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}))
        .await?;
    let messages = out["Messages"].as_array().cloned().unwrap_or_default();
    for m in &messages {
        conn.call("DeleteMessage", &json!({"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"]})).await?;
    }
    Ok(messages.len())
}

/// A producer sends batches at `rate` msg/s; two consumers receive and delete; each message's
/// latency runs from just before its send call to just after the receive call that got it.
async fn latency(host: &str, rate: u64, secs: u64) -> Result<(f64, f64, f64, usize), BoxError> {
    let url = create_queue(host, &format!("bench-lat-{}", now_us())).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (host, url, stop) = (host.to_owned(), url.clone(), stop.clone());
        tokio::spawn(async move {
            let mut conn = Conn::connect(&host).await?;
            let mut tick = tokio::time::interval(Duration::from_micros(10_000_000 / rate.max(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                send_batch(&mut conn, &url, &now_us().to_string()).await?;
            }
            Ok::<(), BoxError>(())
        })
    };
    let mut consumers = Vec::new();
    for _ in 0..2 {
        let (host, url, stop) = (host.to_owned(), url.clone(), stop.clone());
        consumers.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&host).await?;
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let bodies = receive_delete(&mut conn, &url, 1).await?;
                let now = now_us();
                for b in bodies {
                    let sent: u128 = b.parse().unwrap_or(now);
                    latencies.push(now.saturating_sub(sent) as f64 / 1000.0);
                }
            }
            Ok::<Vec<f64>, BoxError>(latencies)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    producer.await??;
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.await??);
    }
    all.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        let i = ((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1));
        all.get(i).copied().unwrap_or(0.0)
    };
    Ok((pick(0.50), pick(0.99), pick(0.999), all.len()))
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Every service of a node over `dir`, with an in-memory metadata store.
async fn broker(dir: &std::path::Path) -> Result<Arc<Broker>, BoxError> {
    Ok(Arc::new(Broker::open_for_tests(dir, SystemClock::shared(), 0, Default::default()).await?))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let secs = env_u64("BENCH_SECS", 10);
    let rate = env_u64("BENCH_RATE", 5_000);
    let workers: Vec<usize> = std::env::var("BENCH_WORKERS")
        .unwrap_or_else(|_| "1,4".to_owned())
        .split(',')
        .filter_map(|w| w.trim().parse().ok())
        .collect();

    let mut _dir = None;
    let host = match std::env::var("SQS_ENDPOINT") {
        Ok(endpoint) => endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned(),
        Err(_) => {
            let dir = tempfile::tempdir()?;
            let broker = broker(dir.path()).await?;
            _dir = Some(dir);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let host = listener.local_addr()?.to_string();
            let config = ferry_sqs::SqsConfig::default();
            tokio::spawn(ferry_sqs::serve(listener, config, broker, std::future::pending()));
            host
        }
    };
    println!("SQS pipeline against {host}: SendMessageBatch(10) -> ReceiveMessage(10) -> DeleteMessageBatch");
    for w in workers {
        let rate = throughput(&host, w, secs).await?;
        println!("throughput workers={w}: {rate:.0} msg/s end to end");
    }
    let pairs = std::env::var("BENCH_PC").unwrap_or_else(|_| "1x1,4x4".to_owned());
    for pair in pairs.split(',').filter_map(|p| p.trim().split_once('x')) {
        let (Ok(p), Ok(c)) = (pair.0.parse::<usize>(), pair.1.parse::<usize>()) else { continue };
        let (sent, deleted) = producers_consumers(&host, p, c, Deletes::Batch, secs).await?;
        println!(
            "producers={p} consumers={c} (DeleteMessageBatch): sent {sent:.0} msg/s, deleted {deleted:.0} msg/s"
        );
    }
    let singles = env_u64("BENCH_SINGLE_DELETE_CONSUMERS", 4) as usize;
    if singles > 0 {
        let (sent, deleted) = producers_consumers(&host, 1, singles, Deletes::Single, secs).await?;
        println!(
            "producers=1 consumers={singles} (DeleteMessage each): sent {sent:.0} msg/s, deleted {deleted:.0} msg/s"
        );
    }
    let (p50, p99, p999, n) = latency(&host, rate, secs).await?;
    println!("latency at {rate} msg/s ({n} messages): p50 {p50:.2} ms, p99 {p99:.2} ms, p99.9 {p999:.2} ms");
    Ok(())
}
