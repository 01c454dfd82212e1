//! Broker errors as Kafka error codes.

use ferry_broker::topics::CatalogError;
use kafka_protocol::error::ResponseError;

/// The Kafka error code of a failed catalog change.
pub(crate) fn catalog_error(e: &CatalogError) -> ResponseError {
    match e {
        CatalogError::InvalidName(_) => ResponseError::InvalidTopicException,
        CatalogError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        CatalogError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
        CatalogError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        CatalogError::InvalidConfig(_) => ResponseError::InvalidConfig,
        CatalogError::Metadata(_) | CatalogError::Storage(_) => ResponseError::KafkaStorageError,
        _ => ResponseError::UnknownServerError,
    }
}
