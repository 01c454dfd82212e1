//! Push consumers: `basic.consume` hands a broker [`Subscription`] to a task that forwards its
//! deliveries to the connection, which gives each a delivery tag on its channel and writes it
//! as `basic.deliver`. The subscription's credit (the prefetch) comes back one by one as the
//! client settles deliveries, through [`Consumer::settled`].
//!
//! Cancelling a consumer (or closing its channel or connection) stops the task; a delivery it
//! had taken but not yet handed over goes back to the queue at once, and the subscription
//! returns the ones it had not handed out (see `Subscription`'s drop).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_broker::message::Value;
use ferry_broker::queues::{
    AttrValue, Delivery, MessageAttribute, NackMode, QueueService, Receipt, Subscription, TYPED,
};
use ferry_broker::streams::{StreamDelivery, StreamSubscription};
use tokio::sync::{mpsc, oneshot};

use crate::channel::Held;

/// What consumer tasks send their connection.
#[derive(Debug)]
pub(crate) enum Pushed {
    /// A delivery from `queue` for the consumer `consumer_tag` on `channel`, settled as `held`
    /// says; `bytes` of it count against the consumer's and the channel's `prefetch_size` until
    /// it is settled.
    Delivery {
        channel: u16,
        consumer_tag: String,
        queue: String,
        delivery: Box<Delivery>,
        held: Held,
        bytes: u64,
    },
    /// The queue went away: the client is told with a server-sent `basic.cancel`.
    Cancelled { channel: u16, consumer_tag: String },
}

/// One consumer of a channel, as the connection holds it. Dropping it stops the consumer.
#[derive(Debug)]
pub(crate) struct Consumer {
    /// Deliveries count as settled on delivery (`no-ack`).
    pub(crate) no_ack: bool,
    /// How long the client may hold one of its deliveries unacknowledged (none for streams).
    pub(crate) ack_timeout_ms: Option<u64>,
    /// Credit returned to the task: at most one unit per delivery outstanding, so bounded by
    /// the prefetch.
    credit: mpsc::UnboundedSender<Credit>,
    _stop: oneshot::Sender<()>,
}

/// Settled deliveries of a consumer: how many, and their body bytes counted against its
/// `prefetch_size`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Credit {
    pub(crate) count: u32,
    pub(crate) bytes: u64,
}

/// The body bytes a channel's consumers hold unacknowledged, against the channel's global
/// `prefetch_size` (0: none). Consumers add what they receive; the channel subtracts what is
/// settled and wakes them.
#[derive(Debug, Default)]
pub(crate) struct ChannelBytes {
    pub(crate) max: AtomicU64,
    held: AtomicU64,
    released: tokio::sync::Notify,
}

impl ChannelBytes {
    /// Settled deliveries gave back `bytes`.
    pub(crate) fn release(&self, bytes: u64) {
        if bytes > 0 {
            let _ = self
                .held
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |h| Some(h.saturating_sub(bytes)));
            self.released.notify_waiters();
        }
    }

    /// Whether one more delivery fits: always while the channel holds nothing.
    fn has_room(&self) -> bool {
        let (max, held) = (self.max.load(Ordering::Acquire), self.held.load(Ordering::Acquire));
        max == 0 || held == 0 || held < max
    }
}

/// What bounds a consumer by body bytes (`basic.qos` `prefetch_size`).
#[derive(Clone, Debug)]
pub(crate) struct ByteWindow {
    /// Its own bound (0: none).
    pub(crate) consumer_max: u64,
    /// Its channel's.
    pub(crate) channel: Arc<ChannelBytes>,
}

impl ByteWindow {
    /// True when either bound is set: the consumer then takes its messages one at a time.
    pub(crate) fn is_bounded(&self) -> bool {
        self.consumer_max > 0 || self.channel.max.load(Ordering::Acquire) > 0
    }
}

/// A bounded consumer's limits.
struct Bounds {
    window: ByteWindow,
    /// Most unsettled deliveries.
    prefetch: u32,
}

impl Consumer {
    /// Starts forwarding `subscription`'s deliveries to `to`.
    pub(crate) fn start(
        subscription: Subscription,
        channel: u16,
        consumer_tag: String,
        no_ack: bool,
        to: mpsc::Sender<Pushed>,
        queues: Arc<QueueService>,
    ) -> Consumer {
        let queue = subscription.queue().to_owned();
        Consumer::spawn(subscription, queue, channel, consumer_tag, no_ack, to, queues)
    }

