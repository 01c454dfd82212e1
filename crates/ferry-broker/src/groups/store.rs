//! Persistence of groups and offsets: record keys, the load at start, and the writer thread that
//! batches concurrent writes into one metadata-store transaction (group commit).
//!
//! Keys (string keys of the [`MetadataStore`]):
//! - `Table::Groups`: the group id → [`GroupRecord`] (JSON).
//! - `Table::GroupOffsets`: `{group id length}:{group id}/{topic}/{partition}` → [`CommittedOffset`]
//!   (JSON). The length prefix keeps any group id unambiguous, and makes `{len}:{group}/` the
//!   prefix of exactly that group's offsets.

use std::collections::HashMap;
use std::sync::Weak;

use tokio::sync::{mpsc, oneshot};

use super::error::OpenError;
use super::group::{Group, GroupRecord};
use super::types::{CommittedOffset, TopicPartition};
use crate::metadata::{MetaOp, MetadataError, MetadataStore, Table};

/// The most write jobs folded into one store transaction.
const BATCH_JOBS_MAX: usize = 512;

/// The key prefix of every offset of `group`.
pub(crate) fn offsets_prefix(group: &str) -> String {
    format!("{}:{}/", group.len(), group)
}

/// The key of one committed offset.
pub(crate) fn offset_key(group: &str, tp: &TopicPartition) -> String {
    format!("{}{}/{}", offsets_prefix(group), tp.topic, tp.partition)
}

fn parse_offset_key(key: &str) -> Option<(String, TopicPartition)> {
    let (len, rest) = key.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let group = rest.get(..len)?;
    let tail = rest.get(len..)?.strip_prefix('/')?;
    let (topic, partition) = tail.rsplit_once('/')?;
    Some((group.to_string(), TopicPartition::new(topic, partition.parse().ok()?)))
}

/// The store operation that writes `offset`.
pub(crate) fn put_offset(group: &str, tp: &TopicPartition, offset: &CommittedOffset) -> MetaOp {
    let value = serde_json::to_vec(offset).unwrap_or_default();
    MetaOp::put(Table::GroupOffsets, offset_key(group, tp), value)
}

/// The store operation that writes a group record.
pub(crate) fn put_group(group: &str, record: &GroupRecord) -> MetaOp {
    MetaOp::put(Table::Groups, group, serde_json::to_vec(record).unwrap_or_default())
}

/// Reads every stored group and offset into memberless groups.
pub(crate) fn load(meta: &dyn MetadataStore, now_ms: i64) -> Result<HashMap<String, Group>, OpenError> {
    let mut groups = HashMap::new();
    for (key, value) in meta.scan_prefix(Table::Groups, "")? {
        let record: GroupRecord = serde_json::from_slice(&value)
            .map_err(|e| OpenError::Corrupt { key: key.clone(), reason: e.to_string() })?;
        groups.insert(key.clone(), Group::restore(key, record, now_ms));
    }
    for (key, value) in meta.scan_prefix(Table::GroupOffsets, "")? {
        let (group_id, tp) = parse_offset_key(&key)
            .ok_or_else(|| OpenError::Corrupt { key: key.clone(), reason: "malformed offset key".into() })?;
        let offset: CommittedOffset = serde_json::from_slice(&value)
            .map_err(|e| OpenError::Corrupt { key: key.clone(), reason: e.to_string() })?;
        groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(group_id, now_ms))
            .offsets
            .insert(tp, offset);
    }
    Ok(groups)
}

/// What the writer applies to the in-memory groups once its batch is durable, so that memory
/// follows the store in the store's order.
pub(crate) type Apply = Box<dyn FnOnce(&mut HashMap<String, Group>) + Send>;

/// A message to the writer thread.
pub(crate) enum WriterMsg {
    /// Write (and then apply) this.
    Job(WriteJob),
    /// Finish what was queued before, then end.
    Stop,
}

/// One unit of work for the writer.
pub(crate) struct WriteJob {
    /// The group the job changes.
    pub group_id: String,
    pub ops: Vec<MetaOp>,
    pub apply: Option<Apply>,
    pub done: Option<oneshot::Sender<Result<(), MetadataError>>>,
}

/// Something that holds the in-memory groups for the writer to update.
pub(crate) trait Applier: Send + Sync + 'static {
    /// Runs each (group id, change) in order under one lock of the groups.
    fn apply(&self, changes: Vec<(String, Apply)>);
}

/// Starts the writer thread; it ends at [`WriterMsg::Stop`] or when every sender is gone.
pub(crate) fn spawn_writer<A: Applier>(
    meta: std::sync::Arc<dyn MetadataStore>,
    applier: Weak<A>,
    mut rx: mpsc::Receiver<WriterMsg>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("ferry-group-writer".into()).spawn(move || {
        let mut stopping = false;
        while !stopping {
            let mut batch = Vec::new();
            match rx.blocking_recv() {
                Some(WriterMsg::Job(job)) => batch.push(job),
                Some(WriterMsg::Stop) | None => break,
            }
            while batch.len() < BATCH_JOBS_MAX {
                match rx.try_recv() {
                    Ok(WriterMsg::Job(job)) => batch.push(job),
                    Ok(WriterMsg::Stop) => {
                        stopping = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            let ops: Vec<MetaOp> = batch.iter_mut().flat_map(|j| std::mem::take(&mut j.ops)).collect();
            let result = meta.commit(&ops);
            if let Err(e) = &result {
                tracing::error!(error = %e, jobs = batch.len(), "group metadata commit failed");
            }
            if result.is_ok()
                && let Some(applier) = applier.upgrade()
            {
                let changes =
                    batch.iter_mut().filter_map(|j| Some((j.group_id.clone(), j.apply.take()?))).collect();
                applier.apply(changes);
            }
            for job in batch {
                if let Some(done) = job.done {
                    let reply = match &result {
                        Ok(()) => Ok(()),
                        Err(e) => Err(MetadataError::Storage(e.to_string())),
                    };
                    let _ = done.send(reply);
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_keys_round_trip_with_any_group_id() {
        for group in ["g", "a/b:c", "", "with/slash/0"] {
            let tp = TopicPartition::new("orders.v1", 7);
            let key = offset_key(group, &tp);
            assert!(key.starts_with(&offsets_prefix(group)));
            assert_eq!(parse_offset_key(&key), Some((group.to_string(), tp)));
        }
    }

    #[test]
    fn one_groups_prefix_does_not_cover_a_longer_group_id() {
        let key = offset_key("ab", &TopicPartition::new("t", 0));
        assert!(!key.starts_with(&offsets_prefix("a")));
    }
}
