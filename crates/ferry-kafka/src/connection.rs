//! One client connection: length-prefixed frames in, responses out in request order.
//!
//! Requests are decoded and handled concurrently (each in its own task) but at most
//! `max_in_flight_per_connection` at a time: once that many wait for their turn, the connection stops
//! reading. A malformed or oversize frame closes this connection only.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch};

use crate::api::{self, RequestContext};
use crate::server::Shared;

/// Why a connection is closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ConnectionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {size} bytes is outside 8..={max}")]
    FrameSize { size: i64, max: usize },
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
type Pending = oneshot::Receiver<Result<Option<Bytes>, ConnectionError>>;

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
    let result = tokio::select! {
        r = read_loop(reader, tx, local, peer, Arc::clone(&shared)) => r,
        r = write_loop(writer, rx) => r,
        _ = stop.wait_for(|stopped| *stopped) => Ok(()),
    };
    match result {
        Ok(()) => tracing::debug!(%peer, "connection closed"),
        Err(ConnectionError::Io(e)) => tracing::debug!(%peer, error = %e, "connection closed"),
        Err(e) => tracing::warn!(%peer, error = %e, "closing connection after a protocol error"),
    }
}

async fn read_loop(
    mut reader: OwnedReadHalf,
    tx: mpsc::Sender<Pending>,
    local: SocketAddr,
    peer: SocketAddr,
    shared: Arc<Shared>,
) -> Result<(), ConnectionError> {
    let max = shared.config.max_frame_bytes;
    loop {
        let size = match reader.read_i32().await {
            Ok(size) => size,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if size < 8 || size as usize > max {
            return Err(ConnectionError::FrameSize { size: size as i64, max });
        }
        let mut frame = BytesMut::zeroed(size as usize);
        reader.read_exact(&mut frame).await?;
        let mut frame = frame.freeze();
        let (pending_tx, pending_rx) = oneshot::channel();
        if tx.send(pending_rx).await.is_err() {
            return Ok(());
        }
        match parse(&mut frame)? {
            Parsed::Request { api_key, header } => {
                let ctx = RequestContext { shared: Arc::clone(&shared), header, local_addr: local, peer };
                tokio::spawn(async move {
                    let result = handle(ctx, api_key, frame).await;
                    let _ = pending_tx.send(result);
                });
            }
            Parsed::Immediate(response) => {
                let _ = pending_tx.send(Ok(Some(response)));
            }
        }
    }
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

async fn handle(ctx: RequestContext, api_key: ApiKey, body: Bytes) -> Result<Option<Bytes>, ConnectionError> {
    let version = ctx.header.request_api_version;
    let correlation_id = ctx.header.correlation_id;
    let Some(body) = api::dispatch(&ctx, api_key, body).await? else {
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

async fn write_loop(writer: OwnedWriteHalf, mut rx: mpsc::Receiver<Pending>) -> Result<(), ConnectionError> {
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
        if rx.is_empty() {
            writer.flush().await?;
        }
    }
    writer.flush().await?;
    Ok(())
}
