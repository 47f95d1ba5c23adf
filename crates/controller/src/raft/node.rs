//! One controller of the metadata quorum: an openraft node with our log store, state machine
//! and transport, behind [`MetadataQuorum`], the interface the rest of Runnel will use.
//!
//! The active controller is the openraft leader. `propose` returns only once the command is
//! committed (on a majority's disks) and applied; a follower answers `NotController` with the
//! leader it knows, as KRaft answers NOT_CONTROLLER.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{Config, ServerState, SnapshotPolicy};

use super::log_store::LogStore;
use super::network::{ControllerTransport, Network, RaftNode, TransportError};
use super::rpc::{ActiveController, ControllerReply, ControllerRequest, ControllerService};
use super::state_machine::{Applied, StateMachineStore};
use super::types::{CommandResponse, NodeId, VoterNode};
use crate::command::{MetadataCommand, Outcome};
use crate::error::ControllerError;
use crate::image::MetadataImage;
use crate::liveness::{BROKER_SESSION_TIMEOUT_MS_DEFAULT, BrokerSessions};

/// Sends a request to another controller (the node's transport, type-erased).
pub(crate) type Forwarder = Arc<
    dyn Fn(
            NodeId,
            ControllerRequest,
        ) -> Pin<Box<dyn Future<Output = Result<ControllerReply, TransportError>> + Send>>
        + Send
        + Sync,
>;

/// Pause between attempts to reach the active controller.
const FORWARD_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// A learned address: the transport's [`ControllerTransport::learn`], type-erased.
pub(crate) type Learner = Arc<dyn Fn(NodeId, &str) + Send + Sync>;

/// How a controller of a dynamic quorum (KIP-853, `controller.quorum.bootstrap.servers`) is
/// known and finds the quorum.
#[derive(Debug, Clone)]
pub struct DynamicQuorum {
    /// `directory.id` of this node's metadata folder.
    pub directory_id: String,
    /// This node's controller listener, `host:port`, as the others reach it.
    pub address: String,
    /// The bootstrap servers, as ids the transport resolves.
    pub bootstrap: Vec<NodeId>,
    /// The voters to form a new quorum with when this node has no state (`runnel format
    /// --standalone`); empty: join an existing quorum as an observer.
    pub initial_voters: BTreeMap<NodeId, VoterNode>,
}

/// Settings of one controller.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// `node.id`.
    pub node_id: NodeId,
    /// `controller.quorum.voters`: id → `host:port` (empty on a dynamic quorum).
    pub voters: BTreeMap<NodeId, String>,
    /// Set on a dynamic quorum.
    pub dynamic: Option<DynamicQuorum>,
    /// The metadata log directory (`metadata.log.dir`, else the first of `log.dirs`).
    pub dir: PathBuf,
    pub election_timeout_ms_min: u64,
    pub election_timeout_ms_max: u64,
    pub heartbeat_interval_ms: u64,
    /// A snapshot is taken after this many entries since the last one.
    pub snapshot_entries_max: u64,
}

impl ControllerConfig {
    /// Kafka-like defaults (`controller.quorum.election.timeout.ms` is 1000).
    pub fn new(node_id: NodeId, voters: BTreeMap<NodeId, String>, dir: PathBuf) -> Self {
        ControllerConfig {
            node_id,
            voters,
            dynamic: None,
            dir,
            election_timeout_ms_min: 1000,
            election_timeout_ms_max: 2000,
            heartbeat_interval_ms: 200,
            snapshot_entries_max: 10_000,
        }
    }
}

