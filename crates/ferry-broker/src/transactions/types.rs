//! The transaction coordinator's vocabulary: states, errors, settings, and what is stored per
//! transactional id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::groups::{CommitError, OffsetCommit};
use crate::metadata::MetadataError;

/// A transaction's state, with Kafka's names ([`TxnState::name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnState {
    /// No transaction since the producer was initialised.
    Empty,
    /// Partitions or groups were added; records and offsets may follow.
    Ongoing,
    /// Committing: markers are being written.
    PrepareCommit,
    /// Aborting: markers are being written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

impl TxnState {
    /// The state as Kafka's DescribeTransactions and ListTransactions name it.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }

    pub(super) fn is_preparing(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// Why a transactional request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TxnError {
    /// The timeout asked for is not positive or above the broker's maximum.
    #[error("transaction timeout of {asked} ms is not between 1 and {max} ms")]
    InvalidTimeout {
        /// What the producer asked for.
        asked: i64,
        /// The most the broker allows.
        max: i64,
    },
    /// A newer instance of the producer holds the transactional id.
    #[error("producer fenced: a newer instance holds this transactional id")]
    ProducerFenced,
    /// The producer's epoch is not current (its transaction was aborted on timeout): it can
    /// abort and start over with InitProducerId.
    #[error("producer epoch is not current (the transaction timed out and was aborted)")]
    InvalidProducerEpoch,
    /// The producer id is not the one the transactional id has.
    #[error("producer id does not belong to this transactional id")]
    InvalidProducerIdMapping,
    /// The request does not fit the transaction's state.
    #[error("invalid transaction state: {0}")]
    InvalidTxnState(String),
    /// The previous transaction is still being completed: retry.
    #[error("the previous transaction is still being completed")]
    ConcurrentTransactions,
    /// A partition added does not exist.
    #[error("unknown topic or partition {topic}-{partition}")]
    UnknownTopicOrPartition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// A bound on transactions, partitions or offsets was reached.
    #[error("{0}")]
    LimitExceeded(String),
    /// The member committing offsets may not commit to the group now.
    #[error(transparent)]
    Group(#[from] CommitError),
    /// The coordinator is not serving (shutting down).
    #[error("transaction coordinator not available")]
    CoordinatorNotAvailable,
    /// Storing the state, or writing a marker, failed; the request had no effect, or the
    /// transaction stays in its `Prepare*` state and is finished later.
    #[error("transaction storage failed: {0}")]
    Storage(String),
}

impl From<MetadataError> for TxnError {
    fn from(e: MetadataError) -> TxnError {
        TxnError::Storage(e.to_string())
    }
}

/// Settings of the transaction coordinator.
#[derive(Clone, Debug)]
pub struct TransactionConfig {
    /// Longest transaction timeout a producer may ask for (Kafka's `transaction.max.timeout.ms`).
    pub max_timeout_ms: i64,
    /// Most transactional ids kept.
    pub transactions_max: usize,
    /// Most partitions in one transaction.
    pub partitions_max: usize,
    /// Most offsets one transaction holds.
    pub offsets_max: usize,
    /// How often timeouts and unfinished completions are looked for.
    pub check_interval_ms: u64,
    /// How long an idle transactional id is kept (Kafka's `transactional.id.expiration.ms`).
    pub id_expiration_ms: i64,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        TransactionConfig {
            max_timeout_ms: 900_000,
            transactions_max: 100_000,
            partitions_max: 10_000,
            offsets_max: 10_000,
            check_interval_ms: 1_000,
            id_expiration_ms: 7 * 24 * 3_600_000,
        }
    }
}

/// One offset a transaction holds for a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct HeldOffset {
    pub(super) topic: String,
    pub(super) partition: i32,
    pub(super) commit: OffsetCommit,
}

/// What is stored per transactional id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct TxnRecord {
    pub(super) producer_id: i64,
    pub(super) epoch: i16,
    /// The epoch a timed-out transaction was aborted at, before the bump: its producer may
    /// still start over from it (KIP-360).
    pub(super) timed_out_epoch: Option<i16>,
    pub(super) timeout_ms: i64,
    pub(super) state: TxnState,
    /// Partitions in the transaction, each with the log end offset it had when added (its
    /// records in the transaction are all at or after it).
    pub(super) partitions: BTreeMap<String, BTreeMap<u32, u64>>,
    /// Groups added, with the offsets the transaction holds for each.
    pub(super) offsets: BTreeMap<String, Vec<HeldOffset>>,
    pub(super) started_ms: i64,
    pub(super) updated_ms: i64,
}

impl TxnRecord {
    pub(super) fn partition_count(&self) -> usize {
        self.partitions.values().map(BTreeMap::len).sum()
    }

    pub(super) fn offset_count(&self) -> usize {
        self.offsets.values().map(Vec::len).sum()
    }

    pub(super) fn check_producer(&self, producer_id: i64, epoch: i16) -> Result<(), TxnError> {
        if producer_id != self.producer_id {
            return Err(TxnError::InvalidProducerIdMapping);
        }
        if epoch == self.epoch {
            return Ok(());
        }
        if self.timed_out_epoch == Some(epoch) {
            return Err(TxnError::InvalidProducerEpoch);
        }
        if epoch < self.epoch { Err(TxnError::ProducerFenced) } else { Err(TxnError::InvalidProducerEpoch) }
    }
}

/// A transaction as DescribeTransactions and ListTransactions show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionInfo {
    /// The transactional id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// Its current epoch.
    pub epoch: i16,
    /// Its state.
    pub state: TxnState,
    /// Its timeout.
    pub timeout_ms: i64,
    /// When the current (or last) transaction began; -1 if none has.
    pub started_ms: i64,
    /// The partitions in the current transaction.
    pub partitions: Vec<(String, u32)>,
}
