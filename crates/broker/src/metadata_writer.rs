//! The one way topic metadata changes on this broker: creating and deleting topics, adding
//! partitions and altering a topic's config overrides, for CreateTopics, DeleteTopics,
//! CreatePartitions, AlterConfigs, IncrementalAlterConfigs, auto-creation on Metadata and
//! `__consumer_offsets` at start.
//!
//! Every operation first checks what does not depend on where metadata is recorded, once: the
//! topic name and the partition limit (`protocol::topic`, the rules the controller applies
//! too), config values (`config_admin::validate_topic_overrides`, then how they combine in
//! `TopicConfig::resolve`), counts against the topic's current state. Then the writer chosen
//! when the broker opened ([`MetadataWriter`]) makes the change:
//!
//! - [`MetadataWriter::SingleNode`]: this node is the whole cluster. `MetadataStore` is the
//!   record (`__runnel_topics.json`, fsynced before a change is visible), and the writer opens,
//!   deletes and reconfigures the partition logs itself. That disk work runs on tokio's blocking
//!   pool, never on a worker thread.
//! - [`MetadataWriter::Quorum`]: the controller's metadata log is the record. The writer proposes
//!   `controller::MetadataCommand`s to the active controller and answers once this node's image
//!   has the change and its `MetadataStore` shows it; the metadata task
//!   (`cluster/metadata_sync.rs`) applies images and opens and deletes the logs.
//!
//! Not here: each API's wire rules (the handlers: entries named twice, `delete.topic.enable`,
//! topic ids, the assignment fields), what a config key means (`config_admin.rs`,
//! `topic_config.rs`), applying the controller's images (`cluster/metadata_sync.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use protocol::topic::{PARTITIONS_PER_TOPIC_MAX, validate_topic_name};

use crate::broker::Broker;
use crate::cluster::{Cluster, PROPOSE_TIMEOUT};
use crate::config_admin::validate_topic_overrides;
use crate::error::BrokerError;
use crate::metadata::{TopicMetadata, random_uuid};
use crate::topic_config::TopicConfig;

/// How long a request waits for this node to apply metadata the controller already committed.
pub const METADATA_APPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    /// -1 takes `num.partitions`; ignored with an `assignment`.
    pub partitions: i32,
    /// -1 takes `default.replication.factor`; ignored with an `assignment`.
    pub replication_factor: i16,
    /// A manual replica assignment: the brokers of partition `i` at index `i`.
    pub assignment: Option<Vec<Vec<i32>>>,
    pub configs: BTreeMap<String, String>,
    /// Check everything, change nothing.
    pub validate_only: bool,
}

/// Partitions to add to a topic (CreatePartitions).
#[derive(Debug, Clone)]
pub struct NewPartitions {
    pub topic: String,
    /// The partition count after the change.
    pub count: i32,
    /// The brokers of each new partition, in partition order.
    pub assignment: Option<Vec<Vec<i32>>>,
    pub validate_only: bool,
}

/// A change of one config override: the key and its new value (`None` removes the override).
type ConfigChange = (String, Option<String>);

/// Where this broker records topic metadata; chosen once, when the broker opens, from its
/// configuration (`controller.quorum.voters` set or not), and never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataWriter {
    /// This node is the cluster: `MetadataStore` and the local logs are the record.
    SingleNode,
    /// The controller's metadata log is the record; this node follows its image.
    Quorum,
}

impl MetadataWriter {
    /// The writer for a broker of this configuration.
    pub fn for_config(config: &crate::config::BrokerConfig) -> Self {
        if config.is_clustered() {
            MetadataWriter::Quorum
        } else {
            MetadataWriter::SingleNode
        }
    }

    /// Creates a topic and returns it as the metadata now has it (with `validate_only`, as it
    /// would be: same counts and configs, an id that is never used).
    pub async fn create_topic(
        self,
        broker: &Arc<Broker>,
        request: NewTopic,
    ) -> Result<TopicMetadata, BrokerError> {
        let (topic, config) = check_new_topic(broker, &request)?;
        match self {
            MetadataWriter::SingleNode => {
                single_node::check_replicas(broker, &topic, request.assignment.as_deref())?
            }
            MetadataWriter::Quorum => quorum::check_replicas(cluster(broker)?, &topic)?,
        }
        if broker.metadata.topic(&topic.name).is_some() {
            return Err(BrokerError::TopicAlreadyExists(topic.name));
        }
        if request.validate_only {
            return Ok(topic);
        }
        let created = match self {
            MetadataWriter::SingleNode => single_node::create_topic(broker, topic, config).await?,
            MetadataWriter::Quorum => {
                quorum::create_topic(broker, cluster(broker)?, topic, request.assignment).await?
            }
        };
        tracing::info!(
            topic = %created.name,
            partitions = created.partitions,
            replication_factor = created.replication_factor,
            "created topic"
        );
        Ok(created)
    }

