//! The background side of the service: one timer task per queue, and moving dead-letters
//! from a source queue to its target.

use std::sync::Arc;

use super::codec::StoredMessage;
use super::error::QueueError;
use super::queue::{Leaving, Queue};
use super::service::{MAX_DEAD_LETTER_HOPS, QueueService, blocking};
use super::state::SettleReason;

impl QueueService {
    pub(super) fn spawn_timer(&self, q: Arc<Queue>) {
        let svc = self.weak();
        let clock = self.clock().clone();
        tokio::spawn(async move {
            let mut last_due: Option<i64> = None;
            loop {
                if q.is_deleted() {
                    return;
                }
                let notified = q.timers.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let Ok(next) = q.next_deadline() else { return };
                let now = clock.now_ms();
                match next {
                    // A deadline that stays due after a tick would spin: back off a second.
                    Some(d) if d <= now && last_due == Some(d) => {
                        tokio::select! {
                            _ = &mut notified => {}
                            _ = clock.sleep_until(now + 1_000) => {}
                        }
                    }
                    Some(d) if d <= now => {}
                    Some(d) => {
                        tokio::select! {
                            _ = &mut notified => {}
                            _ = clock.sleep_until(d) => {}
                        }
                    }
                    None => notified.await,
                }
                last_due = next;
                let Ok((leaving, ready)) = q.tick(clock.now_ms()) else { return };
                if ready {
                    q.ready.notify_waiters();
                }
                let Some(svc) = svc.upgrade() else { return };
                svc.dead_letter(&q, leaving).await;
            }
        });
    }

    /// Appends stored messages to `target` and makes them receivable (dead-letters, moves).
    pub(super) async fn put_stored(
        &self,
        target: &Arc<Queue>,
        msgs: Vec<StoredMessage>,
    ) -> Result<Vec<Leaving>, QueueError> {
        let now = self.clock().now_ms();
        let Some(end) = target.stage_stored(msgs, now)? else { return Ok(Vec::new()) };
        let t = target.clone();
        if let Err(e) = blocking(move || t.sync_log(end)).await {
            target.abort_enqueue(end, &[]);
            return Err(e);
        }
        target.commit_enqueue(end, now)
    }

    /// Moves messages handed out by a source queue to its dead-letter target, then settles them
    /// there; drops them (counted) when the target does not exist.
    pub(super) async fn dead_letter(&self, source: &Arc<Queue>, leaving: Vec<Leaving>) {
        let mut work = vec![(source.clone(), leaving)];
        for _ in 0..MAX_DEAD_LETTER_HOPS {
            let Some((src, leaving)) = work.pop() else { return };
            if leaving.is_empty() {
                continue;
            }
            let target = src.record().ok().and_then(|r| r.attrs.dead_letter).and_then(|t| self.get(&t).ok());
            let Some(target) = target else {
                tracing::warn!(queue = %src.name, count = leaving.len(), "dead-letter target missing; messages dropped");
                let done: Vec<_> = leaving.iter().map(|l| (l.out.offset, SettleReason::Dropped)).collect();
                if let Err(e) = src.finish_leaving(&done) {
                    tracing::warn!(queue = %src.name, error = %e, "could not settle dropped messages");
                }
                continue;
            };
            let msgs = leaving.iter().map(|l| Queue::for_target(&l.msg, Some(&src.name))).collect();
            match self.put_stored(&target, msgs).await {
                Ok(onward) => {
                    let done: Vec<_> = leaving.iter().map(|l| (l.out.offset, l.out.reason)).collect();
                    if let Err(e) = src.finish_leaving(&done) {
                        tracing::warn!(queue = %src.name, error = %e, "could not settle dead-lettered messages");
                    }
                    work.push((target, onward));
                }
                Err(e) => {
                    tracing::warn!(queue = %src.name, target = %target.name, error = %e, "dead-lettering failed; messages kept");
                    let back = leaving.into_iter().map(|l| (l.out.offset, l.msg.group_id)).collect();
                    if let Err(e) = src.abort_leaving(back) {
                        tracing::warn!(queue = %src.name, error = %e, "could not restore messages");
                    }
                }
            }
        }
    }
}
