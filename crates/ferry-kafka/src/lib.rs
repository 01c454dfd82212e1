//! Kafka wire-protocol front-end (see ARCHITECTURE.md).
