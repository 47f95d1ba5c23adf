//! The cluster metadata image: brokers, topics, partitions, configs, ACLs, client quotas and the
//! producer-id allocator, as one deterministic value.
//!
//! This module owns the data and its invariants ([`MetadataImage::check_invariants`]); the rules
//! that change it live in `apply.rs` (commands), `partition.rs` (elections and ISR changes) and
//! `placement.rs` (replica placement). Maps are `BTreeMap`s so iteration order, and therefore every
//! voter's result, is the same. A snapshot of the metadata log is this value, serialized.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use security::acl::AclBinding;
use security::quota::QuotaMap;
use serde::{Deserialize, Serialize};

/// A broker's `node.id`.
pub type BrokerId = i32;

/// A topic's 128-bit id (Kafka's `Uuid`), chosen by the active controller and carried in
/// `CreateTopic` so that applying the command stays deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopicId(pub u128);

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// A listener a broker advertises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub broker_id: BrokerId,
    /// Changes on every process start; tells a restart from a duplicate registration.
    pub incarnation_id: u128,
    /// The metadata log offset of the registration (as in KRaft). Strictly grows per broker.
    pub broker_epoch: i64,
    pub rack: Option<String>,
    pub listeners: Vec<Listener>,
    /// A fenced broker leads nothing and is in no ISR (except as the last member of an offline
    /// partition's ISR).
    pub fenced: bool,
    /// Set by controlled shutdown: leads nothing, joins no ISR, until it registers again.
    pub in_controlled_shutdown: bool,
    /// Its log directory failed (a write or sync error, `LogDirFailed`; Kafka's offline log
    /// directories of KIP-858): its replicas are offline, so it leads nothing and joins no ISR
    /// until it registers again (a restart with a repaired disk). It stays up and unfenced.
    #[serde(default)]
    pub log_dir_failed: bool,
}

impl BrokerRegistration {
    /// May lead a partition or join an ISR.
    pub fn is_eligible(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown && !self.log_dir_failed
    }
}

/// One partition's replication state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// The assigned replicas; the first is the preferred leader. Invariant: no duplicates.
    pub replicas: Vec<BrokerId>,
    /// In-sync replicas. Invariant: a subset of `replicas`; empty only while the partition has
    /// no leader (its last member left: it is in `elr` or `last_known_elr` instead).
    pub isr: Vec<BrokerId>,
    /// Invariant: `None` (offline) or a member of `isr`.
    pub leader: Option<BrokerId>,
    /// Bumped on every leader change. Never decreases.
    pub leader_epoch: i32,
    /// Bumped on every change of leader, ISR, ELR or recovery state; AlterPartition compares
    /// and sets it.
    pub partition_epoch: i32,
    /// Eligible leader replicas (KIP-966): replicas that left the ISR cleanly while it was below
    /// `min.insync.replicas`. The high watermark cannot advance then, so each holds every
    /// acknowledged record and may lead once the ISR is empty. Disjoint from `isr`; emptied
    /// when the ISR is back at min ISR.
    #[serde(default)]
    pub elr: Vec<BrokerId>,
    /// Replicas that were in the ISR or the ELR below min ISR when they restarted after an
    /// unclean shutdown (no clean-shutdown marker): their log may have lost its unsynced tail.
    /// When ISR and ELR are empty the partition waits until every one of them has reported
    /// its log (`replica_logs`) and elects the most complete one (KIP-966's unclean recovery,
    /// where Kafka 4.4 re-elects the last leader, however much it lost).
    #[serde(default)]
    pub last_known_elr: Vec<BrokerId>,
    /// The logs replicas reported while the partition waited for them (stale ones from before
    /// the reporter's latest unclean restart).
    #[serde(default)]
    pub replica_logs: Vec<ReplicaLog>,
    /// Replicas a reassignment is adding (Kafka's `addingReplicas`): in `replicas`, catching up;
    /// the reassignment completes once every target replica is in the ISR.
    #[serde(default)]
    pub adding_replicas: Vec<BrokerId>,
    /// Replicas a reassignment will remove once it completes (Kafka's `removingReplicas`): in
    /// `replicas` until then, and may lead and stay in the ISR meanwhile.
    #[serde(default)]
    pub removing_replicas: Vec<BrokerId>,
}

impl PartitionState {
    /// Whether a reassignment is in progress.
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The replicas a reassignment moves to (`replicas` without the removing ones); the
    /// replicas themselves when none is in progress.
    pub fn target_replicas(&self) -> Vec<BrokerId> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.removing_replicas.contains(r))
            .collect()
    }
}

/// What a replica's log held when it reported it for a recovery election.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaLog {
    pub broker_id: BrokerId,
    /// The leader epoch of its last record (its epoch cache's latest entry); -1 if none.
    pub last_epoch: i32,
    pub log_end_offset: i64,
    /// Reported before the broker's latest unclean restart: its log may hold less now, but
    /// not more (nothing leads the partition to fetch from), so it bounds what the broker's
    /// next report can say.
    #[serde(default)]
    pub stale: bool,
}

impl ReplicaLog {
    /// Orders logs by completeness: the later last epoch, then the longer log.
    pub fn completeness(&self) -> (i32, i64) {
        (self.last_epoch, self.log_end_offset)
    }
}

/// A topic and its partitions (indexed by partition number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    pub name: String,
    pub topic_id: TopicId,
    pub partitions: Vec<PartitionState>,
    /// Topic-level config overrides (`cleanup.policy`, `unclean.leader.election.enable`, ...).
    pub configs: BTreeMap<String, String>,
}