    /// Deletes a topic and its partitions' data, returning what the topic was.
    pub async fn delete_topic(
        self,
        broker: &Arc<Broker>,
        name: &str,
    ) -> Result<TopicMetadata, BrokerError> {
        let topic = known_topic(broker, name)?;
        match self {
            MetadataWriter::SingleNode => single_node::delete_topic(broker, name).await,
            MetadataWriter::Quorum => {
                quorum::delete_topic(broker, cluster(broker)?, name).await?;
                Ok(topic)
            }
        }
    }

    /// Raises a topic's partition count (never lowers it).
    pub async fn create_partitions(
        self,
        broker: &Arc<Broker>,
        request: NewPartitions,
    ) -> Result<(), BrokerError> {
        let topic = known_topic(broker, &request.topic)?;
        check_partition_increase(&request, topic.partitions)?;
        if let Some(assignment) = &request.assignment {
            match self {
                MetadataWriter::SingleNode => single_node::check_new_replicas(broker, assignment)?,
                MetadataWriter::Quorum => return Err(quorum::manual_new_partitions_refused()),
            }
        }
        if request.validate_only {
            return Ok(());
        }
        let (name, count) = (request.topic.clone(), request.count);
        match self {
            MetadataWriter::SingleNode => single_node::create_partitions(broker, request).await?,
            MetadataWriter::Quorum => {
                quorum::create_partitions(broker, cluster(broker)?, request).await?
            }
        }
        tracing::info!(topic = %name, from = topic.partitions, to = count, "added partitions");
        Ok(())
    }

    /// Replaces a topic's overrides with `change(current overrides)`, validated as a whole;
    /// with `validate_only` nothing changes. The change is made key by key, so alterations of
    /// different keys racing each other both take effect, as they do on Kafka's controller.
    pub async fn alter_topic_config(
        self,
        broker: &Arc<Broker>,
        topic: &str,
        validate_only: bool,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, BrokerError>,
    ) -> Result<(), BrokerError> {
        let before = known_topic(broker, topic)?.configs;
        let after = change(&before)?;
        validate_topic_overrides(&after)?;
        broker.topic_config(&after)?;
        if validate_only {
            return Ok(());
        }
        let mut changes: Vec<ConfigChange> = Vec::new();
        for (key, value) in &after {
            if before.get(key) != Some(value) {
                changes.push((key.clone(), Some(value.clone())));
            }
        }
        for key in before.keys() {
            if !after.contains_key(key) {
                changes.push((key.clone(), None));
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        match self {
            MetadataWriter::SingleNode => {
                single_node::alter_topic_config(broker, topic, changes).await?
            }
            MetadataWriter::Quorum => {
                quorum::alter_topic_config(broker, cluster(broker)?, topic, changes, &after).await?
            }
        }
        tracing::info!(topic, overrides = ?after, "altered topic config");
        Ok(())
    }

    /// Opens this node's logs of a topic the metadata already has (`__consumer_offsets`, which
    /// `Broker::open` leaves to the background start of the group coordinator). In a quorum
    /// there is nothing to do: the metadata task opens the partitions assigned here.
    pub async fn open_local_partitions(
        self,
        broker: &Arc<Broker>,
        topic: &TopicMetadata,
    ) -> Result<(), BrokerError> {
        match self {
            MetadataWriter::SingleNode => single_node::open_partitions(broker, topic.clone()).await,
            MetadataWriter::Quorum => Ok(()),
        }
    }
}

/// The checks every creation passes before the writer places it: config values, the name, the
/// partition count (from the assignment or the defaults) against the limit, the replication
/// factor, how the configs combine. Returns the topic with a fresh id and its resolved config.
fn check_new_topic(
    broker: &Broker,
    request: &NewTopic,
) -> Result<(TopicMetadata, Arc<TopicConfig>), BrokerError> {
    validate_topic_overrides(&request.configs)?;
    validate_topic_name(&request.name).map_err(|reason| BrokerError::InvalidTopicName {
        name: request.name.clone(),
        reason,
    })?;
    let partitions = match (&request.assignment, request.partitions) {
        (Some(assignment), _) => i32::try_from(assignment.len()).unwrap_or(i32::MAX),
        (None, -1) => broker.config.num_partitions,
        (None, n) => n,
    };
    if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&partitions) {
        return Err(BrokerError::InvalidPartitions(partitions));
    }
    let replication_factor = match (&request.assignment, request.replication_factor) {
        (Some(assignment), _) => assignment
            .first()
            .map_or(0, |r| i16::try_from(r.len()).unwrap_or(i16::MAX)),
        (None, -1) => broker.config.default_replication_factor,
        (None, n) => n,
    };
    let config = broker.topic_config(&request.configs)?;
    let topic = TopicMetadata {
        name: request.name.clone(),
        id: random_uuid().to_string(),
        partitions,
        replication_factor,
        configs: request.configs.clone(),
    };
    Ok((topic, config))
}

/// The topic as this node's metadata has it, or UNKNOWN_TOPIC_OR_PARTITION.
fn known_topic(broker: &Broker, name: &str) -> Result<TopicMetadata, BrokerError> {
    broker
        .metadata
        .topic(name)
        .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()))
}

