//! Push consumers: a [`Subscription`] receives a queue's messages as they become ready, as many
//! at a time as its credit (prefetch) allows, and keeps each one leased until the front-end
//! settles it with [`QueueService::ack`] / [`QueueService::nack`] and gives the credit back.
//!
//! One task per subscription takes messages off the queue (under the queue's lock, like any
//! receive) and hands them over a bounded channel. Consumers of one queue share it: each waiting
//! one takes at most [`MAX_GRAB`] messages per turn and yields, so ready messages spread over
//! every consumer with credit. SQS receives keep working beside subscriptions on the same queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc, watch};

use super::error::QueueError;
use super::queue::Queue;
use super::service::QueueService;
use super::types::{Delivery, NackMode};

/// Most unsettled deliveries one subscription may hold (a prefetch of 0 means this many).
pub const MAX_PREFETCH: u32 = 65_535;
/// Most messages a subscription takes from its queue in one turn.
const MAX_GRAB: usize = 64;
/// Most consumers one queue may have.
pub const MAX_CONSUMERS_PER_QUEUE: usize = 10_000;
/// Lease of a pushed delivery when the subscriber asks for none: RabbitMQ's default consumer
/// timeout, 30 minutes.
pub const DEFAULT_CONSUMER_LEASE_MS: u64 = 30 * 60_000;

/// How to subscribe.
#[derive(Clone, Debug, Default)]
pub struct SubscribeOptions {
    /// Most unsettled deliveries (0: [`MAX_PREFETCH`]).
    pub prefetch: u32,
    /// No other consumer may subscribe while this one lives, and this one is refused if
    /// another exists.
    pub exclusive: bool,
    /// Higher-priority consumers are preferred (kept for the front-end; not yet used in dealing).
    pub priority: i32,
    /// Lease of each delivery: unsettled after this long, it is delivered again (to anyone).
    /// [`DEFAULT_CONSUMER_LEASE_MS`] when `None`.
    pub lease_ms: Option<u64>,
}

/// Consumers registered on each queue.
#[derive(Debug, Default)]
pub(super) struct Consumers {
    by_queue: Mutex<HashMap<String, QueueConsumers>>,
}

#[derive(Debug, Default)]
struct QueueConsumers {
    /// Consumer ids, oldest first: with a single active consumer, the first one is active.
    ids: std::collections::VecDeque<u64>,
    exclusive: bool,
    next_id: u64,
    /// Woken when the consumers change (a waiting consumer may have become the active one).
    changed: Arc<tokio::sync::Notify>,
}

impl Consumers {
    fn register(&self, queue: &str, exclusive: bool) -> Result<(u64, Arc<tokio::sync::Notify>), QueueError> {
        let mut map =
            self.by_queue.lock().map_err(|_| QueueError::Storage("consumer table poisoned".into()))?;
        let entry = map.entry(queue.to_string()).or_default();
        if entry.exclusive || (exclusive && !entry.ids.is_empty()) {
            return Err(QueueError::ConsumerExclusive(queue.to_string()));
        }
        if entry.ids.len() >= MAX_CONSUMERS_PER_QUEUE {
            return Err(QueueError::TooManyConsumers(queue.to_string()));
        }
        entry.next_id += 1;
        entry.ids.push_back(entry.next_id);
        entry.exclusive = exclusive;
        Ok((entry.next_id, Arc::clone(&entry.changed)))
    }

    fn unregister(&self, queue: &str, id: u64) {
        let Ok(mut map) = self.by_queue.lock() else { return };
        if let Some(entry) = map.get_mut(queue) {
            entry.ids.retain(|&c| c != id);
            entry.exclusive = false;
            entry.changed.notify_waiters();
            if entry.ids.is_empty() {
                map.remove(queue);
            }
        }
    }

    /// True when consumer `id` is the oldest live consumer of `queue`.
    fn is_oldest(&self, queue: &str, id: u64) -> bool {
        self.by_queue.lock().is_ok_and(|m| m.get(queue).and_then(|e| e.ids.front().copied()) == Some(id))
    }

    /// Live consumers of `queue`.
    pub(super) fn count(&self, queue: &str) -> usize {
        self.by_queue.lock().map(|m| m.get(queue).map_or(0, |e| e.ids.len())).unwrap_or(0)
    }
}

/// A push consumer of one queue. Dropping it stops the deliveries; messages handed over but not
/// yet taken with [`Subscription::next`] go back to the queue, and deliveries taken but not
/// settled stay leased until the front-end nacks them (it must, when its channel closes).
#[derive(Debug)]
pub struct Subscription {
    queue: String,
    id: u64,
    rx: mpsc::Receiver<Delivery>,
    credit: Arc<Semaphore>,
    stop: watch::Sender<bool>,
    svc: Arc<QueueService>,
}

