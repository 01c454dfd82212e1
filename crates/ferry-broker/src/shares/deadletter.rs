//! Dead-letter moves: records a share group archived by rejection or the delivery limit, read
//! from the topic partition and enqueued into the group's dead-letter queue, with their death.

use std::collections::HashMap;
use std::sync::Arc;

use crate::message::{Death, DeathCause, record_death};
use crate::queues::NewMessage;
use crate::queues::state::{Outgoing, SettleReason};

use super::config::ShareGroupConfig;
use super::coordinator::ShareCoordinator;
use super::partition::SharePartition;

impl ShareCoordinator {
    /// Moves the records of `leaving` that go to the group's dead-letter queue, in a task.
    pub(super) fn spawn_dead_letters(
        &self,
        group: &str,
        p: &Arc<SharePartition>,
        config: &ShareGroupConfig,
        leaving: Vec<Outgoing>,
    ) {
        let offsets: Vec<u64> =
            leaving.iter().filter(|o| o.reason == SettleReason::DeadLettered).map(|o| o.offset).collect();
        if offsets.is_empty() {
            return;
        }
        let Some(this) = self.this.upgrade() else { return };
        let (group, p, config) = (group.to_owned(), Arc::clone(p), config.clone());
        let causes: HashMap<u64, DeathCause> = leaving.iter().map(|o| (o.offset, o.cause)).collect();
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        rt.spawn(async move { this.dead_letter(&group, p, &config, offsets, causes).await });
    }

    async fn dead_letter(
        &self,
        group: &str,
        p: Arc<SharePartition>,
        config: &ShareGroupConfig,
        offsets: Vec<u64>,
        causes: HashMap<u64, DeathCause>,
    ) {
        let source = format!("{}-{}", p.partition().topic(), p.partition().index());
        let read = {
            let (p, offsets) = (Arc::clone(&p), offsets.clone());
            tokio::task::spawn_blocking(move || p.read_messages(&offsets)).await
        };
        let stored = match read {
            Ok(Ok(stored)) => stored,
            Ok(Err(e)) => {
                tracing::warn!(group, partition = %source, error = %e, "cannot read records to dead-letter");
                Vec::new()
            }
            Err(e) => {
                tracing::warn!(group, partition = %source, error = %e, "dead-letter read failed");
                Vec::new()
            }
        };
        let now = self.clock.now_ms();
        let mut msgs = Vec::new();
        for m in stored {
            let mut envelope = m.envelope.clone();
            let cause = causes.get(&m.offset).copied().unwrap_or(DeathCause::DeliveryLimit);
            record_death(
                &mut envelope.deaths,
                Death {
                    queue: source.clone(),
                    cause,
                    count: 1,
                    exchange: None,
                    routing_keys: Vec::new(),
                    time_ms: now,
                },
            );
            msgs.push(NewMessage {
                body: m.body,
                attributes: m.attributes,
                system_attributes: m.system_attributes,
                message_id: (!m.message_id.is_empty()).then_some(m.message_id),
                envelope,
                ..NewMessage::default()
            });
        }
        let queue = config.dead_letter_queue.clone().unwrap_or_default();
        let reason = if msgs.is_empty() {
            SettleReason::Dropped
        } else {
            match self.queues.enqueue(&queue, msgs).await {
                Ok(results) if results.iter().all(|r| r.is_ok()) => SettleReason::DeadLettered,
                Ok(results) => {
                    let first = results.into_iter().find_map(|r| r.err());
                    tracing::warn!(group, partition = %source, queue, error = ?first, "dead-letter queue refused records; archived");
                    SettleReason::Dropped
                }
                Err(e) => {
                    tracing::warn!(group, partition = %source, queue, error = %e, "cannot dead-letter; records archived");
                    SettleReason::Dropped
                }
            }
        };
        let done = tokio::task::spawn_blocking(move || p.finish_leaving(&offsets, reason)).await;
        if !matches!(done, Ok(Ok(()))) {
            tracing::warn!(group, partition = %source, "cannot journal dead-lettered records");
        }
    }
}