/// Why the quorum could not take or answer a proposal.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    /// This controller is not the active one (Kafka: NOT_CONTROLLER).
    #[error("not the active controller (the active controller is {leader:?})")]
    NotController { leader: Option<NodeId> },
    /// The entry was appended but a new leader discarded it; it may or may not commit.
    #[error("the proposal was discarded by a leader change; its outcome is unknown")]
    Unknown,
    #[error("metadata quorum storage: {source}")]
    Storage {
        #[from]
        source: io::Error,
    },
    /// openraft stopped (a storage error is fatal to it by design) or rejected the call.
    #[error("metadata quorum: {message}")]
    Raft { message: String },
    /// No active controller answered within the caller's bound.
    #[error("no active controller answered in time")]
    Timeout,
    /// The active controller refused a heartbeat (unknown broker, stale epoch).
    #[error(transparent)]
    Controller(#[from] ControllerError),
}

/// The metadata quorum as Runnel sees it.
pub trait MetadataQuorum: Send + Sync {
    /// Replicates `command`; answers with what applying it returned, once committed.
    fn propose(
        &self,
        command: MetadataCommand,
    ) -> impl Future<Output = Result<Result<Outcome, ControllerError>, QuorumError>> + Send;
    /// The image as of the last applied entry on this controller.
    fn image(&self) -> MetadataImage;
    /// The active controller this node knows of.
    fn active_controller(&self) -> Option<NodeId>;
}

/// One running controller.
pub struct ControllerNode {
    config: ControllerConfig,
    raft: RaftNode,
    applied: Arc<Mutex<Applied>>,
    service: ControllerService,
    forward: Forwarder,
    learn: Learner,
    published: Arc<tokio::sync::watch::Sender<Arc<MetadataImage>>>,
    /// The dynamic quorum's membership task (joining, the voting guard).
    membership_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ControllerNode {
    /// Opens the files in `config.dir` and starts the node (it rejoins its quorum if it has
    /// state; a fresh quorum needs [`ControllerNode::bootstrap`] once).
    pub async fn start<T: ControllerTransport>(
        config: ControllerConfig,
        transport: Arc<T>,
    ) -> Result<Self, QuorumError> {
        let log_store = LogStore::open(&config.dir.join("log"))?;
        let state_machine = StateMachineStore::open(&config.dir.join("state"))?;
        let applied = Arc::clone(&state_machine.applied);
        let published = Arc::clone(&state_machine.published);
        let forward: Forwarder = {
            let transport = Arc::clone(&transport);
            Arc::new(move |target, request| {
                let transport = Arc::clone(&transport);
                Box::pin(async move { transport.call(target, request).await })
            })
        };
        let learn: Learner = {
            let transport = Arc::clone(&transport);
            Arc::new(move |target, address| transport.learn(target, address))
        };
        let raft_config = Config {
            cluster_name: "runnel-metadata".into(),
            election_timeout_min: config.election_timeout_ms_min,
            election_timeout_max: config.election_timeout_ms_max,
            heartbeat_interval: config.heartbeat_interval_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_entries_max),
            max_in_snapshot_log_to_keep: 0,
            // A voter that lost its data folder (F22) is caught up from scratch; see bootstrap.
            allow_log_reversion: Some(true),
            ..Config::default()
        };
        let raft_config = raft_config.validate().map_err(|e| raft_error(&e))?;
        let raft = RaftNode::new(
            config.node_id,
            Arc::new(raft_config),
            Network::new(transport),
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| raft_error(&e))?;
        let sessions = Arc::new(Mutex::new(BrokerSessions::new(
            BROKER_SESSION_TIMEOUT_MS_DEFAULT,
        )));
        let service = ControllerService::new(
            raft.clone(),
            Arc::clone(&applied),
            sessions,
            Arc::clone(&published),
        );
        let node = ControllerNode {
            config,
            raft,
            applied,
            service,
            forward,
            learn,
            published,
            membership_task: Mutex::new(None),
        };
        if node.config.dynamic.is_some() {
            // Nothing votes before the membership says so (the task lifts it).
            node.service.set_may_vote(false);
            node.raft.runtime_config().elect(false);
        }
        Ok(node)
    }

