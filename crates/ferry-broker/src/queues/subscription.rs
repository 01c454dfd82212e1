//! Push consumers: a [`Subscription`] receives a queue's messages as they become ready, as many
//! at a time as its credit (prefetch) allows, and keeps each one leased until the front-end
//! settles it with [`QueueService::ack`] / [`QueueService::nack`] and gives the credit back.
//!
//! Each queue with consumers has one dispatcher task. It leases as many ready messages as its
//! consumers have credit for (under the queue's lock, like any receive) and deals them one at
//! a time: to the consumers of the highest priority that still have credit, round-robin among
//! them, as RabbitMQ does. A message wakes only the consumer it goes to, and the dispatcher
//! sleeps while no consumer has credit. With a single active consumer, only the oldest one
//! receives. SQS receives keep working beside subscriptions on the same queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, mpsc};

use super::error::QueueError;
use super::queue::Queue;
use super::service::QueueService;
use super::types::{Delivery, NackMode};

/// Most unsettled deliveries one subscription may hold (a prefetch of 0 means this many).
pub const MAX_PREFETCH: u32 = 65_535;
/// Most messages the dispatcher leases at once.
const MAX_GRAB: usize = 64;
/// Most deliveries waiting in one subscription's channel for the front-end to take: whatever
/// the credit (a no-ack consumer's is endless), a consumer that stops taking holds no more.
const HANDOVER: usize = 64;
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
    /// Consumers of a higher priority receive while they have credit; those of a lower one
    /// only when every higher one is full.
    pub priority: i32,
    /// Lease of each delivery: unsettled after this long, it is delivered again (to anyone).
    /// [`DEFAULT_CONSUMER_LEASE_MS`] when `None`.
    pub lease_ms: Option<u64>,
}

/// The dispatcher of each queue that has consumers.
#[derive(Debug, Default)]
pub(super) struct Consumers {
    by_queue: Mutex<HashMap<String, Arc<Dispatch>>>,
}

/// One queue's consumers and the dispatcher's wake-up.
#[derive(Debug)]
struct Dispatch {
    /// The queue dealt from (a queue deleted and declared again gets a new dispatcher).
    queue: Arc<Queue>,
    state: Mutex<Slots>,
    /// Told when a consumer without credit gets some, or consumers come or go.
    kick: Notify,
}

#[derive(Debug)]
struct Slots {
    /// Highest priority first, oldest first within a priority.
    slots: Vec<Slot>,
    /// The one consumer is exclusive.
    exclusive: bool,
    /// Only the oldest consumer receives.
    single_active: bool,
    next_id: u64,
    /// Rotates which consumer of a priority is served first.
    turn: usize,
    /// The dispatcher has ended: nobody may join.
    closed: bool,
}

#[derive(Debug)]
struct Slot {
    id: u64,
    priority: i32,
    /// Deliveries it may still be handed.
    credit: u32,
    lease_ms: u64,
    tx: mpsc::Sender<Delivery>,
}

fn lock(m: &Mutex<Slots>) -> MutexGuard<'_, Slots> {
    // A panic while dealing leaves the table consistent (every step is a single assignment).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Slots {
    /// How many messages the consumers can take now, and the longest lease any asked for.
    fn wanted(&self) -> (usize, u64) {
        let add = |(n, lease): (usize, u64), s: &Slot| {
            let room = s.room();
            (n.saturating_add(room), if room > 0 { lease.max(s.lease_ms) } else { lease })
        };
        if self.single_active {
            self.oldest().map_or((0, 0), |i| add((0, 0), &self.slots[i]))
        } else {
            self.slots.iter().fold((0, 0), add)
        }
    }

    fn oldest(&self) -> Option<usize> {
        self.slots.iter().enumerate().min_by_key(|(_, s)| s.id).map(|(i, _)| i)
    }

    /// The consumer the next message goes to, if any has credit.
    fn pick(&mut self) -> Option<usize> {
        if self.single_active {
            return self.oldest().filter(|&i| self.slots[i].room() > 0);
        }
        let first = self.slots.iter().position(|s| s.room() > 0)?;
        let priority = self.slots[first].priority;
        let start = self.slots.iter().position(|s| s.priority == priority).unwrap_or(first);
        let len = self.slots[start..].iter().take_while(|s| s.priority == priority).count();
        for k in 0..len {
            let i = start + (self.turn.wrapping_add(k)) % len;
            if self.slots[i].room() > 0 {
                self.turn = self.turn.wrapping_add(k + 1);
                return Some(i);
            }
        }
        Some(first)
    }

    /// Hands each delivery to the next consumer in turn; returns those nobody could take.
    fn deal(&mut self, deliveries: Vec<Delivery>) -> Vec<Delivery> {
        let mut back = Vec::new();
        for d in deliveries {
            let Some(i) = self.pick() else {
                back.push(d);
                continue;
            };
            let slot = &mut self.slots[i];
            match slot.tx.try_send(d) {
                Ok(()) => slot.credit -= 1,
                // Going: no more for it (`room` said its channel had space, and only the
                // dispatcher sends).
                Err(mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d)) => {
                    slot.credit = 0;
                    back.push(d);
                }
            }
        }
        back
    }
}

