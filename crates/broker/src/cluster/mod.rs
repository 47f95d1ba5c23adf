//! A broker in a replicated cluster: this node's controller (a voter of the metadata quorum,
//! serving the controller listener), its registration and heartbeats, the tasks that follow the
//! metadata log (`metadata_sync.rs`), fetch as a follower (`fetcher.rs`) and propose ISR
//! changes as a leader, and the helpers handlers use to send admin changes to the active
//! controller.
//!
//! A node with the controller role runs a voter of the metadata quorum (`controller_node.rs`);
//! a broker-only node reaches the voters over their controller listeners (`quorum.rs`). See
//! docs/internals/replication.md.

pub mod client;
pub mod controller_node;
pub mod fetcher;
pub mod metadata_folder;
pub mod metadata_sync;
pub mod peer_security;
pub mod peers;
pub mod quorum;
pub mod recovery;
pub mod self_fencing;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use controller::{
    ControllerClient, ControllerError, MetadataCommand, MetadataImage, Outcome, QuorumError,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::cluster_config::ClusterConfig;
use crate::error::BrokerError;
use crate::replica::BrokerId;
use quorum::Quorum;

/// How long an admin change may take to reach the active controller and commit.
pub const PROPOSE_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest a controlled shutdown waits for the controller and for leadership to move.
const CONTROLLED_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often leaders look for ISR changes to propose.
const ISR_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// This node's part in the cluster.
pub struct Cluster {
    pub config: ClusterConfig,
    pub local_id: BrokerId,
    pub quorum: Quorum,
    /// This broker's epoch from its registration; -1 until registered.
    broker_epoch: AtomicI64,
    image: watch::Receiver<Arc<MetadataImage>>,
    /// Follower fetchers by leader.
    pub(crate) fetchers: Mutex<HashMap<BrokerId, JoinHandle<()>>>,
    /// Woken after each metadata image is applied to the partitions (roles may have changed),
    /// so an idle fetcher learns of partitions to follow without polling.
    pub(crate) roles_changed: tokio::sync::Notify,
    /// This broker's contact with the controller (`self_fencing.rs`).
    pub serving: self_fencing::ServingState,
    /// Connections to other brokers for the transaction paths (`peers.rs`).
    pub peers: peers::Peers,
}

/// The tasks a clustered broker runs; they end when the shutdown begins.
pub struct ClusterTasks {
    pub handles: Vec<JoinHandle<()>>,
}

impl Cluster {
    /// The metadata image as last applied on this node.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.borrow().clone()
    }

    /// The image as it changes.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.clone()
    }

    pub fn broker_epoch(&self) -> i64 {
        self.broker_epoch.load(Ordering::Acquire)
    }

    /// The active controller's id, if one is known.
    pub fn active_controller(&self) -> Option<BrokerId> {
        self.quorum
            .active_controller()
            .and_then(|id| i32::try_from(id).ok())
    }

    /// The address of `broker`'s inter-broker listener, from its registration.
    pub fn endpoint(&self, broker: BrokerId) -> Option<String> {
        let image = self.image();
        let registration = image.brokers.get(&broker)?;
        let listener = registration
            .listeners
            .iter()
            .find(|l| l.name == self.config.inter_broker_listener_name)
            .or_else(|| registration.listeners.first())?;
        Some(format!("{}:{}", listener.host, listener.port))
    }

    /// Sends `command` to the active controller and waits until it commits, then until this
    /// node's image has applied it.
    pub async fn propose(&self, command: MetadataCommand) -> Result<Outcome, BrokerError> {
        match self.quorum.propose(command, PROPOSE_TIMEOUT).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(error)) => Err(controller_error(error)),
            Err(error) => Err(quorum_error(error)),
        }
    }

    /// Kafka's controlled shutdown: asks the controller to move leadership away from this
    /// broker and waits (bounded) until no partition is led here, so clients move on before
    /// the process stops.
    pub async fn controlled_shutdown(&self) {
        let broker_epoch = self.broker_epoch();
        if broker_epoch < 0 {
            return;
        }
        let command = MetadataCommand::ControlledShutdown {
            broker_id: self.local_id,
            broker_epoch,
        };
        match tokio::time::timeout(CONTROLLED_SHUTDOWN_TIMEOUT, self.propose(command)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "controlled shutdown refused; stopping anyway");
                return;
            }
            Err(_) => {
                tracing::warn!("controlled shutdown timed out; stopping anyway");
                return;
            }
        }
        let local = self.local_id;
        let moved = self
            .wait_for_image(CONTROLLED_SHUTDOWN_TIMEOUT, |image| {
                image
                    .topics
                    .values()
                    .flat_map(|t| &t.partitions)
                    .all(|p| p.leader != Some(local) || p.replicas.len() == 1)
            })
            .await;
        match moved {
            Ok(()) => tracing::info!("controlled shutdown: leadership moved away"),
            Err(_) => tracing::warn!("controlled shutdown: some partitions still led here"),
        }
    }

    /// Waits (bounded) until the local image satisfies `ready`.
    pub async fn wait_for_image(
        &self,
        timeout: Duration,
        ready: impl Fn(&MetadataImage) -> bool,
    ) -> Result<(), BrokerError> {
        let mut receiver = self.image.clone();
        let waited = tokio::time::timeout(timeout, receiver.wait_for(|image| ready(image))).await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            _ => Err(BrokerError::RequestTimedOut),
        }
    }
}

