//! The broker's errors, and the one place where errors of every layer become Kafka error codes.

use protocol::ErrorCode;
use protocol::records::RecordsError;
use storage::StorageError;

/// One refused record of a batch: its index in the batch and why (Kafka's `RecordError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub batch_index: i32,
    pub message: String,
}

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
    /// A topic that may not be used this way (an internal topic written by a client).
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopic { name: String, reason: &'static str },
    /// A name that breaks Kafka's topic-name rules (`protocol::topic`).
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        name: String,
        reason: protocol::topic::InvalidTopicName,
    },
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
    /// Records of a batch failed validation (LogValidator's record errors); the whole batch is
    /// refused and `record_errors` says which records and why.
    #[error("{reason}")]
    InvalidRecords {
        reason: String,
        record_errors: Vec<RecordError>,
    },
    /// Records have timestamps outside `message.timestamp.before/after.max.ms`, or a client
    /// set LogAppendTime.
    #[error("{reason}")]
    InvalidTimestamp {
        reason: String,
        record_errors: Vec<RecordError>,
    },
    #[error("compression codec {codec} is not allowed in produce v{version} (zstd needs v7+)")]
    UnsupportedCompressionType { codec: &'static str, version: i16 },
    #[error("acks=all needs {required} in-sync replicas, this partition has {in_sync}")]
    NotEnoughReplicas { required: i32, in_sync: i32 },
    #[error("the transaction coordinator is not available: {0}")]
    CoordinatorNotAvailable(String),
    /// The transaction coordinator's answer (its rules decide the code: CONCURRENT_TRANSACTIONS,
    /// PRODUCER_FENCED, INVALID_TXN_STATE...), or a remote coordinator's or leader's code.
    #[error("transaction refused: {code:?}{}", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    TransactionRefused {
        code: ErrorCode,
        reason: Option<String>,
    },
    #[error("leader epoch {requested} is older than the current epoch {current}")]
    FencedLeaderEpoch { requested: i32, current: i32 },
    #[error("leader epoch {requested} is newer than the current epoch {current}")]
    UnknownLeaderEpoch { requested: i32, current: i32 },
    #[error("topic deletion is disabled")]
    TopicDeletionDisabled,
    #[error("policy violation: {0}")]
    PolicyViolation(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("request timed out")]
    RequestTimedOut,
    /// This broker does not lead the partition (it follows, or metadata has not arrived).
    #[error("this broker is not the leader of {topic}-{partition}")]
    NotLeaderOrFollower { topic: String, partition: i32 },
    /// The metadata quorum could not take a change (no active controller reachable in time).
    #[error("the controller is not available: {0}")]
    NotController(String),
    /// The active controller refused a metadata change.
    #[error("the controller refused the change: {0}")]
    Controller(controller::ControllerError),
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The principal may not do this (one of the `*_AUTHORIZATION_FAILED` codes); answered
    /// without a message, as Kafka does, so clients show their own text for the code.
    #[error("not authorized: {0:?}")]
    NotAuthorized(ErrorCode),
    /// The client's `controller_mutation_rate` budget is spent (KIP-599).
    #[error("The throttling quota has been exceeded.")]
    ThrottlingQuotaExceeded,
    /// Work handed to the blocking pool did not finish (it panicked, or the runtime is
    /// stopping); what it changed is unknown to the request.
    #[error("{what} did not finish: {reason}")]
    BlockingTaskFailed { what: &'static str, reason: String },
    /// A replica fetch from a broker that holds no replica here (a single node has no
    /// followers); Kafka's `Partition.followerReplicaOrThrow`.
    #[error("broker {replica_id} is not a replica of this partition")]
    UnknownReplica {
        replica_id: i32,
        leader_epoch_given: bool,
    },
    #[error("fetch session {0} not found")]
    FetchSessionIdNotFound(i32),
    #[error("fetch session {session_id} expects epoch {expected}, got {requested}")]
    InvalidFetchSessionEpoch {
        session_id: i32,
        expected: i32,
        requested: i32,
    },
    #[error("fetch session {0} was created with{1} topic ids; this request differs")]
    FetchSessionTopicIdError(i32, &'static str),
    /// A `__consumer_offsets` partition could not be loaded or appended to; its groups are
    /// rebuilt from the log on the next request (Kafka's COORDINATOR_NOT_AVAILABLE, retriable).
    #[error("the group coordinator of __consumer_offsets-{partition} is not available: {reason}")]
    GroupCoordinatorNotAvailable { partition: i32, reason: String },
    /// The `__consumer_offsets` partition of the group is being replayed (Kafka's
    /// COORDINATOR_LOAD_IN_PROGRESS, retriable).
    #[error("the group coordinator of __consumer_offsets-{partition} is loading")]
    CoordinatorLoadInProgress { partition: i32 },
    /// This broker is not (or no longer, during a shutdown) the coordinator of the group.
    #[error("not the group coordinator: {0}")]
    NotCoordinator(String),
    /// A parked JoinGroup or SyncGroup outlived its bound without an answer; the member rejoins.
    #[error("no rebalance answer within {waited_ms} ms")]
    RebalanceTimedOut { waited_ms: u64 },
}

impl BrokerError {
    /// A transaction coordinator's refusal with `code`.
    pub fn refused(code: ErrorCode) -> Self {
        BrokerError::TransactionRefused { code, reason: None }
    }

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
            BrokerError::InvalidTopic { .. } | BrokerError::InvalidTopicName { .. } => {
                ErrorCode::InvalidTopicException
            }
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
            BrokerError::InvalidRecords { .. } => ErrorCode::InvalidRecord,
            BrokerError::InvalidTimestamp { .. } => ErrorCode::InvalidTimestamp,
            BrokerError::UnsupportedCompressionType { .. } => ErrorCode::UnsupportedCompressionType,
            BrokerError::NotEnoughReplicas { .. } => ErrorCode::NotEnoughReplicas,
            BrokerError::CoordinatorNotAvailable(_) => ErrorCode::CoordinatorNotAvailable,
            BrokerError::TransactionRefused { code, .. } => *code,
            BrokerError::NotAuthorized(code) => *code,
            BrokerError::ThrottlingQuotaExceeded => ErrorCode::ThrottlingQuotaExceeded,
            BrokerError::FencedLeaderEpoch { .. } => ErrorCode::FencedLeaderEpoch,
            BrokerError::UnknownLeaderEpoch { .. } => ErrorCode::UnknownLeaderEpoch,
            BrokerError::TopicDeletionDisabled => ErrorCode::TopicDeletionDisabled,
            BrokerError::PolicyViolation(_) => ErrorCode::PolicyViolation,
            BrokerError::RequestTimedOut => ErrorCode::RequestTimedOut,
            BrokerError::NotLeaderOrFollower { .. } => ErrorCode::NotLeaderOrFollower,
            BrokerError::NotController(_) => ErrorCode::NotController,
            BrokerError::Controller(error) => controller_error_code(error),
            BrokerError::Unsupported(_) => ErrorCode::UnsupportedVersion,
            BrokerError::BlockingTaskFailed { .. } => ErrorCode::UnknownServerError,
            // Kafka: UNKNOWN_LEADER_EPOCH when the follower named an epoch (it retries).
            BrokerError::UnknownReplica {
                leader_epoch_given: true,
                ..
            } => ErrorCode::UnknownLeaderEpoch,
            BrokerError::UnknownReplica { .. } => ErrorCode::NotLeaderOrFollower,
            BrokerError::FetchSessionIdNotFound(_) => ErrorCode::FetchSessionIdNotFound,
            BrokerError::InvalidFetchSessionEpoch { .. } => ErrorCode::InvalidFetchSessionEpoch,
            BrokerError::FetchSessionTopicIdError(..) => ErrorCode::FetchSessionTopicIdError,
            BrokerError::GroupCoordinatorNotAvailable { .. } => ErrorCode::CoordinatorNotAvailable,
            BrokerError::CoordinatorLoadInProgress { .. } => ErrorCode::CoordinatorLoadInProgress,
            BrokerError::NotCoordinator(_) => ErrorCode::NotCoordinator,
            BrokerError::RebalanceTimedOut { .. } => ErrorCode::RebalanceInProgress,
            BrokerError::Storage(error) => storage_error_code(error),
        }
    }

    /// The message to put in a response's error message field, where it has one.
    ///
    /// Errors of the broker's own disks and files carry no file path or operating-system text to
    /// clients (they tell an attacker about the host and help no client): the client gets what
    /// failed, the broker's log gets the whole error.
    pub fn message(&self) -> Option<String> {
        let internal = match self {
            BrokerError::Io { what, .. } => Some(format!("{what} failed on the broker")),
            BrokerError::Config(_) => Some("a configuration error on the broker".to_string()),
            BrokerError::BlockingTaskFailed { what, .. } => {
                Some(format!("{what} failed on the broker"))
            }
            BrokerError::Storage(StorageError::Io { context, .. }) => {
                Some(format!("{context} failed on the broker"))
            }
            BrokerError::Storage(
                StorageError::LogDirOffline { .. }
                | StorageError::Corrupt { .. }
                | StorageError::Closed { .. },
            ) => Some("the partition's log is not available on this broker".to_string()),
            BrokerError::GroupCoordinatorNotAvailable { partition, .. } => Some(format!(
                "the group coordinator of __consumer_offsets-{partition} is not available"
            )),
            _ => None,
        };
        match internal {
            Some(message) => {
                tracing::warn!(error = %self, "answered a client with a storage or broker error");
                Some(message)
            }
            None if matches!(self, BrokerError::NotAuthorized(_)) => None,
            None => Some(self.to_string()),
        }
    }

    /// The per-record errors of a refused batch (Produce v8+ `record_errors`).
    pub fn record_errors(&self) -> &[RecordError] {
        match self {
            BrokerError::InvalidRecords { record_errors, .. }
            | BrokerError::InvalidTimestamp { record_errors, .. } => record_errors,
            _ => &[],
        }
    }
}

