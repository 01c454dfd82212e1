//! Deferred settlement durability: the journal records of queues whose settlements are answered
//! before they are on disk (standard queues by default, see `QueueAttributes::sync_settlements`)
//! are synced by one thread, shortly after, for every such queue at once.
//!
//! While the thread syncs one round, the settlements of every queue that arrive meanwhile wait
//! for the next round, which starts at least `ROUND_INTERVAL` after the last one: one fsync per
//! dirty queue per round, however many settlements it holds (a group commit across requests and
//! connections). A settlement lost in a crash before its
//! round means the message is delivered again — at-least-once, as SQS standard queues and
//! RabbitMQ acks promise — never that a message is lost: enqueues are never deferred.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::queue::Queue;

/// The shared syncer; dropping the last handle stops its thread after a final round.
pub(super) struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    done: Condvar,
}

#[derive(Default)]
struct State {
    /// Queue (by address) -> (the queue, journal sequence to sync to). At most one entry per
    /// open queue, so bounded by the number of queues.
    dirty: HashMap<usize, (Arc<Queue>, u64)>,
    /// Rounds completed; a waiter for durability waits for the round after its request.
    rounds: u64,
    /// True while a round is being synced.
    syncing: bool,
    stop: bool,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Flusher {
    /// Starts the syncing thread; `checkpoint_bytes` is the journal size that triggers a checkpoint.
    pub(super) fn start(checkpoint_bytes: u64) -> Flusher {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("ferry-settle-sync".into())
            .spawn(move || run(&worker, checkpoint_bytes))
            .map_err(
                |e| tracing::error!(error = %e, "cannot start the settlement sync thread; syncing inline"),
            )
            .ok();
        Flusher { shared, thread }
    }

    /// Asks for `q`'s journal to be durable up to `seq` soon and returns at once; `false` when
    /// there is no syncing thread (it could not be started): the caller must sync itself.
    pub(super) fn defer(&self, q: &Arc<Queue>, seq: u64) -> bool {
        if self.thread.is_none() {
            return false;
        }
        let mut st = lock(&self.shared.state);
        let entry = st.dirty.entry(Arc::as_ptr(q) as usize).or_insert_with(|| (Arc::clone(q), seq));
        entry.1 = entry.1.max(seq);
        drop(st);
        self.shared.wake.notify_one();
        true
    }

    /// Blocks until every settlement deferred before the call is durable (or its sync failed).
    pub(super) fn wait_idle(&self) {
        let mut st = lock(&self.shared.state);
        // A round under way may have taken its queues before the latest deferral: wait for it and
        // for one more if anything is still dirty.
        let target = st.rounds + u64::from(st.syncing) + u64::from(!st.dirty.is_empty());
        while st.rounds < target && !st.stop {
            st = self.shared.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Shortest time from the start of one round to the start of the next: settlements arriving
/// meanwhile share the next round's fsyncs instead of each queue's journal being synced back to
/// back, which would keep the disk busy and slow the fsyncs that sends wait for.
const ROUND_INTERVAL: Duration = Duration::from_millis(2);

fn run(shared: &Shared, checkpoint_bytes: u64) {
    loop {
        let started = Instant::now();
        let round = {
            let mut st = lock(&shared.state);
            while st.dirty.is_empty() && !st.stop {
                st = shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.dirty.is_empty() && st.stop {
                st.rounds += 1;
                shared.done.notify_all();
                return;
            }
            st.syncing = true;
            std::mem::take(&mut st.dirty)
        };
        for (q, seq) in round.into_values() {
            match q.sync_journal(seq) {
                // The records are durable; a failed checkpoint only delays truncation.
                Ok(()) => {
                    if let Err(e) = q.maybe_checkpoint(checkpoint_bytes) {
                        tracing::warn!(queue = %q.name, error = %e, "queue checkpoint failed");
                    }
                }
                Err(e) if q.is_deleted() => {
                    tracing::debug!(queue = %q.name, error = %e, "sync of a deleted queue")
                }
                // The settlement was answered already: after a crash its message comes back.
                Err(e) => tracing::warn!(queue = %q.name, error = %e, "deferred settlement sync failed"),
            }
        }
        let mut st = lock(&shared.state);
        st.syncing = false;
        st.rounds += 1;
        drop(st);
        shared.done.notify_all();
        if let Some(rest) = ROUND_INTERVAL.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}