/// Checks a partition increase against the topic's `current` count: more partitions than now,
/// within the limit, one assignment per new partition when assignments are given.
fn check_partition_increase(request: &NewPartitions, current: i32) -> Result<(), BrokerError> {
    let count = request.count;
    if count <= current {
        return Err(BrokerError::InvalidPartitionCount(format!(
            "topic {} has {current} partitions, which is not fewer than the requested {count}; \
             partitions can only be added",
            request.topic
        )));
    }
    if count > PARTITIONS_PER_TOPIC_MAX {
        return Err(BrokerError::InvalidPartitionCount(format!(
            "at most {PARTITIONS_PER_TOPIC_MAX} partitions per topic"
        )));
    }
    if let Some(assignment) = &request.assignment {
        let added = (count - current) as usize;
        if assignment.len() != added {
            return Err(BrokerError::InvalidReplicaAssignment(format!(
                "{} assignments given for {added} new partitions",
                assignment.len()
            )));
        }
    }
    Ok(())
}

/// This node's part in the quorum; set before the broker serves any request.
fn cluster(broker: &Broker) -> Result<&Arc<Cluster>, BrokerError> {
    broker.cluster.get().ok_or_else(|| {
        BrokerError::NotController("this broker has not joined the metadata quorum yet".into())
    })
}

/// The single-node writer: `MetadataStore` and the local logs, changed on the blocking pool.
mod single_node {
    use super::*;

    use crate::blocking::on_blocking_pool;

    /// A single node hosts the one replica of every partition: an assignment may name only
    /// this broker, and the replication factor is 1.
    pub(super) fn check_replicas(
        broker: &Broker,
        topic: &TopicMetadata,
        assignment: Option<&[Vec<i32>]>,
    ) -> Result<(), BrokerError> {
        let node = broker.config.node_id;
        for (index, replicas) in assignment.unwrap_or_default().iter().enumerate() {
            if replicas.as_slice() != [node] {
                return Err(BrokerError::InvalidReplicaAssignment(format!(
                    "partition {index} is assigned to brokers {replicas:?}; this cluster has \
                     only broker {node}"
                )));
            }
        }
        if topic.replication_factor != 1 {
            return Err(BrokerError::InvalidReplicationFactor {
                requested: topic.replication_factor,
                available: 1,
            });
        }
        Ok(())
    }

    /// New partitions may name only this broker.
    pub(super) fn check_new_replicas(
        broker: &Broker,
        assignment: &[Vec<i32>],
    ) -> Result<(), BrokerError> {
        let node = broker.config.node_id;
        if let Some(bad) = assignment
            .iter()
            .find(|replicas| replicas.as_slice() != [node])
        {
            return Err(BrokerError::InvalidReplicaAssignment(format!(
                "new partitions assigned to brokers {bad:?}; this cluster has only broker {node}"
            )));
        }
        Ok(())
    }