    /// Forms the quorum from `controller.quorum.voters` when no voter has state yet (a new
    /// cluster; every voter may call this). A node that has state does nothing, and so does a
    /// node without state when another voter already belongs to a formed quorum: a voter that
    /// lost its data folder (F22) must not start a quorum of its own, whose first entry would
    /// conflict with the real one. The active controller then replicates to it from scratch
    /// (`allow_log_reversion`: openraft otherwise keeps probing at the follower's old matched
    /// index forever). Kafka also guards such a voter's vote with directory ids (KIP-853); that
    /// guard is not built: if the returning voter's vote helps elect a leader that misses a
    /// committed entry the lost copy held, metadata could be lost.
    pub async fn bootstrap(&self) -> Result<(), QuorumError> {
        if let Some(dynamic) = self.config.dynamic.clone() {
            return self.bootstrap_dynamic(dynamic).await;
        }
        if self.service.initialized() {
            return Ok(());
        }
        for &other in self.config.voters.keys() {
            if other == self.config.node_id {
                continue;
            }
            let probe = tokio::time::timeout(
                Duration::from_secs(1),
                (self.forward)(other, ControllerRequest::Probe),
            )
            .await;
            if let Ok(Ok(ControllerReply::Probed { initialized: true })) = probe {
                tracing::info!(
                    voter = other,
                    "the metadata quorum exists; waiting to be caught up"
                );
                return Ok(());
            }
        }
        let voters: BTreeMap<NodeId, VoterNode> = self
            .config
            .voters
            .iter()
            .map(|(id, addr)| (*id, VoterNode::at(addr)))
            .collect();
        self.initialize(voters).await
    }

    async fn initialize(&self, voters: BTreeMap<NodeId, VoterNode>) -> Result<(), QuorumError> {
        match self.raft.initialize(voters).await {
            Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(raft_error(&e)),
        }
    }

    /// A dynamic quorum's start: a node formatted with initial voters and no state forms the
    /// quorum (unless a bootstrap server already belongs to one); every node then follows its
    /// membership ([`super::membership_task`]): it joins as an observer until it is a member,
    /// and votes only while the membership names it a voter with its own directory id.
    async fn bootstrap_dynamic(&self, dynamic: DynamicQuorum) -> Result<(), QuorumError> {
        if !self.service.initialized() && !dynamic.initial_voters.is_empty() {
            let mut formed_elsewhere = false;
            for &server in &dynamic.bootstrap {
                let probe = tokio::time::timeout(
                    Duration::from_secs(1),
                    (self.forward)(server, ControllerRequest::Probe),
                )
                .await;
                if let Ok(Ok(ControllerReply::Probed { initialized: true })) = probe {
                    formed_elsewhere = true;
                }
            }
            if formed_elsewhere {
                tracing::warn!(
                    "this node was formatted to form a metadata quorum, but a bootstrap server                      already belongs to one: joining it as an observer instead"
                );
            } else {
                self.initialize(dynamic.initial_voters.clone()).await?;
            }
        }
        let task = super::membership_task::spawn(
            self.raft.clone(),
            self.service.clone(),
            Arc::clone(&self.learn),
            Arc::clone(&self.forward),
            self.config.node_id,
            dynamic,
        );
        *self.membership_task.lock().expect("poisoned") = Some(task);
        Ok(())
    }

    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    /// Whether this node is the active controller.
    pub fn is_active(&self) -> bool {
        self.raft.metrics().borrow_watched().state == ServerState::Leader
    }

    /// The index of the last entry applied to this node's image.
    pub fn last_applied_index(&self) -> Option<u64> {
        self.applied
            .lock()
            .expect("poisoned")
            .last_applied
            .map(|id| id.index)
    }

    /// The voters of the current membership.
    pub fn voter_ids(&self) -> BTreeSet<NodeId> {
        let applied = self.applied.lock().expect("poisoned");
        applied.membership.membership().voter_ids().collect()
    }