    /// Starts forwarding a stream's messages to `to`; their deliveries are [`Held::Stream`]:
    /// settling one only returns its credit.
    pub(crate) fn start_stream(
        subscription: StreamSubscription,
        stream: String,
        channel: u16,
        consumer_tag: String,
        no_ack: bool,
        to: mpsc::Sender<Pushed>,
        queues: Arc<QueueService>,
    ) -> Consumer {
        Consumer::spawn(subscription, stream, channel, consumer_tag, no_ack, to, queues)
    }

    fn spawn(
        feed: impl Feed,
        queue: String,
        channel: u16,
        consumer_tag: String,
        no_ack: bool,
        to: mpsc::Sender<Pushed>,
        queues: Arc<QueueService>,
    ) -> Consumer {
        let (credit, credit_rx) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        let target = Target { channel, consumer_tag, queue, to };
        tokio::spawn(forward(feed, target, credit_rx, stopped, queues));
        Consumer { no_ack, ack_timeout_ms: None, credit, _stop: stop }
    }

    /// Starts forwarding `subscription`'s deliveries to `to` within `window` and `prefetch`
    /// unsettled deliveries. `subscription` must have been made with a prefetch of 1: the
    /// task hands it credit one message at a time, while there is room.
    pub(crate) fn start_bounded(
        subscription: Subscription,
        (channel, consumer_tag): (u16, String),
        (no_ack, prefetch): (bool, u32),
        window: ByteWindow,
        to: mpsc::Sender<Pushed>,
        queues: Arc<QueueService>,
    ) -> Consumer {
        let (credit, credit_rx) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        let queue = subscription.queue().to_owned();
        let target = Target { channel, consumer_tag, queue, to };
        let bounds = Bounds { window, prefetch };
        tokio::spawn(forward_bounded(subscription, target, bounds, credit_rx, stopped, queues));
        Consumer { no_ack, ack_timeout_ms: None, credit, _stop: stop }
    }

    /// Deliveries of this consumer were settled: it may receive as many more.
    pub(crate) fn settled(&self, credit: Credit) {
        let _ = self.credit.send(credit);
    }
}

/// Where a consumer's deliveries come from: a queue's subscription or a stream's.
trait Feed: Send + 'static {
    /// The next delivery and what settling it acts on; `None` once the source is gone.
    fn next(&mut self) -> impl Future<Output = Option<(Delivery, Held)>> + Send;
    /// Credit back for `n` settled deliveries.
    fn settled(&self, n: u32);
}

impl Feed for Subscription {
    async fn next(&mut self) -> Option<(Delivery, Held)> {
        Subscription::next(self).await.map(|d| {
            let held = Held::Queue(d.receipt);
            (d, held)
        })
    }

    fn settled(&self, n: u32) {
        Subscription::settled(self, n);
    }
}

impl Feed for StreamSubscription {
    async fn next(&mut self) -> Option<(Delivery, Held)> {
        StreamSubscription::next(self).await.map(|m| (stream_delivery(m), Held::Stream))
    }

    fn settled(&self, n: u32) {
        StreamSubscription::settled(self, n);
    }
}

/// Where a consumer's deliveries go.
struct Target {
    channel: u16,
    consumer_tag: String,
    queue: String,
    to: mpsc::Sender<Pushed>,
}

impl Target {
    /// Hands a delivery to the connection, waiting for room in its queue. False when the
    /// consumer is stopped or the connection gone: the delivery went back to its queue.
    async fn hand_over(
        &self,
        delivery: Delivery,
        held: Held,
        bytes: u64,
        stopped: &mut oneshot::Receiver<()>,
        queues: &QueueService,
    ) -> bool {
        let permit = tokio::select! {
            permit = self.to.reserve() => permit.ok(),
            _ = stopped => None,
        };
        let Some(permit) = permit else {
            requeue(queues, &self.queue, held).await;
            return false;
        };
        permit.send(Pushed::Delivery {
            channel: self.channel,
            consumer_tag: self.consumer_tag.clone(),
            queue: self.queue.clone(),
            delivery: Box::new(delivery),
            held,
            bytes,
        });
        true
    }