fn controller_error_code(error: &controller::ControllerError) -> ErrorCode {
    use controller::ControllerError as C;
    match error {
        C::UnknownBroker { .. } => ErrorCode::BrokerIdNotRegistered,
        C::StaleBrokerEpoch { .. } => ErrorCode::StaleBrokerEpoch,
        C::TopicAlreadyExists { .. } | C::TopicIdInUse { .. } => ErrorCode::TopicAlreadyExists,
        C::InvalidTopicName { .. } => ErrorCode::InvalidTopicException,
        C::UnknownTopic { .. } | C::UnknownPartition { .. } => ErrorCode::UnknownTopicOrPartition,
        C::UnknownTopicId { .. } => ErrorCode::UnknownTopicId,
        C::InvalidPartitions { .. } => ErrorCode::InvalidPartitions,
        C::InvalidReplicationFactor { .. } => ErrorCode::InvalidReplicationFactor,
        C::InvalidReplicaAssignment { .. } => ErrorCode::InvalidReplicaAssignment,
        C::FencedLeaderEpoch { .. } => ErrorCode::FencedLeaderEpoch,
        C::InvalidUpdateVersion { .. } => ErrorCode::InvalidUpdateVersion,
        C::NotLeader { .. } => ErrorCode::NotLeaderOrFollower,
        C::IneligibleReplica { .. } => ErrorCode::IneligibleReplica,
        C::InvalidIsr { .. } => ErrorCode::InvalidRequest,
        C::ElectionNotNeeded => ErrorCode::ElectionNotNeeded,
        C::PreferredLeaderNotAvailable { .. } => ErrorCode::PreferredLeaderNotAvailable,
        C::EligibleLeadersNotAvailable => ErrorCode::EligibleLeadersNotAvailable,
        C::ProducerIdsExhausted => ErrorCode::UnknownServerError,
        C::InvalidRequest(_) => ErrorCode::InvalidRequest,
        C::NoReassignmentInProgress => ErrorCode::NoReassignmentInProgress,
        C::ReassignmentCannotRevert { .. } => ErrorCode::InvalidReplicaAssignment,
        C::ReplicationFactorChange { .. } => ErrorCode::InvalidReplicationFactor,
        C::StaticQuorum => ErrorCode::UnsupportedVersion,
        C::DuplicateVoter { .. } => ErrorCode::DuplicateVoter,
        C::VoterNotFound { .. } => ErrorCode::VoterNotFound,
        C::VoterChangeNotReady { .. } => ErrorCode::RequestTimedOut,
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
        S::TransactionCoordinatorFenced { .. } => ErrorCode::TransactionCoordinatorFenced,
        S::InvalidTxnState { .. } => ErrorCode::InvalidTxnState,
        // Retriable for the producer, as Kafka's answer when a partition's producer map is full.
        S::TooManyOngoingTransactions { .. } => ErrorCode::ConcurrentTransactions,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_reach_clients_without_paths_or_os_text() {
        let source = std::io::Error::from_raw_os_error(28); // ENOSPC
        let errors = [
            BrokerError::io(
                "writing the topics file",
                std::io::Error::from_raw_os_error(28),
            ),
            BrokerError::Storage(StorageError::Io {
                context: "appending to",
                path: "/var/lib/runnel/t-0/00000000000000000000.log".into(),
                source,
            }),
            BrokerError::Storage(StorageError::Closed {
                path: "/var/lib/runnel/t-0".into(),
            }),
        ];
        for error in errors {
            let message = error.message().unwrap();
            assert!(!message.contains("/var/lib"), "{message}");
            assert!(!message.contains("space"), "{message}");
            assert!(
                error.to_string().len() > message.len() / 2,
                "the log keeps it"
            );
        }
    }
}
