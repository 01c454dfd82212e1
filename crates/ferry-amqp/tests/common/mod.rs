//! Test harness: the real listener on port 0, and a raw AMQP client for what real clients
//! never send (oversized frames, bad channels, garbage).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amq_protocol::frame::{AMQPFrame, WriteContext, gen_frame, parse_frame};
use amq_protocol::protocol::{AMQPClass, connection};
use amq_protocol::types::{AMQPValue, FieldTable};
use bytes::{Buf, BytesMut};
use ferry_amqp::AmqpConfig;
use ferry_broker::Broker;
use ferry_broker::clock::SystemClock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for a frame or a close before failing.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A running listener over a fresh broker; stopped by [`Server::stop`] or when dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub broker: Arc<Broker>,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Starts the listener on 127.0.0.1, port 0.
    pub async fn start(config: AmqpConfig) -> Server {
        Server::start_with_disk_limit(config, 0).await
    }

    /// Starts the listener over a broker whose disk alarm is raised below `disk_free_bytes`
    /// free (0: never; `u64::MAX` and a `check()`: at once).
    pub async fn start_with_disk_limit(config: AmqpConfig, disk_free_bytes: u64) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let broker = Arc::new(broker(dir.path(), disk_free_bytes).await);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ferry_amqp::serve(listener, config, Arc::clone(&broker), async {
            let _ = stopped.await;
        }));
        Server { addr, broker, _dir: dir, stop: Some(stop), task: Some(task) }
    }

    /// An AMQP URI for `user:password` on this server, with `query` (`heartbeat=1`...) appended.
    pub fn uri(&self, user: &str, password: &str, query: &str) -> String {
        format!("amqp://{user}:{password}@{}/%2f?{query}", self.addr)
    }

    /// Stops the listener and waits for every connection to end.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

/// Every service of a node over `dir`, with an in-memory metadata store.
async fn broker(dir: &std::path::Path, disk_free_bytes: u64) -> Broker {
    Broker::open_for_tests(dir, SystemClock::shared(), disk_free_bytes, Default::default())
        .await
        .expect("open the broker")
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A client that writes frames by hand.
pub struct Raw {
    stream: TcpStream,
    input: BytesMut,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        Raw { stream: TcpStream::connect(addr).await.unwrap(), input: BytesMut::new() }
    }

    /// Opens a connection through tune-ok and open with `tune`, as guest.
    pub async fn handshake(addr: SocketAddr, tune: connection::TuneOk) -> Raw {
        let mut raw = Raw::connect(addr).await;
        raw.send_bytes(b"AMQP\x00\x00\x09\x01").await;
        let start = raw.recv_method().await;
        assert!(matches!(start, AMQPClass::Connection(connection::AMQPMethod::Start(_))), "{start:?}");
        raw.send_method(0, start_ok("PLAIN", "\0guest\0guest")).await;
        let tuned = raw.recv_method().await;
        assert!(matches!(tuned, AMQPClass::Connection(connection::AMQPMethod::Tune(_))), "{tuned:?}");
        raw.send_method(0, AMQPClass::Connection(connection::AMQPMethod::TuneOk(tune))).await;
        raw.send_method(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open {
                virtual_host: "/".into(),
            })),
        )
        .await;
        let open_ok = raw.recv_method().await;
        assert!(matches!(open_ok, AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))), "{open_ok:?}");
        raw
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    pub async fn send(&mut self, frame: &AMQPFrame) {
        let (bytes, _) = gen_frame(frame)(WriteContext::from(Vec::new())).unwrap().into_inner();
        self.send_bytes(&bytes).await;
    }

    pub async fn send_method(&mut self, channel: u16, method: AMQPClass) {
        self.send(&AMQPFrame::Method(channel, method)).await;
    }

    /// The next frame, or `None` once the server has closed the socket.
    pub async fn recv(&mut self) -> Option<AMQPFrame> {
        tokio::time::timeout(PATIENCE, self.recv_unbounded()).await.expect("no frame from the server in time")
    }

    async fn recv_unbounded(&mut self) -> Option<AMQPFrame> {
        loop {
            let len = if self.input.starts_with(b"AMQP") {
                Some(8)
            } else if self.input.len() >= 7 {
                Some(
                    u32::from_be_bytes([self.input[3], self.input[4], self.input[5], self.input[6]]) as usize
                        + 8,
                )
            } else {
                None
            };
            if let Some(len) = len.filter(|len| self.input.len() >= *len) {
                let (_, frame) = parse_frame(&self.input[..len]).unwrap();
                self.input.advance(len);
                return Some(frame);
            }
            match self.stream.read_buf(&mut self.input).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next method frame, skipping heartbeats.
    pub async fn recv_method(&mut self) -> AMQPClass {
        loop {
            match self.recv().await {
                Some(AMQPFrame::Method(_, method)) => return method,
                Some(AMQPFrame::Heartbeat) => {}
                other => panic!("expected a method, got {other:?}"),
            }
        }
    }

    /// Expects `connection.close`, answers `close-ok`, and returns the close.
    pub async fn expect_connection_close(&mut self) -> connection::Close {
        match self.recv_method().await {
            AMQPClass::Connection(connection::AMQPMethod::Close(close)) => {
                self.send_method(
                    0,
                    AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})),
                )
                .await;
                close
            }
            other => panic!("expected connection.close, got {other:?}"),
        }
    }

    /// Waits for the server to close the socket, skipping frames.
    pub async fn expect_eof(&mut self) {
        while self.recv().await.is_some() {}
    }
}

/// A start-ok as clients send it, advertising authentication_failure_close.
pub fn start_ok(mechanism: &str, response: &str) -> AMQPClass {
    let mut capabilities = FieldTable::default();
    capabilities.insert("authentication_failure_close".into(), AMQPValue::Boolean(true));
    let mut properties = FieldTable::default();
    properties.insert("capabilities".into(), AMQPValue::FieldTable(capabilities));
    AMQPClass::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
        client_properties: properties,
        mechanism: mechanism.into(),
        response: response.into(),
        locale: "en_US".into(),
    }))
}

/// The tune-ok of a client that takes the server's limits and wants no heartbeats.
pub fn tune_ok() -> connection::TuneOk {
    connection::TuneOk { channel_max: 0, frame_max: 0, heartbeat: 0 }
}
