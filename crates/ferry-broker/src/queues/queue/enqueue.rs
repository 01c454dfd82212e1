//! Enqueue: validation, deduplication, overflow refusal, batching into the log, and making
//! messages receivable once durable; also copies of stored messages (dead-letters, moves).

use bytes::Bytes;

use super::super::codec::{self, RESERVED_PREFIX, StoredMessage};
use super::super::dedup::{self, DedupEntry};
use super::super::error::QueueError;
use super::super::types::{Enqueued, NewMessage, OverflowPolicy, QueueAttributes};
use super::cache::Source;
use super::{Activity, BATCH_SPLIT_BYTES, Inner, Leaving, Queue, incoming_of};
use crate::metadata::MetaOp;

/// The outcome of staging an enqueue.
#[derive(Debug)]
pub struct Staged {
    /// One result per message.
    pub results: Vec<Result<Enqueued, QueueError>>,
    /// Offset to sync the log to (exclusive), when anything was appended.
    pub sync_to: Option<u64>,
    /// Metadata writes persisting new dedup ids (and pruning old ones).
    pub dedup_ops: Vec<MetaOp>,
    /// Dedup ids remembered by this enqueue, forgotten again if it cannot be made durable.
    pub dedup_ids: Vec<String>,
    /// Messages a full queue refused that go to its dead-letter target
    /// ([`OverflowPolicy::RejectNewDeadLetter`]).
    pub refused: Vec<StoredMessage>,
}

impl Queue {
    /// Validates, deduplicates and appends `msgs` as one batch (not yet durable, not yet
    /// receivable: `commit_enqueue` does that once the log is synced).
    pub fn stage_enqueue(&self, msgs: Vec<NewMessage>, now_ms: i64) -> Result<Staged, QueueError> {
        let mut g = self.lock()?;
        let inner = &mut *g;
        let attrs = inner.rec.attrs.clone();
        let mut results: Vec<Result<Enqueued, QueueError>> = Vec::with_capacity(msgs.len());
        let mut stored: Vec<(usize, StoredMessage)> = Vec::new();
        let mut new_ids: Vec<(usize, String)> = Vec::new();
        let mut dedup_ops = inner.dedup.prune(&self.name, now_ms);
        let mut extra_len = 0u64;
        let mut extra_bytes = 0u64;
        let mut refused = Vec::new();
        for m in msgs {
            let i = results.len();
            if let Err(e) = self.validate(&attrs, &m) {
                results.push(Err(e));
                continue;
            }
            // Only queues that deduplicate keep ids: elsewhere an id means nothing.
            let dedup_id = if attrs.fifo || attrs.deduplicate {
                m.dedup_id
                    .clone()
                    .or_else(|| (attrs.fifo && attrs.content_based_dedup).then(|| dedup::content_id(&m.body)))
            } else {
                None
            };
            if let Some(id) = &dedup_id
                && let Some(e) = inner.dedup.get(id, now_ms)
            {
                results.push(Ok(Enqueued {
                    message_id: e.message_id.clone(),
                    sequence_number: e.sequence_number,
                    duplicate: true,
                }));
                continue;
            }
            let stored_msg = StoredMessage {
                offset: 0,
                timestamp_ms: now_ms,
                message_id: m.message_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                body: m.body,
                attributes: m.attributes,
                system_attributes: m.system_attributes,
                group_id: m.group_id,
                dedup_id: dedup_id.clone(),
                priority: m.priority.unwrap_or(0),
                ttl_ms: m.ttl_ms,
                delay_ms: m.delay_ms.unwrap_or(attrs.delay_ms),
                dead_letter_source: None,
                envelope: m.envelope,
                key: None,
            };
            let size = stored_msg.size_bytes();
            if inner.policy.overflow.refuses_new()
                && inner.state.is_full(
                    inner.pending_len + extra_len,
                    inner.pending_bytes + extra_bytes + size,
                    &inner.policy,
                )
            {
                results.push(Err(QueueError::Overflow(self.name.clone())));
                if inner.policy.overflow == OverflowPolicy::RejectNewDeadLetter {
                    refused.push(stored_msg);
                }
                continue;
            }
            extra_len += 1;
            extra_bytes += size;
            if let Some(id) = dedup_id {
                // Remember now so that a duplicate in this very batch or a concurrent call is caught.
                inner.dedup.restore(
                    id.clone(),
                    DedupEntry {
                        message_id: stored_msg.message_id.clone(),
                        sequence_number: None,
                        expires_ms: now_ms.saturating_add(attrs.dedup_window_ms as i64),
                    },
                );
                new_ids.push((i, id));
            }
            results.push(Ok(Enqueued {
                message_id: stored_msg.message_id.clone(),
                sequence_number: None,
                duplicate: false,
            }));
            stored.push((i, stored_msg));
        }
        if stored.is_empty() {
            return Ok(Staged { results, sync_to: None, dedup_ops, dedup_ids: Vec::new(), refused });
        }
        let (idx, mut msgs): (Vec<usize>, Vec<StoredMessage>) = stored.into_iter().unzip();
        let (appended, error) = self.append_split(inner, &mut msgs, &attrs);
        if appended == 0
            && let Some(e) = error
        {
            for (_, id) in &new_ids {
                inner.dedup.remove(id);
            }
            return Err(QueueError::Storage(e));
        }
        for (k, (i, m)) in idx.into_iter().zip(&msgs).enumerate() {
            // `new_ids` is in message order.
            let dedup_id = new_ids.binary_search_by_key(&i, |(j, _)| *j).ok().map(|p| new_ids[p].1.clone());
            if k >= appended {
                if let Some(id) = &dedup_id {
                    inner.dedup.remove(id);
                }
                results[i] = Err(QueueError::Storage(error.clone().unwrap_or_default()));
                continue;
            }
            let seq = attrs.fifo.then_some(m.offset);
            if let Some(Ok(e)) = results.get_mut(i) {
                e.sequence_number = seq;
            }
            if let Some(id) = dedup_id {
                let entry = DedupEntry {
                    message_id: m.message_id.clone(),
                    sequence_number: seq,
                    expires_ms: now_ms.saturating_add(attrs.dedup_window_ms as i64),
                };
                dedup_ops.push(inner.dedup.insert(&self.name, id, entry));
            }
        }
        let sync_to = msgs.get(appended.wrapping_sub(1)).map(|m| m.offset + 1);
        let dedup_ids = new_ids.into_iter().map(|(_, id)| id).collect();
        Ok(Staged { results, sync_to, dedup_ops, dedup_ids, refused })
    }

