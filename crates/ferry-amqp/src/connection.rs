//! One client connection: the protocol header, then frames read, routed and answered, with the
//! connection's timers (handshake, heartbeats, close).
//!
//! # Path of a frame
//!
//! `drive` reads bytes into one buffer; [`frame::decode`] takes whole frames off it (refusing
//! one over `frame_max` from its header alone); `route` checks the frame may be served where the
//! connection is (handshake order, channel 0 or a channel within `channel_max` that is open,
//! content in its place) and hands methods to [`methods::dispatch`] and content to the channel's
//! assembly. Answers are queued in the [`Session`] and written before the next read.
//!
//! A `ChannelError` closes its channel; a `ConnectionError` sends `connection.close` and waits
//! up to [`CLOSE_OK_TIMEOUT`] for `close-ok`. A frame that cannot be decoded loses the stream's
//! framing, so after its `connection.close` the socket closes at once. Either way, only this
//! connection ends: nothing a client sends can stop the listener or another connection.
//!
//! # Timers
//!
//! - From accept to `connection.open`: `handshake_timeout_ms`; a slower client is disconnected.
//! - Heartbeats, once tuned with a non-zero interval: one is sent whenever nothing was written
//!   for half the interval, and a peer that sends nothing for two intervals is disconnected.
//! - A write that makes no progress for [`WRITE_TIMEOUT`] (a client that stopped reading)
//!   disconnects.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amq_protocol::protocol::{AMQPClass, basic as b, channel as ch, connection as conn};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::Instrument;

use crate::consumer::{self, Pushed};
use crate::errors::{AmqpError, ChannelError, ConnectionError, MethodId, ReplyCode};
use crate::frame::{self, Frame, PROTOCOL_HEADER};
use crate::methods;
use crate::server::Shared;
use crate::session::{Phase, Session};

/// How long the broker waits for `close-ok` after its `connection.close`.
pub(crate) const CLOSE_OK_TIMEOUT: Duration = Duration::from_secs(3);
/// A write to the client that takes longer than this ends the connection.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// After the last write, how long unread input is drained so the close is not lost to a reset.
const LINGER: Duration = Duration::from_secs(1);
/// Most bytes drained while lingering.
const LINGER_BYTES_MAX: usize = 1 << 20;
/// Deliveries consumer tasks may have pushed and the connection not yet written; each
/// consumer's prefetch bounds what it can push in total.
const PUSHED_MAX: usize = 256;
/// Smallest read: enough for a few small frames at once.
const READ_CHUNK_BYTES: usize = 8 * 1024;

const CHANNEL_OPEN: MethodId = MethodId::new(20, 10);
const PUBLISH: MethodId = MethodId::new(60, 40);
const CONNECTION_CLOSE: MethodId = MethodId::new(10, 50);

/// Serves one connection until it closes, its peer goes silent, or `stop`.
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let span = tracing::info_span!("amqp_connection", %peer);
    serve(stream, peer, shared, stop).instrument(span).await;
}

async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let config = Arc::clone(&shared.config);
    let handshake_deadline = Instant::now() + Duration::from_millis(config.handshake_timeout_ms.max(1));
    let (mut reader, mut writer) = stream.into_split();
    let mut header = [0u8; 8];
    match tokio::time::timeout_at(handshake_deadline, reader.read_exact(&mut header)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "connection lost before its protocol header");
            return;
        }
        Err(_) => {
            tracing::info!(
                timeout_ms = config.handshake_timeout_ms,
                "no protocol header in time; disconnecting"
            );
            return;
        }
    }
    if header != PROTOCOL_HEADER {
        // The spec's answer to a protocol it does not speak: its own header, then close.
        tracing::info!(header = ?header, "unsupported protocol header; answering with AMQP 0-9-1's");
        let _ = tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(&PROTOCOL_HEADER)).await;
        linger(reader, writer).await;
        return;
    }
    let (pushed, mut pushed_rx) = mpsc::channel(PUSHED_MAX);
    let mut session = Session::new(shared, peer, pushed);
    session.send(0, AMQPClass::Connection(conn::AMQPMethod::Start(methods::connection::start())));
    match drive(&mut session, &mut reader, &mut writer, &mut pushed_rx, handshake_deadline, &mut stop).await {
        Ok(()) => tracing::debug!("connection closed"),
        Err(e) => tracing::debug!(error = %e, "connection lost"),
    }
    session.finish().await;
    // Consumers are stopped; what they pushed and nobody wrote goes back to its queue.
    pushed_rx.close();
    while let Some(pushed) = pushed_rx.recv().await {
        if let Pushed::Delivery { queue, held, .. } = pushed {
            consumer::requeue(session.broker().queues(), &queue, held).await;
        }
    }
    linger(reader, writer).await;
}

