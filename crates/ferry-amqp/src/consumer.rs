//! Push consumers: `basic.consume` hands a broker [`Subscription`] to a task that forwards its
//! deliveries to the connection, which gives each a delivery tag on its channel and writes it
//! as `basic.deliver`. The subscription's credit (the prefetch) comes back one by one as the
//! client settles deliveries, through [`Consumer::settled`].
//!
//! Cancelling a consumer (or closing its channel or connection) stops the task; a delivery it
//! had taken but not yet handed over goes back to the queue at once, and the subscription
//! returns the ones it had not handed out (see `Subscription`'s drop).

use std::sync::Arc;

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
    /// says.
    Delivery { channel: u16, consumer_tag: String, queue: String, delivery: Box<Delivery>, held: Held },
    /// The queue went away: the client is told with a server-sent `basic.cancel`.
    Cancelled { channel: u16, consumer_tag: String },
}

/// One consumer of a channel, as the connection holds it. Dropping it stops the consumer.
#[derive(Debug)]
pub(crate) struct Consumer {
    /// Deliveries count as settled on delivery (`no-ack`).
    pub(crate) no_ack: bool,
    /// Credit returned to the task: at most one unit per delivery outstanding, so bounded by
    /// the prefetch.
    credit: mpsc::UnboundedSender<u32>,
    _stop: oneshot::Sender<()>,
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
        Consumer { no_ack, credit, _stop: stop }
    }

    /// `n` of this consumer's deliveries were settled: it may receive `n` more.
    pub(crate) fn settled(&self, n: u32) {
        let _ = self.credit.send(n);
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

async fn forward(
    mut feed: impl Feed,
    target: Target,
    mut credit: mpsc::UnboundedReceiver<u32>,
    mut stopped: oneshot::Receiver<()>,
    queues: Arc<QueueService>,
) {
    let Target { channel, consumer_tag, queue, to } = target;
    loop {
        // Every branch is cancellation-safe: `next` keeps an untaken delivery in its channel.
        let next = tokio::select! {
            biased;
            _ = &mut stopped => return,
            Some(n) = credit.recv() => {
                feed.settled(n);
                continue;
            }
            next = feed.next() => next,
        };
        let Some((delivery, held)) = next else {
            let _ = to.send(Pushed::Cancelled { channel, consumer_tag }).await;
            return;
        };
        let permit = tokio::select! {
            permit = to.reserve() => permit.ok(),
            _ = &mut stopped => None,
        };
        let Some(permit) = permit else {
            requeue(&queues, &queue, held).await;
            return;
        };
        permit.send(Pushed::Delivery {
            channel,
            consumer_tag: consumer_tag.clone(),
            queue: queue.clone(),
            delivery: Box::new(delivery),
            held,
        });
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
