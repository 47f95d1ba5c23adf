//! Runnel's broker: the network server, the Kafka request handlers, the partitions it hosts
//! and the topic metadata, on top of the `protocol` (wire codec) and `storage` (partition log)
//! crates. It opens sockets and files; the codec and the log below it do not.
//!
//! Layering: `protocol` <- `storage` <- `broker` <- `cli`. Start with [`run`].

mod acl_store;
pub mod authorization;
mod blocking;
pub mod broker;
pub mod client_quotas;
pub mod clock;
pub mod cluster;
pub mod cluster_config;
pub mod config;
pub mod config_admin;
pub mod config_keys;
mod console;
pub mod consumer_offsets;
pub mod error;
pub mod fetch_session;
pub mod group_configs;
pub mod group_coordinator;
mod group_txn;
pub mod handlers;
mod http_config_keys;
pub mod internal_log;
mod log_cleaner;
pub mod log_validator;
pub mod metadata;
pub mod metadata_writer;
pub mod metrics;
pub mod partitions;
pub mod producer_ids;
mod quota_store;
pub mod replica;
pub mod replica_selector;
pub mod replication_config_keys;
pub mod replication_quota;
pub mod replication_rules;
mod scram_credentials;
pub mod security_config_keys;
mod server;
pub mod share;
pub mod topic_config;
pub mod txn_coordinator;
pub mod txn_markers;
mod txn_verification;
mod upkeep;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use broker::Broker;
pub use config::BrokerConfig;
pub use error::BrokerError;

