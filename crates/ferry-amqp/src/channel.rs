//! One channel's state: open or closing, flow, publisher confirms, the deliveries it holds
//! unacknowledged, and the content being assembled.
//!
//! A content-carrying method (`basic.publish`) is followed on its channel by one content header
//! frame and then body frames until the header's body size is reached; other channels' frames may
//! come in between, this channel's may not. [`Channel`] checks that order and bounds the body
//! by `max_message_bytes` as soon as the header announces it, before any of it arrives.

use ferry_broker::telemetry::{Open, Protocol, Telemetry};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use amq_protocol::frame::AMQPContentHeader;
use amq_protocol::protocol::BasicProperties;
use amq_protocol::protocol::basic::Publish;
use bytes::{Bytes, BytesMut};
use ferry_broker::queues::Receipt;

use std::sync::Arc;

use crate::consumer::{ChannelBytes, Consumer, Credit, Pushed};
use crate::errors::{AmqpError, ChannelError, ConnectionError, MethodId, ReplyCode};

/// The class id of `basic`, the only class whose methods carry content.
const BASIC_CLASS: u16 = 60;
const PUBLISH: MethodId = MethodId::new(BASIC_CLASS, 40);

/// Where a channel is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChannelState {
    /// Opened by the client; methods are served.
    Open,
    /// The broker sent `channel.close`: every frame but `channel.close` and `channel.close-ok`
    /// is dropped until the client's `close-ok` frees the number.
    Closing,
}

/// One open channel of a connection.
#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) id: u16,
    /// Keeps the channel counted in the broker's telemetry while it is open.
    counted: Option<Open>,
    pub(crate) state: ChannelState,
    /// Whether the client accepts deliveries (`channel.flow`); true when opened.
    pub(crate) flow_active: bool,
    /// Deliveries that arrived while flow was off, written when it is on again; bounded by the
    /// prefetch of the channel's consumers.
    pub(crate) paused: VecDeque<Pushed>,
    /// In confirm mode (`confirm.select`): the sequence number of the last publish.
    pub(crate) confirms: Option<u64>,
    /// In transaction mode (`tx.select`): what the open transaction holds until commit.
    pub(crate) tx: Option<Transaction>,
    /// The queue last declared on the channel, which `""` names in later methods.
    pub(crate) last_queue: Option<String>,
    /// The queue behind this channel's direct reply-to consumer (`amq.rabbitmq.reply-to`).
    pub(crate) reply_to: Option<String>,
    /// Prefetch count for consumers started from now on (`basic.qos`; 0: no limit of its own).
    pub(crate) prefetch: u16,
    /// Body bytes each consumer started from now on may hold unacknowledged (`basic.qos`
    /// `prefetch_size`; 0: no limit).
    pub(crate) prefetch_size: u32,
    /// Body bytes the channel's bounded consumers hold, against its global `prefetch_size`.
    pub(crate) bytes: Arc<ChannelBytes>,
    /// Consumers by tag.
    pub(crate) consumers: HashMap<String, Consumer>,
    /// Deliveries handed to the client and not yet settled, by delivery tag.
    unacked: BTreeMap<u64, Unacked>,
    /// Tags of deliveries given back to their queue when their consumer timed out and was
    /// cancelled: a late settlement of one is accepted and does nothing.
    returned: BTreeSet<u64>,
    /// The last delivery tag given (tags start at 1 on each channel).
    last_tag: u64,
    assembly: Option<Assembly>,
}

/// Most messages one transaction may hold before its commit.
pub(crate) const TX_MESSAGES_MAX: usize = 65_536;
/// Most body bytes one transaction may hold before its commit.
pub(crate) const TX_BYTES_MAX: u64 = 256 << 20;

/// What a transaction holds: publishes and settlements, applied in order at `tx.commit`.
#[derive(Debug, Default)]
pub(crate) struct Transaction {
    pub(crate) publishes: Vec<Content>,
    pub(crate) settlements: Vec<Settlement>,
    pub(crate) bytes: u64,
}

/// A settlement made inside a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settlement {
    /// `basic.ack`.
    Ack { tag: u64, multiple: bool },
    /// `basic.nack` or `basic.reject` (`method` says which).
    Back { method: MethodId, tag: u64, multiple: bool, requeue: bool },
}

/// What settling a delivery acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// A queue's delivery: settled in the queue under its receipt.
    Queue(Receipt),
    /// A stream's message: a stream keeps its messages, so settling one only returns the
    /// consumer's credit.
    Stream,
}

