//! The commands of the metadata log and what applying one returns.
//!
//! A command is what the active controller proposes and openraft replicates; it carries every
//! choice that needs randomness or a clock (topic ids, incarnation ids) so that applying it is a
//! pure function of the image. See docs/internals/controller.md for each command's Kafka
//! counterpart.

use std::collections::BTreeMap;

use security::acl::AclBinding;
use security::quota::QuotaChange;
use serde::{Deserialize, Serialize};

use crate::image::{BrokerId, Listener, TopicId};

/// How many producer ids one `AllocateProducerIds` hands out (Kafka's block size).
pub const PRODUCER_ID_BLOCK_LEN: i64 = 1000;

/// Which kind of leader election `ElectLeader` runs (Kafka's `ElectionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElectionType {
    /// Move leadership to the first replica if it is an eligible ISR member.
    Preferred,
    /// Elect a leader for an offline partition, outside the ISR if needed (data may be lost).
    Unclean,
}

/// What a `SetConfig` applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigResource {
    Topic(String),
    Cluster,
    /// One broker's dynamic configs (Kafka's broker resource named by its id): the replication
    /// throttle rates.
    Broker(BrokerId),
    /// A user's entity configs: SCRAM credentials (`SCRAM-SHA-256` = `salt=...,stored_key=...,
    /// server_key=...,iterations=...`) and, later, quotas.
    User(String),
    /// A group's dynamic configs (Kafka's GROUP resource): `share.auto.offset.reset`, ...
    Group(String),
}

/// One entry of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataCommand {
    /// A broker starts (or restarts): it gets a new broker epoch and starts fenced.
    RegisterBroker {
        broker_id: BrokerId,
        incarnation_id: u128,
        rack: Option<String>,
        listeners: Vec<Listener>,
        /// The broker epoch its clean-shutdown marker names (Kafka's `PreviousBrokerEpoch`,
        /// KIP-966); -1 without one. Equal to the stored registration's epoch: a clean restart.
        #[serde(default = "no_broker_epoch")]
        previous_broker_epoch: i64,
    },
    /// A broker's liveness report; with `want_fence: false` a caught-up broker is unfenced.
    BrokerHeartbeat {
        broker_id: BrokerId,
        broker_epoch: i64,
        want_fence: bool,
    },
    /// Creates a topic; `assignment` is a manual replica assignment, else replicas are placed.
    CreateTopic {
        name: String,
        topic_id: TopicId,
        partitions: i32,
        replication_factor: i32,
        assignment: Option<Vec<Vec<BrokerId>>>,
        configs: BTreeMap<String, String>,
    },
    DeleteTopic {
        name: String,
    },
    /// Grows a topic to `count` partitions.
    CreatePartitions {
        name: String,
        count: i32,
    },
    /// An ISR change proposed by the partition leader (KIP-497), compare-and-set on
    /// `partition_epoch`.
    AlterPartition {
        broker_id: BrokerId,
        broker_epoch: i64,
        topic_id: TopicId,
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        new_isr: Vec<BrokerId>,
    },
    /// Many ISR changes from one leader in one entry (Kafka's AlterPartition request carries
    /// many partitions): each is checked and applied as [`MetadataCommand::AlterPartition`]
    /// would, on its own; a refused one leaves its partition unchanged and the others go on.
    AlterPartitions {
        broker_id: BrokerId,
        broker_epoch: i64,
        changes: Vec<IsrChange>,
    },
    ElectLeader {
        topic: String,
        partition: i32,
        election: ElectionType,
    },
    /// The broker missed its session timeout: out of every ISR, leadership moves.
    FenceBroker {
        broker_id: BrokerId,
    },
    UnfenceBroker {
        broker_id: BrokerId,
    },
    /// The broker is shutting down cleanly: leadership moves away first.
    ControlledShutdown {
        broker_id: BrokerId,
        broker_epoch: i64,
    },
    /// Removes a broker's registration (UnregisterBroker, `kafka-cluster unregister`): it
    /// leaves every ISR and leadership as when fenced and new replicas are no longer placed on
    /// it. A broker still running registers again with its next heartbeat, as in Kafka.
    UnregisterBroker {
        broker_id: BrokerId,
    },
    /// The broker's log directory failed (KIP-858's offline log directory, which Kafka's broker
    /// reports in its heartbeat): out of every ISR, leadership moves, and it stays ineligible
    /// until it registers again. It is not fenced: it still serves metadata and its other roles.
    LogDirFailed {
        broker_id: BrokerId,
        broker_epoch: i64,
    },
    /// A broker's logs of partitions whose last known ELR holds it (restarted uncleanly while
    /// it was a leader candidate): the recovery election picks the most complete one.
    ReportReplicaLogs {
        broker_id: BrokerId,
        broker_epoch: i64,
        logs: Vec<ReplicaLogReport>,
    },
    /// Starts a reassignment of a partition to `target` (replacing one in progress), or with
    /// `None` cancels the one in progress (AlterPartitionReassignments, KIP-455).
    AlterPartitionReassignment {
        topic: String,
        partition: i32,
        target: Option<Vec<BrokerId>>,
        /// False (AlterPartitionReassignments v1, KIP-860): a target of another size than the
        /// original replicas is refused.
        allow_replication_factor_change: bool,
    },
    /// Sets (`Some`) or deletes (`None`) one config key.
    SetConfig {
        resource: ConfigResource,
        key: String,
        value: Option<String>,
    },
    AllocateProducerIds {
        broker_id: BrokerId,
        broker_epoch: i64,
    },
    /// Adds ACLs (CreateAcls); one already present is left as it is.
    CreateAcls {
        acls: Vec<AclBinding>,
    },
    /// Removes these exact ACLs (DeleteAcls, after the broker matched its filters); one
    /// already gone is skipped.
    DeleteAcls {
        acls: Vec<AclBinding>,
    },
    /// Sets and removes client quota keys (AlterClientQuotas), all or none.
    AlterClientQuotas {
        changes: Vec<QuotaChange>,
    },
}

