//! The connections of an HTTP listener (the AWS front-end's and the HTTP API's): at most
//! `max_connections` served at once, each closed when it sits idle too long or stops sending a
//! request's headers, and a full listener that still answers a new client at once.
//!
//! Every connection is in one [`Phase`]: idle (between requests, or before the first byte),
//! reading a request's headers, or in a request (its handler runs; the handler bounds the body
//! read itself). A read that waits past the phase's deadline fails the connection, which hyper
//! then closes. When every permit is taken, the connection idle the longest is closed to make room
//! (clients retry a request on a kept-alive connection the server closed); when none is idle, the
//! new client gets the listener's [`Refusal`] (a 503 in its protocol's shape) instead of waiting
//! unanswered.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tracing::{debug, warn};

/// Most over-limit clients answered at once; beyond that a new connection is closed unanswered.
const REFUSALS_MAX: usize = 64;
/// How long an over-limit client may take to send its request head before it is answered anyway.
const REFUSAL_READ: Duration = Duration::from_secs(1);
/// Largest request head read from an over-limit client.
const REFUSAL_HEAD_BYTES_MAX: usize = 16 * 1024;
/// How long the accept loop waits for an evicted connection to give back its permit.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// Renders the whole HTTP response (status line, headers, body) a client is refused with when
/// the listener is full, from the request head it sent (which may be partial or empty).
pub type Refusal = fn(head: &[u8]) -> Vec<u8>;

/// The timeouts of a connection between requests and while its headers arrive.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionTimeouts {
    /// From the end of a response (or the accept) to the first byte of the next request.
    pub idle: Duration,
    /// From the first byte of a request to the end of its headers.
    pub header_read: Duration,
}

/// Where a connection is in its request cycle, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle(Instant),
    ReadingHead(Instant),
    InRequest,
}

/// One open connection as the accept loop and the request handler see it.
#[derive(Debug)]
pub struct Connection {
    id: u64,
    phase: Mutex<Phase>,
    evicted: AtomicBool,
    /// The waker of the last read that found no bytes, so an eviction can end that wait.
    reader: Mutex<Option<Waker>>,
}

impl Connection {
    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the connection as in a request until the returned guard drops (the handler's end).
    pub fn begin_request(self: &Arc<Self>) -> RequestGuard {
        *self.phase() = Phase::InRequest;
        RequestGuard(Arc::clone(self))
    }

    fn bytes_arrived(&self) {
        let mut phase = self.phase();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::ReadingHead(Instant::now());
        }
    }

    fn idle_since(&self) -> Option<Instant> {
        match *self.phase() {
            Phase::Idle(since) => Some(since),
            _ => None,
        }
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::SeqCst);
        if let Some(waker) = self.reader.lock().unwrap_or_else(PoisonError::into_inner).take() {
            waker.wake();
        }
    }
}

/// Returns its connection to idle when the request's handler ends (also when it is cancelled).
pub struct RequestGuard(Arc<Connection>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        *self.0.phase() = Phase::Idle(Instant::now());
    }
}

/// The request handler's way to its connection (axum's connect info).
#[derive(Clone, Debug)]
pub struct ConnectionInfo(pub Arc<Connection>);

impl Connected<IncomingStream<'_, Listener>> for ConnectionInfo {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Self {
        ConnectionInfo(Arc::clone(&stream.io().connection))
    }
}

/// The open connections, so the accept loop can pick one to close when the listener is full.
#[derive(Debug, Default)]
struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
}

impl Registry {
    fn open(&self) -> MutexGuard<'_, HashMap<u64, Arc<Connection>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(&self) -> Arc<Connection> {
        let connection = Arc::new(Connection {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            phase: Mutex::new(Phase::Idle(Instant::now())),
            evicted: AtomicBool::new(false),
            reader: Mutex::new(None),
        });
        self.open().insert(connection.id, Arc::clone(&connection));
        connection
    }

    /// Closes the connection idle the longest; false when none is idle.
    fn evict_longest_idle(&self) -> bool {
        let oldest = self
            .open()
            .values()
            .filter(|c| !c.evicted.load(Ordering::SeqCst))
            .filter_map(|c| c.idle_since().map(|since| (since, Arc::clone(c))))
            .min_by_key(|(since, _)| *since);
        match oldest {
            Some((_, connection)) => {
                debug!(connection = connection.id, "listener full: closing its longest idle connection");
                connection.evict();
                true
            }
            None => false,
        }
    }
}

