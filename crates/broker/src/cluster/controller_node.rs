//! This node's controller, when `process.roles` includes `controller`: a voter of the metadata
//! quorum (openraft) serving the controller listener, formed from `controller.quorum.voters`
//! (static) or joined through `controller.quorum.bootstrap.servers` (dynamic, KIP-853),
//! with the active controller's timer task. Combined nodes run it beside their broker;
//! controller-only nodes run only this ([`run_controller`]).

use std::sync::Arc;
use std::time::Duration;

use controller::{ControllerConfig, ControllerNode, TcpTransport};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cluster_config::ClusterConfig;
use crate::config::BrokerConfig;
use crate::error::BrokerError;

/// Starts the controller: binds its listener, opens its files, joins or forms the quorum, and
/// starts the listener and timer tasks (they end when `shutdown` turns true).
pub async fn start(
    config: &ClusterConfig,
    node_id: i32,
    cluster_id: &str,
    shutdown: &watch::Receiver<bool>,
) -> Result<(Arc<ControllerNode>, Vec<JoinHandle<()>>), BrokerError> {
    let listener = config
        .controller_listener
        .as_ref()
        .ok_or_else(|| BrokerError::Config("no controller listener".into()))?;
    let address = listener
        .socket_addr()
        .map_err(|e| BrokerError::Config(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| BrokerError::io("binding the controller listener", e))?;
    let mut controller_config = ControllerConfig::new(
        u64::try_from(node_id).map_err(|e| BrokerError::Config(e.to_string()))?,
        config.voters.clone(),
        config.metadata_dir.clone(),
    );
    controller_config.election_timeout_ms_min = config.election_timeout_ms;
    controller_config.election_timeout_ms_max = config.election_timeout_ms * 2;
    controller_config.heartbeat_interval_ms = (config.election_timeout_ms / 5).max(20);
    if !config.bootstrap_servers.is_empty() {
        let folder = super::metadata_folder::open(&config.metadata_dir, node_id, cluster_id)?;
        controller_config.dynamic = Some(controller::DynamicQuorum {
            directory_id: folder.directory_id,
            address: advertised_controller_address(config)?,
            bootstrap: config.voters.keys().copied().collect(),
            initial_voters: folder.initial_voters,
        });
    }
    let transport = Arc::new(TcpTransport::new(
        config.voters.clone(),
        config.controller_tls.clone(),
    ));
    let node = ControllerNode::start(controller_config, transport)
        .await
        .map_err(|e| BrokerError::Config(format!("starting the controller: {e}")))?;
    let node = Arc::new(node);
    let mut handles = vec![tokio::spawn(controller::serve_controller_listener(
        listener,
        node.clone(),
        shutdown.clone(),
        config.controller_tls.clone(),
    ))];
    node.bootstrap()
        .await
        .map_err(|e| BrokerError::Config(format!("forming the metadata quorum: {e}")))?;
    handles.push(controller::spawn_liveness(
        node.clone(),
        config.broker_session_timeout_ms,
        config.auto_leader_rebalance,
        Duration::from_millis(config.rebalance_interval_ms),
        shutdown.clone(),
    ));
    Ok((node, handles))
}

/// `runnel format`: prepares the metadata folder of a dynamic quorum's controller (as
/// `kafka-storage format` does): a new directory id and, with `standalone`, this controller as
/// the only voter of the quorum it forms at its first start. Answers the directory id.
pub fn format(config: &BrokerConfig, standalone: bool) -> Result<String, BrokerError> {
    let cluster = config
        .cluster()
        .map_err(|e| BrokerError::Config(e.to_string()))?
        .filter(|c| !c.bootstrap_servers.is_empty())
        .ok_or_else(|| {
            BrokerError::Config(
                "format prepares a dynamic quorum's controller: set \
                 controller.quorum.bootstrap.servers"
                    .into(),
            )
        })?;
    if cluster.controller_listener.is_none() {
        return Err(BrokerError::Config(
            "format prepares a controller: process.roles needs controller".into(),
        ));
    }
    let cluster_id = super::cluster_id(config).unwrap_or_default();
    super::metadata_folder::format(
        &cluster.metadata_dir,
        config.node_id,
        &cluster_id,
        &advertised_controller_address(&cluster)?,
        standalone,
    )
}

/// How the other controllers reach this one: the controller listener's `host:port`, with
/// `localhost` for an unspecified host (as Kafka's tools do).
pub fn advertised_controller_address(config: &ClusterConfig) -> Result<String, BrokerError> {
    let listener = config
        .controller_listener
        .as_ref()
        .ok_or_else(|| BrokerError::Config("no controller listener".into()))?;
    let host = match listener.host.as_str() {
        "" | "0.0.0.0" | "::" => "localhost",
        host => host,
    };
    Ok(if host.contains(':') {
        format!("[{host}]:{}", listener.port)
    } else {
        format!("{host}:{}", listener.port)
    })
}

/// A running controller-only node.
pub struct RunningController {
    pub node: Arc<ControllerNode>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningController {
    /// Stops serving and shuts the voter down; its files stay.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        if let Err(error) = self.node.shutdown().await {
            tracing::warn!(%error, "stopping the controller");
        }
    }
}

/// Runs a controller-only node (`process.roles=controller`): no Kafka listener, no partitions.
pub async fn run_controller(config: BrokerConfig) -> Result<RunningController, BrokerError> {
    let cluster = config
        .cluster()
        .map_err(|e| BrokerError::Config(e.to_string()))?
        .ok_or_else(|| {
            BrokerError::Config(
                "a controller needs controller.quorum.voters or controller.quorum.bootstrap.servers"
                    .into(),
            )
        })?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let cluster_id = super::cluster_id(&config).unwrap_or_default();
    let (node, tasks) = start(&cluster, config.node_id, &cluster_id, &shutdown_rx).await?;
    tracing::info!(node_id = config.node_id, "controller started");
    Ok(RunningController {
        node,
        shutdown,
        tasks,
    })
}