fn no_broker_epoch() -> i64 {
    -1
}

/// One partition's log, as a broker reports it for a recovery election.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaLogReport {
    pub topic_id: TopicId,
    pub partition: i32,
    /// The leader epoch of its last record; -1 if none.
    pub last_epoch: i32,
    pub log_end_offset: i64,
}

/// A partition whose leader or ISR changed, with its new state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionChange {
    pub topic_id: TopicId,
    pub partition: i32,
    pub leader: Option<BrokerId>,
    pub isr: Vec<BrokerId>,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

/// One partition's ISR change in [`MetadataCommand::AlterPartitions`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsrChange {
    pub topic_id: TopicId,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<BrokerId>,
}

/// What applying a command changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    BrokerRegistered {
        broker_epoch: i64,
    },
    Heartbeat {
        fenced: bool,
        in_controlled_shutdown: bool,
    },
    TopicCreated {
        topic_id: TopicId,
        assignment: Vec<Vec<BrokerId>>,
    },
    TopicDeleted {
        topic_id: TopicId,
    },
    PartitionsCreated {
        assignment: Vec<Vec<BrokerId>>,
    },
    /// Fence, unfence, controlled shutdown, elections and ISR changes: the partitions touched.
    PartitionsChanged(Vec<PartitionChange>),
    /// [`MetadataCommand::AlterPartitions`]: the partitions changed, and each refused change by
    /// its index in the command with why.
    IsrChanges {
        changed: Vec<PartitionChange>,
        refused: Vec<(usize, crate::ControllerError)>,
    },
    ConfigSet,
    ProducerIdsAllocated {
        first_producer_id: i64,
        len: i64,
    },
    AclsChanged,
    QuotasChanged,
}

impl std::fmt::Display for MetadataCommand {
    /// The command's name and its main key, for openraft's logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use MetadataCommand as C;
        match self {
            C::RegisterBroker { broker_id, .. } => write!(f, "RegisterBroker({broker_id})"),
            C::BrokerHeartbeat { broker_id, .. } => write!(f, "BrokerHeartbeat({broker_id})"),
            C::CreateTopic { name, .. } => write!(f, "CreateTopic({name})"),
            C::DeleteTopic { name } => write!(f, "DeleteTopic({name})"),
            C::CreatePartitions { name, count } => write!(f, "CreatePartitions({name}, {count})"),
            C::AlterPartition {
                topic_id,
                partition,
                ..
            } => {
                write!(f, "AlterPartition({topic_id}-{partition})")
            }
            C::AlterPartitions { changes, .. } => {
                write!(f, "AlterPartitions({} partitions)", changes.len())
            }
            C::ElectLeader {
                topic, partition, ..
            } => write!(f, "ElectLeader({topic}-{partition})"),
            C::FenceBroker { broker_id } => write!(f, "FenceBroker({broker_id})"),
            C::UnfenceBroker { broker_id } => write!(f, "UnfenceBroker({broker_id})"),
            C::ControlledShutdown { broker_id, .. } => write!(f, "ControlledShutdown({broker_id})"),
            C::LogDirFailed { broker_id, .. } => write!(f, "LogDirFailed({broker_id})"),
            C::UnregisterBroker { broker_id } => write!(f, "UnregisterBroker({broker_id})"),
            C::ReportReplicaLogs { broker_id, .. } => write!(f, "ReportReplicaLogs({broker_id})"),
            C::AlterPartitionReassignment {
                topic, partition, ..
            } => write!(f, "AlterPartitionReassignment({topic}-{partition})"),
            C::SetConfig { key, .. } => write!(f, "SetConfig({key})"),
            C::AllocateProducerIds { broker_id, .. } => {
                write!(f, "AllocateProducerIds({broker_id})")
            }
            C::CreateAcls { acls } => write!(f, "CreateAcls({})", acls.len()),
            C::DeleteAcls { acls } => write!(f, "DeleteAcls({})", acls.len()),
            C::AlterClientQuotas { changes } => write!(f, "AlterClientQuotas({})", changes.len()),
        }
    }
}