    /// Appends `msgs` in batches of at most [`BATCH_SPLIT_BYTES`], setting their offsets and
    /// staging them as pending. Returns how many were appended and the error that stopped it.
    fn append_split(
        &self,
        inner: &mut Inner,
        msgs: &mut [StoredMessage],
        attrs: &QueueAttributes,
    ) -> (usize, Option<String>) {
        let mut done = 0;
        while done < msgs.len() {
            let mut end = done;
            let mut bytes = 0;
            while end < msgs.len()
                && (end == done || bytes + msgs[end].size_bytes() as usize <= BATCH_SPLIT_BYTES)
            {
                bytes += msgs[end].size_bytes() as usize;
                end += 1;
            }
            let chunk = &mut msgs[done..end];
            let batch = codec::encode_batch(chunk);
            let (base, _) = match self.log.append_no_sync(&batch) {
                Ok(x) => x,
                Err(e) => return (done, Some(e)),
            };
            let mut incoming = Vec::with_capacity(chunk.len());
            for (k, m) in chunk.iter_mut().enumerate() {
                m.offset = base + k as u64;
                incoming.push(incoming_of(m, attrs, 0));
            }
            inner.pending_len += incoming.len() as u64;
            inner.pending_bytes += incoming.iter().map(|i| u64::from(i.size)).sum::<u64>();
            inner.pending.insert(base, incoming);
            done = end;
        }
        (done, None)
    }

