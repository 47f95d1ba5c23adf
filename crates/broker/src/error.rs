//! The broker's errors, and the one place where errors of every layer become Kafka error codes.

use protocol::ErrorCode;
use protocol::records::RecordsError;
use storage::StorageError;

/// Why a broker operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("topic {0} already exists")]
    TopicAlreadyExists(String),
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    #[error("unknown topic or partition {topic}-{partition}")]
    UnknownTopicOrPartition { topic: String, partition: i32 },
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopic { name: String, reason: &'static str },
    #[error("invalid partition count {0}")]
    InvalidPartitions(i32),
    #[error("invalid partition count: {0}")]
    InvalidPartitionCount(String),
    #[error("invalid replication factor {requested}: {available} broker(s) available")]
    InvalidReplicationFactor { requested: i16, available: i32 },
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    #[error("invalid replica assignment: {0}")]
    InvalidReplicaAssignment(String),
    #[error("unknown topic id {0}")]
    UnknownTopicId(protocol::Uuid),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("record batch of {size} bytes is larger than max.message.bytes {max}")]
    MessageTooLarge { size: usize, max: i32 },
    #[error("corrupt record batch: {0}")]
    CorruptMessage(RecordsError),
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    #[error("invalid required acks {0}")]
    InvalidRequiredAcks(i16),
    #[error("topic deletion is disabled")]
    TopicDeletionDisabled,
    #[error("policy violation: {0}")]
    PolicyViolation(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("request timed out")]
    RequestTimedOut,
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl BrokerError {
    pub fn io(what: &'static str, source: std::io::Error) -> Self {
        BrokerError::Io { what, source }
    }

    /// The Kafka error code a client sees for this error. This is the only mapping.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            BrokerError::Config(_) | BrokerError::InvalidConfig(_) => ErrorCode::InvalidConfig,
            BrokerError::Io { .. } => ErrorCode::KafkaStorageError,
            BrokerError::TopicAlreadyExists(_) => ErrorCode::TopicAlreadyExists,
            BrokerError::UnknownTopic(_) | BrokerError::UnknownTopicOrPartition { .. } => {
                ErrorCode::UnknownTopicOrPartition
            }
            BrokerError::InvalidTopic { .. } => ErrorCode::InvalidTopicException,
            BrokerError::InvalidPartitions(_) | BrokerError::InvalidPartitionCount(_) => {
                ErrorCode::InvalidPartitions
            }
            BrokerError::InvalidReplicationFactor { .. } => ErrorCode::InvalidReplicationFactor,
            BrokerError::InvalidReplicaAssignment(_) => ErrorCode::InvalidReplicaAssignment,
            BrokerError::UnknownTopicId(_) => ErrorCode::UnknownTopicId,
            BrokerError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            BrokerError::MessageTooLarge { .. } => ErrorCode::MessageTooLarge,
            BrokerError::CorruptMessage(_) => ErrorCode::CorruptMessage,
            BrokerError::InvalidRecord(_) => ErrorCode::InvalidRecord,
            BrokerError::InvalidRequiredAcks(_) => ErrorCode::InvalidRequiredAcks,
            BrokerError::TopicDeletionDisabled => ErrorCode::TopicDeletionDisabled,
            BrokerError::PolicyViolation(_) => ErrorCode::PolicyViolation,
            BrokerError::RequestTimedOut => ErrorCode::RequestTimedOut,
            BrokerError::Unsupported(_) => ErrorCode::UnsupportedVersion,
            BrokerError::Storage(error) => storage_error_code(error),
        }
    }

    /// The message to put in a response's error message field, where it has one.
    pub fn message(&self) -> Option<String> {
        Some(self.to_string())
    }
}

fn storage_error_code(error: &StorageError) -> ErrorCode {
    use StorageError as S;
    match error {
        S::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        S::OutOfOrderSequence { .. } => ErrorCode::OutOfOrderSequenceNumber,
        S::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
        S::InvalidBatch { .. } => ErrorCode::CorruptMessage,
        S::OffsetsNotIncreasing { .. } | S::InvalidOffsets { .. } => ErrorCode::InvalidRecord,
        S::StaleLeaderEpoch { .. } => ErrorCode::FencedLeaderEpoch,
        S::InvalidConfig(_) => ErrorCode::InvalidConfig,
        S::BatchTooLarge { .. } => ErrorCode::RecordListTooLarge,
        _ => ErrorCode::KafkaStorageError,
    }
}

/// The error code of a result: `None` (0) for success.
pub fn code_of<T>(result: &Result<T, BrokerError>) -> i16 {
    match result {
        Ok(_) => ErrorCode::None.code(),
        Err(error) => error.error_code().code(),
    }
}