    /// The members of the membership in effect (voters and observers) with their addresses and
    /// directory ids, and which of them vote.
    pub fn members(&self) -> (BTreeMap<NodeId, VoterNode>, BTreeSet<NodeId>) {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        let membership = metrics.membership_config.membership();
        (
            membership
                .nodes()
                .map(|(id, node)| (*id, node.clone()))
                .collect(),
            membership.voter_ids().collect(),
        )
    }

    /// Whether this controller grants votes now (a dynamic quorum's guard; always on a static
    /// quorum).
    pub fn may_vote(&self) -> bool {
        self.service.may_vote()
    }

    /// Forces a snapshot now (tests; an operator command later).
    pub async fn snapshot(&self) -> Result<(), QuorumError> {
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| raft_error(&e))
    }

    /// Stops the node. Its files stay; `start` on the same directory resumes it.
    pub async fn shutdown(&self) -> Result<(), QuorumError> {
        if let Some(task) = self.membership_task.lock().expect("poisoned").take() {
            task.abort();
        }
        self.raft.shutdown().await.map_err(|e| raft_error(&e))
    }

    pub(crate) fn raft(&self) -> &RaftNode {
        &self.raft
    }

    /// What answers other nodes' requests to this one.
    pub fn service(&self) -> &ControllerService {
        &self.service
    }

    /// The image after every applied change (and after a snapshot is installed).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Arc<MetadataImage>> {
        self.published.subscribe()
    }

    /// Sends `request` to the active controller (this node when it is active), retrying while
    /// no controller is active or the one known moves, until `timeout`.
    fn active_controller_id(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }
}

impl MetadataQuorum for ControllerNode {
    async fn propose(
        &self,
        command: MetadataCommand,
    ) -> Result<Result<Outcome, ControllerError>, QuorumError> {
        match self.raft.client_write(command).await {
            Ok(response) => match response.data {
                CommandResponse(Some(result)) => Ok(result),
                CommandResponse(None) => Err(QuorumError::Raft {
                    message: "no response".into(),
                }),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Err(QuorumError::NotController {
                    leader: forward.leader_id,
                })
            }
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(_))) => {
                Err(QuorumError::Unknown)
            }
            Err(e) => Err(raft_error(&e)),
        }
    }

    fn image(&self) -> MetadataImage {
        self.applied.lock().expect("poisoned").image.clone()
    }

    fn active_controller(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }
}

fn raft_error(e: &impl std::fmt::Display) -> QuorumError {
    QuorumError::Raft {
        message: e.to_string(),
    }
}

impl ActiveController for ControllerNode {
    async fn to_active(
        &self,
        request: &(dyn Fn() -> ControllerRequest + Sync),
        timeout: Duration,
    ) -> Result<ControllerReply, QuorumError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut target = self.active_controller_id();
        loop {
            let reply = match target {
                Some(id) if id == self.config.node_id => Some(self.service.handle(request()).await),
                Some(id) => {
                    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                    match tokio::time::timeout(remaining, (self.forward)(id, request())).await {
                        Ok(Ok(reply)) => Some(reply),
                        Ok(Err(_)) | Err(_) => None,
                    }
                }
                None => None,
            };
            match reply {
                Some(ControllerReply::NotController {
                    leader,
                    leader_addr,
                }) => {
                    if let (Some(id), Some(addr)) = (leader, leader_addr.as_deref()) {
                        (self.learn)(id, addr);
                    }
                    target = leader;
                }
                Some(ControllerReply::Failed(message)) if message.contains("shut") => {
                    return Err(QuorumError::Raft { message });
                }
                Some(ControllerReply::Failed(_)) | None => {
                    target = self.active_controller_id();
                }
                Some(reply) => return Ok(reply),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(QuorumError::Timeout);
            }
            tokio::time::sleep(FORWARD_RETRY_PAUSE).await;
            if target.is_none() {
                target = self.active_controller_id();
            }
        }
    }
}