/// A delivery the client holds: where to settle it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unacked {
    pub(crate) queue: String,
    pub(crate) held: Held,
    /// The consumer it was pushed to, whose credit its settlement returns; `None` for `get`.
    pub(crate) consumer: Option<String>,
    /// Body bytes counted against `prefetch_size` (0 for a consumer without one).
    pub(crate) bytes: u64,
}

/// A published message whose method, header and body have all arrived.
#[derive(Debug, PartialEq)]
pub(crate) struct Content {
    pub(crate) publish: Publish,
    pub(crate) properties: BasicProperties,
    pub(crate) body: Bytes,
}

/// A message in the making: its method, then its header, then body frames.
#[derive(Debug)]
struct Assembly {
    publish: Publish,
    header: Option<AMQPContentHeader>,
    /// Body frames as received; one frame (the usual case) is kept without a copy.
    chunks: Vec<Bytes>,
    received: u64,
}

impl Channel {
    pub(crate) fn new(id: u16) -> Channel {
        Channel {
            id,
            state: ChannelState::Open,
            flow_active: true,
            paused: VecDeque::new(),
            confirms: None,
            tx: None,
            last_queue: None,
            reply_to: None,
            prefetch: 0,
            prefetch_size: 0,
            bytes: Arc::default(),
            consumers: HashMap::new(),
            unacked: BTreeMap::new(),
            returned: BTreeSet::new(),
            last_tag: 0,
            assembly: None,
            counted: None,
        }
    }

    /// Counts the channel among the open ones (for metrics) for as long as it lives.
    pub(crate) fn counted_in(mut self, telemetry: &Arc<Telemetry>) -> Channel {
        self.counted = Some(telemetry.channel_opened(Protocol::Amqp));
        self
    }

    /// A new delivery tag for a delivery that needs no settling (`no-ack`).
    pub(crate) fn next_tag(&mut self) -> u64 {
        self.last_tag += 1;
        self.last_tag
    }

    /// A new delivery tag for `delivery`, which stays here until settled.
    pub(crate) fn track(&mut self, delivery: Unacked) -> u64 {
        let tag = self.next_tag();
        self.unacked.insert(tag, delivery);
        tag
    }

    /// Whether delivery `tag` is held unsettled.
    pub(crate) fn holds(&self, tag: u64) -> bool {
        self.unacked.contains_key(&tag)
    }

    /// The consumer delivery `tag` was pushed to (`None` for `basic.get` or an unknown tag).
    pub(crate) fn consumer_of(&self, tag: u64) -> Option<&str> {
        self.unacked.get(&tag).and_then(|d| d.consumer.as_deref())
    }

    /// Cancels consumer `consumer_tag` after a delivery timeout: it receives no more, and the
    /// deliveries it holds are taken, to go back to their queues; their tags stay settleable.
    pub(crate) fn cancel_timed_out(&mut self, consumer_tag: &str) -> Vec<Unacked> {
        self.consumers.remove(consumer_tag);
        let tags: Vec<u64> = self
            .unacked
            .iter()
            .filter(|(_, d)| d.consumer.as_deref() == Some(consumer_tag))
            .map(|(&tag, _)| tag)
            .collect();
        let mut held = Vec::with_capacity(tags.len());
        for tag in tags {
            if let Some(d) = self.unacked.remove(&tag) {
                self.returned.insert(tag);
                held.push(d);
            }
        }
        self.credit(&held);
        held
    }

    /// Deliveries held unsettled.
    #[cfg(test)]
    pub(crate) fn unacked_count(&self) -> usize {
        self.unacked.len()
    }

    /// Checks that an ack, nack or reject of `tag` would settle something, without settling it
    /// (inside a transaction the settling waits for the commit).
    pub(crate) fn check_tag(&self, tag: u64, multiple: bool, method: MethodId) -> Result<(), ChannelError> {
        let known = if multiple {
            tag == 0 || self.unacked.range(..=tag).next().is_some()
        } else {
            self.unacked.contains_key(&tag)
        };
        if known { Ok(()) } else { Err(unknown_tag(tag, method)) }
    }

    /// Takes the deliveries an ack, nack or reject of `tag` settles: that one, or with
    /// `multiple` every one up to it (all of them for tag 0). An unknown tag is RabbitMQ's 406.
    pub(crate) fn settle(
        &mut self,
        tag: u64,
        multiple: bool,
        method: MethodId,
    ) -> Result<Vec<Unacked>, ChannelError> {
        if multiple {
            let upto = if tag == 0 { u64::MAX } else { tag };
            let rest = self.unacked.split_off(&upto.saturating_add(1));
            let settled = std::mem::replace(&mut self.unacked, rest);
            let returned_rest = self.returned.split_off(&upto.saturating_add(1));
            let returned = std::mem::replace(&mut self.returned, returned_rest);
            if settled.is_empty() && returned.is_empty() && tag != 0 {
                return Err(unknown_tag(tag, method));
            }
            return Ok(settled.into_values().collect());
        }
        match self.unacked.remove(&tag) {
            Some(d) => Ok(vec![d]),
            None if self.returned.remove(&tag) => Ok(Vec::new()),
            None => Err(unknown_tag(tag, method)),
        }
    }