/// The whole cluster metadata state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    pub brokers: BTreeMap<BrokerId, BrokerRegistration>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicImage>,
    /// Topic names by id. Invariant: the inverse of `topics`.
    pub topic_names: BTreeMap<TopicId, String>,
    /// Cluster-wide config overrides (Kafka's default broker resource).
    pub cluster_configs: BTreeMap<String, String>,
    /// Per-broker dynamic config overrides (Kafka's broker resource named by an id), by broker;
    /// a broker with none is absent.
    #[serde(default)]
    pub broker_configs: BTreeMap<BrokerId, BTreeMap<String, String>>,
    /// Users' entity configs by user name (SCRAM credentials); a user with none is absent.
    #[serde(default)]
    pub user_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Groups' dynamic configs by group id (Kafka's GROUP resource); a group with none is absent.
    #[serde(default)]
    pub group_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// The ACLs (Kafka's AccessControlEntryRecords), each once.
    #[serde(default)]
    pub acls: BTreeSet<AclBinding>,
    /// Client quotas by entity (Kafka's ClientQuotaRecords).
    #[serde(default, with = "security::quota::as_list")]
    pub client_quotas: QuotaMap,
    /// The first producer id of the next block to hand out.
    pub next_producer_id: i64,
    /// The metadata log index this image includes everything up to (Kafka's metadata offset;
    /// 0 before the first entry). Brokers compare it with the active controller's to know they
    /// have caught up.
    #[serde(default)]
    pub offset: u64,
}

impl MetadataImage {
    pub fn new() -> Self {
        Self::default()
    }

    /// A topic's partition state, by topic name.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionState> {
        let index = usize::try_from(partition).ok()?;
        self.topics.get(topic)?.partitions.get(index)
    }

    /// Whether `broker_id` is registered and may lead or join an ISR.
    pub fn is_eligible(&self, broker_id: BrokerId) -> bool {
        self.brokers
            .get(&broker_id)
            .is_some_and(BrokerRegistration::is_eligible)
    }

    /// Whether unclean leader election is enabled for `topic`: the topic's override, else the
    /// cluster's, else false (Kafka's default since 0.11).
    pub fn unclean_election_enabled(&self, topic: &TopicImage) -> bool {
        const KEY: &str = "unclean.leader.election.enable";
        topic
            .configs
            .get(KEY)
            .or_else(|| self.cluster_configs.get(KEY))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// A dynamic broker config of `broker_id`: its own override, else the cluster-wide one.
    pub fn broker_config(&self, broker_id: BrokerId, key: &str) -> Option<&str> {
        self.broker_configs
            .get(&broker_id)
            .and_then(|c| c.get(key))
            .or_else(|| self.cluster_configs.get(key))
            .map(String::as_str)
    }

    /// `min.insync.replicas` for `topic`: the topic's override, else the cluster's dynamic
    /// default, else 1. A broker's static `min.insync.replicas` is not seen here (every voter must
    /// compute the same image): set the cluster-level config for the ELR to follow it.
    pub fn min_insync_replicas(&self, topic: &TopicImage) -> usize {
        const KEY: &str = "min.insync.replicas";
        topic
            .configs
            .get(KEY)
            .or_else(|| self.cluster_configs.get(KEY))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(1)
            .max(1)
    }

    /// Checks every structural invariant; returns the first violation. Used by tests after every
    /// command and by the state-machine store after loading a snapshot.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.topics.len() != self.topic_names.len() {
            return Err("topic_names is not the inverse of topics".into());
        }
        for (name, topic) in &self.topics {
            if self.topic_names.get(&topic.topic_id) != Some(name) {
                return Err(format!("topic {name}: id {} not indexed", topic.topic_id));
            }
            for (index, p) in topic.partitions.iter().enumerate() {
                let at = format!("{name}-{index}");
                let mut seen = p.replicas.clone();
                seen.sort_unstable();
                seen.dedup();
                if seen.len() != p.replicas.len() || p.replicas.is_empty() {
                    return Err(format!("{at}: replicas {:?} empty or repeated", p.replicas));
                }
                if p.isr.is_empty() && p.leader.is_some() {
                    return Err(format!("{at}: a leader with an empty ISR"));
                }
                let members = p.isr.iter().chain(&p.elr).chain(&p.last_known_elr);
                if let Some(r) = members.clone().find(|r| !p.replicas.contains(r)) {
                    return Err(format!(
                        "{at}: ISR, ELR or last known ELR member {r} is not a replica"
                    ));
                }
                if let Some(r) = p.elr.iter().find(|r| p.isr.contains(r)) {
                    return Err(format!("{at}: {r} is in both the ISR and the ELR"));
                }
                if members.clone().next().is_none() {
                    return Err(format!("{at}: no ISR, ELR or last known ELR member"));
                }
                if let Some(leader) = p.leader
                    && !p.isr.contains(&leader)
                {
                    return Err(format!("{at}: leader {leader} not in ISR {:?}", p.isr));
                }
                let moving = p.adding_replicas.iter().chain(&p.removing_replicas);
                if let Some(r) = moving.clone().find(|r| !p.replicas.contains(r)) {
                    return Err(format!(
                        "{at}: adding or removing replica {r} is not a replica"
                    ));
                }
                if let Some(r) = p
                    .adding_replicas
                    .iter()
                    .find(|r| p.removing_replicas.contains(r))
                {
                    return Err(format!("{at}: {r} is both added and removed"));
                }
                if p.is_reassigning() && p.removing_replicas.len() >= p.replicas.len() {
                    return Err(format!("{at}: a reassignment to no replica"));
                }
                if p.leader_epoch < 0 || p.partition_epoch < p.leader_epoch.min(0) {
                    return Err(format!("{at}: negative epochs"));
                }
            }
        }
        Ok(())
    }
}
