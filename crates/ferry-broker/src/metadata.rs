//! The metadata store: topics, queues, groups, offsets, producer state, dedup windows, exchanges
//! and bindings.
//!
//! Everything that is not message data lives behind [`MetadataStore`], a deliberately narrow
//! key-value trait (named tables of string keys and opaque byte values, atomic multi-key commits),
//! so that the embedded implementation ([`RedbStore`]) and a later PostgreSQL one are
//! interchangeable. Callers own their value encoding (serde_json in this crate).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use redb::{ReadableDatabase, TableDefinition};

/// A named table of the metadata store. Each is an independent key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Table {
    /// Topic catalog: topic name → topic definition.
    Topics,
    /// Consumer-group state (members are not persisted, only what survives a restart).
    Groups,
    /// Committed consumer-group offsets.
    GroupOffsets,
    /// Idempotent-producer state (producer ids, epochs).
    ProducerState,
    /// Queue catalog: queue name → queue attributes.
    Queues,
    /// Deduplication windows of queues.
    Dedup,
    /// Broker-wide settings and counters (cluster id, id allocators).
    Broker,
    /// Durable exchanges declared by users: exchange name → exchange definition.
    Exchanges,
    /// Durable bindings (durable source and destination): encoded binding → binding.
    Bindings,
    /// Kafka transactions: transactional id → its producer, epoch, state and partitions.
    Transactions,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 10] = [
        Table::Topics,
        Table::Groups,
        Table::GroupOffsets,
        Table::ProducerState,
        Table::Queues,
        Table::Dedup,
        Table::Broker,
        Table::Exchanges,
        Table::Bindings,
        Table::Transactions,
    ];

    /// The table's name on disk; never change one once released.
    pub fn name(self) -> &'static str {
        match self {
            Table::Topics => "topics",
            Table::Groups => "groups",
            Table::GroupOffsets => "group_offsets",
            Table::ProducerState => "producer_state",
            Table::Queues => "queues",
            Table::Dedup => "dedup",
            Table::Broker => "broker",
            Table::Exchanges => "exchanges",
            Table::Bindings => "bindings",
            Table::Transactions => "transactions",
        }
    }

    fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(self.name())
    }
}

/// One mutation inside an atomic [`MetadataStore::commit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaOp {
    /// Sets `key` to `value`.
    Put {
        /// The table written.
        table: Table,
        /// The key.
        key: String,
        /// The value, encoded by the caller.
        value: Vec<u8>,
    },
    /// Removes `key` if present.
    Delete {
        /// The table written.
        table: Table,
        /// The key.
        key: String,
    },
    /// Removes every key that starts with `prefix`.
    DeletePrefix {
        /// The table written.
        table: Table,
        /// The key prefix.
        prefix: String,
    },
}

impl MetaOp {
    /// A [`MetaOp::Put`].
    pub fn put(table: Table, key: impl Into<String>, value: impl Into<Vec<u8>>) -> MetaOp {
        MetaOp::Put { table, key: key.into(), value: value.into() }
    }

    /// A [`MetaOp::Delete`].
    pub fn delete(table: Table, key: impl Into<String>) -> MetaOp {
        MetaOp::Delete { table, key: key.into() }
    }

    /// A [`MetaOp::DeletePrefix`].
    pub fn delete_prefix(table: Table, prefix: impl Into<String>) -> MetaOp {
        MetaOp::DeletePrefix { table, prefix: prefix.into() }
    }
}

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The store could not be opened (missing permissions, corrupt file, held by another process).
    #[error("cannot open the metadata store: {0}")]
    Open(String),
    /// A read or a commit failed in the storage engine.
    #[error("metadata storage error: {0}")]
    Storage(String),
}

fn storage(e: impl std::fmt::Display) -> MetadataError {
    MetadataError::Storage(e.to_string())
}

/// The narrow persistence interface for everything that is not message data.
///
/// Implementations are synchronous and must make a returned `commit` durable.
pub trait MetadataStore: Send + Sync + 'static {
    /// The value at `key`, if any.
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, MetadataError>;
    /// Every (key, value) whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, table: Table, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, MetadataError>;
    /// Applies `ops` atomically and durably: after a crash either all or none are visible.
    fn commit(&self, ops: &[MetaOp]) -> Result<(), MetadataError>;
}

/// The embedded store: one redb file.
///
/// redb refuses every operation after an I/O error ("Previous I/O error occurred") until the
/// database is reopened; this store reopens it on the next call, so a disk that was full works
/// again as soon as it has room, without a restart. A commit that failed was not applied.
pub struct RedbStore {
    path: PathBuf,
    /// `None` after a reopen failed; the next call tries again.
    db: RwLock<Option<redb::Database>>,
}

impl RedbStore {
    /// Opens or creates the store at `path` (a file), creating every table.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore, MetadataError> {
        let path = path.as_ref().to_path_buf();
        let db = open_db(&path).map_err(|e| MetadataError::Open(e.to_string()))?;
        Ok(RedbStore { path, db: RwLock::new(Some(db)) })
    }

    /// Runs `f` on the database, reopening it first if an earlier I/O error poisoned it.
    fn with_db<T>(&self, f: impl Fn(&redb::Database) -> Result<T, redb::Error>) -> Result<T, MetadataError> {
        let result = {
            let db = self.db.read().unwrap_or_else(|p| p.into_inner());
            match db.as_ref() {
                Some(db) => f(db),
                None => Err(redb::Error::PreviousIo),
            }
        };
        match result {
            Err(e @ (redb::Error::Io(_) | redb::Error::PreviousIo)) => {
                self.reopen(&e);
                Err(storage(e))
            }
            other => other.map_err(storage),
        }
    }

    fn reopen(&self, cause: &redb::Error) {
        let mut db = self.db.write().unwrap_or_else(|p| p.into_inner());
        // Close the poisoned handle before opening the file again (redb locks it).
        drop(db.take());
        match open_db(&self.path) {
            Ok(fresh) => {
                tracing::warn!(path = %self.path.display(), error = %cause, "metadata store reopened after an I/O error");
                *db = Some(fresh);
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "metadata store cannot be reopened yet")
            }
        }
    }
}

