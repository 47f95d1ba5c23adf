//! The controller's errors: why a metadata command was rejected.
//!
//! A rejected command leaves the `MetadataImage` exactly as it was. Every voter applies the same
//! committed command and rejects it the same way, so these errors are deterministic and
//! serializable (they travel back to the proposer as the command's response). Each variant names
//! the Kafka error code the broker will map it to, in one place, later.

use serde::{Deserialize, Serialize};

use crate::image::{BrokerId, TopicId};

/// Why a metadata command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ControllerError {
    /// The broker is not registered (Kafka: BROKER_ID_NOT_REGISTERED).
    #[error("broker {broker_id} is not registered")]
    UnknownBroker { broker_id: BrokerId },
    /// The request carries an older broker epoch than the registration (Kafka: STALE_BROKER_EPOCH).
    #[error("broker {broker_id} sent broker epoch {requested}, current is {current}")]
    StaleBrokerEpoch {
        broker_id: BrokerId,
        requested: i64,
        current: i64,
    },
    /// A topic of that name exists (Kafka: TOPIC_ALREADY_EXISTS).
    #[error("topic {name} already exists")]
    TopicAlreadyExists { name: String },
    /// The topic id proposed for a new topic is already in use (Kafka: TOPIC_ALREADY_EXISTS).
    #[error("topic id {topic_id} is already in use")]
    TopicIdInUse { topic_id: TopicId },
    /// The name breaks Kafka's topic-name rules (Kafka: INVALID_TOPIC_EXCEPTION).
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName { name: String, reason: String },
    /// No topic of that name (Kafka: UNKNOWN_TOPIC_OR_PARTITION).
    #[error("unknown topic {name}")]
    UnknownTopic { name: String },
    /// No topic with that id (Kafka: UNKNOWN_TOPIC_ID).
    #[error("unknown topic id {topic_id}")]
    UnknownTopicId { topic_id: TopicId },
    /// The topic has no such partition (Kafka: UNKNOWN_TOPIC_OR_PARTITION).
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition { topic: String, partition: i32 },
    /// Bad partition count (Kafka: INVALID_PARTITIONS).
    #[error("invalid partition count: {reason}")]
    InvalidPartitions { reason: String },
    /// More replicas asked for than there are usable brokers (Kafka: INVALID_REPLICATION_FACTOR).
    #[error("replication factor {requested} is invalid with {available} usable brokers")]
    InvalidReplicationFactor { requested: i32, available: usize },
    /// A manual assignment is malformed (Kafka: INVALID_REPLICA_ASSIGNMENT).
    #[error("invalid replica assignment: {reason}")]
    InvalidReplicaAssignment { reason: String },
    /// The sender's leader epoch is not the partition's (Kafka: FENCED_LEADER_EPOCH).
    #[error("leader epoch {requested} does not match the current leader epoch {current}")]
    FencedLeaderEpoch { requested: i32, current: i32 },
    /// Compare-and-set on the partition epoch failed (Kafka: INVALID_UPDATE_VERSION).
    #[error("partition epoch {requested} does not match the current partition epoch {current}")]
    InvalidUpdateVersion { requested: i32, current: i32 },
    /// AlterPartition from a broker that does not lead the partition (Kafka: INVALID_REQUEST).
    #[error("broker {broker_id} is not the leader of the partition (leader: {leader:?})")]
    NotLeader {
        broker_id: BrokerId,
        leader: Option<BrokerId>,
    },
    /// A proposed ISR member is fenced, shutting down, or unknown (Kafka: INELIGIBLE_REPLICA).
    #[error("replica {broker_id} is not eligible for the ISR")]
    IneligibleReplica { broker_id: BrokerId },
    /// A proposed ISR is malformed (Kafka: INVALID_REQUEST).
    #[error("invalid ISR: {reason}")]
    InvalidIsr { reason: String },
    /// The preferred or a live leader already leads (Kafka: ELECTION_NOT_NEEDED).
    #[error("leader election not needed")]
    ElectionNotNeeded,
    /// The preferred replica is not an eligible ISR member (Kafka: PREFERRED_LEADER_NOT_AVAILABLE).
    #[error("preferred leader {broker_id} is not available")]
    PreferredLeaderNotAvailable { broker_id: BrokerId },
    /// No replica can lead (Kafka: ELIGIBLE_LEADERS_NOT_AVAILABLE).
    #[error("no eligible leader is available")]
    EligibleLeadersNotAvailable,
    /// Cancelling where no reassignment is in progress (Kafka: NO_REASSIGNMENT_IN_PROGRESS).
    #[error("no partition reassignment is in progress")]
    NoReassignmentInProgress,
    /// A cancel that would leave no in-sync original replica (Kafka: INVALID_REPLICA_ASSIGNMENT).
    #[error("{reason}")]
    ReassignmentCannotRevert { reason: String },
    /// A reassignment changing the replica count where the request forbids it (Kafka:
    /// INVALID_REPLICATION_FACTOR).
    #[error("the reassignment changes the replication factor from {from} to {to}")]
    ReplicationFactorChange { from: usize, to: usize },
    /// The producer-id space is used up (Kafka: UNKNOWN_SERVER_ERROR in practice).
    #[error("producer ids are exhausted")]
    ProducerIdsExhausted,
    /// A malformed request the broker should have refused (Kafka: INVALID_REQUEST).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A voter change on a static quorum (`controller.quorum.voters`, kraft.version 0).
    #[error("the metadata quorum is static (controller.quorum.voters): its voters cannot change")]
    StaticQuorum,
    /// AddRaftVoter for an id that already votes, whatever its directory.
    #[error("controller {id} is already a voter")]
    DuplicateVoter { id: u64 },
    /// RemoveRaftVoter for an id or directory that does not vote, or the last voter.
    #[error("{reason}")]
    VoterNotFound { reason: String },
    /// The change cannot be made now: the controller to add is not an observer caught up with
    /// the log, or another change is still in flight (Kafka answers REQUEST_TIMED_OUT).
    #[error("{reason}")]
    VoterChangeNotReady { reason: String },
}
