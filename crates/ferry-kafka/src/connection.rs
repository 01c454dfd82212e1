//! One client connection: length-prefixed frames in, responses out in request order.
//!
//! # Ordering
//!
//! Kafka processes the requests of one connection one after another, and clients rely on it: a
//! producer with `max.in.flight > 1` expects its batches stored in the order it sent them, and a
//! consumer expects its async offset commits applied in the order it made them. ferry keeps that
//! order for every *effect* while still overlapping the *waits*:
//!
//! - Each request is dispatched from the read loop, which awaits [`api::dispatch`] before reading
//!   the next frame. `dispatch` returns once the request has taken effect: a produce's batches are
//!   appended and have their offsets, an offset commit is queued for the store (whose writer thread
//!   applies commits in queue order), a join or sync has changed its group, topic admin is done.
//!   So effects happen strictly in arrival order, and nothing of a later request can overtake them.
//! - What a request does after that only waits: the fsync of acks=-1 (already started, and shared
//!   by every append waiting for the same log), the store commit of offsets, a rebalance, a
//!   long-polling fetch. That rest ([`api::Reply::Later`]) runs in its own task, beside the
//!   requests that follow; so five in-flight produce requests still share one fsync.
//! - A request that reads what earlier requests wrote (Fetch, ListOffsets, OffsetFetch) first
//!   waits until the earlier writes' rests have completed (`Unsettled`), so it sees them as
//!   Kafka would (an OffsetFetch after async commits returns the last one).
//! - Responses are written in request order, whatever order the rests complete in.
//!
//! At most `max_in_flight_per_connection` requests are answered or waiting at once; beyond that
//! the connection stops reading. A malformed or oversize frame closes this connection only.
//!
//! # Timeouts
//!
//! A connection that sends no request for `connections_max_idle_ms` while it is owed no answer
//! is closed (Kafka's `connections.max.idle.ms`); one owed an answer (a long poll, a join) is
//! not idle. A frame whose bytes stop arriving for `frame_stall_timeout_ms` midway closes the
//! connection too, so a half-sent request cannot hold it open.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::api::{self, Answer, Reply, RequestContext};
use crate::server::Shared;
use ferry_broker::telemetry::Protocol;

/// Why a connection is closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ConnectionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {size} bytes is outside 8..={max}")]
    FrameSize { size: i64, max: usize },
    #[error("no byte of a half-received frame arrived for {stall_ms} ms ({received} of {expected} bytes)")]
    FrameStalled { stall_ms: u64, received: usize, expected: usize },
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("{api:?} version {version} is not supported")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// A response in the making: `None` when the request gets no answer (Produce with acks=0).
type Pending = oneshot::Receiver<Answer>;

/// When the connection last received a request or sent an answer, and how many answers it owes.
struct Activity {
    since: Instant,
    last_ms: AtomicU64,
    owed: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity { since: Instant::now(), last_ms: AtomicU64::new(0), owed: AtomicUsize::new(0) }
    }

    fn touch(&self) {
        self.last_ms.fetch_max(self.since.elapsed().as_millis() as u64, Ordering::AcqRel);
    }

    fn last(&self) -> Instant {
        self.since + Duration::from_millis(self.last_ms.load(Ordering::Acquire))
    }

    fn owe(&self) {
        self.owed.fetch_add(1, Ordering::AcqRel);
        self.touch();
    }

    fn answered(&self) {
        self.owed.fetch_sub(1, Ordering::AcqRel);
        self.touch();
    }

    fn owes(&self) -> bool {
        self.owed.load(Ordering::Acquire) > 0
    }
}

/// Counts this connection's requests whose effects are not yet settled (durable, visible).
#[derive(Clone)]
struct Unsettled(Arc<watch::Sender<usize>>);

/// One unsettled request; dropping it settles it.
struct UnsettledGuard(Unsettled);

impl Unsettled {
    fn new() -> Unsettled {
        Unsettled(Arc::new(watch::channel(0).0))
    }

    fn begin(&self) -> UnsettledGuard {
        self.0.send_modify(|n| *n += 1);
        UnsettledGuard(self.clone())
    }

    /// Resolves once every request begun so far has settled. Cancellation-safe.
    async fn settled(&self) {
        let mut count = self.0.subscribe();
        // The sender lives in `self`, so the wait cannot fail.
        let _ = count.wait_for(|n| *n == 0).await;
    }
}