    fn validate(&self, attrs: &QueueAttributes, m: &NewMessage) -> Result<(), QueueError> {
        let size = m.body.len() + m.attributes.iter().map(codec::attribute_size).sum::<usize>();
        if size > attrs.max_message_bytes as usize {
            return Err(QueueError::MessageTooLarge {
                size: size as u64,
                max: u64::from(attrs.max_message_bytes),
            });
        }
        if let Some(a) =
            m.attributes.iter().chain(&m.system_attributes).find(|a| a.name.starts_with(RESERVED_PREFIX))
        {
            return Err(QueueError::InvalidAttribute(format!(
                "attribute names starting with {RESERVED_PREFIX} are reserved: {}",
                a.name
            )));
        }
        if attrs.fifo {
            if m.group_id.is_none() {
                return Err(QueueError::FifoRequiresGroupId);
            }
            if m.dedup_id.is_none() && !attrs.content_based_dedup {
                return Err(QueueError::DedupIdRequired);
            }
            if m.delay_ms.is_some_and(|d| d > 0) {
                return Err(QueueError::DelayNotAllowedOnFifo);
            }
        }
        Ok(())
    }

    /// Makes every appended batch below `durable` receivable, applying overflow policies.
    /// Returns messages to dead-letter.
    pub fn commit_enqueue(&self, durable: u64, now_ms: i64) -> Result<Vec<Leaving>, QueueError> {
        let mut g = self.lock()?;
        let inner = &mut *g;
        let mut any = false;
        while let Some(entry) = inner.pending.first_entry() {
            if *entry.key() >= durable {
                break;
            }
            let batch = entry.remove();
            Activity::add(&self.activity.enqueued, batch.len() as u64);
            for m in batch {
                inner.pending_len -= 1;
                inner.pending_bytes = inner.pending_bytes.saturating_sub(u64::from(m.size));
                inner.state.register(m, now_ms);
                any = true;
            }
        }
        let mut outs = Vec::new();
        let mut src = Source { log: self.log.as_ref(), cache: &mut inner.cache };
        inner.state.enforce_limits(&inner.policy, &mut src, &mut outs);
        self.journal_events(inner)?;
        let leaving = self.leaving(inner, outs);
        drop(g);
        if any {
            self.ready.notify_waiters();
            self.timers.notify_one();
        }
        Ok(leaving)
    }

    /// Drops staged batches that could not be made durable.
    pub fn abort_enqueue(&self, below: u64, dedup_ids: &[String]) {
        if let Ok(mut g) = self.inner.lock() {
            for id in dedup_ids {
                g.dedup.remove(id);
            }
            while let Some(entry) = g.pending.first_entry() {
                if *entry.key() >= below {
                    break;
                }
                let batch = entry.remove();
                g.pending_len -= batch.len() as u64;
                g.pending_bytes =
                    g.pending_bytes.saturating_sub(batch.iter().map(|m| u64::from(m.size)).sum());
            }
        }
    }

    /// A copy of a stored message for dead-lettering or moving: TTL and delay removed,
    /// the source recorded.
    pub fn for_target(m: &StoredMessage, source: Option<&str>) -> StoredMessage {
        StoredMessage {
            offset: 0,
            ttl_ms: None,
            delay_ms: 0,
            dead_letter_source: source.map(str::to_string).or_else(|| m.dead_letter_source.clone()),
            body: Bytes::clone(&m.body),
            ..m.clone()
        }
    }

    /// Appends already-validated stored messages (dead-letters, moves) bypassing dedup and the
    /// per-message checks; the overflow policy still applies. Returns the offset to sync to.
    pub fn stage_stored(&self, mut msgs: Vec<StoredMessage>, now_ms: i64) -> Result<Option<u64>, QueueError> {
        let mut g = self.lock()?;
        let inner = &mut *g;
        if msgs.is_empty() {
            return Ok(None);
        }
        let fifo = inner.rec.attrs.fifo;
        for m in &mut msgs {
            m.timestamp_ms = now_ms;
            if fifo && m.group_id.is_none() {
                m.group_id = m.dead_letter_source.clone().or_else(|| Some(String::new()));
            }
        }
        let attrs = inner.rec.attrs.clone();
        let (appended, error) = self.append_split(inner, &mut msgs, &attrs);
        if let Some(e) = error {
            // Whatever was appended becomes receivable with the next commit: an extra copy, never a loss.
            tracing::warn!(queue = %self.name, appended, error = %e, "append of moved messages failed");
            return Err(QueueError::Storage(e));
        }
        let end = msgs.last().map(|m| m.offset + 1);
        Ok(end)
    }
}
