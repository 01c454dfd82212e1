//! Errors of topic operations, one enum per operation.

/// Why a produce failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// No such topic or partition.
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    /// A batch is larger than the topic allows.
    #[error("record batch of {size} bytes exceeds the limit of {max} bytes")]
    MessageTooLarge {
        /// Batch size.
        size: usize,
        /// The topic's limit.
        max: usize,
    },
    /// A batch failed validation (length, CRC, record count).
    #[error("corrupt record batch: {0}")]
    CorruptBatch(String),
    /// A batch in a message format older than RecordBatch v2.
    #[error("unsupported message format (magic {0})")]
    UnsupportedMessageFormat(i8),
    /// An idempotent batch arrived after a gap.
    #[error("out of order sequence: expected {expected}, received {received}")]
    OutOfOrderSequence {
        /// The sequence the broker expected.
        expected: i32,
        /// The sequence received.
        received: i32,
    },
    /// The producer was fenced by a newer epoch.
    #[error("producer epoch {received} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        /// The current epoch.
        current: i16,
        /// The epoch received.
        received: i16,
    },
    /// A transactional batch outside a transaction the coordinator knows (Kafka's
    /// INVALID_TXN_STATE): produce transactional batches only after adding the partition.
    #[error("transactional batch from a producer with no open transaction on this partition")]
    TransactionNotStarted,
    /// The producer's transaction is being completed or was fenced (Kafka's
    /// INVALID_TXN_STATE / PRODUCER_FENCED / INVALID_PRODUCER_ID_MAPPING).
    #[error("{0}")]
    Transaction(crate::transactions::TxnError),
    /// A compacted topic got a record without a key, which compaction could never keep or drop.
    #[error(
        "compacted topic {topic:?} cannot accept a record without a key ({} of the batch's records, the first at offset delta {})",
        offset_deltas.len(),
        offset_deltas.first().copied().unwrap_or_default()
    )]
    RecordWithoutKey {
        /// The topic.
        topic: String,
        /// Where each record without a key sits in its batch (so a client can tell them apart
        /// from the records that were only dropped with them).
        offset_deltas: Vec<i32>,
    },
    /// The disk failed.
    #[error("storage error: {0}")]
    Storage(String),
}

impl ProduceError {
    pub(crate) fn from_log(e: ferry_log::AppendError) -> ProduceError {
        match e {
            ferry_log::AppendError::InvalidBatch(b) => ProduceError::CorruptBatch(b.to_string()),
            ferry_log::AppendError::BatchTooLarge { size, max } => {
                ProduceError::MessageTooLarge { size, max: max as usize }
            }
            other => ProduceError::Storage(other.to_string()),
        }
    }
}

/// Why a read (fetch, offset lookup, record deletion) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No such topic or partition.
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    /// The offset is outside the partition.
    #[error("offset {offset} is outside [{log_start_offset}, {high_watermark}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: u64,
        /// The first offset.
        log_start_offset: u64,
        /// The high watermark.
        high_watermark: u64,
    },
    /// The disk failed.
    #[error("storage error: {0}")]
    Storage(String),
}

/// Why a catalog change (create, delete, add partitions, reconfigure) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The topic name is empty, too long, `.`/`..`, or has characters outside `[a-zA-Z0-9._-]`.
    #[error("invalid topic name {0:?}")]
    InvalidName(String),
    /// A topic of that name exists.
    #[error("topic {0:?} already exists")]
    AlreadyExists(String),
    /// No topic of that name.
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    /// A partition count of zero, too large, or a decrease.
    #[error("invalid partition count: {0}")]
    InvalidPartitions(String),
    /// The change would take the broker past its total partition limit.
    #[error(
        "the broker holds {existing} partitions and {requested} more would pass partitions_max \
         ({max}); delete topics or raise partitions_max in the [topics] settings"
    )]
    PartitionLimit {
        /// Partitions of all topics now.
        existing: u64,
        /// Partitions the change adds.
        requested: u64,
        /// The limit.
        max: u32,
    },
    /// A configuration value out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The metadata store failed.
    #[error("metadata store: {0}")]
    Metadata(#[from] crate::metadata::MetadataError),
    /// A partition's log could not be opened or removed.
    #[error("storage error: {0}")]
    Storage(String),
}
