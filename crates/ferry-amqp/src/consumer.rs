//! Push consumers: `basic.consume` hands a broker [`Subscription`] to a task that forwards its
//! deliveries to the connection, which gives each a delivery tag on its channel and writes it
//! as `basic.deliver`. The subscription's credit (the prefetch) comes back one by one as the
//! client settles deliveries, through [`Consumer::settled`].
//!
//! Cancelling a consumer (or closing its channel or connection) stops the task; a delivery it
//! had taken but not yet handed over goes back to the queue at once, and the subscription
//! returns the ones it had not handed out (see `Subscription`'s drop).

use std::sync::Arc;

use ferry_broker::queues::{Delivery, NackMode, QueueService, Subscription};
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
        Consumer { no_ack, credit, _stop: stop }
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

/// Gives a delivery nobody will see back to its queue.
pub(crate) async fn requeue(queues: &QueueService, queue: &str, delivery: &Delivery) {
    if let Err(e) = queues.nack(queue, &delivery.receipt, NackMode::Requeue).await {
        tracing::debug!(%queue, error = %e, "cannot requeue an undelivered message; its lease will");
    }
}