    /// Tells the connection the consumer's source is gone (a server-sent `basic.cancel`).
    async fn cancelled(self) {
        let Target { channel, consumer_tag, to, .. } = self;
        let _ = to.send(Pushed::Cancelled { channel, consumer_tag }).await;
    }
}

async fn forward(
    mut feed: impl Feed,
    target: Target,
    mut credit: mpsc::UnboundedReceiver<Credit>,
    mut stopped: oneshot::Receiver<()>,
    queues: Arc<QueueService>,
) {
    loop {
        // Every branch is cancellation-safe: `next` keeps an untaken delivery in its channel.
        let next = tokio::select! {
            biased;
            _ = &mut stopped => return,
            Some(c) = credit.recv() => {
                feed.settled(c.count);
                continue;
            }
            next = feed.next() => next,
        };
        let Some((delivery, held)) = next else {
            return target.cancelled().await;
        };
        if !target.hand_over(delivery, held, 0, &mut stopped, &queues).await {
            return;
        }
    }
}

/// [`forward`] for a consumer bounded by body bytes: one credit at a time is handed to the
/// subscription, and only while the consumer holds fewer than its prefetch and fewer bytes
/// than its `prefetch_size` (or nothing), and its channel fewer than the channel's.
async fn forward_bounded(
    mut subscription: Subscription,
    target: Target,
    bounds: Bounds,
    mut credit: mpsc::UnboundedReceiver<Credit>,
    mut stopped: oneshot::Receiver<()>,
    queues: Arc<QueueService>,
) {
    let (mut held_count, mut held_bytes) = (0u32, 0u64);
    // The subscription was made with one credit.
    let mut granted = true;
    let window = &bounds.window;
    loop {
        let released = window.channel.released.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        let own_room = held_count == 0
            || (held_count < bounds.prefetch
                && (window.consumer_max == 0 || held_bytes < window.consumer_max));
        if !granted && own_room && window.channel.has_room() {
            subscription.add_credit(1);
            granted = true;
        }
        // Every branch is cancellation-safe: `next` keeps an untaken delivery in its channel.
        let next = tokio::select! {
            biased;
            _ = &mut stopped => return,
            Some(c) = credit.recv() => {
                held_count = held_count.saturating_sub(c.count);
                held_bytes = held_bytes.saturating_sub(c.bytes);
                continue;
            }
            _ = &mut released, if !granted => continue,
            next = subscription.next(), if granted => next,
        };
        let Some(delivery) = next else {
            return target.cancelled().await;
        };
        granted = false;
        let bytes = delivery.body.len() as u64;
        held_count += 1;
        held_bytes += bytes;
        window.channel.held.fetch_add(bytes, Ordering::AcqRel);
        let held = Held::Queue(delivery.receipt);
        if !target.hand_over(delivery, held, bytes, &mut stopped, &queues).await {
            window.channel.release(bytes);
            return;
        }
    }
}

/// A stream message as a delivery, its offset in an `x-stream-offset` header. Its receipt names
/// nothing and is never read: the delivery travels as [`Held::Stream`].
fn stream_delivery(m: StreamDelivery) -> Delivery {
    let mut attributes = m.attributes;
    attributes.push(MessageAttribute {
        name: "x-stream-offset".into(),
        data_type: TYPED.into(),
        value: AttrValue::Typed(Value::I64(i64::try_from(m.offset).unwrap_or(i64::MAX))),
    });
    Delivery {
        message_id: String::new(),
        receipt: Receipt::default(),
        body: m.body,
        attributes,
        system_attributes: Vec::new(),
        delivery_count: 1,
        sent_ms: m.timestamp_ms,
        first_received_ms: 0,
        group_id: None,
        dedup_id: None,
        sequence_number: None,
        dead_letter_source: None,
        redelivered: false,
        priority: 0,
        envelope: m.envelope,
    }
}

/// Gives a delivery nobody will see back to its queue.
pub(crate) async fn requeue(queues: &QueueService, queue: &str, held: Held) {
    let Held::Queue(receipt) = held else { return };
    if let Err(e) = queues.nack(queue, receipt, NackMode::Requeue).await {
        tracing::debug!(%queue, error = %e, "cannot requeue an undelivered message; its lease will");
    }
}