    /// Records the topic (fsynced), then opens its partition logs.
    pub(super) async fn create_topic(
        broker: &Arc<Broker>,
        topic: TopicMetadata,
        config: Arc<TopicConfig>,
    ) -> Result<TopicMetadata, BrokerError> {
        let broker = broker.clone();
        on_blocking_pool("creating a topic", move || {
            let topic = broker.metadata.create_topic(topic)?;
            broker.replicas.open_partitions(
                &topic.name,
                topic.uuid(),
                0,
                topic.partitions,
                config,
            )?;
            Ok(topic)
        })
        .await
    }

    /// Removes the topic from the metadata (fsynced), then closes its logs and deletes their
    /// data (`ReplicaManager::delete_topic`: renamed first, removed in the background).
    pub(super) async fn delete_topic(
        broker: &Arc<Broker>,
        name: &str,
    ) -> Result<TopicMetadata, BrokerError> {
        let broker = broker.clone();
        let name = name.to_string();
        on_blocking_pool("deleting a topic", move || {
            let topic = broker.metadata.delete_topic(&name)?;
            broker.replicas.delete_topic(&name);
            Ok(topic)
        })
        .await
    }

    /// Raises the count in the metadata (checked again against the count inside the update, so
    /// two concurrent requests cannot both add the same partitions), then opens the new logs.
    pub(super) async fn create_partitions(
        broker: &Arc<Broker>,
        request: NewPartitions,
    ) -> Result<(), BrokerError> {
        let broker = broker.clone();
        on_blocking_pool("adding partitions", move || {
            let mut previous = 0;
            let topic = broker.metadata.update_topic(&request.topic, |topic| {
                check_partition_increase(&request, topic.partitions)?;
                previous = topic.partitions;
                topic.partitions = request.count;
                Ok(())
            })?;
            let config = broker.topic_config(&topic.configs)?;
            broker.replicas.open_partitions(
                &topic.name,
                topic.uuid(),
                previous,
                topic.partitions,
                config,
            )?;
            Ok(())
        })
        .await
    }

