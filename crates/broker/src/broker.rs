//! The broker's shared state (`Broker`): configuration, topic metadata, hosted partitions,
//! and the operations several handlers share (creating a topic, resolving its config).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::fetch_session::{FETCH_SESSIONS_MAX, FetchSessionCache};
use crate::group_coordinator::GroupCoordinatorService;
use crate::metadata::{MetadataStore, TopicMetadata, random_uuid};
use crate::partitions::ReplicaManager;
use crate::producer_ids::ProducerIdManager;
use crate::topic_config::TopicConfig;

/// Longest topic name Kafka accepts.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;
/// Most partitions one topic may have on this broker (bounds work per request).
pub const TOPIC_PARTITIONS_MAX: i32 = 10_000;

/// How long a request waits for this node to apply metadata the controller already committed.
pub const METADATA_APPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Everything a request handler can reach.
pub struct Broker {
    pub config: BrokerConfig,
    pub metadata: MetadataStore,
    pub replicas: ReplicaManager,
    /// Ids for idempotent producers (InitProducerId), unique across restarts.
    pub producer_ids: ProducerIdManager,
    /// Open fetch sessions (KIP-227).
    pub fetch_sessions: FetchSessionCache,
    /// Consumer groups and committed offsets, one shard per `__consumer_offsets` partition.
    pub groups: GroupCoordinatorService,
    /// This node's part in a replicated cluster; unset on a single node.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    /// Turns true when a shutdown begins, so long-polling requests answer at once.
    shutting_down: tokio::sync::watch::Sender<bool>,
    pub started_at: Instant,
    /// The one clock every rule reads (`clock.rs`).
    pub clock: crate::clock::Clock,
}

/// Checks a topic name the way Kafka's `Topic.validate` does.
pub fn validate_topic_name(name: &str) -> Result<(), BrokerError> {
    let invalid = |reason| BrokerError::InvalidTopic {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("the name is empty"));
    }
    if name == "." || name == ".." {
        return Err(invalid("'.' and '..' are not allowed"));
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return Err(invalid("longer than 249 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(invalid(
            "only ASCII letters, digits, '.', '_' and '-' are allowed",
        ));
    }
    Ok(())
}

impl Broker {
    /// Milliseconds since the Unix epoch, from the broker's clock.
    pub fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    /// Opens the broker's state in the configured log directory: metadata, then every topic's
    /// partition logs (running recovery where the last shutdown was not clean).
    pub fn open(config: BrokerConfig) -> Result<Arc<Broker>, BrokerError> {
        let mut metadata = MetadataStore::open(&config.log_dir, config.node_id)?;
        if let Some(cluster_id) = crate::cluster::cluster_id(&config) {
            metadata.set_cluster_id(cluster_id);
        }
        let clock = crate::clock::system_clock();
        let replicas = ReplicaManager::new(
            &config.log_dir,
            config.node_id,
            config.is_clustered(),
            clock.clone(),
        );
        replicas.clean_deleted_dirs();
        let producer_ids = ProducerIdManager::open(&config.log_dir)?;
        let groups = GroupCoordinatorService::new(&config);
        let broker = Broker {
            config,
            metadata,
            replicas,
            producer_ids,
            fetch_sessions: FetchSessionCache::new(FETCH_SESSIONS_MAX),
            groups,
            cluster: std::sync::OnceLock::new(),
            shutting_down: tokio::sync::watch::Sender::new(false),
            started_at: Instant::now(),
            clock,
        };
        // In a replicated cluster the metadata log says which partitions to open.
        let local_topics = if broker.config.is_clustered() {
            Vec::new()
        } else {
            broker.metadata.topics()
        };
        for topic in local_topics {
            if topic.name == coordinator::OFFSETS_TOPIC {
                // Opened and replayed in the background once serving (start_groups), so start
                // time does not grow with the offsets topic.
                continue;
            }
            let topic_config = broker.topic_config(&topic.configs)?;
            broker.replicas.open_partitions(
                &topic.name,
                topic.uuid(),
                0,
                topic.partitions,
                topic_config,
            )?;
        }
        Ok(Arc::new(broker))
    }

    /// Creates `__consumer_offsets` when absent, opens its partitions and replays them into the
    /// group coordinator. Runs once, off the start-up path: until it finishes, FindCoordinator
    /// answers COORDINATOR_NOT_AVAILABLE and clients retry, as they do while Kafka loads.
    pub fn start_groups(&self) -> Result<(), BrokerError> {
        self.groups.start(self)
    }