impl Slot {
    /// How many more deliveries it can be handed now: its credit, bounded by its channel's space.
    fn room(&self) -> usize {
        (self.credit as usize).min(self.tx.capacity())
    }
}

impl Consumers {
    /// Adds a consumer to `q`'s dispatcher (starting one if needed).
    fn register(
        &self,
        q: &Arc<Queue>,
        opts: &SubscribeOptions,
        single_active: bool,
    ) -> Result<Registered, QueueError> {
        let mut map =
            self.by_queue.lock().map_err(|_| QueueError::Storage("consumer table poisoned".into()))?;
        let mut started = false;
        let dispatch = match map.get(&q.name) {
            Some(d) if Arc::ptr_eq(&d.queue, q) && !lock(&d.state).closed => Arc::clone(d),
            stale => {
                if let Some(old) = stale {
                    // Its queue was deleted: its consumers end (their channels are dropped).
                    let mut s = lock(&old.state);
                    s.closed = true;
                    s.slots.clear();
                    drop(s);
                    old.kick.notify_one();
                }
                started = true;
                let d = Arc::new(Dispatch {
                    queue: Arc::clone(q),
                    state: Mutex::new(Slots {
                        slots: Vec::new(),
                        exclusive: false,
                        single_active,
                        next_id: 0,
                        turn: 0,
                        closed: false,
                    }),
                    kick: Notify::new(),
                });
                map.insert(q.name.clone(), Arc::clone(&d));
                d
            }
        };
        let mut s = lock(&dispatch.state);
        if s.exclusive || (opts.exclusive && !s.slots.is_empty()) {
            return Err(QueueError::ConsumerExclusive(q.name.clone()));
        }
        if s.slots.len() >= MAX_CONSUMERS_PER_QUEUE {
            return Err(QueueError::TooManyConsumers(q.name.clone()));
        }
        let prefetch = if opts.prefetch == 0 { MAX_PREFETCH } else { opts.prefetch.min(MAX_PREFETCH) };
        let (tx, rx) = mpsc::channel(HANDOVER);
        s.next_id += 1;
        let id = s.next_id;
        let at = s.slots.iter().position(|x| x.priority < opts.priority).unwrap_or(s.slots.len());
        s.slots.insert(
            at,
            Slot {
                id,
                priority: opts.priority,
                credit: prefetch,
                lease_ms: opts.lease_ms.unwrap_or(DEFAULT_CONSUMER_LEASE_MS),
                tx,
            },
        );
        s.exclusive = opts.exclusive;
        drop(s);
        drop(map);
        dispatch.kick.notify_one();
        Ok(Registered { id, rx, dispatch, started })
    }

    /// Ends `d` if it has no consumer left, or with its consumers when `force` (its queue is
    /// gone: their channels close, and they see the end); true when it ended (it is forgotten).
    fn retire(&self, name: &str, d: &Arc<Dispatch>, force: bool) -> bool {
        let Ok(mut map) = self.by_queue.lock() else { return true };
        let mut s = lock(&d.state);
        if !force && !s.slots.is_empty() && !s.closed {
            return false;
        }
        s.closed = true;
        s.slots.clear();
        if map.get(name).is_some_and(|live| Arc::ptr_eq(live, d)) {
            map.remove(name);
        }
        true
    }

    /// Wakes `queue`'s dispatcher (its queue was deleted: it ends its consumers).
    pub(super) fn kick(&self, queue: &str) {
        if let Ok(map) = self.by_queue.lock()
            && let Some(d) = map.get(queue)
        {
            d.kick.notify_one();
        }
    }

    /// Live consumers of `queue`.
    pub(super) fn count(&self, queue: &str) -> usize {
        let Ok(map) = self.by_queue.lock() else { return 0 };
        map.get(queue).map_or(0, |d| lock(&d.state).slots.len())
    }
}

