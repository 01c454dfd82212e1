//! ferry semantics: topics, groups, queues and the metadata store (see ARCHITECTURE.md).
