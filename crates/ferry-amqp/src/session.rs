//! The state of one connection that methods act on: where the handshake is, the negotiated
//! limits, the open channels, and the frames waiting to be written. No I/O: `connection` reads
//! and writes, this only records.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use amq_protocol::protocol::{AMQPClass, channel, connection};
use amq_protocol::types::FieldTable;

use amq_protocol::protocol::BasicProperties;
use ferry_broker::Broker;
use ferry_broker::broker::OwnerId;

use amq_protocol::protocol::basic;
use ferry_broker::broker::{PendingPublish, PublishError, Published};
use ferry_broker::queues::QueueError;
use tokio::sync::{Notify, mpsc};

use crate::ack_timeout::AckTimeouts;
use crate::channel::{Channel, ChannelState, Held, Unacked};
use crate::config::AmqpConfig;
use crate::consumer::Pushed;
use crate::errors::{AmqpError, ChannelError, ConnectionError, MethodId, ReplyCode, publish_error};
use crate::frame;
use crate::server::Shared;

/// Most publishes of one connection waiting for the disk at once; one more waits for the oldest.
pub(crate) const IN_FLIGHT_MAX: usize = 1024;

const PUBLISH: MethodId = MethodId::new(60, 40);

/// A publish waiting for the disk.
struct InFlight {
    channel: u16,
    /// Its confirm sequence number, in confirm mode.
    sequence: Option<u64>,
    routing_key: String,
}

type Outcome = Result<Published, PublishError>;

/// Waits for a connection's publishes to become durable, one after the other in publish order,
/// and hands their outcomes back in that order. One task per connection rather than one per
/// publish: once the oldest is durable, the ones appended before its fsync began are too, and
/// they are collected without waiting again.
#[derive(Clone)]
pub(crate) struct Confirmer {
    publishes: mpsc::UnboundedSender<PendingPublish>,
    outcomes: Arc<std::sync::Mutex<VecDeque<Outcome>>>,
    /// Told when an outcome is ready (a permit is kept if nobody waits).
    pub(crate) ready: Arc<Notify>,
}

impl Confirmer {
    fn start() -> Confirmer {
        let (publishes, mut rx) = mpsc::unbounded_channel::<PendingPublish>();
        let outcomes = Arc::new(std::sync::Mutex::new(VecDeque::new()));
        let ready = Arc::new(Notify::new());
        let (done, told) = (Arc::clone(&outcomes), Arc::clone(&ready));
        // Runs until the session is gone and every publish handed over has been awaited: a
        // message stays invisible in its queues until then.
        tokio::spawn(async move {
            while let Some(pending) = rx.recv().await {
                let outcome = pending.durable().await;
                if let Ok(mut done) = done.lock() {
                    done.push_back(outcome);
                }
                told.notify_one();
            }
        });
        Confirmer { publishes, outcomes, ready }
    }

    fn pop(&self) -> Option<Outcome> {
        self.outcomes.lock().ok().and_then(|mut o| o.pop_front())
    }

    fn has_outcome(&self) -> bool {
        self.outcomes.lock().is_ok_and(|o| !o.is_empty())
    }
}

/// Where a connection is: the handshake steps in order, then open, then closing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `connection.start` sent; waiting for the client's credentials.
    AwaitStartOk,
    /// `connection.tune` sent; waiting for the client's limits.
    AwaitTuneOk,
    /// Tuned; waiting for `connection.open` and its virtual host.
    AwaitOpen,
    /// Serving channels.
    Open,
    /// The broker sent `connection.close`; waiting for `close-ok`, dropping everything else.
    Closing,
    /// Nothing more to read: write what is queued, then close the socket.
    Closed,
}

/// The limits in force on a connection: the server's until `tune-ok`, then the negotiated ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tuning {
    /// Largest frame in either direction, header and end octet included.
    pub(crate) frame_max: u32,
    /// Highest usable channel number.
    pub(crate) channel_max: u16,
    /// Heartbeat interval in seconds; 0 when heartbeats are off.
    pub(crate) heartbeat_s: u16,
}