/// Maps a controller's refusal to the broker's error (and so to a Kafka error code).
pub fn controller_error(error: ControllerError) -> BrokerError {
    BrokerError::Controller(error)
}

fn quorum_error(error: QuorumError) -> BrokerError {
    BrokerError::NotController(error.to_string())
}

/// The cluster id every node of a replicated cluster reports: `cluster.id` when set, else
/// derived from `controller.quorum.voters` (the same on every node), as 22 base64 characters.
/// A dynamic quorum derives it from `controller.quorum.bootstrap.servers`: its nodes set
/// `cluster.id`, or list the same bootstrap servers.
pub fn cluster_id(config: &crate::config::BrokerConfig) -> Option<String> {
    if !config.is_clustered() {
        return None;
    }
    let voters = match config.value("controller.quorum.voters") {
        Some(voters) if !voters.trim().is_empty() => voters,
        _ => config
            .value("controller.quorum.bootstrap.servers")
            .unwrap_or(""),
    };
    let mut normalized: Vec<&str> = voters.split(',').map(str::trim).collect();
    normalized.sort_unstable();
    let text = normalized.join(",");
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(4).enumerate() {
        let crc = fnv1a(&format!("{i}:{text}"));
        chunk.copy_from_slice(&crc.to_be_bytes());
    }
    Some(protocol::Uuid(bytes).to_string())
}