impl Subscription {
    /// The queue subscribed to.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The next delivery; `None` once the queue is deleted (the front-end tells its consumer
    /// it was cancelled). Cancellation-safe: a delivery not returned stays in the channel.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    /// Gives back the credit of `n` settled (acked, nacked or rejected) deliveries.
    pub fn settled(&self, n: u32) {
        self.credit.add_permits(n as usize);
    }

    /// Raises (or lowers, down to what is outstanding) the credit by `delta` (a new prefetch).
    pub fn add_credit(&self, delta: u32) {
        self.credit.add_permits(delta as usize);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.svc.consumers.unregister(&self.queue, self.id);
        self.svc.consumer_gone(&self.queue);
        // Deliveries handed over but never taken go back at once, not after their lease.
        let mut back = Vec::new();
        self.rx.close();
        while let Ok(d) = self.rx.try_recv() {
            back.push(d.receipt);
        }
        // Dropped outside a runtime (at its shutdown), they come back when their lease ends.
        if !back.is_empty()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let svc = Arc::clone(&self.svc);
            let queue = self.queue.clone();
            runtime.spawn(async move {
                for receipt in back {
                    if let Err(e) = svc.nack(&queue, &receipt, NackMode::Requeue).await {
                        tracing::debug!(%queue, error = %e, "returning an untaken delivery failed");
                    }
                }
            });
        }
    }
}

impl QueueService {
    /// Subscribes to `queue`: deliveries arrive through [`Subscription::next`] while credit lasts.
    pub fn subscribe(&self, queue: &str, opts: SubscribeOptions) -> Result<Subscription, QueueError> {
        let q = self.get(queue)?;
        let svc = self.this().ok_or_else(|| QueueError::Storage("queue service closed".into()))?;
        self.touch(&q);
        let (id, changed) = self.consumers.register(queue, opts.exclusive)?;
        let single = q.record().is_ok_and(|r| r.attrs.single_active_consumer);
        let prefetch = if opts.prefetch == 0 { MAX_PREFETCH } else { opts.prefetch.min(MAX_PREFETCH) };
        let credit = Arc::new(Semaphore::new(prefetch as usize));
        let (tx, rx) = mpsc::channel(MAX_GRAB);
        let (stop, stopped) = watch::channel(false);
        let lease_ms = opts.lease_ms.unwrap_or(DEFAULT_CONSUMER_LEASE_MS);
        let turn = single.then_some(Turn { id, changed });
        tokio::spawn(deal(Arc::clone(&svc), q, Arc::clone(&credit), tx, stopped, lease_ms, turn));
        Ok(Subscription { queue: queue.to_string(), id, rx, credit, stop, svc })
    }

    /// Live push consumers of `queue`.
    pub fn consumer_count(&self, queue: &str) -> usize {
        self.consumers.count(queue)
    }
}

/// With a single active consumer: this consumer's id, and where the change of consumers is told.
struct Turn {
    id: u64,
    changed: Arc<tokio::sync::Notify>,
}

/// The subscription's task: wait for its turn (single active consumer), credit and ready
/// messages, lease them, hand them over.
async fn deal(
    svc: Arc<QueueService>,
    q: Arc<Queue>,
    credit: Arc<Semaphore>,
    tx: mpsc::Sender<Delivery>,
    mut stopped: watch::Receiver<bool>,
    lease_ms: u64,
    turn: Option<Turn>,
) {
    if let Some(turn) = &turn {
        loop {
            let changed = turn.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if svc.consumers.is_oldest(&q.name, turn.id) {
                break;
            }
            tokio::select! {
                _ = &mut changed => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    }
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&credit).acquire_owned() => p,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let Ok(permit) = permit else { return };
        permit.forget();
        let mut taken = 1;
        while taken < MAX_GRAB {
            match credit.try_acquire() {
                Ok(p) => {
                    p.forget();
                    taken += 1;
                }
                Err(_) => break,
            }
        }
        let deliveries = loop {
            if *stopped.borrow() || !svc.get(&q.name).is_ok_and(|live| Arc::ptr_eq(&live, &q)) {
                return;
            }
            let notified = q.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = svc.clock().now_ms();
            let (deliveries, leaving) = match q.receive_now(now, taken, Some(lease_ms), None) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(queue = %q.name, error = %e, "subscription stopped");
                    return;
                }
            };
            svc.dead_letter(&q, leaving).await;
            if !deliveries.is_empty() {
                break deliveries;
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        };
        credit.add_permits(taken - deliveries.len());
        let mut undelivered = Vec::new();
        for d in deliveries {
            if let Err(mpsc::error::SendError(d)) = tx.send(d).await {
                undelivered.push(d.receipt);
            }
        }
        for receipt in undelivered {
            let _ = svc.nack(&q.name, &receipt, NackMode::Requeue).await;
        }
        // Lets other consumers of the queue take their turn before this one grabs again.
        tokio::task::yield_now().await;
    }
}