/// Reads, routes and answers frames until the session is closed or a timer ends it.
async fn drive(
    session: &mut Session,
    reader: &mut OwnedReadHalf,
    writer: &mut OwnedWriteHalf,
    pushed: &mut mpsc::Receiver<Pushed>,
    handshake_deadline: Instant,
    stop: &mut watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut input = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut last_read = Instant::now();
    let mut last_write = Instant::now();
    let mut closing_since = None;
    let mut disk_alarm = session.broker().disk_alarm().subscribe();
    let mut memory_alarm = session.broker().memory_alarm().subscribe();
    let durable = std::sync::Arc::clone(&session.confirmer.ready);
    loop {
        // A publisher is not read while the disk or memory alarm is raised (RabbitMQ's
        // blocking); it is told so when it asked, and its silence then is not held against it.
        let alarm = methods::connection::Alarm {
            disk: *disk_alarm.borrow_and_update(),
            memory: *memory_alarm.borrow_and_update(),
        };
        methods::connection::tell_blocked(session, alarm);
        let reading = !(alarm.raised() && session.published);
        if !reading {
            last_read = Instant::now();
        }
        if session.has_output() {
            let buffer = session.take_output();
            tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(&buffer))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "client stopped reading"))??;
            session.give_back(buffer);
            last_write = Instant::now();
        }
        match session.phase {
            Phase::Closed => return Ok(()),
            Phase::Closing => {
                closing_since.get_or_insert_with(Instant::now);
            }
            _ => {}
        }
        let handshaking =
            matches!(session.phase, Phase::AwaitStartOk | Phase::AwaitTuneOk | Phase::AwaitOpen);
        // Zero until tune-ok; the client's choice after.
        let interval = Duration::from_secs(session.tuning.heartbeat_s.into());
        let heartbeats = !interval.is_zero() && session.phase == Phase::Open;
        let beat_at = last_write + interval / 2;
        let silent_at = last_read + interval * 2;
        let close_ok_by = closing_since.map(|since: Instant| since + CLOSE_OK_TIMEOUT);
        let ack_check = session.ack_timeouts.next_check().filter(|_| session.phase == Phase::Open);
        input.reserve(frame::needed(&input, session.tuning.frame_max).max(READ_CHUNK_BYTES));
        tokio::select! {
            biased;
            () = stopped(stop) => {
                if !matches!(session.phase, Phase::Closing | Phase::Closed) {
                    session.close_connection(&ConnectionError::new(
                        ReplyCode::ConnectionForced,
                        MethodId::NONE,
                        "broker forced connection closure with reason 'shutdown'",
                    )).await;
                }
                let buffer = session.take_output();
                let _ = tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(&buffer)).await;
                return Ok(());
            }
            read = reader.read_buf(&mut input), if reading => {
                if read? == 0 {
                    return Ok(());
                }
                last_read = Instant::now();
                process(session, &mut input).await;
            }
            () = durable.notified() => session.confirm_durable().await,
            Some(delivery) = pushed.recv(), if session.phase == Phase::Open => {
                methods::pushed(session, delivery).await;
                // Deliveries come in bursts: write them together.
                while let Ok(delivery) = pushed.try_recv() {
                    methods::pushed(session, delivery).await;
                }
            }
            _ = tokio::time::sleep_until(beat_at), if heartbeats => session.send_heartbeat(),
            _ = tokio::time::sleep_until(ack_check.unwrap_or(handshake_deadline)), if ack_check.is_some() => {
                methods::basic::close_timed_out(session).await;
            }
            Ok(()) = disk_alarm.changed() => {}
            Ok(()) = memory_alarm.changed() => {}
            _ = tokio::time::sleep_until(silent_at), if !interval.is_zero() && reading => {
                tracing::warn!(timeout_s = interval.as_secs(), "missed heartbeats from client; disconnecting");
                return Ok(());
            }
            _ = tokio::time::sleep_until(handshake_deadline), if handshaking => {
                tracing::info!(phase = ?session.phase, "handshake timed out; disconnecting");
                return Ok(());
            }
            _ = tokio::time::sleep_until(close_ok_by.unwrap_or(handshake_deadline)), if close_ok_by.is_some() => {
                tracing::debug!("no close-ok in time; disconnecting");
                return Ok(());
            }
        }
    }
}