impl Drop for UnsettledGuard {
    fn drop(&mut self) {
        self.0.0.send_modify(|n| *n -= 1);
    }
}

/// Serves one connection until the client leaves, a protocol error, or `stop`.
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let local = match stream.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "connection lost before it started");
            return;
        }
    };
    let (reader, writer) = stream.into_split();
    let (tx, rx) = mpsc::channel::<Pending>(shared.config.max_in_flight_per_connection.max(1));
    let activity = Activity::new();
    let mut rests = JoinSet::new();
    let result = tokio::select! {
        r = read_loop(BufReader::new(reader), tx, local, peer, Arc::clone(&shared), &activity, &mut rests) => r,
        r = write_loop(writer, rx, &activity) => r,
        _ = stop.wait_for(|stopped| *stopped) => Ok(()),
    };
    // Nobody is left to answer: stop the waits still running, so that when the connection is
    // gone nothing of it holds the broker (a restart in the same process can reopen the store).
    rests.shutdown().await;
    match result {
        Ok(()) => tracing::debug!(%peer, "connection closed"),
        Err(ConnectionError::Io(e)) => tracing::debug!(%peer, error = %e, "connection closed"),
        Err(e) => tracing::warn!(%peer, error = %e, "closing connection after a protocol error"),
    }
}

async fn read_loop(
    mut reader: BufReader<OwnedReadHalf>,
    tx: mpsc::Sender<Pending>,
    local: SocketAddr,
    peer: SocketAddr,
    shared: Arc<Shared>,
    activity: &Activity,
    rests: &mut JoinSet<()>,
) -> Result<(), ConnectionError> {
    let unsettled = Unsettled::new();
    loop {
        while rests.try_join_next().is_some() {}
        let Some(frame) = next_frame(&mut reader, &shared, activity).await? else {
            return Ok(());
        };
        let mut frame = frame.freeze();
        activity.owe();
        let (pending_tx, pending_rx) = oneshot::channel();
        if tx.send(pending_rx).await.is_err() {
            return Ok(());
        }
        let (api_key, header) = match parse(&mut frame) {
            Ok(Parsed::Request { api_key, header }) => (api_key, header),
            Ok(Parsed::Immediate(response)) => {
                let _ = pending_tx.send(Ok(Some(response)));
                continue;
            }
            Err(e) => return Err(e),
        };
        if api::reads_settled_state(api_key) {
            unsettled.settled().await;
        }
        let ctx = Arc::new(RequestContext { shared: Arc::clone(&shared), header, local_addr: local, peer });
        let version = ctx.header.request_api_version;
        let correlation_id = ctx.header.correlation_id;
        let started = Instant::now();
        match api::dispatch(ctx, api_key, frame).await {
            Reply::Now(answer) => {
                observe(&shared, api_key, started);
                let _ = pending_tx.send(frame_answer(api_key, version, correlation_id, answer));
            }
            Reply::Later { settles, rest } => {
                let guard = settles.then(|| unsettled.begin());
                let shared = Arc::clone(&shared);
                rests.spawn(async move {
                    let answer = rest.await;
                    observe(&shared, api_key, started);
                    drop(guard);
                    let _ = pending_tx.send(frame_answer(api_key, version, correlation_id, answer));
                });
            }
        }
    }
}

/// Counts a request's latency (from its dispatch to its answer) under its API's name.
fn observe(shared: &Shared, api_key: ApiKey, started: Instant) {
    shared.ctx.telemetry.observe_request(Protocol::Kafka, api::name(api_key), started.elapsed());
}

/// Reads the next request frame. `None` when the client has gone, or has been idle for
/// `connections_max_idle_ms` while owed nothing.
async fn next_frame(
    reader: &mut BufReader<OwnedReadHalf>,
    shared: &Shared,
    activity: &Activity,
) -> Result<Option<BytesMut>, ConnectionError> {
    let config = &shared.config;
    let idle = Duration::from_millis(config.connections_max_idle_ms.max(1));
    let mut deadline = activity.last() + idle;
    loop {
        // fill_buf is cancellation-safe: bytes it read stay in the buffer for the frame.
        match tokio::time::timeout_at(deadline, reader.fill_buf()).await {
            Ok(Ok([])) => return Ok(None),
            Ok(Ok(_)) => break,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                let now = Instant::now();
                if activity.last() + idle > now {
                    // An answer went out meanwhile; idleness counts from it.
                    deadline = activity.last() + idle;
                } else if activity.owes() {
                    deadline = now + idle;
                } else {
                    tracing::debug!(idle_ms = config.connections_max_idle_ms, "closing an idle connection");
                    return Ok(None);
                }
            }
        }
    }
    let stall_ms = config.frame_stall_timeout_ms.max(1);
    let mut size = [0u8; 4];
    read_unstalled(reader, &mut size, stall_ms).await?;
    let size = i32::from_be_bytes(size);
    let max = config.max_frame_bytes;
    if size < 8 || size as usize > max {
        return Err(ConnectionError::FrameSize { size: size as i64, max });
    }
    let mut frame = BytesMut::zeroed(size as usize);
    read_unstalled(reader, &mut frame, stall_ms).await?;
    Ok(Some(frame))
}

