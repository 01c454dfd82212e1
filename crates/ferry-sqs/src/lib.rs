//! Amazon SQS-compatible front-end (see ARCHITECTURE.md).