/// Most body bytes a connection's unfinished messages may announce together: four of the
/// largest, so a client cannot hold `channel_max` half-sent messages at once.
fn assembly_bytes_max(max_message_bytes: u64) -> u64 {
    max_message_bytes.saturating_mul(4)
}

/// Resolves once the listener is stopping. Cancellation-safe.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send; drop it here, before any other await.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Takes every whole frame off `input` and serves it.
async fn process(session: &mut Session, input: &mut BytesMut) {
    while session.phase != Phase::Closed {
        match frame::decode(input, session.tuning.frame_max) {
            Ok(Some(frame)) => {
                let channel = frame.channel();
                match route(session, frame).await {
                    Ok(()) => {}
                    Err(AmqpError::Channel(e)) => session.close_channel(channel, &e).await,
                    Err(AmqpError::Connection(e)) => session.close_connection(&e).await,
                }
            }
            Ok(None) => return,
            Err(e) => {
                // The stream's framing is lost: what follows cannot be read. Say why, then close.
                input.clear();
                if session.phase != Phase::Closing {
                    session.close_connection(&e).await;
                }
                session.phase = Phase::Closed;
            }
        }
    }
}

/// Serves one frame where the connection is.
async fn route(session: &mut Session, frame: Frame) -> Result<(), AmqpError> {
    // Every method but a publish sees what the connection published before it.
    if let Frame::Method { id, .. } = &frame
        && *id != PUBLISH
        && session.phase == Phase::Open
    {
        session.settle_publishes().await;
    }
    match session.phase {
        Phase::AwaitStartOk | Phase::AwaitTuneOk | Phase::AwaitOpen => {
            return handshake(session, frame).await;
        }
        Phase::Closing => {
            // Only the close handshake matters now; everything else is dropped, as the spec asks.
            return match frame {
                Frame::Method { channel: 0, id, method: method @ AMQPClass::Connection(_), .. }
                    if matches!(
                        method,
                        AMQPClass::Connection(conn::AMQPMethod::Close(_) | conn::AMQPMethod::CloseOk(_))
                    ) =>
                {
                    methods::dispatch(session, 0, id, method).await
                }
                _ => Ok(()),
            };
        }
        Phase::Closed => return Ok(()),
        Phase::Open => {}
    }
    let number = frame.channel();
    if number == 0 {
        return match frame {
            Frame::Heartbeat => Ok(()),
            Frame::Method { id, method, .. } if id.class_id == 10 => {
                methods::dispatch(session, 0, id, method).await
            }
            // RabbitMQ's answer too: a channel-level method with no channel to go to.
            Frame::Method { id, .. } => Err(ConnectionError::new(
                ReplyCode::ChannelError,
                id,
                format!(
                    "{} is not a connection method; channel 0 carries only those",
                    frame::method_name(id).unwrap_or("method")
                ),
            )
            .into()),
            _ => Err(unexpected_frame("content frame on channel 0")),
        };
    }
    if number > session.tuning.channel_max {
        return Err(ConnectionError::new(
            ReplyCode::ChannelError,
            MethodId::NONE,
            format!("channel {number} is above the negotiated channel_max of {}", session.tuning.channel_max),
        )
        .into());
    }
    // Unfinished messages of all channels together stay within the connection's bound.
    let announced: u64 = match &frame {
        Frame::Header { .. } => session.channels.values().map(|c| c.announced_bytes()).sum(),
        _ => 0,
    };
    let Some(channel) = session.channels.get_mut(&number) else {
        return match frame {
            Frame::Method { id, .. } if id == CHANNEL_OPEN => methods::channel_open(session, number).await,
            Frame::Method { id, .. } => {
                Err(channel_not_open(number, frame::method_name(id).unwrap_or("a method")))
            }
            _ => Err(channel_not_open(number, "a content frame")),
        };
    };
    if channel.state == crate::channel::ChannelState::Closing {
        return match frame {
            Frame::Method {
                id,
                method: method @ AMQPClass::Channel(ch::AMQPMethod::Close(_) | ch::AMQPMethod::CloseOk(_)),
                ..
            } => methods::dispatch(session, number, id, method).await,
            _ => Ok(()),
        };
    }
    let max_message_bytes = session.config.max_message_bytes;
    let content = match frame {
        Frame::Method { id, method, qos_prefetch_size, .. } => {
            if id.class_id == 10 {
                return Err(command_invalid(
                    id,
                    &format!("on channel {number}; connection methods belong on channel 0"),
                ));
            }
            if channel.expects_content() {
                return Err(unexpected_frame(&format!(
                    "expected content for basic.publish on channel {number}, got {}",
                    frame::method_name(id).unwrap_or("a method")
                )));
            }
            if let AMQPClass::Basic(b::AMQPMethod::Qos(qos)) = &method {
                methods::basic::qos_size(channel, qos.global, qos_prefetch_size);
            }
            return methods::dispatch(session, number, id, method).await;
        }
        Frame::Header { header, .. } => {
            let bound = assembly_bytes_max(max_message_bytes);
            if announced.saturating_add(header.body_size) > bound && header.body_size <= max_message_bytes {
                channel.abandon_content();
                return Err(ChannelError::new(
                    ReplyCode::PreconditionFailed,
                    MethodId::new(60, 40),
                    format!(
                        "message size {} would take this connection's unfinished messages past {bound} bytes; \
                         finish the others first",
                        header.body_size
                    ),
                )
                .into());
            }
            channel.content_header(header, max_message_bytes)?
        }
        Frame::Body { payload, .. } => channel.content_body(payload)?,
        Frame::Heartbeat => return Err(unexpected_frame("heartbeat on a channel")),
    };
    match content {
        Some(content) => methods::publish_content(session, number, content).await,
        None => Ok(()),
    }
}