    /// Returns the credit of settled deliveries to the consumers they came from.
    pub(crate) fn credit(&self, settled: &[Unacked]) {
        // One message per consumer, however many deliveries an `ack multiple` settled, so
        // that the consumer takes its next messages in one turn.
        let mut per_consumer: HashMap<&str, Credit> = HashMap::new();
        let mut bytes = 0;
        for d in settled {
            if let Some(tag) = d.consumer.as_deref() {
                let credit = per_consumer.entry(tag).or_default();
                credit.count += 1;
                credit.bytes += d.bytes;
                bytes += d.bytes;
            }
        }
        self.bytes.release(bytes);
        for (tag, credit) in per_consumer {
            if let Some(consumer) = self.consumers.get(tag) {
                consumer.settled(credit);
            }
        }
    }

    /// Takes every unsettled delivery, those waiting for flow included (the channel closes, or
    /// the client asks to recover).
    pub(crate) fn take_unacked(&mut self) -> Vec<Unacked> {
        let mut held: Vec<Unacked> = std::mem::take(&mut self.unacked).into_values().collect();
        for pushed in self.paused.drain(..) {
            if let Pushed::Delivery { consumer_tag, queue, held: what, bytes, .. } = pushed {
                held.push(Unacked { queue, held: what, consumer: Some(consumer_tag), bytes });
            }
        }
        held
    }

    /// Whether the channel waits for a content header or body frame: a method now breaks the order.
    pub(crate) fn expects_content(&self) -> bool {
        self.assembly.is_some()
    }

    /// A `basic.publish` arrived: its header and body follow.
    pub(crate) fn start_content(&mut self, publish: Publish) {
        self.assembly = Some(Assembly { publish, header: None, chunks: Vec::new(), received: 0 });
    }

    /// The body size announced by the content header of the message being received, if any.
    pub(crate) fn announced_bytes(&self) -> u64 {
        self.assembly.as_ref().and_then(|a| a.header.as_ref()).map_or(0, |h| h.body_size)
    }

    /// Drops a message half-received (the channel is closing).
    pub(crate) fn abandon_content(&mut self) {
        self.assembly = None;
    }

    /// A content header arrived; returns the message when its body is empty.
    pub(crate) fn content_header(
        &mut self,
        header: AMQPContentHeader,
        max_message_bytes: u64,
    ) -> Result<Option<Content>, AmqpError> {
        let id = self.id;
        let Some(assembly) = self.assembly.as_mut() else {
            return Err(unexpected(format!(
                "content header on channel {id} without a basic.publish before it"
            )));
        };
        if assembly.header.is_some() {
            return Err(unexpected(format!("second content header on channel {id} for one basic.publish")));
        }
        if header.class_id != BASIC_CLASS {
            return Err(unexpected(format!(
                "content header of class {} on channel {id}, expected class {BASIC_CLASS} (basic)",
                header.class_id
            )));
        }
        if header.body_size > max_message_bytes {
            self.assembly = None;
            return Err(ChannelError::new(
                ReplyCode::PreconditionFailed,
                PUBLISH,
                format!(
                    "message size {} is larger than configured max size {max_message_bytes}",
                    header.body_size
                ),
            )
            .into());
        }
        let done = header.body_size == 0;
        assembly.header = Some(header);
        Ok(if done { self.finish() } else { None })
    }

    /// A content body frame arrived; returns the message once the body is whole.
    pub(crate) fn content_body(&mut self, payload: Bytes) -> Result<Option<Content>, AmqpError> {
        let id = self.id;
        let Some(assembly) = self.assembly.as_mut() else {
            return Err(unexpected(format!(
                "content body on channel {id} without a basic.publish before it"
            )));
        };
        let Some(header) = &assembly.header else {
            return Err(unexpected(format!("content body on channel {id} before its content header")));
        };
        let received = assembly.received + payload.len() as u64;
        if received > header.body_size {
            // A frame error, as RabbitMQ answers it: the frames no longer add up.
            return Err(ConnectionError::new(
                ReplyCode::FrameError,
                PUBLISH,
                format!(
                    "content body on channel {id} runs to {received} bytes, past the {} its header announced",
                    header.body_size
                ),
            )
            .into());
        }
        assembly.received = received;
        if !payload.is_empty() {
            assembly.chunks.push(payload);
        }
        Ok(if received == header.body_size { self.finish() } else { None })
    }