    /// Applies the key changes to the recorded overrides (fsynced), then gives the live
    /// partitions the resolved config.
    pub(super) async fn alter_topic_config(
        broker: &Arc<Broker>,
        topic: &str,
        changes: Vec<ConfigChange>,
    ) -> Result<(), BrokerError> {
        let broker = broker.clone();
        let topic = topic.to_string();
        on_blocking_pool("altering a topic config", move || {
            let mut resolved = None;
            broker.metadata.update_topic(&topic, |metadata| {
                let mut overrides = metadata.configs.clone();
                for (key, value) in changes {
                    match value {
                        Some(value) => overrides.insert(key, value),
                        None => overrides.remove(&key),
                    };
                }
                // Unchanged unless a concurrent alteration made a combination that is invalid.
                resolved = Some(broker.topic_config(&overrides)?);
                metadata.configs = overrides;
                Ok(())
            })?;
            if let Some(config) = resolved {
                for partition in broker.replicas.topic_partitions(&topic) {
                    partition.set_config(config.clone())?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Opens every partition log of a recorded topic (those already open stay as they are).
    pub(super) async fn open_partitions(
        broker: &Arc<Broker>,
        topic: TopicMetadata,
    ) -> Result<(), BrokerError> {
        let broker = broker.clone();
        on_blocking_pool("opening a topic's partitions", move || {
            let config = broker.topic_config(&topic.configs)?;
            broker
                .replicas
                .open_partitions(&topic.name, topic.uuid(), 0, topic.partitions, config)
        })
        .await
    }
}

/// The quorum writer: commands to the active controller, answered once this node applied them.
mod quorum {
    use super::*;

    /// The replication factor against the brokers that can take a replica now (registered and
    /// unfenced); the controller checks a manual assignment's brokers when it applies it.
    pub(super) fn check_replicas(
        cluster: &Cluster,
        topic: &TopicMetadata,
    ) -> Result<(), BrokerError> {
        let available = cluster
            .image()
            .brokers
            .values()
            .filter(|b| b.is_eligible())
            .count();
        let requested = topic.replication_factor;
        if requested < 1 || requested as usize > available {
            return Err(BrokerError::InvalidReplicationFactor {
                requested,
                available: i32::try_from(available).unwrap_or(i32::MAX),
            });
        }
        Ok(())
    }

    /// The controller places new partitions itself; `MetadataCommand::CreatePartitions` has no
    /// assignment yet.
    pub(super) fn manual_new_partitions_refused() -> BrokerError {
        BrokerError::InvalidReplicaAssignment(
            "manual assignments of new partitions are not supported in a cluster yet \
             (omit them and the controller places the replicas)"
                .into(),
        )
    }

    /// Proposes the topic; answers with this node's metadata of it once applied here.
    pub(super) async fn create_topic(
        broker: &Broker,
        cluster: &Cluster,
        topic: TopicMetadata,
        assignment: Option<Vec<Vec<i32>>>,
    ) -> Result<TopicMetadata, BrokerError> {
        let topic_id = controller::TopicId(u128::from_be_bytes(topic.uuid().0));
        let name = topic.name;
        cluster
            .propose(controller::MetadataCommand::CreateTopic {
                name: name.clone(),
                topic_id,
                partitions: topic.partitions,
                replication_factor: i32::from(topic.replication_factor),
                assignment,
                configs: topic.configs,
            })
            .await?;
        cluster
            .wait_for_image(PROPOSE_TIMEOUT, |image| image.topics.contains_key(&name))
            .await?;
        // The metadata task applies the image right after; the answer must already show it.
        broker
            .metadata
            .wait_for(METADATA_APPLY_TIMEOUT, |metadata| {
                metadata.topic(&name).is_some()
            })
            .await?;
        broker
            .metadata
            .topic(&name)
            .ok_or(BrokerError::RequestTimedOut)
    }

    pub(super) async fn delete_topic(
        broker: &Broker,
        cluster: &Cluster,
        name: &str,
    ) -> Result<(), BrokerError> {
        cluster
            .propose(controller::MetadataCommand::DeleteTopic {
                name: name.to_string(),
            })
            .await?;
        cluster
            .wait_for_image(PROPOSE_TIMEOUT, |image| !image.topics.contains_key(name))
            .await?;
        wait_applied(broker, |metadata| metadata.topic(name).is_none()).await;
        Ok(())
    }

    pub(super) async fn create_partitions(
        broker: &Broker,
        cluster: &Cluster,
        request: NewPartitions,
    ) -> Result<(), BrokerError> {
        let NewPartitions { topic, count, .. } = request;
        cluster
            .propose(controller::MetadataCommand::CreatePartitions {
                name: topic.clone(),
                count,
            })
            .await?;
        let added = |partitions: usize| partitions >= usize::try_from(count).unwrap_or(0);
        cluster
            .wait_for_image(PROPOSE_TIMEOUT, |image| {
                image
                    .topics
                    .get(&topic)
                    .is_some_and(|t| added(t.partitions.len()))
            })
            .await?;
        wait_applied(broker, |metadata| {
            metadata
                .topic(&topic)
                .is_some_and(|t| added(usize::try_from(t.partitions).unwrap_or(0)))
        })
        .await;
        Ok(())
    }

    /// Each changed key becomes a `SetConfig`; the metadata task gives the partitions on every
    /// node the result.
    pub(super) async fn alter_topic_config(
        broker: &Broker,
        cluster: &Cluster,
        topic: &str,
        changes: Vec<ConfigChange>,
        after: &BTreeMap<String, String>,
    ) -> Result<(), BrokerError> {
        for (key, value) in changes {
            cluster
                .propose(controller::MetadataCommand::SetConfig {
                    resource: controller::ConfigResource::Topic(topic.to_string()),
                    key,
                    value,
                })
                .await?;
        }
        wait_applied(broker, |metadata| {
            metadata.topic(topic).is_some_and(|t| &t.configs == after)
        })
        .await;
        Ok(())
    }

    /// Waits (bounded) until this node's metadata shows a committed change. The change is
    /// committed either way, so a slow apply (or a later change hiding this one) still answers
    /// success.
    async fn wait_applied(
        broker: &Broker,
        shows: impl Fn(&crate::metadata::MetadataStore) -> bool,
    ) {
        if broker
            .metadata
            .wait_for(METADATA_APPLY_TIMEOUT, shows)
            .await
            .is_err()
        {
            tracing::debug!("committed metadata not yet applied on this node; answering anyway");
        }
    }
}
