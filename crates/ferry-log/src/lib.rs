//! Segmented append-only log of Kafka RecordBatch v2 bytes: append, read, index, recover,
//! retain, compact.
//!
//! `ferry-log` knows nothing of topics, queues, protocols or async runtimes. It stores batches
//! exactly as produced (only the base offset, bytes 0..8, is rewritten) in segment files beside
//! a sparse offset index and a time index. The file formats and the durability sequence are in
//! `docs/storage-format.md`.
//!
//! # Layout
//!
//! - [`batch`]: RecordBatch v2 header parsing, validation, iteration over whole batches.
//! - `config`: [`LogConfig`], [`Durability`], [`CleanupPolicy`], the injectable [`Clock`].
//! - [`disk`]: the [`Disk`] / [`DiskFile`] I/O seam and [`StdDisk`], the real file system.
//! - [`fault`]: [`fault::FaultyDisk`], an in-memory disk that crashes, tears and fails on demand.
//! - `error`: one error enum per operation.
//! - `index`: sparse offset index and time index entries and their encoding.
//! - `segment`: one `.log` file with its indexes (`meta`: index rules, `scan`: validation, `read`).
//! - `checkpoint`: the recovery checkpoint (log start offset, last durable position).
//! - `log`: [`Log`]: append with offset assignment and group commit, read, roll, close.
//! - `recovery`: `Log::open`: cleanup, tail validation, truncation of torn tails.
//! - `maintenance`: `advance_start_offset` and retention.
//! - `codec`: the Kafka compression codecs (gzip, snappy, lz4, zstd), for compaction.
//! - `compact`: key compaction with stable offsets, and the segment swap it uses.
//! - [`record`]: decoder and encoder of the records inside batches (compressed ones via `records_body`).
//! - [`stats`]: process-wide fsync latency and group-commit batch histograms, for metrics.

#![warn(missing_docs)]

pub mod batch;
mod checkpoint;
mod codec;
mod compact;
mod config;
pub mod disk;
mod error;
pub mod fault;
mod index;
mod log;
mod maintenance;
pub mod record;
mod recovery;
mod segment;
pub mod stats;

pub use batch::{BATCH_HEADER_LEN, BatchHeader, batches, validate_batch};
pub use compact::{COMPACTION_MAX_KEYS, CompactStats};
pub use config::{CleanupPolicy, Clock, Durability, LogConfig, SystemClock};
pub use disk::{Disk, DiskFile, StdDisk};
pub use error::{AppendError, BatchError, OpenError, ReadError, StorageError, SyncError};
pub use log::{AppendInfo, Log, ReadResult};