    /// Resolves a topic's overrides over this broker's defaults.
    pub fn topic_config(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Arc<TopicConfig>, BrokerError> {
        TopicConfig::resolve(&self.config, overrides)
            .map(Arc::new)
            .map_err(|e| BrokerError::InvalidConfig(e.to_string()))
    }

    /// Creates a topic (CreateTopics and auto-creation): validates the name, counts and
    /// configs, records it in the metadata and opens its partitions. With `validate_only`
    /// nothing changes.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMetadata, BrokerError> {
        validate_topic_name(name)?;
        let partitions = if partitions == -1 {
            self.config.num_partitions
        } else {
            partitions
        };
        if !(1..=TOPIC_PARTITIONS_MAX).contains(&partitions) {
            return Err(BrokerError::InvalidPartitions(partitions));
        }
        let replication_factor = if replication_factor == -1 {
            self.config.default_replication_factor
        } else {
            replication_factor
        };
        // A single node hosts one replica of each partition.
        if replication_factor != 1 {
            return Err(BrokerError::InvalidReplicationFactor {
                requested: replication_factor,
                available: 1,
            });
        }
        let topic_config = self.topic_config(&configs)?;
        if self.metadata.topic(name).is_some() {
            return Err(BrokerError::TopicAlreadyExists(name.to_string()));
        }
        let topic = TopicMetadata {
            name: name.to_string(),
            id: random_uuid().to_string(),
            partitions,
            replication_factor,
            configs,
        };
        if validate_only {
            return Ok(topic);
        }
        let topic = self.metadata.create_topic(topic)?;
        self.replicas.open_partitions(
            &topic.name,
            topic.uuid(),
            0,
            topic.partitions,
            topic_config,
        )?;
        tracing::info!(topic = %topic.name, partitions = topic.partitions, "created topic");
        Ok(topic)
    }

    /// Creates a topic on a single node ([`Broker::create_topic`]) or, in a replicated cluster,
    /// through the active controller (which places the replicas), returning once this broker's
    /// metadata has the topic. `assignment` is a manual replica assignment (cluster only).
    pub async fn create_topic_anywhere(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        assignment: Option<Vec<Vec<i32>>>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMetadata, BrokerError> {
        let Some(cluster) = self.cluster.get() else {
            return self.create_topic(name, partitions, replication_factor, configs, validate_only);
        };
        validate_topic_name(name)?;
        let partitions = match (&assignment, partitions) {
            (Some(assignment), _) => i32::try_from(assignment.len()).unwrap_or(i32::MAX),
            (None, -1) => self.config.num_partitions,
            (None, n) => n,
        };
        if !(1..=TOPIC_PARTITIONS_MAX).contains(&partitions) {
            return Err(BrokerError::InvalidPartitions(partitions));
        }
        let replication_factor = match (&assignment, replication_factor) {
            (Some(assignment), _) => assignment
                .first()
                .map_or(0, |r| i16::try_from(r.len()).unwrap_or(i16::MAX)),
            (None, -1) => self.config.default_replication_factor,
            (None, n) => n,
        };
        self.topic_config(&configs)?;
        let available = cluster
            .image()
            .brokers
            .values()
            .filter(|b| b.is_eligible())
            .count();
        if replication_factor < 1 || replication_factor as usize > available {
            return Err(BrokerError::InvalidReplicationFactor {
                requested: replication_factor,
                available: i32::try_from(available).unwrap_or(i32::MAX),
            });
        }
        if self.metadata.topic(name).is_some() {
            return Err(BrokerError::TopicAlreadyExists(name.to_string()));
        }
        let id = random_uuid();
        if validate_only {
            return Ok(TopicMetadata {
                name: name.to_string(),
                id: id.to_string(),
                partitions,
                replication_factor,
                configs,
            });
        }
        cluster
            .propose(controller::MetadataCommand::CreateTopic {
                name: name.to_string(),
                topic_id: controller::TopicId(u128::from_be_bytes(id.0)),
                partitions,
                replication_factor: i32::from(replication_factor),
                assignment,
                configs,
            })
            .await?;
        cluster
            .wait_for_image(crate::cluster::PROPOSE_TIMEOUT, |image| {
                image.topics.contains_key(name)
            })
            .await?;
        // The metadata task applies the image right after; the answer must already show it.
        self.metadata
            .wait_for(METADATA_APPLY_TIMEOUT, |metadata| {
                metadata.topic(name).is_some()
            })
            .await?;
        let topic = self
            .metadata
            .topic(name)
            .ok_or(BrokerError::RequestTimedOut)?;
        tracing::info!(topic = %name, partitions, replication_factor, "created topic");
        Ok(topic)
    }

    /// Tells waiting requests (long-polling fetches) that a shutdown began.
    pub fn begin_shutdown(&self) {
        self.shutting_down.send_replace(true);
    }

    /// Whether a shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutting_down.borrow()
    }

    /// Completes once a shutdown has begun (at once if it already has).
    pub async fn shutdown_begun(&self) {
        let mut receiver = self.shutting_down.subscribe();
        let _ = receiver.wait_for(|begun| *begun).await;
    }

    /// Closes every log cleanly; the last step of a shutdown.
    pub fn shutdown(&self) {
        self.replicas.close_all();
    }
}