/// Fills `buf`, failing when no byte arrives for `stall_ms`.
async fn read_unstalled(
    reader: &mut BufReader<OwnedReadHalf>,
    buf: &mut [u8],
    stall_ms: u64,
) -> Result<(), ConnectionError> {
    let mut filled = 0;
    while filled < buf.len() {
        match tokio::time::timeout(Duration::from_millis(stall_ms), reader.read(&mut buf[filled..])).await {
            Ok(Ok(0)) => return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()),
            Ok(Ok(n)) => filled += n,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                return Err(ConnectionError::FrameStalled {
                    stall_ms,
                    received: filled,
                    expected: buf.len(),
                });
            }
        }
    }
    Ok(())
}

enum Parsed {
    Request {
        api_key: ApiKey,
        header: RequestHeader,
    },
    /// Answered without decoding the body (ApiVersions of a version we do not know).
    Immediate(Bytes),
}

fn parse(frame: &mut Bytes) -> Result<Parsed, ConnectionError> {
    let mut peek = frame.slice(0..8);
    let key = peek.get_i16();
    let version = peek.get_i16();
    let correlation_id = peek.get_i32();
    let api_key = ApiKey::try_from(key).map_err(|_| ConnectionError::UnknownApiKey(key))?;
    let Some(range) = api::supported_versions(api_key) else {
        return Err(ConnectionError::UnsupportedVersion { api: api_key, version });
    };
    if version < range.0 || version > range.1 {
        if api_key == ApiKey::ApiVersions {
            // KIP-511: a client newer than us learns our versions from a v0 answer.
            return Ok(Parsed::Immediate(api::api_versions::unsupported_version_response(correlation_id)));
        }
        return Err(ConnectionError::UnsupportedVersion { api: api_key, version });
    }
    let header = RequestHeader::decode(frame, api_key.request_header_version(version))
        .map_err(|e| ConnectionError::Malformed(format!("{api_key:?} v{version} header: {e}")))?;
    Ok(Parsed::Request { api_key, header })
}

/// Puts the response header in front of an encoded answer.
fn frame_answer(api_key: ApiKey, version: i16, correlation_id: i32, answer: Answer) -> Answer {
    let Some(body) = answer? else {
        return Ok(None);
    };
    let header_version = api_key.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_len = header
        .compute_size(header_version)
        .map_err(|e| ConnectionError::Malformed(format!("response header: {e}")))?;
    let mut out = BytesMut::with_capacity(4 + header_len + body.len());
    out.put_i32((header_len + body.len()) as i32);
    header
        .encode(&mut out, header_version)
        .map_err(|e| ConnectionError::Malformed(format!("response header: {e}")))?;
    out.extend_from_slice(&body);
    Ok(Some(out.freeze()))
}

async fn write_loop(
    writer: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Pending>,
    activity: &Activity,
) -> Result<(), ConnectionError> {
    let mut writer = BufWriter::new(writer);
    while let Some(mut pending) = rx.recv().await {
        let result = match pending.try_recv() {
            Ok(result) => result,
            Err(oneshot::error::TryRecvError::Empty) => {
                // Responses already buffered must not wait behind a slow one (a long-polling fetch).
                writer.flush().await?;
                pending.await.map_err(|_| ConnectionError::Malformed("request handler vanished".into()))?
            }
            Err(oneshot::error::TryRecvError::Closed) => {
                return Err(ConnectionError::Malformed("request handler vanished".into()));
            }
        };
        if let Some(bytes) = result? {
            writer.write_all(&bytes).await?;
        }
        activity.answered();
        if rx.is_empty() {
            writer.flush().await?;
        }
    }
    writer.flush().await?;
    Ok(())
}