fn open_db(path: &Path) -> Result<redb::Database, redb::Error> {
    let db = redb::Database::create(path)?;
    let txn = db.begin_write()?;
    for table in Table::ALL {
        txn.open_table(table.definition())?;
    }
    txn.commit()?;
    Ok(db)
}

impl MetadataStore for RedbStore {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, MetadataError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let t = txn.open_table(table.definition())?;
            Ok(t.get(key)?.map(|v| v.value().to_vec()))
        })
    }

    fn scan_prefix(&self, table: Table, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, MetadataError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let t = txn.open_table(table.definition())?;
            let mut out = Vec::new();
            for entry in t.range(prefix..)? {
                let (k, v) = entry?;
                if !k.value().starts_with(prefix) {
                    break;
                }
                out.push((k.value().to_string(), v.value().to_vec()));
            }
            Ok(out)
        })
    }

    fn commit(&self, ops: &[MetaOp]) -> Result<(), MetadataError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.with_db(|db| {
            let txn = db.begin_write()?;
            for op in ops {
                match op {
                    MetaOp::Put { table, key, value } => {
                        let mut t = txn.open_table(table.definition())?;
                        t.insert(key.as_str(), value.as_slice())?;
                    }
                    MetaOp::Delete { table, key } => {
                        let mut t = txn.open_table(table.definition())?;
                        t.remove(key.as_str())?;
                    }
                    MetaOp::DeletePrefix { table, prefix } => {
                        let mut t = txn.open_table(table.definition())?;
                        t.retain_in(prefix.as_str().., |k, _| !k.starts_with(prefix.as_str()))?;
                    }
                }
            }
            txn.commit()?;
            Ok(())
        })
    }
}

/// An in-memory store for tests: same semantics, nothing on disk.
#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<BTreeMap<(Table, String), Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Table, String), Vec<u8>>> {
        // A panic while holding this lock cannot leave a half-applied commit (ops are applied
        // to a copy first), so a poisoned lock is still consistent.
        self.tables.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl MetadataStore for MemoryStore {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, MetadataError> {
        Ok(self.lock().get(&(table, key.to_string())).cloned())
    }

    fn scan_prefix(&self, table: Table, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, MetadataError> {
        let tables = self.lock();
        Ok(tables
            .range((table, prefix.to_string())..)
            .take_while(|((t, k), _)| *t == table && k.starts_with(prefix))
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn commit(&self, ops: &[MetaOp]) -> Result<(), MetadataError> {
        let mut tables = self.lock();
        let mut next = tables.clone();
        for op in ops {
            match op {
                MetaOp::Put { table, key, value } => {
                    next.insert((*table, key.clone()), value.clone());
                }
                MetaOp::Delete { table, key } => {
                    next.remove(&(*table, key.clone()));
                }
                MetaOp::DeletePrefix { table, prefix } => {
                    next.retain(|(t, k), _| !(t == table && k.starts_with(prefix.as_str())));
                }
            }
        }
        *tables = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(store: &dyn MetadataStore) {
        store
            .commit(&[
                MetaOp::put(Table::Topics, "orders", b"a".to_vec()),
                MetaOp::put(Table::Topics, "orders-eu", b"b".to_vec()),
                MetaOp::put(Table::Topics, "payments", b"c".to_vec()),
                MetaOp::put(Table::Queues, "orders", b"q".to_vec()),
            ])
            .unwrap();
        assert_eq!(store.get(Table::Topics, "orders").unwrap(), Some(b"a".to_vec()));
        assert_eq!(store.get(Table::Queues, "orders").unwrap(), Some(b"q".to_vec()));
        assert_eq!(store.get(Table::Groups, "orders").unwrap(), None);
        let keys: Vec<String> =
            store.scan_prefix(Table::Topics, "orders").unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["orders", "orders-eu"]);

        store
            .commit(&[
                MetaOp::delete_prefix(Table::Topics, "orders"),
                MetaOp::delete(Table::Queues, "orders"),
            ])
            .unwrap();
        let keys: Vec<String> =
            store.scan_prefix(Table::Topics, "").unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["payments"]);
        assert_eq!(store.get(Table::Queues, "orders").unwrap(), None);
    }

    #[test]
    fn memory_store_puts_scans_and_deletes_by_prefix() {
        exercise(&MemoryStore::new());
    }

    #[test]
    fn redb_store_puts_scans_and_deletes_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        exercise(&RedbStore::open(dir.path().join("meta.redb")).unwrap());
    }

    #[test]
    fn redb_store_keeps_commits_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        {
            let store = RedbStore::open(&path).unwrap();
            store.commit(&[MetaOp::put(Table::GroupOffsets, "g/t/0", b"42".to_vec())]).unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.get(Table::GroupOffsets, "g/t/0").unwrap(), Some(b"42".to_vec()));
    }
}