    fn finish(&mut self) -> Option<Content> {
        let assembly = self.assembly.take()?;
        let header = assembly.header?;
        let body = match assembly.chunks.len() {
            0 => Bytes::new(),
            1 => assembly.chunks.into_iter().next().unwrap_or_default(),
            _ => {
                let mut body = BytesMut::with_capacity(assembly.received as usize);
                for chunk in &assembly.chunks {
                    body.extend_from_slice(chunk);
                }
                body.freeze()
            }
        };
        Some(Content { publish: assembly.publish, properties: header.properties, body })
    }
}

fn unknown_tag(tag: u64, method: MethodId) -> ChannelError {
    ChannelError::new(ReplyCode::PreconditionFailed, method, format!("unknown delivery tag {tag}"))
}

fn unexpected(text: String) -> AmqpError {
    ConnectionError::new(ReplyCode::UnexpectedFrame, MethodId::NONE, text).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(body_size: u64) -> AMQPContentHeader {
        AMQPContentHeader { class_id: BASIC_CLASS, body_size, properties: BasicProperties::default() }
    }

    fn publishing() -> Channel {
        let mut channel = Channel::new(1);
        channel.start_content(Publish { routing_key: "q".into(), ..Default::default() });
        channel
    }

    #[test]
    fn a_body_split_over_frames_is_joined() {
        let mut channel = publishing();
        assert_eq!(channel.content_header(header(5), 100).unwrap(), None);
        assert_eq!(channel.content_body(Bytes::from_static(b"he")).unwrap(), None);
        let content = channel.content_body(Bytes::from_static(b"llo")).unwrap().unwrap();
        assert_eq!(content.body, Bytes::from_static(b"hello"));
        assert_eq!(content.publish.routing_key.as_str(), "q");
        assert!(!channel.expects_content());
    }

    #[test]
    fn an_empty_body_completes_with_the_header() {
        let mut channel = publishing();
        let content = channel.content_header(header(0), 100).unwrap().unwrap();
        assert!(content.body.is_empty());
    }

    #[test]
    fn a_body_over_max_message_bytes_closes_the_channel_at_the_header() {
        let mut channel = publishing();
        let e = channel.content_header(header(101), 100).unwrap_err();
        let AmqpError::Channel(e) = e else { panic!("{e:?}") };
        assert_eq!((e.code, e.method), (ReplyCode::PreconditionFailed, PUBLISH));
        assert!(!channel.expects_content());
    }

    #[test]
    fn settling_takes_one_tag_or_every_tag_up_to_it() {
        let mut channel = Channel::new(1);
        let ack = MethodId::new(60, 80);
        for n in 1..=4 {
            let tag = channel.track(Unacked {
                queue: format!("q{n}"),
                held: Held::Stream,
                consumer: None,
                bytes: 0,
            });
            assert_eq!(tag, n);
        }
        assert_eq!(channel.settle(2, false, ack).unwrap()[0].queue, "q2");
        assert_eq!(channel.settle(2, false, ack).unwrap_err().code, ReplyCode::PreconditionFailed);
        let upto3: Vec<_> = channel.settle(3, true, ack).unwrap().into_iter().map(|d| d.queue).collect();
        assert_eq!(upto3, ["q1", "q3"]);
        assert_eq!(channel.settle(0, true, ack).unwrap().len(), 1);
        assert_eq!(channel.unacked_count(), 0);
    }

    #[test]
    fn content_out_of_order_is_an_unexpected_frame() {
        let mut idle = Channel::new(1);
        assert!(
            matches!(idle.content_header(header(1), 100), Err(AmqpError::Connection(e)) if e.code == ReplyCode::UnexpectedFrame)
        );
        let mut channel = publishing();
        assert!(
            matches!(channel.content_body(Bytes::from_static(b"x")), Err(AmqpError::Connection(e)) if e.code == ReplyCode::UnexpectedFrame)
        );
    }

    #[test]
    fn a_body_past_its_announced_size_is_a_frame_error() {
        let mut channel = publishing();
        channel.content_header(header(1), 100).unwrap();
        assert!(
            matches!(channel.content_body(Bytes::from_static(b"xy")), Err(AmqpError::Connection(e)) if e.code == ReplyCode::FrameError && e.method == PUBLISH)
        );
    }
}
