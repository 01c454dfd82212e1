//! How long a queue lives: transient queues end with the broker, auto-delete queues with their
//! last consumer, and queues with `expires_ms` after that long unused (AMQP's `x-expires`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::queue::Queue;
use super::service::QueueService;

impl QueueService {
    /// Records a use of the queue (declare, receive, subscribe): it restarts `expires_ms`.
    pub(super) fn touch(&self, q: &Queue) {
        q.last_used_ms.store(self.clock().now_ms(), Ordering::Relaxed);
    }

    /// Deletes the queue once it has gone `expires_ms` without a use and without consumers.
    pub(super) fn spawn_expiry(&self, q: Arc<Queue>) {
        let Ok(rec) = q.record() else { return };
        let Some(expires_ms) = rec.attrs.expires_ms else { return };
        let svc = self.weak();
        let clock = self.clock().clone();
        tokio::spawn(async move {
            loop {
                let due = q.last_used_ms.load(Ordering::Relaxed).saturating_add(expires_ms as i64);
                if clock.now_ms() < due {
                    clock.sleep_until(due).await;
                    continue;
                }
                let Some(svc) = svc.upgrade() else { return };
                if q.is_deleted() || !svc.get(&q.name).is_ok_and(|live| Arc::ptr_eq(&live, &q)) {
                    return;
                }
                if svc.consumer_count(&q.name) > 0 {
                    svc.touch(&q);
                    continue;
                }
                tracing::info!(queue = %q.name, expires_ms, "queue unused for its expiry; deleted");
                if let Err(e) = svc.delete_queue(&q.name).await {
                    tracing::warn!(queue = %q.name, error = %e, "deleting an expired queue failed");
                }
                return;
            }
        });
    }

    /// Called when a push consumer of `queue` goes: an auto-delete queue left without
    /// consumers is deleted.
    pub(super) fn consumer_gone(&self, queue: &str) {
        let Ok(q) = self.get(queue) else { return };
        if !q.record().is_ok_and(|r| r.attrs.auto_delete) || self.consumer_count(queue) > 0 {
            return;
        }
        let Some(svc) = self.this() else { return };
        // Called from a subscription's drop, which may run as the runtime shuts down.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            // A consumer that arrived meanwhile keeps the queue.
            if svc.consumer_count(&q.name) == 0
                && svc.get(&q.name).is_ok_and(|live| Arc::ptr_eq(&live, &q))
                && let Err(e) = svc.delete_queue(&q.name).await
            {
                tracing::warn!(queue = %q.name, error = %e, "deleting an auto-delete queue failed");
            }
        });
    }
}