fn fnv1a(text: &str) -> u32 {
    // FNV-1a: stable across builds and platforms, enough to tell clusters apart.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Starts this node's controller and the broker's cluster tasks. Returns once the controller
/// listener is bound; registration and metadata follow in the background.
pub async fn start(
    broker: &Arc<Broker>,
    config: ClusterConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<ClusterTasks, BrokerError> {
    let local_id = broker.config.node_id;
    let remote_images = watch::Sender::new(Arc::new(MetadataImage::default()));
    let (quorum, mut handles) = match &config.controller_listener {
        Some(_) => {
            let cluster_id = broker.metadata.cluster_id().to_string();
            let (node, handles) =
                controller_node::start(&config, local_id, &cluster_id, &shutdown).await?;
            (Quorum::Local(node), handles)
        }
        None => {
            let client = Arc::new(ControllerClient::new(
                config.voters.clone(),
                config.controller_tls.clone(),
            ));
            let follower = tokio::spawn(quorum::follow(
                client.clone(),
                remote_images.clone(),
                shutdown.clone(),
            ));
            (Quorum::Remote(client), vec![follower])
        }
    };
    let cluster = Arc::new(Cluster {
        image: quorum.subscribe(&remote_images),
        config,
        local_id,
        quorum,
        broker_epoch: AtomicI64::new(-1),
        fetchers: Mutex::new(HashMap::new()),
        roles_changed: tokio::sync::Notify::new(),
        serving: self_fencing::ServingState::default(),
        peers: peers::Peers::default(),
    });
    broker
        .cluster
        .set(cluster.clone())
        .map_err(|_| BrokerError::Config("the cluster was started twice".into()))?;
    handles.push(tokio::spawn(metadata_sync::run(
        broker.clone(),
        cluster.clone(),
        shutdown.clone(),
    )));
    handles.push(tokio::spawn(self_fencing::run(
        broker.clone(),
        cluster.clone(),
        shutdown.clone(),
    )));
    handles.push(tokio::spawn(registration(
        broker.clone(),
        cluster.clone(),
        shutdown.clone(),
    )));
    handles.push(tokio::spawn(isr_changes(
        broker.clone(),
        cluster.clone(),
        shutdown,
    )));
    Ok(ClusterTasks { handles })
}

/// Registers this broker (a new broker epoch per process start), then heartbeats; registers
/// again when the controller no longer knows the epoch.
async fn registration(
    broker: Arc<Broker>,
    cluster: Arc<Cluster>,
    mut shutdown: watch::Receiver<bool>,
) {
    let incarnation_id = u128::from_be_bytes(crate::metadata::random_uuid().0);
    let listeners: Vec<controller::Listener> = broker
        .config
        .advertised_listeners
        .iter()
        .filter(|l| {
            cluster
                .config
                .controller_listener
                .as_ref()
                .is_none_or(|c| c.name != l.name)
        })
        .map(|l| controller::Listener {
            name: l.name.clone(),
            host: l.host.clone(),
            port: l.port,
        })
        .collect();
    let interval = Duration::from_millis(cluster.config.broker_heartbeat_interval_ms);
    // The epoch a clean stop ended; later registrations of this process name the one before
    // (its logs lost nothing in between).
    let mut previous_broker_epoch = recovery::take_clean_shutdown_epoch(&broker.config.log_dir);
    tracing::info!(previous_broker_epoch, "clean-shutdown marker read");
    loop {
        if *shutdown.borrow() {
            return;
        }
        if cluster.broker_epoch() < 0 {
            let command = MetadataCommand::RegisterBroker {
                broker_id: cluster.local_id,
                incarnation_id,
                rack: broker.config.broker_rack.clone(),
                listeners: listeners.clone(),
                previous_broker_epoch,
            };
            match cluster.propose(command).await {
                Ok(Outcome::BrokerRegistered { broker_epoch }) => {
                    tracing::info!(broker_epoch, "registered with the controller");
                    previous_broker_epoch = broker_epoch;
                    cluster.broker_epoch.store(broker_epoch, Ordering::Release);
                    continue;
                }
                Ok(other) => tracing::warn!(?other, "unexpected answer to the registration"),
                Err(error) => tracing::debug!(%error, "registration failed; retrying"),
            }
        } else {
            let reply = cluster
                .quorum
                .heartbeat(
                    cluster.local_id,
                    cluster.broker_epoch(),
                    false,
                    interval.max(Duration::from_secs(1)),
                )
                .await;
            match reply {
                Ok(reply) => cluster
                    .serving
                    .record_heartbeat(&reply, crate::clock::monotonic_ms()),
                Err(QuorumError::Controller(ControllerError::StaleBrokerEpoch { .. }))
                | Err(QuorumError::Controller(ControllerError::UnknownBroker { .. })) => {
                    cluster.broker_epoch.store(-1, Ordering::Release);
                    continue;
                }
                Err(error) => tracing::debug!(%error, "heartbeat failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Creates `__consumer_offsets` through the controller once `offsets.topic.replication.factor`
/// brokers are registered and unfenced (as Kafka waits for them), then starts the group
/// coordinator, whose shards load on the leaders of their partitions.
pub async fn start_groups(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    use coordinator::OFFSETS_TOPIC;
    let Some(cluster) = broker.cluster.get().cloned() else {
        return;
    };
    let replication_factor: i16 = broker
        .config
        .value("offsets.topic.replication.factor")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut images = cluster.subscribe();
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Marked seen before the checks, so a change in between wakes the wait below.
        images.borrow_and_update();
        let eligible = cluster
            .image()
            .brokers
            .values()
            .filter(|b| b.is_eligible())
            .count();
        let ready = cluster.broker_epoch() >= 0 && eligible >= replication_factor.max(1) as usize;
        if ready || broker.metadata.topic(OFFSETS_TOPIC).is_some() {
            match broker.start_groups(replication_factor).await {
                Ok(()) => return,
                Err(error) => tracing::debug!(%error, "creating {OFFSETS_TOPIC}; retrying"),
            }
        }
        // Brokers register and the topic appears through metadata images; the registration
        // answer (our broker epoch) lands right after the image that records it, so the wait
        // is also bounded, and a failed creation is retried after the same pause.
        tokio::select! {
            _ = images.changed() => {}
            _ = tokio::time::sleep(GROUPS_START_RECHECK) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// The longest `start_groups` waits for a metadata image before checking again (and the pause
/// after a failed creation of `__consumer_offsets`).
const GROUPS_START_RECHECK: Duration = Duration::from_millis(500);

/// Leaders propose the ISR changes their followers' progress calls for. The same pass reports
/// a failed log directory ([`report_log_dir_failure`]).
async fn isr_changes(
    broker: Arc<Broker>,
    cluster: Arc<Cluster>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut reported_failure_epoch = -1;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(ISR_CHECK_INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
        let broker_epoch = cluster.broker_epoch();
        if broker_epoch < 0 {
            continue;
        }
        if reported_failure_epoch != broker_epoch
            && report_log_dir_failure(&broker, &cluster, broker_epoch).await
        {
            reported_failure_epoch = broker_epoch;
        }
        recovery::report_replica_logs(&broker, &cluster, broker_epoch).await;
        let lag_max_ms = cluster.config.replica_lag_time_max_ms;
        // Every change this pass found goes in one proposal (one log entry), as a Kafka
        // leader's AlterPartition request carries many partitions: after a restart thousands of
        // replicas rejoin at once, and a proposal each made that a queue of thousands.
        let mut changes = Vec::new();
        let mut pending = Vec::new();
        for partition in broker.replicas.all() {
            let Some((state, new_isr)) =
                partition.take_isr_change(lag_max_ms, broker.replica_now_ms())
            else {
                continue;
            };
            tracing::info!(
                partition = ?partition.topic_partition,
                from = ?state.isr,
                to = ?new_isr,
                "proposing an ISR change"
            );
            changes.push(controller::IsrChange {
                topic_id: controller::TopicId(u128::from_be_bytes(partition.topic_id.0)),
                partition: partition.topic_partition.partition,
                leader_epoch: state.leader_epoch,
                partition_epoch: state.partition_epoch,
                new_isr,
            });
            let proposed_at = state.pending_isr.as_ref().map_or(-1, |(_, at)| *at);
            pending.push((partition.clone(), proposed_at));
        }
        if changes.is_empty() {
            continue;
        }
        let command = MetadataCommand::AlterPartitions {
            broker_id: cluster.local_id,
            broker_epoch,
            changes,
        };
        let cluster = cluster.clone();
        tokio::spawn(async move {
            match cluster.quorum.propose(command, PROPOSE_TIMEOUT).await {
                Ok(Ok(controller::Outcome::IsrChanges { refused, .. })) => {
                    // Refused for good (a stale epoch, an ineligible replica): not in flight.
                    for (index, error) in refused {
                        tracing::info!(%error, "ISR change refused");
                        if let Some((partition, proposed_at)) = pending.get(index) {
                            partition.isr_change_refused(*proposed_at);
                        }
                    }
                }
                Ok(Ok(_)) => {}
                // The whole batch was refused (this broker's epoch is stale).
                Ok(Err(error)) => {
                    tracing::info!(%error, "ISR changes refused");
                    for (partition, proposed_at) in &pending {
                        partition.isr_change_refused(*proposed_at);
                    }
                }
                // The outcome is unknown: they stay pending until metadata or the retry
                // interval settles them.
                Err(error) => tracing::info!(%error, "ISR changes not confirmed"),
            }
        });
    }
}

/// When a partition's log went offline (a write or sync failed: EIO, a full disk), tells the
/// controller that this broker's log directory failed (`LogDirFailed`, Kafka's offline log
/// directory in the broker heartbeat), so that leadership moves to in-sync replicas elsewhere
/// and this broker leaves every ISR; the node stays up. One directory holds every partition, so
/// one failed log stands for all. Returns true once the controller has taken it.
async fn report_log_dir_failure(broker: &Broker, cluster: &Cluster, broker_epoch: i64) -> bool {
    let failed = broker.replicas.all().into_iter().find_map(|p| {
        p.offline_reason()
            .map(|reason| (p.topic_partition.clone(), reason))
    });
    let Some((partition, reason)) = failed else {
        return false;
    };
    tracing::error!(
        ?partition,
        %reason,
        log_dir = %broker.config.log_dir.display(),
        "log directory failed: reporting it to the controller; its replicas stay offline until \
         this broker restarts"
    );
    let command = MetadataCommand::LogDirFailed {
        broker_id: cluster.local_id,
        broker_epoch,
    };
    match cluster.propose(command).await {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(%error, "reporting the failed log directory");
            false
        }
    }
}