struct Registered {
    id: u64,
    rx: mpsc::Receiver<Delivery>,
    dispatch: Arc<Dispatch>,
    started: bool,
}

/// A push consumer of one queue. Dropping it stops the deliveries; messages handed over but not
/// yet taken with [`Subscription::next`] go back to the queue, and deliveries taken but not
/// settled stay leased until the front-end nacks them (it must, when its channel closes).
#[derive(Debug)]
pub struct Subscription {
    queue: String,
    id: u64,
    rx: mpsc::Receiver<Delivery>,
    dispatch: Arc<Dispatch>,
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
        let delivery = self.rx.recv().await;
        // The channel was full, so the dispatcher passed this consumer over: space again.
        if delivery.is_some() && self.rx.capacity() == 1 {
            self.dispatch.kick.notify_one();
        }
        delivery
    }

    /// Gives back the credit of `n` settled (acked, nacked or rejected) deliveries.
    pub fn settled(&self, n: u32) {
        self.add_credit(n);
    }

    /// Raises the credit by `delta` (a new prefetch, or settled deliveries).
    pub fn add_credit(&self, delta: u32) {
        let mut s = lock(&self.dispatch.state);
        let Some(slot) = s.slots.iter_mut().find(|x| x.id == self.id) else { return };
        let was = slot.credit;
        slot.credit = slot.credit.saturating_add(delta).min(MAX_PREFETCH);
        drop(s);
        // A dispatcher with messages to deal waits only when nobody had credit.
        if was == 0 && delta > 0 {
            self.dispatch.kick.notify_one();
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        {
            let mut s = lock(&self.dispatch.state);
            s.slots.retain(|x| x.id != self.id);
            if s.slots.is_empty() {
                s.exclusive = false;
            }
        }
        self.dispatch.kick.notify_one();
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
                    if let Err(e) = svc.nack(&queue, receipt, NackMode::Requeue).await {
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
        let single = q.record().is_ok_and(|r| r.attrs.single_active_consumer);
        let Registered { id, rx, dispatch, started } = self.consumers.register(&q, &opts, single)?;
        if started {
            tokio::spawn(run_dispatch(Arc::clone(&svc), Arc::clone(&dispatch)));
        }
        Ok(Subscription { queue: queue.to_string(), id, rx, dispatch, svc })
    }

    /// Live push consumers of `queue`.
    pub fn consumer_count(&self, queue: &str) -> usize {
        self.consumers.count(queue)
    }
}

/// A queue's dispatcher: waits for credit and ready messages, leases as many as the consumers
/// can take, deals them. Ends with the queue or its last consumer.
async fn run_dispatch(svc: Arc<QueueService>, d: Arc<Dispatch>) {
    let q = Arc::clone(&d.queue);
    loop {
        let ready = q.ready.notified();
        let kicked = d.kick.notified();
        tokio::pin!(ready, kicked);
        ready.as_mut().enable();
        kicked.as_mut().enable();
        if !svc.get(&q.name).is_ok_and(|live| Arc::ptr_eq(&live, &q)) {
            svc.consumers.retire(&q.name, &d, true);
            return;
        }
        let (want, lease_ms) = {
            let s = lock(&d.state);
            if s.slots.is_empty() || s.closed {
                drop(s);
                if svc.consumers.retire(&q.name, &d, false) {
                    return;
                }
                continue;
            }
            s.wanted()
        };
        if want == 0 {
            // Nobody has credit: only a consumer getting some (or the queue going) matters.
            kicked.await;
            continue;
        }
        let now = svc.clock().now_ms();
        let (deliveries, leaving) = match q.receive_now(now, want.min(MAX_GRAB), Some(lease_ms), None) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(queue = %q.name, error = %e, "dispatcher stopped");
                svc.consumers.retire(&q.name, &d, true);
                return;
            }
        };
        svc.dead_letter(&q, leaving).await;
        if deliveries.is_empty() {
            tokio::select! {
                _ = &mut ready => {}
                _ = &mut kicked => {}
            }
            continue;
        }
        let dealt = deliveries.len();
        let back = lock(&d.state).deal(deliveries);
        for delivery in back {
            let _ = svc.nack(&q.name, delivery.receipt, NackMode::Requeue).await;
        }
        if dealt >= MAX_GRAB {
            // A long backlog: let the consumers' tasks run between grabs.
            tokio::task::yield_now().await;
        }
    }
}
