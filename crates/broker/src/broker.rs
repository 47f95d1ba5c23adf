//! The broker's shared state (`Broker`): configuration, topic metadata and the writer that
//! changes it (`metadata_writer.rs`), hosted partitions, and what several handlers share
//! (resolving a topic's config).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::fetch_session::{FETCH_SESSIONS_MAX, FetchSessionCache};
use crate::group_coordinator::GroupCoordinatorService;
use crate::metadata::MetadataStore;
use crate::metadata_writer::MetadataWriter;
use crate::partitions::ReplicaManager;
use crate::producer_ids::ProducerIdManager;
use crate::topic_config::TopicConfig;

/// Everything a request handler can reach.
pub struct Broker {
    pub config: BrokerConfig,
    pub metadata: MetadataStore,
    pub replicas: ReplicaManager,
    /// Ids for idempotent producers (InitProducerId), unique across restarts.
    pub producer_ids: ProducerIdManager,
    /// Open fetch sessions (KIP-227).
    pub fetch_sessions: FetchSessionCache,
    /// Share groups' share-partitions and share sessions (KIP-932).
    pub shares: crate::share::ShareState,
    /// Consumer groups and committed offsets, one shard per `__consumer_offsets` partition.
    pub groups: GroupCoordinatorService,
    /// Transactions, one shard per `__transaction_state` partition (`txn_coordinator.rs`).
    pub transactions: crate::txn_coordinator::TxnCoordinatorService,
    /// This node's part in a replicated cluster; unset on a single node.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    /// Where topic changes are recorded (this node's files, or the metadata quorum); chosen
    /// from the configuration when the broker opens.
    pub metadata_writer: MetadataWriter,
    /// Turns true when a shutdown begins, so long-polling requests answer at once.
    shutting_down: tokio::sync::watch::Sender<bool>,
    pub started_at: Instant,
    /// The one clock every rule reads (`clock.rs`).
    pub clock: crate::clock::Clock,
    /// `authorizer.class.name`'s authorizer; `None` authorizes everything (`authorization.rs`).
    pub authorizer: Option<security::acl::Authorizer>,
    /// Client quota sensors (`client_quotas.rs`).
    pub client_quotas: crate::client_quotas::ClientQuotaManager,
    /// Request and connection counters (`metrics`).
    pub metrics: crate::metrics::BrokerMetrics,
    /// Replication throttles' measured rates (`replication_quota.rs`).
    pub replication_quotas: crate::replication_quota::ReplicationQuotas,
}

impl Broker {
    /// Milliseconds since the Unix epoch, from the broker's clock.
    pub fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    /// The replication rules' time ([`crate::clock::monotonic_ms`]): followers' lag, ISR
    /// proposals in flight. A step of the wall clock must neither drop every follower from the
    /// ISR nor hold an ISR change back for the step's length.
    pub fn replica_now_ms(&self) -> i64 {
        crate::clock::monotonic_ms()
    }

    /// The group coordinator's time ([`crate::clock::steady_wall_ms`]): its session and
    /// rebalance timers must not follow steps of the wall clock.
    pub fn group_now_ms(&self) -> i64 {
        crate::clock::steady_wall_ms()
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
        let transactions = crate::txn_coordinator::TxnCoordinatorService::new(&config);
        let metadata_writer = MetadataWriter::for_config(&config);
        let authorizer = crate::authorization::from_config(&config).map_err(BrokerError::Config)?;
        let client_quotas = crate::client_quotas::ClientQuotaManager::new(&config, clock.clone());
        let shares = crate::share::share_state(&config);
        let broker = Broker {
            config,
            metadata,
            replicas,
            producer_ids,
            fetch_sessions: FetchSessionCache::new(FETCH_SESSIONS_MAX),
            shares,
            groups,
            transactions,
            cluster: std::sync::OnceLock::new(),
            metadata_writer,
            shutting_down: tokio::sync::watch::Sender::new(false),
            started_at: Instant::now(),
            client_quotas,
            metrics: Default::default(),
            replication_quotas: Default::default(),
            clock,
            authorizer,
        };
        // In a replicated cluster the metadata log says which partitions to open.
        let local_topics = match broker.metadata_writer {
            MetadataWriter::SingleNode => broker.metadata.topics(),
            MetadataWriter::Quorum => Vec::new(),
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

    /// Creates `__consumer_offsets` when absent (with `replication_factor` replicas), opens its
    /// partitions and replays them into the group coordinator (on the blocking pool). Runs
    /// once, off the start-up path: until it finishes, FindCoordinator answers
    /// COORDINATOR_NOT_AVAILABLE and clients retry, as they do while Kafka loads.
    pub async fn start_groups(
        self: &Arc<Self>,
        replication_factor: i16,
    ) -> Result<(), BrokerError> {
        let partitions = crate::consumer_offsets::ensure_topic(self, replication_factor).await?;
        let broker = self.clone();
        crate::blocking::on_blocking_pool("loading the group coordinator", move || {
            broker.groups.start(&broker, partitions);
            Ok(())
        })
        .await
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