/// A started broker: its address and the handle that stops it.
pub struct RunningBroker {
    pub broker: Arc<Broker>,
    /// The first Kafka listener's address.
    pub local_addr: SocketAddr,
    /// Every Kafka listener's name and address.
    pub listener_addrs: Vec<(String, SocketAddr)>,
    /// The HTTP listener's address (`http.listeners`), when one is served.
    pub http_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    /// One accept loop per listener.
    servers: Vec<tokio::task::JoinHandle<()>>,
    /// The group coordinator's timer task; it ends when the shutdown begins.
    group_timers: tokio::task::JoinHandle<()>,
    /// The transaction coordinator's timer task; it ends when the shutdown begins.
    txn_timers: tokio::task::JoinHandle<()>,
    /// Opens and replays `__consumer_offsets` after the listener is serving; taken once it
    /// has been awaited.
    group_loader: Option<tokio::task::JoinHandle<()>>,
    upkeep: std::thread::JoinHandle<()>,
    cleaner: log_cleaner::LogCleaner,
    /// A replicated cluster's tasks (controller listener, metadata, registration, ISR).
    cluster_tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningBroker {
    /// Completes once the group coordinator has started, or its loader ended without starting
    /// it (tests; clients just retry).
    pub async fn wait_for_groups(&mut self) {
        let Some(mut loader) = self.group_loader.take() else {
            return;
        };
        let loader_ended = tokio::select! {
            _ = self.broker.groups.started() => false,
            _ = &mut loader => true,
        };
        if !loader_ended {
            self.group_loader = Some(loader);
        }
    }

    /// Stops accepting, lets open connections finish their request, and closes every log
    /// cleanly (flush, clean-shutdown marker).
    pub async fn shutdown(self) {
        // In a cluster, leadership moves to other replicas before this node stops serving.
        if let Some(cluster) = self.broker.cluster.get() {
            cluster.controlled_shutdown().await;
        }
        self.stop().await;
    }

    /// Stops like [`RunningBroker::shutdown`] but without Kafka's controlled shutdown: the
    /// cluster learns of it only when the session times out, as after a crash (tests).
    pub async fn stop_without_controlled_shutdown(self) {
        self.stop().await;
    }

    async fn stop(self) {
        // Long-polling fetches answer now instead of holding their connection open.
        self.broker.begin_shutdown();
        let _ = self.shutdown.send(true);
        for server in self.servers {
            let _ = server.await;
        }
        let _ = self.group_timers.await;
        let _ = self.txn_timers.await;
        for task in self.cluster_tasks {
            let _ = task.await;
        }
        if let Some(cluster) = self.broker.cluster.get()
            && let cluster::quorum::Quorum::Local(node) = &cluster.quorum
            && let Err(error) = node.shutdown().await
        {
            tracing::warn!(%error, "stopping the controller");
        }
        // Logs it opens after this point would not be closed cleanly.
        if let Some(loader) = self.group_loader {
            let _ = loader.await;
        }
        let broker = self.broker.clone();
        let upkeep = self.upkeep;
        let cleaner = self.cleaner;
        let _ = tokio::task::spawn_blocking(move || {
            cleaner.stop();
            let _ = upkeep.join();
            broker.shutdown()
        })
        .await;
        // Every log is flushed and closed: the next start may claim a clean shutdown, unless a
        // log went offline (its data is not known to be whole).
        if let Some(cluster) = self.broker.cluster.get() {
            let epoch = cluster.broker_epoch();
            let offline = self
                .broker
                .replicas
                .all()
                .iter()
                .any(|p| p.offline_reason().is_some());
            if epoch >= 0
                && !offline
                && let Err(error) = cluster::recovery::write_clean_shutdown_epoch(
                    &self.broker.config.log_dir,
                    epoch,
                )
            {
                tracing::warn!(%error, "writing the clean-shutdown marker");
            }
        }
    }
}

/// Opens the broker's state and starts serving on every Kafka listener (all but the
/// controller's), each with its security protocol. Returns once the listeners are bound, so
/// the first request can be served right away.
pub async fn run(mut config: BrokerConfig) -> Result<RunningBroker, BrokerError> {
    let mut bound = Vec::new();
    let wanted: Vec<config::Listener> = config.broker_listeners().into_iter().cloned().collect();
    for wanted in wanted {
        // TLS stores and SASL settings are checked before anything opens.
        let served = server::listener::ServedListener::from_config(&config, &wanted)
            .map_err(|e| BrokerError::Config(e.to_string()))?;
        let address = wanted
            .socket_addr()
            .map_err(|e| BrokerError::Config(e.to_string()))?;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| BrokerError::Config(format!("binding listener {}: {e}", wanted.name)))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| BrokerError::io("reading the listener address", e))?;
        // A listener on port 0 (tests) advertises the port it got.
        for advertised in &mut config.advertised_listeners {
            if advertised.name == wanted.name && advertised.port == 0 {
                advertised.port = local_addr.port();
            }
        }
        bound.push((listener, Arc::new(served), local_addr));
    }
    let local_addr = bound[0].2;
    // Before the broker's state opens, so a listener that cannot bind leaves nothing behind.
    let http = server::http::bind(&config).await?;
    let http_addr = http.as_ref().and_then(|l| l.local_addr().ok());
    let listener_addrs = bound
        .iter()
        .map(|(_, served, addr)| (served.name.to_string(), *addr))
        .collect();
    let broker = tokio::task::spawn_blocking(move || Broker::open(config))
        .await
        .map_err(|e| BrokerError::Config(format!("opening the broker: {e}")))??;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let upkeep = upkeep::start(broker.clone());
    // Stops by itself once the broker shuts down.
    let _share_upkeep = share::start_upkeep(broker.clone());
    let cleaner = log_cleaner::LogCleaner::start(broker.clone());
    let cluster_tasks = match broker
        .config
        .cluster()
        .map_err(|e| BrokerError::Config(e.to_string()))?
    {
        Some(cluster_config) => {
            cluster::start(&broker, cluster_config, shutdown_rx.clone())
                .await?
                .handles
        }
        None => Vec::new(),
    };
    // After the cluster is set up, so every connection sees it (and waits for the catch-up).
    let connections = Arc::new(tokio::sync::Semaphore::new(broker.config.connections_max));
    let mut servers: Vec<tokio::task::JoinHandle<()>> = bound
        .into_iter()
        .map(|(listener, served, _)| {
            tokio::spawn(server::serve(
                broker.clone(),
                listener,
                served,
                connections.clone(),
                shutdown_rx.clone(),
            ))
        })
        .collect();
    if let Some(listener) = http {
        tracing::info!(address = ?http_addr, "HTTP listener (/metrics)");
        servers.push(tokio::spawn(server::http::serve(
            broker.clone(),
            listener,
            shutdown_rx.clone(),
        )));
    }
    let group_loader = if broker.cluster.get().is_some() {
        tokio::spawn(cluster::start_groups(broker.clone(), shutdown_rx.clone()))
    } else {
        let broker = broker.clone();
        tokio::spawn(async move {
            // A single node hosts the one replica of each partition.
            if let Err(error) = broker.start_groups(1).await {
                tracing::error!(%error, "starting the group coordinator");
            }
        })
    };
    let group_timers = tokio::spawn(group_coordinator::GroupCoordinatorService::run_timers(
        broker.clone(),
    ));
    let txn_timers = tokio::spawn(txn_coordinator::TxnCoordinatorService::run_timers(
        broker.clone(),
    ));
    tracing::info!(%local_addr, cluster_id = broker.metadata.cluster_id(), "broker started");
    Ok(RunningBroker {
        broker,
        local_addr,
        listener_addrs,
        http_addr,
        shutdown,
        servers,
        group_timers,
        txn_timers,
        group_loader: Some(group_loader),
        upkeep,
        cleaner,
        cluster_tasks,
    })
}