/// During the handshake only the next step's method (or `connection.close`) is served.
async fn handshake(session: &mut Session, frame: Frame) -> Result<(), AmqpError> {
    let expected = match session.phase {
        Phase::AwaitStartOk => MethodId::new(10, 11),
        Phase::AwaitTuneOk => MethodId::new(10, 31),
        _ => MethodId::new(10, 40),
    };
    match frame {
        Frame::Heartbeat => Ok(()),
        Frame::Method { channel: 0, id, method, .. } if id == expected || id == CONNECTION_CLOSE => {
            methods::dispatch(session, 0, id, method).await
        }
        Frame::Method { id, .. } => Err(ConnectionError::new(
            ReplyCode::CommandInvalid,
            id,
            format!(
                "expected {} during the handshake, got {}",
                frame::method_name(expected).unwrap_or_default(),
                frame::method_name(id).unwrap_or("a method")
            ),
        )
        .into()),
        _ => Err(ConnectionError::new(
            ReplyCode::UnexpectedFrame,
            MethodId::NONE,
            format!(
                "content frame during the handshake; expected {}",
                frame::method_name(expected).unwrap_or_default()
            ),
        )
        .into()),
    }
}

fn command_invalid(id: MethodId, text: &str) -> AmqpError {
    ConnectionError::new(
        ReplyCode::CommandInvalid,
        id,
        format!("{} {text}", frame::method_name(id).unwrap_or("method")),
    )
    .into()
}

fn unexpected_frame(text: &str) -> AmqpError {
    ConnectionError::new(ReplyCode::UnexpectedFrame, MethodId::NONE, text).into()
}

fn channel_not_open(number: u16, got: &str) -> AmqpError {
    ConnectionError::new(
        ReplyCode::ChannelError,
        MethodId::NONE,
        format!("expected 'channel.open' on channel {number}, got {got}"),
    )
    .into()
}

/// Ends the connection without losing what was written: stop writing, then drain what the
/// client still sends (its `close-ok`) for a moment, so closing does not reset the socket
/// before the client has read the last frames.
async fn linger(mut reader: OwnedReadHalf, mut writer: OwnedWriteHalf) {
    let _ = tokio::time::timeout(LINGER, writer.shutdown()).await;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    let deadline = Instant::now() + LINGER;
    while drained < LINGER_BYTES_MAX {
        match tokio::time::timeout_at(deadline, reader.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}
