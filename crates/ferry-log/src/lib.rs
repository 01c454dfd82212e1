//! Segmented append-only log of Kafka RecordBatch v2 bytes (see ARCHITECTURE.md).