/// One connection's protocol state.
pub(crate) struct Session {
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: Arc<AmqpConfig>,
    /// This connection as the owner of its exclusive queues.
    pub(crate) id: OwnerId,
    pub(crate) peer: SocketAddr,
    pub(crate) phase: Phase,
    pub(crate) tuning: Tuning,
    /// What the client said of itself in `start-ok` (its capabilities among them).
    pub(crate) client_properties: FieldTable,
    /// The client asked to be told when publishing is blocked (`connection.blocked` capability).
    pub(crate) wants_blocked: bool,
    /// The client takes a server-sent `basic.cancel` (`consumer_cancel_notify` capability).
    pub(crate) cancel_notify: bool,
    /// Whether the client was last told it is blocked.
    pub(crate) told_blocked: bool,
    /// The connection has published: while the disk alarm is raised, it is not read.
    pub(crate) published: bool,
    /// The user who logged in, once `start-ok` is accepted.
    pub(crate) user: Option<String>,
    /// Where this connection's consumer tasks push deliveries.
    pub(crate) pushed: mpsc::Sender<Pushed>,
    /// Publishes appended to their targets and waiting for the disk, oldest first (at most
    /// [`IN_FLIGHT_MAX`]); each is confirmed, in order, once durable.
    in_flight: VecDeque<InFlight>,
    /// Waits for the disk on the in-flight publishes' behalf.
    pub(crate) confirmer: Confirmer,
    /// A run of confirms not yet sent: (channel, highest delivery tag), acked together with
    /// `multiple` as RabbitMQ does.
    acks: Option<(u16, u64)>,
    /// Open and closing channels by number (at most `channel_max`).
    pub(crate) channels: HashMap<u16, Channel>,
    /// Deliveries waiting for their acknowledgement, with their deadlines.
    pub(crate) ack_timeouts: AckTimeouts,
    /// Encoded frames not yet written.
    out: Vec<u8>,
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, peer: SocketAddr, pushed: mpsc::Sender<Pushed>) -> Session {
        let config = Arc::clone(&shared.config);
        // Until tune-ok the server's own limits apply, and no heartbeats.
        let tuning =
            Tuning { frame_max: config.frame_max_bytes, channel_max: config.channel_max, heartbeat_s: 0 };
        Session {
            id: shared.broker.new_owner(),
            shared,
            config,
            peer,
            phase: Phase::AwaitStartOk,
            tuning,
            client_properties: FieldTable::default(),
            wants_blocked: false,
            cancel_notify: false,
            told_blocked: false,
            published: false,
            pushed,
            in_flight: VecDeque::new(),
            confirmer: Confirmer::start(),
            acks: None,
            user: None,
            channels: HashMap::new(),
            ack_timeouts: AckTimeouts::default(),
            out: Vec::new(),
        }
    }

    /// Queues a method frame for writing.
    pub(crate) fn send(&mut self, channel: u16, method: AMQPClass) {
        frame::encode_method(&mut self.out, channel, method);
    }

    /// The broker every method reaches.
    pub(crate) fn broker(&self) -> &Arc<Broker> {
        &self.shared.broker
    }

    /// Queues a content-carrying method with its header and body frames.
    pub(crate) fn send_content(
        &mut self,
        channel: u16,
        method: AMQPClass,
        properties: BasicProperties,
        body: &[u8],
    ) {
        frame::encode_content(&mut self.out, channel, method, properties, body, self.tuning.frame_max);
    }

    /// Queues a heartbeat frame.
    pub(crate) fn send_heartbeat(&mut self) {
        frame::encode_heartbeat(&mut self.out);
    }

    /// Whether frames wait to be written.
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Hands the queued bytes to the writer; `give_back` returns the buffer for reuse.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Returns a written buffer, emptied, so its allocation serves the next frames.
    pub(crate) fn give_back(&mut self, mut buffer: Vec<u8>) {
        if self.out.is_empty() {
            buffer.clear();
            self.out = buffer;
        }
    }

    /// Sends `channel.close` for `error` and drops the channel's half-received content; the
    /// number stays taken until the client's `close-ok`.
    pub(crate) async fn close_channel(&mut self, id: u16, error: &ChannelError) {
        tracing::info!(channel = id, code = error.code.code(), reason = %error.text, "closing channel");
        let mut held = Vec::new();
        if let Some(channel) = self.channels.get_mut(&id) {
            channel.state = ChannelState::Closing;
            channel.abandon_content();
            channel.consumers.clear();
            held = channel.take_unacked();
        }
        self.ack_timeouts.forget_channel(id);
        self.requeue(held).await;
        self.send(
            id,
            AMQPClass::Channel(channel::AMQPMethod::Close(channel::Close {
                reply_code: error.code.code(),
                reply_text: error.reply_text().into(),
                class_id: error.method.class_id,
                method_id: error.method.method_id,
            })),
        );
    }

    /// Sends `connection.close` for `error`; from now on only `close-ok` (or the client's own
    /// `close`) is read.
    pub(crate) async fn close_connection(&mut self, error: &ConnectionError) {
        if error.code == ReplyCode::ConnectionForced {
            tracing::info!(reason = %error.text, "closing connection");
        } else {
            tracing::warn!(code = error.code.code(), reason = %error.text, "closing connection after a protocol error");
        }
        self.release_channels().await;
        self.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Close(connection::Close {
                reply_code: error.code.code(),
                reply_text: error.reply_text().into(),
                class_id: error.method.class_id,
                method_id: error.method.method_id,
            })),
        );
        self.phase = Phase::Closing;
    }
}

impl Session {
    /// Gives back every delivery of every channel and forgets the channels.
    pub(crate) async fn release_channels(&mut self) {
        let held: Vec<Unacked> = self.channels.values_mut().flat_map(Channel::take_unacked).collect();
        self.channels.clear();
        self.ack_timeouts.clear();
        self.requeue(held).await;
    }

