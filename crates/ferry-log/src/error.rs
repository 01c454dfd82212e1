//! Error types, one enum per operation, so a caller matches only what its operation can return.

use std::io;
use std::path::PathBuf;

/// Why bytes are not a well-formed RecordBatch v2.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum BatchError {
    /// Fewer bytes than the header or the declared batch length needs.
    #[error("record batch is truncated")]
    Truncated,
    /// Only magic 2 (RecordBatch v2) is stored.
    #[error("unsupported record batch magic {0}, expected 2")]
    BadMagic(i8),
    /// The batch length field cannot hold even a header.
    #[error("invalid record batch length {0}")]
    BadLength(i32),
    /// More bytes were given than the batch declares.
    #[error("record batch declares {declared} bytes but {actual} were given")]
    LengthMismatch {
        /// Length from the header (12 + batch_length).
        declared: usize,
        /// Length of the given bytes.
        actual: usize,
    },
    /// The CRC32C stored in the batch does not match its bytes.
    #[error("record batch CRC mismatch: stored {expected:#010x}, computed {actual:#010x}")]
    CrcMismatch {
        /// CRC stored in the header.
        expected: u32,
        /// CRC computed over the bytes.
        actual: u32,
    },
    /// `record_count` disagrees with `last_offset_delta + 1`.
    #[error("record count {record_count} does not match last offset delta {last_offset_delta}")]
    RecordCountMismatch {
        /// Record count from the header.
        record_count: i32,
        /// Last offset delta from the header.
        last_offset_delta: i32,
    },
    /// The records are compressed with this codec, which this operation does not decode.
    #[error("record batch is compressed with codec {0}")]
    Compressed(u8),
    /// A record inside the batch cannot be decoded.
    #[error("malformed record in batch: {0}")]
    BadRecord(&'static str),
}

/// An I/O failure, with the operation and file it happened on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An I/O call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What the log was doing (`"write"`, `"fsync"` …).
        op: &'static str,
        /// File or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// An earlier fsync or write failed; the page cache may have dropped data, so the log refuses
    /// further writes until it is reopened (and recovered from what is really on disk).
    #[error("log is failed after an earlier I/O error; reopen it to recover")]
    Failed,
}

impl StorageError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io { op, path: path.into(), source }
    }
}

/// Errors of [`crate::Log::open`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Reading or repairing the directory failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The configuration cannot work (e.g. a zero segment size).
    #[error("invalid log config: {0}")]
    InvalidConfig(&'static str),
}

/// Errors of appends and of operations that change the set of segments.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The bytes are not one valid RecordBatch v2; the log is unchanged.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// The batch is larger than `max_batch_bytes`; the log is unchanged.
    #[error("record batch of {size} bytes exceeds the maximum of {max}")]
    BatchTooLarge {
        /// Size of the rejected batch.
        size: usize,
        /// Configured `max_batch_bytes`.
        max: u32,
    },
    /// An offset argument lies outside the log.
    #[error("offset {offset} is outside the log [{start}, {end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: u64,
        /// Log start offset.
        start: u64,
        /// Log end offset.
        end: u64,
    },
    /// Writing or syncing failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Errors of reads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The offset is below the log start or past the log end.
    #[error("offset {offset} is outside the log [{start}, {end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: u64,
        /// Log start offset.
        start: u64,
        /// Log end offset.
        end: u64,
    },
    /// Stored bytes fail their length or CRC check; they are never returned as data.
    #[error("corrupt batch in segment {segment:020} at offset {offset}")]
    Corrupt {
        /// Base offset of the segment (its file name).
        segment: u64,
        /// First offset the corrupt batch should hold.
        offset: u64,
    },
    /// Reading failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Errors of `sync`, `sync_to` and `close`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// fsync failed; the log is failed until reopened.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<SyncError> for AppendError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Storage(s) => AppendError::Storage(s),
        }
    }
}
