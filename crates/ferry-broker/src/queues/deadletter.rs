//! The background side of the service: one timer task per queue, and moving dead-letters
//! from a source queue to its target.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::codec::StoredMessage;
use super::error::QueueError;
use super::queue::{Leaving, Queue};
use super::service::{MAX_DEAD_LETTER_HOPS, QueueService, blocking};
use super::state::SettleReason;
use super::types::{MessageAttribute, QueueAttributes};
use crate::message::{Death, DeathCause, is_dead_letter_cycle, record_death};

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
        let t = target.clone();
        // The append and its fsync touch the disk: both run on the blocking pool.
        let end = blocking(move || {
            let Some(end) = t.stage_stored(msgs, now)? else { return Ok(None) };
            if let Err(e) = t.sync_log(end) {
                t.abort_enqueue(end, &[]);
                return Err(e);
            }
            Ok(Some(end))
        })
        .await?;
        match end {
            Some(end) => target.commit_enqueue(end, now),
            None => Ok(Vec::new()),
        }
    }

    /// Moves messages handed out by a source queue to its dead-letter target — a queue, or
    /// the queues an exchange routes them to — with the death recorded in their history, then
    /// settles them in the source. Messages with no target (none configured, none routed, or
    /// only targets a routed message already died in without a rejection: a cycle) are
    /// dropped and counted.
    pub(super) async fn dead_letter(&self, source: &Arc<Queue>, leaving: Vec<Leaving>) {
        let mut work = vec![(source.clone(), leaving)];
        for _ in 0..MAX_DEAD_LETTER_HOPS {
            let Some((src, leaving)) = work.pop() else { return };
            if leaving.is_empty() {
                continue;
            }
            let attrs = match src.record() {
                Ok(r) => r.attrs,
                Err(_) => continue,
            };
            let now = self.clock().now_ms();
            // target queue -> (index into `leaving`, message as it goes there)
            let mut by_target: BTreeMap<String, Vec<(usize, StoredMessage)>> = BTreeMap::new();
            let mut dropped = Vec::new();
            for (i, l) in leaving.iter().enumerate() {
                let (msg, mut targets) =
                    self.dead_letter_targets(&src.name, &attrs, &l.msg, l.out.cause, now);
                // Only routed dead-letters are checked for cycles, as RabbitMQ does; a queue
                // named as the target (SQS redrive) moves each message on its own deliveries,
                // so it never circles by itself, and dropping it there would lose it.
                if attrs.dead_letter_exchange.is_some() {
                    targets.retain(|t| !is_dead_letter_cycle(&l.msg.envelope.deaths, t));
                }
                if targets.is_empty() {
                    dropped.push((l.out.offset, SettleReason::Dropped));
                }
                for t in targets {
                    by_target.entry(t).or_default().push((i, msg.clone()));
                }
            }
            if !dropped.is_empty() {
                tracing::debug!(queue = %src.name, count = dropped.len(), "dead-letters without a target dropped");
                if let Err(e) = src.finish_leaving(&dropped) {
                    tracing::warn!(queue = %src.name, error = %e, "could not settle dropped messages");
                }
            }
            let mut failed = vec![false; leaving.len()];
            let mut routed = vec![false; leaving.len()];
            for (name, entries) in by_target {
                let Ok(target) = self.get(&name) else {
                    tracing::warn!(queue = %src.name, target = %name, "dead-letter target missing");
                    continue;
                };
                let indexes: Vec<usize> = entries.iter().map(|(i, _)| *i).collect();
                let msgs = entries.into_iter().map(|(_, m)| m).collect();
                match self.put_stored(&target, msgs).await {
                    Ok(onward) => {
                        indexes.iter().for_each(|&i| routed[i] = true);
                        work.push((target, onward));
                    }
                    Err(e) => {
                        tracing::warn!(queue = %src.name, target = %name, error = %e, "dead-lettering failed; messages kept");
                        indexes.iter().for_each(|&i| failed[i] = true);
                    }
                }
            }
            let mut done = Vec::new();
            let mut back = Vec::new();
            for (i, l) in leaving.into_iter().enumerate() {
                if dropped.iter().any(|(o, _)| *o == l.out.offset) {
                    continue;
                }
                if failed[i] {
                    // Kept in the source: a copy may also be in another target, never a loss.
                    back.push((l.out.offset, l.msg.group_id));
                } else if routed[i] {
                    done.push((l.out.offset, l.out.reason));
                } else {
                    done.push((l.out.offset, SettleReason::Dropped));
                }
            }
            if let Err(e) = src.finish_leaving(&done) {
                tracing::warn!(queue = %src.name, error = %e, "could not settle dead-lettered messages");
            }
            if !back.is_empty()
                && let Err(e) = src.abort_leaving(back)
            {
                tracing::warn!(queue = %src.name, error = %e, "could not restore messages");
            }
        }
    }

    /// Moves messages a full queue refused (`reject-publish-dlx`) to its dead-letter target
    /// with reason `maxlen`, as [`QueueService::dead_letter`] moves those leaving it; they were
    /// never stored in the source, so nothing is settled there. Without a target, or when the
    /// target cannot take them, they are dropped: their publisher was told they were refused.
    pub(super) async fn dead_letter_refused(&self, source: &Arc<Queue>, refused: Vec<StoredMessage>) {
        if refused.is_empty() {
            return;
        }
        let Ok(attrs) = source.record().map(|r| r.attrs) else { return };
        let now = self.clock().now_ms();
        let mut by_target: BTreeMap<String, Vec<StoredMessage>> = BTreeMap::new();
        for stored in &refused {
            let (msg, mut targets) =
                self.dead_letter_targets(&source.name, &attrs, stored, DeathCause::MaxLength, now);
            if attrs.dead_letter_exchange.is_some() {
                targets.retain(|t| !is_dead_letter_cycle(&stored.envelope.deaths, t));
            }
            for t in targets {
                by_target.entry(t).or_default().push(msg.clone());
            }
        }
        for (name, msgs) in by_target {
            let Ok(target) = self.get(&name) else {
                tracing::warn!(queue = %source.name, target = %name, "dead-letter target missing");
                continue;
            };
            match self.put_stored(&target, msgs).await {
                Ok(onward) => Box::pin(self.dead_letter(&target, onward)).await,
                Err(e) => {
                    tracing::warn!(queue = %source.name, target = %name, error = %e, "dead-lettering refused messages failed");
                }
            }
        }
    }

    /// The copy of a message leaving `source` for `cause` that goes to its dead-letter
    /// targets, and their names.
    fn dead_letter_targets(
        &self,
        source: &str,
        attrs: &QueueAttributes,
        stored: &StoredMessage,
        cause: DeathCause,
        now_ms: i64,
    ) -> (StoredMessage, Vec<String>) {
        let mut msg = Queue::for_target(stored, Some(source));
        let env = &stored.envelope;
        record_death(
            &mut msg.envelope.deaths,
            Death {
                queue: source.to_string(),
                cause,
                count: 1,
                exchange: env.exchange.clone(),
                routing_keys: env.routing_key.iter().cloned().collect(),
                time_ms: now_ms,
            },
        );
        if let Some(exchange) = &attrs.dead_letter_exchange {
            let key =
                attrs.dead_letter_routing_key.clone().or_else(|| env.routing_key.clone()).unwrap_or_default();
            let targets = match self.dead_letter_router() {
                Some(router) => router.route(exchange, &key, &msg.attributes),
                None => Vec::new(),
            };
            msg.envelope.exchange = Some(exchange.clone());
            msg.envelope.routing_key = Some(key);
            (msg, targets)
        } else {
            (msg, attrs.dead_letter.iter().cloned().collect())
        }
    }
}

/// Routes dead-letters published to an exchange; installed by whoever owns the router.
pub trait DeadLetterRouter: Send + Sync {
    /// The queues a message with `attributes` published to `exchange` with `routing_key` reaches.
    fn route(&self, exchange: &str, routing_key: &str, attributes: &[MessageAttribute]) -> Vec<String>;
}