    /// Gives deliveries back to their queues, flagged redelivered, as RabbitMQ does with what a
    /// closed channel held (failed deliveries, for a queue's delayed retry).
    pub(crate) async fn requeue(&self, held: Vec<Unacked>) {
        self.requeue_returned(held, true).await;
    }

    /// Gives deliveries back to their queues, flagged redelivered; `failed` says which kind of
    /// return a queue's delayed retry sees.
    pub(crate) async fn requeue_returned(&self, held: Vec<Unacked>, failed: bool) {
        let queues = self.broker().queues();
        let mut modes = crate::methods::basic::RequeueModes::new(failed);
        for delivery in &held {
            let Held::Queue(receipt) = delivery.held else { continue };
            let mode = modes.of(queues, &delivery.queue);
            if let Err(e) = queues.nack(&delivery.queue, receipt, mode).await {
                tracing::debug!(queue = %delivery.queue, error = %e, "cannot requeue a delivery; its lease will");
            }
        }
    }

    /// The connection is over: what its channels held goes back, its exclusive queues go.
    pub(crate) async fn finish(&mut self) {
        self.settle_publishes().await;
        self.release_channels().await;
        self.broker().release_owner(self.id).await;
    }
}

impl Session {
    /// Lets a publish appended to its targets become durable beside the methods that follow:
    /// its confirm (in confirm mode) goes out once it is, in publish order.
    pub(crate) async fn await_durable(
        &mut self,
        channel: u16,
        sequence: Option<u64>,
        routing_key: &str,
        pending: PendingPublish,
    ) {
        if self.in_flight.len() >= IN_FLIGHT_MAX {
            self.settle_oldest().await;
            self.flush_acks();
        }
        if self.confirmer.publishes.send(pending).is_err() {
            let error =
                ConnectionError::new(ReplyCode::InternalError, PUBLISH, "publish failed: confirmer gone");
            self.close_connection(&error).await;
            return;
        }
        self.in_flight.push_back(InFlight { channel, sequence, routing_key: routing_key.to_owned() });
    }

    /// Confirms the publishes that have become durable, oldest first, stopping at the first
    /// still waiting (so confirms keep publish order).
    pub(crate) async fn confirm_durable(&mut self) {
        while !self.in_flight.is_empty() && self.confirmer.has_outcome() {
            self.settle_oldest().await;
        }
        self.flush_acks();
    }

    /// Waits until every publish so far is durable, confirming each: a method that reads what
    /// the connection published (a get, a declare's counts, a commit, a close) sees it.
    pub(crate) async fn settle_publishes(&mut self) {
        while !self.in_flight.is_empty() {
            self.settle_oldest().await;
        }
        self.flush_acks();
    }

    /// Sends the run of acks held back, as one `basic.ack` with `multiple`: every earlier
    /// publish of its channel has been confirmed already, in order.
    fn flush_acks(&mut self) {
        if let Some((channel, delivery_tag)) = self.acks.take() {
            let ack = basic::AMQPMethod::Ack(basic::Ack { delivery_tag, multiple: true });
            self.send(channel, AMQPClass::Basic(ack));
        }
    }

    async fn settle_oldest(&mut self) {
        let Some(in_flight) = self.in_flight.pop_front() else { return };
        let outcome = loop {
            if let Some(outcome) = self.confirmer.pop() {
                break outcome;
            }
            self.confirmer.ready.notified().await;
        };
        let confirmed = match outcome {
            Ok(_) => true,
            Err(PublishError::Queue(QueueError::Overflow(queue))) => {
                tracing::debug!(%queue, "publish refused by a full queue");
                false
            }
            // Under confirms a message the disk did not take is nacked, as a refusal is: the
            // publisher learns it is not stored and the connection carries on.
            Err(PublishError::Queue(QueueError::Storage(error))) if in_flight.sequence.is_some() => {
                tracing::warn!(%error, "publish not stored; nacked");
                false
            }
            Err(e) => {
                self.flush_acks();
                match publish_error(e, PUBLISH, &in_flight.routing_key) {
                    AmqpError::Channel(e) => self.close_channel(in_flight.channel, &e).await,
                    AmqpError::Connection(e) => self.close_connection(&e).await,
                }
                return;
            }
        };
        let open = self.channels.get(&in_flight.channel).is_some_and(|c| c.state == ChannelState::Open);
        let (Some(delivery_tag), true) = (in_flight.sequence, open) else { return };
        if confirmed {
            match &mut self.acks {
                Some((channel, tag)) if *channel == in_flight.channel => *tag = delivery_tag,
                _ => {
                    self.flush_acks();
                    self.acks = Some((in_flight.channel, delivery_tag));
                }
            }
        } else {
            self.flush_acks();
            let nack = basic::AMQPMethod::Nack(basic::Nack { delivery_tag, multiple: false, requeue: false });
            self.send(in_flight.channel, AMQPClass::Basic(nack));
        }
    }
}
