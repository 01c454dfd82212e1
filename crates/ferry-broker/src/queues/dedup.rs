//! The deduplication window of a queue: dedup id -> the message first stored under it, kept
//! for `dedup_window_ms` whatever happens to that message, persisted in the metadata store.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::metadata::{MetaOp, Table};

/// Most dedup ids remembered per queue; beyond it the oldest are forgotten early.
pub const MAX_DEDUP_ENTRIES: usize = 1_000_000;

/// What a dedup id maps to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupEntry {
    /// Id of the message first stored under the dedup id.
    pub message_id: String,
    /// Its sequence number.
    pub sequence_number: Option<u64>,
    /// End of the window, ms since the epoch.
    pub expires_ms: i64,
}

/// The window of one queue.
#[derive(Debug, Default)]
pub struct DedupWindow {
    entries: HashMap<String, DedupEntry>,
    /// (expiry, id) in insertion order; the window length is fixed per queue so this is sorted
    /// except after a change of `dedup_window_ms`, which only delays pruning.
    order: VecDeque<(i64, String)>,
}

/// The metadata key of `id` in queue `queue` (names cannot contain '/').
pub fn meta_key(queue: &str, id: &str) -> String {
    format!("{queue}/{id}")
}

/// The metadata key prefix of a queue's window.
pub fn meta_prefix(queue: &str) -> String {
    format!("{queue}/")
}

/// The content-based dedup id of a body: its SHA-256 in hex.
pub fn content_id(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl DedupWindow {
    /// The live entry for `id`.
    pub fn get(&self, id: &str, now_ms: i64) -> Option<&DedupEntry> {
        self.entries.get(id).filter(|e| e.expires_ms > now_ms)
    }

    /// Remembers `id`, returning the metadata write that persists it.
    pub fn insert(&mut self, queue: &str, id: String, entry: DedupEntry) -> MetaOp {
        let value = serde_json::to_vec(&entry).unwrap_or_default();
        self.order.push_back((entry.expires_ms, id.clone()));
        let key = meta_key(queue, &id);
        self.entries.insert(id, entry);
        MetaOp::put(Table::Dedup, key, value)
    }

    /// Loads a persisted entry (recovery).
    pub fn restore(&mut self, id: String, entry: DedupEntry) {
        self.order.push_back((entry.expires_ms, id.clone()));
        self.entries.insert(id, entry);
    }

    /// Sorts the pruning order after a restore.
    pub fn finish_restore(&mut self) {
        self.order.make_contiguous().sort();
    }

    /// Forgets expired ids (and the oldest beyond the bound), returning their metadata deletes.
    pub fn prune(&mut self, queue: &str, now_ms: i64) -> Vec<MetaOp> {
        let mut ops = Vec::new();
        while let Some((exp, _)) = self.order.front() {
            if *exp > now_ms && self.order.len() <= MAX_DEDUP_ENTRIES {
                break;
            }
            let Some((exp, id)) = self.order.pop_front() else { break };
            if self.entries.get(&id).is_some_and(|e| e.expires_ms == exp) {
                self.entries.remove(&id);
                ops.push(MetaOp::delete(Table::Dedup, meta_key(queue, &id)));
            }
        }
        ops
    }

    /// Forgets `id` (its enqueue failed).
    pub fn remove(&mut self, id: &str) {
        self.entries.remove(id);
    }
}
