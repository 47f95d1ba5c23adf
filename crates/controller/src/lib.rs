//! Runnel's controller: the cluster metadata state machine (brokers with epochs and fencing,
//! topics, partitions with replicas, leader, ISR and epochs, configs, producer-id blocks) that the
//! metadata quorum replicates.
//!
//! It owns the rules Kafka's KRaft controller applies to metadata: replica placement, leader
//! election from the ISR, AlterPartition compare-and-set, fencing and controlled shutdown. Applying
//! a command is pure and deterministic ([`MetadataImage::apply`]): no I/O, no clock, no openraft
//! types. Sockets live in `raft/tcp.rs` (the controller listener); clocks (`liveness.rs` is driven
//! by the caller's `now_ms` and returns commands to propose) or the broker's data path. See
//! docs/internals/controller.md.
//!
//! Dependencies: `protocol` only for `protocol::topic` (Kafka's topic-name rules and the
//! per-topic partition limit, shared with the broker; no I/O); the broker depends on it.
//!
//! Replication is in `raft/`: the metadata log on openraft (`=0.10.0-alpha.37`), with our own
//! fsyncing log store, state-machine store with snapshots, and network behind
//! [`ControllerTransport`]; [`ControllerNode`] runs one voter and [`MetadataQuorum`] is the
//! interface the broker will use. Only `raft/` names openraft types.
//!
//! Files: `image.rs` (the state and its invariants), `command.rs` (commands and outcomes),
//! `apply.rs` (dispatch, brokers, elections), `topics.rs`, `partition.rs` (election and ISR
//! rules), `placement.rs`, `reassignment.rs`, `liveness.rs` (session timeouts, the preferred-leader check),
//! `error.rs`; `raft/types.rs`, `raft/log_store.rs`, `raft/record_file.rs`,
//! `raft/state_machine.rs`, `raft/network.rs`, `raft/node.rs`.

mod apply;
mod command;
mod error;
mod image;
mod liveness;
mod partition;
mod placement;
mod reassignment;
mod topics;

pub use command::{
    ConfigResource, ElectionType, IsrChange, MetadataCommand, Outcome, PRODUCER_ID_BLOCK_LEN,
    PartitionChange, ReplicaLogReport,
};
pub use error::ControllerError;
pub use image::{
    BrokerId, BrokerRegistration, Listener, MetadataImage, PartitionState, ReplicaLog, TopicId,
    TopicImage,
};
pub use liveness::{BROKER_SESSION_TIMEOUT_MS_DEFAULT, BrokerSessions, preferred_elections};
pub use partition::awaits_log_reports;
pub use placement::place_replicas;
pub use topics::validate_topic_name;
pub mod raft;

pub use raft::{
    ActiveController, ControllerClient, ControllerConfig, ControllerNode, ControllerTls,
    ControllerTransport, DynamicQuorum, HeartbeatReply, InProcessTransport, MetadataQuorum,
    QuorumDescription, QuorumError, QuorumReplica, TcpTransport, VoterNode, bootstrap_id,
    serve_controller_listener, spawn_liveness,
};
