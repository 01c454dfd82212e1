//! Broker errors as Kafka error codes.

use ferry_broker::topics::{CatalogError, FetchError, ProduceError};
use ferry_broker::transactions::TxnError;
use kafka_protocol::error::ResponseError;

/// The Kafka error code of a failed produce.
pub(crate) fn produce_error(e: &ProduceError) -> ResponseError {
    match e {
        ProduceError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        ProduceError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
        ProduceError::CorruptBatch(_) => ResponseError::CorruptMessage,
        ProduceError::UnsupportedMessageFormat(_) => ResponseError::UnsupportedForMessageFormat,
        ProduceError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        ProduceError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        ProduceError::TransactionNotStarted => ResponseError::InvalidTxnState,
        // A fenced producer's produce gets INVALID_PRODUCER_EPOCH, as Kafka answers it.
        ProduceError::Transaction(TxnError::ProducerFenced) => ResponseError::InvalidProducerEpoch,
        ProduceError::Transaction(e) => txn_error(e),
        ProduceError::RecordWithoutKey { .. } => ResponseError::InvalidRecord,
        ProduceError::Storage(_) => ResponseError::KafkaStorageError,
        _ => ResponseError::UnknownServerError,
    }
}

/// The Kafka error code of a failed read.
pub(crate) fn fetch_error(e: &FetchError) -> ResponseError {
    match e {
        FetchError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        FetchError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        FetchError::Storage(_) => ResponseError::KafkaStorageError,
        _ => ResponseError::UnknownServerError,
    }
}

/// The Kafka error code of a failed catalog change.
pub(crate) fn catalog_error(e: &CatalogError) -> ResponseError {
    match e {
        CatalogError::InvalidName(_) => ResponseError::InvalidTopicException,
        CatalogError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        CatalogError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
        CatalogError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        CatalogError::PartitionLimit { .. } => ResponseError::PolicyViolation,
        CatalogError::InvalidConfig(_) => ResponseError::InvalidConfig,
        CatalogError::Metadata(_) | CatalogError::Storage(_) => ResponseError::KafkaStorageError,
        _ => ResponseError::UnknownServerError,
    }
}

/// The Kafka error code of a refused transactional request.
pub(crate) fn txn_error(e: &TxnError) -> ResponseError {
    match e {
        TxnError::InvalidTimeout { .. } => ResponseError::InvalidTransactionTimeout,
        TxnError::ProducerFenced => ResponseError::ProducerFenced,
        TxnError::InvalidProducerEpoch => ResponseError::InvalidProducerEpoch,
        TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
        TxnError::InvalidTxnState(_) => ResponseError::InvalidTxnState,
        TxnError::ConcurrentTransactions => ResponseError::ConcurrentTransactions,
        TxnError::UnknownTopicOrPartition { .. } => ResponseError::UnknownTopicOrPartition,
        TxnError::LimitExceeded(_) => ResponseError::PolicyViolation,
        TxnError::Group(e) => crate::api::offset_commit_error(e),
        // Retriable: a transaction that could not be stored or finished is finished on retry.
        TxnError::CoordinatorNotAvailable | TxnError::Storage(_) => ResponseError::CoordinatorNotAvailable,
        _ => ResponseError::UnknownServerError,
    }
}