/// The SQS listener: accepts every client, serves at most `max_connections` at once.
pub struct Listener {
    name: &'static str,
    refusal: Refusal,
    inner: TcpListener,
    permits: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
    registry: Arc<Registry>,
    timeouts: ConnectionTimeouts,
}

impl Listener {
    /// A listener called `name` in logs, answering `refusal` when full.
    pub fn new(
        name: &'static str,
        inner: TcpListener,
        max_connections: usize,
        timeouts: ConnectionTimeouts,
        refusal: Refusal,
    ) -> Listener {
        Listener {
            name,
            refusal,
            inner,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            refusals: Arc::new(Semaphore::new(REFUSALS_MAX)),
            registry: Arc::default(),
            timeouts,
        }
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.registry.open().len()
    }

    /// A handle that counts the open connections after the listener moved into the server.
    pub fn gauge(&self) -> ConnectionGauge {
        ConnectionGauge(Arc::clone(&self.registry))
    }

    /// A permit for a new connection: a free one, else the one an evicted idle connection gives back.
    async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Some(permit);
        }
        if !self.registry.evict_longest_idle() {
            return None;
        }
        tokio::time::timeout(EVICTION_WAIT, Arc::clone(&self.permits).acquire_owned()).await.ok()?.ok()
    }

    fn refuse(&self, stream: TcpStream) {
        let Ok(permit) = Arc::clone(&self.refusals).try_acquire_owned() else {
            return;
        };
        let render = self.refusal;
        tokio::spawn(async move {
            refuse(stream, render).await;
            drop(permit);
        });
    }
}

impl axum::serve::Listener for Listener {
    type Io = Stream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Typically EMFILE/ENFILE: back off instead of spinning.
                    warn!(listener = self.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Request/response traffic: do not let Nagle hold back small answers.
            let _ = stream.set_nodelay(true);
            let Some(permit) = self.permit().await else {
                debug!(listener = self.name, %addr, "listener full with no idle connection: answering 503");
                self.refuse(stream);
                continue;
            };
            let connection = self.registry.register();
            let stream = Stream {
                stream,
                connection,
                registry: Arc::clone(&self.registry),
                timeouts: self.timeouts,
                deadline: Box::pin(tokio::time::sleep(Duration::ZERO)),
                _permit: permit,
            };
            return (stream, addr);
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Reads an over-limit client's request head, answers it the listener's refusal, then closes
/// the connection.
async fn refuse(mut stream: TcpStream, render: Refusal) {
    let mut head = Vec::new();
    let _ = tokio::time::timeout(REFUSAL_READ, async {
        let mut chunk = [0u8; 2048];
        while head.len() < REFUSAL_HEAD_BYTES_MAX && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let response = render(&head);
    let _ = tokio::time::timeout(REFUSAL_READ, async {
        stream.write_all(&response).await?;
        stream.shutdown().await
    })
    .await;
    // Read what the client still sends so closing does not reset the answer away.
    let _ = tokio::time::timeout(REFUSAL_READ, async {
        let mut sink = [0u8; 2048];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Counts a listener's open connections (for metrics), from outside its accept loop.
#[derive(Clone, Debug)]
pub struct ConnectionGauge(Arc<Registry>);

impl ConnectionGauge {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.0.open().len()
    }
}

/// A served connection: its socket, its place in the registry and the permit it holds. A read
/// that waits past its phase's deadline, or on an evicted connection, fails with an I/O error.
pub struct Stream {
    stream: TcpStream,
    connection: Arc<Connection>,
    registry: Arc<Registry>,
    timeouts: ConnectionTimeouts,
    deadline: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl Stream {
    fn evicted(&self) -> io::Result<()> {
        if self.connection.evicted.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed to make room for a new client",
            ));
        }
        Ok(())
    }

    /// Called when a read found no bytes: fails once the phase's deadline has passed, else
    /// arranges to be woken by the deadline or an eviction.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        *self.connection.reader.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
        self.evicted()?;
        let (deadline, what) = match *self.connection.phase() {
            Phase::Idle(since) => (since + self.timeouts.idle, "idle_timeout_ms"),
            Phase::ReadingHead(since) => (since + self.timeouts.header_read, "header_read_timeout_ms"),
            Phase::InRequest => return Poll::Pending,
        };
        if self.deadline.deadline() != deadline {
            self.deadline.as_mut().reset(deadline);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            debug!(connection = self.connection.id, timeout = what, "HTTP connection timed out");
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, format!("{what} passed"))));
        }
        Poll::Pending
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.registry.open().remove(&self.connection.id);
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.evicted()?;
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.connection.bytes_arrived();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_wait(cx),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
