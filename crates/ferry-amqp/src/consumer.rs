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
    AttrValue, Delivery, MessageAttribute, NackMode, QueueService, Subscription, TYPED,
};
use ferry_broker::streams::{StreamDelivery, StreamSubscription};
use tokio::sync::{mpsc, oneshot};

/// What consumer tasks send their connection.
#[derive(Debug)]
pub(crate) enum Pushed {
    /// A delivery from `queue` for the consumer `consumer_tag` on `channel`.
    Delivery { channel: u16, consumer_tag: String, queue: String, delivery: Box<Delivery> },
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
        let (credit, credit_rx) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(forward(subscription, channel, consumer_tag, credit_rx, stopped, to, queues));
        Consumer { no_ack, ack_timeout_ms: None, credit, _stop: stop }
    }

    /// Starts forwarding a stream's messages to `to`; their deliveries carry no receipt
    /// ([`is_stream_delivery`]): settling one only returns its credit.
    pub(crate) fn start_stream(
        subscription: StreamSubscription,
        stream: String,
        channel: u16,
        consumer_tag: String,
        no_ack: bool,
        to: mpsc::Sender<Pushed>,
    ) -> Consumer {
        let (credit, credit_rx) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(forward_stream(subscription, stream, channel, consumer_tag, credit_rx, stopped, to));
        Consumer { no_ack, ack_timeout_ms: None, credit, _stop: stop }
    }

    /// `n` of this consumer's deliveries were settled: it may receive `n` more.
    pub(crate) fn settled(&self, n: u32) {
        let _ = self.credit.send(n);
    }
}

async fn forward(
    mut subscription: Subscription,
    channel: u16,
    consumer_tag: String,
    mut credit: mpsc::UnboundedReceiver<u32>,
    mut stopped: oneshot::Receiver<()>,
    to: mpsc::Sender<Pushed>,
    queues: Arc<QueueService>,
) {
    loop {
        // Every branch is cancellation-safe: `next` keeps an untaken delivery in its channel.
        let delivery = tokio::select! {
            biased;
            _ = &mut stopped => return,
            Some(n) = credit.recv() => {
                subscription.settled(n);
                continue;
            }
            next = subscription.next() => next,
        };
        let Some(delivery) = delivery else {
            let _ = to.send(Pushed::Cancelled { channel, consumer_tag }).await;
            return;
        };
        let permit = tokio::select! {
            permit = to.reserve() => permit.ok(),
            _ = &mut stopped => None,
        };
        match permit {
            Some(permit) => {
                let queue = subscription.queue().to_owned();
                permit.send(Pushed::Delivery {
                    channel,
                    consumer_tag: consumer_tag.clone(),
                    queue,
                    delivery: Box::new(delivery),
                });
            }
            None => {
                requeue(&queues, subscription.queue(), &delivery).await;
                return;
            }
        }
    }
}

async fn forward_stream(
    mut subscription: StreamSubscription,
    stream: String,
    channel: u16,
    consumer_tag: String,
    mut credit: mpsc::UnboundedReceiver<u32>,
    mut stopped: oneshot::Receiver<()>,
    to: mpsc::Sender<Pushed>,
) {
    loop {
        let message = tokio::select! {
            biased;
            _ = &mut stopped => return,
            Some(n) = credit.recv() => {
                subscription.settled(n);
                continue;
            }
            next = subscription.next() => next,
        };
        let Some(message) = message else {
            let _ = to.send(Pushed::Cancelled { channel, consumer_tag }).await;
            return;
        };
        let pushed = Pushed::Delivery {
            channel,
            consumer_tag: consumer_tag.clone(),
            queue: stream.clone(),
            delivery: Box::new(stream_delivery(message)),
        };
        tokio::select! {
            sent = to.send(pushed) => if sent.is_err() { return },
            _ = &mut stopped => return,
        }
    }
}

/// A stream message as a delivery: no receipt, and its offset in an `x-stream-offset` header.
fn stream_delivery(m: StreamDelivery) -> Delivery {
    let mut attributes = m.attributes;
    attributes.push(MessageAttribute {
        name: "x-stream-offset".into(),
        data_type: TYPED.into(),
        value: AttrValue::Typed(Value::I64(i64::try_from(m.offset).unwrap_or(i64::MAX))),
    });
    Delivery {
        message_id: String::new(),
        receipt: String::new(),
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

/// True for a delivery from a stream: it has no receipt, and settling it changes nothing in
/// the broker (a stream keeps its messages).
pub(crate) fn is_stream_delivery(receipt: &str) -> bool {
    receipt.is_empty()
}

/// Gives a delivery nobody will see back to its queue.
pub(crate) async fn requeue(queues: &QueueService, queue: &str, delivery: &Delivery) {
    if is_stream_delivery(&delivery.receipt) {
        return;
    }
    if let Err(e) = queues.nack(queue, &delivery.receipt, NackMode::Requeue).await {
        tracing::debug!(%queue, error = %e, "cannot requeue an undelivered message; its lease will");
    }
}
