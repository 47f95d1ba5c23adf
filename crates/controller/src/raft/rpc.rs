//! What controllers say to each other and what brokers ask of the active controller: the Raft
//! messages, forwarded proposals, and broker heartbeats, with [`ControllerService`], which
//! answers them on the receiving node.
//!
//! A proposal or heartbeat reaching a controller that is not active is answered
//! `NotController` with the leader it knows, so the sender retries there (KRaft answers
//! NOT_CONTROLLER the same way). Heartbeats do not write to the metadata log unless they
//! change something (unfencing a caught-up broker): the active controller keeps contact times
//! in memory ([`crate::BrokerSessions`]).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use openraft::ServerState;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};

use super::network::{RaftNode, RaftReply, RaftRequest, serve};
use super::quorum_state::{QuorumDescription, describe};
use super::state_machine::Applied;
use super::types::{CommandResponse, NodeId, VoterNode};
use crate::command::{MetadataCommand, Outcome};
use crate::error::ControllerError;
use crate::image::{BrokerId, MetadataImage};
use crate::liveness::BrokerSessions;

/// A message to a controller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ControllerRequest {
    Raft(RaftRequest),
    /// Replicate this command (sent to the active controller).
    Propose(MetadataCommand),
    /// A broker is alive; `want_fence: false` asks to be unfenced once caught up.
    Heartbeat {
        broker_id: BrokerId,
        broker_epoch: i64,
        want_fence: bool,
    },
    /// A broker-only node follows the metadata: the active controller's image once its applied
    /// index passes `after_index` (waiting up to a second), else no image.
    FetchImage {
        after_index: Option<u64>,
    },
    /// Whether the receiver already belongs to a formed quorum (a starting voter without state
    /// must not form a new one then: it waits to be caught up).
    Probe,
    /// The quorum's state as the active controller sees it (DescribeQuorum).
    DescribeQuorum,
    /// A controller of a dynamic quorum asks to follow the log as an observer (an openraft
    /// learner), under its directory id (sent to the active controller).
    JoinObserver {
        id: NodeId,
        node: VoterNode,
    },
    /// AddRaftVoter: make the observer `id` with `directory_id` a voter.
    AddVoter {
        id: NodeId,
        directory_id: String,
    },
    /// RemoveRaftVoter: `id` with `directory_id` stops voting (it stays an observer).
    RemoveVoter {
        id: NodeId,
        directory_id: String,
    },
}

/// A controller's answer.
#[derive(Debug, Serialize, Deserialize)]
pub enum ControllerReply {
    Raft(RaftReply),
    Proposed(Result<Outcome, ControllerError>),
    Heartbeat(Result<HeartbeatReply, ControllerError>),
    /// The image at `index`, or `None` when nothing newer was applied within the wait.
    Image {
        index: Option<u64>,
        image: Option<Box<MetadataImage>>,
    },
    /// This node is not the active controller; `leader` is the one it knows, and where it
    /// listens (a node that joined a dynamic quorum may not know it yet).
    NotController {
        leader: Option<NodeId>,
        #[serde(default)]
        leader_addr: Option<String>,
    },
    /// The proposal was discarded by a leader change: its outcome is unknown.
    Unknown,
    /// The request failed on the receiving node.
    Failed(String),
    Probed {
        initialized: bool,
    },
    Quorum(QuorumDescription),
    /// The answer to JoinObserver, AddVoter or RemoveVoter.
    VotersChanged(Result<(), ControllerError>),
}

/// The answer to a broker heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatReply {
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
    /// The active controller's metadata offset when it answered: the broker has caught up once
    /// its image includes it (KIP-631's `IsCaughtUp`, decided on the broker's side).
    #[serde(default)]
    pub metadata_offset: u64,
}

/// Answers [`ControllerRequest`]s on one node. Clones share the node.
#[derive(Clone)]
pub struct ControllerService {
    raft: RaftNode,
    applied: Arc<Mutex<Applied>>,
    /// Contact times of brokers, kept by the active controller.
    pub(crate) sessions: Arc<Mutex<BrokerSessions>>,
    published: Arc<tokio::sync::watch::Sender<Arc<MetadataImage>>>,
    /// Whether this node may grant votes: always on a static quorum; on a dynamic one only while
    /// the membership names it a voter with its own directory id (KIP-853's guard against a
    /// voter come back with an empty folder).
    may_vote: Arc<AtomicBool>,
}

/// Longest a FetchImage waits for a newer image.
const FETCH_IMAGE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Milliseconds on a monotonic clock, counted from this process's first call: broker sessions
/// measure durations, which a jump of the wall clock must neither stretch nor cut short (Kafka's
/// controller times heartbeats with `nanoTime` too). Never persisted or sent to another node.
pub(crate) fn monotonic_ms() -> i64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX)
}

impl ControllerService {
    pub(crate) fn new(
        raft: RaftNode,
        applied: Arc<Mutex<Applied>>,
        sessions: Arc<Mutex<BrokerSessions>>,
        published: Arc<tokio::sync::watch::Sender<Arc<MetadataImage>>>,
    ) -> Self {
        ControllerService {
            raft,
            applied,
            sessions,
            published,
            may_vote: Arc::new(AtomicBool::new(true)),
        }
    }

    pub(crate) fn set_may_vote(&self, may: bool) {
        self.may_vote.store(may, Ordering::Relaxed);
    }

    /// Whether this node grants votes now (see `may_vote`).
    pub fn may_vote(&self) -> bool {
        self.may_vote.load(Ordering::Relaxed)
    }

    /// Whether this node has quorum state: a log entry or a vote beyond the initial one.
    pub(crate) fn initialized(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        metrics.last_log_index.is_some() || metrics.current_term > 0
    }

    fn applied_index(&self) -> Option<u64> {
        self.applied
            .lock()
            .expect("poisoned")
            .last_applied
            .map(|id| id.index)
    }

    /// The metadata offset a broker must have applied to be caught up (KIP-631's IsCaughtUp):
    /// everything in the active controller's log. Its applied index alone is not enough: a
    /// controller restarted while no other was elected leads again while its state machine still
    /// replays its log, and would call a broker (itself included) with a nearly empty image
    /// caught up, which then served clients no topics (found by the streams suite's
    /// coordinator fault under load: MissingSourceTopicException).
    fn catch_up_offset(&self) -> u64 {
        let last_log = self.raft.metrics().borrow_watched().last_log_index;
        self.applied_index().unwrap_or(0).max(last_log.unwrap_or(0))
    }

    /// The active controller's image once it is newer than `after_index`.
    async fn fetch_image(&self, after_index: Option<u64>) -> ControllerReply {
        if !self.is_active() || !self.holds_quorum_lease().await {
            return self.not_controller(self.leader());
        }
        let mut images = self.published.subscribe();
        let newer = |index: Option<u64>| index.is_some() && index > after_index;
        let _ = tokio::time::timeout(FETCH_IMAGE_WAIT, async {
            while !newer(self.applied_index()) {
                if images.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
        // Read together, so the index names exactly this image.
        let (index, image) = {
            let applied = self.applied.lock().expect("poisoned");
            (
                applied.last_applied.map(|id| id.index),
                applied.image.clone(),
            )
        };
        ControllerReply::Image {
            index,
            image: newer(index).then(|| Box::new(image)),
        }
    }

    /// `NotController` naming `leader` and, when this node's membership knows it, its address.
    pub(crate) fn not_controller(&self, leader: Option<NodeId>) -> ControllerReply {
        let leader_addr = leader.and_then(|id| {
            let metrics = self.raft.metrics();
            let metrics = metrics.borrow_watched();
            metrics
                .membership_config
                .membership()
                .get_node(&id)
                .map(|node| node.addr.clone())
        });
        ControllerReply::NotController {
            leader,
            leader_addr,
        }
    }

    pub(crate) fn raft(&self) -> &RaftNode {
        &self.raft
    }

    fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// Whether a quorum acknowledged this leader within its lease (openraft's CheckQuorum
    /// lease, `election_timeout_max`), so its metadata is current.
    async fn holds_quorum_lease(&self) -> bool {
        self.raft
            .ensure_linearizable(openraft::ReadPolicy::LeaseRead)
            .await
            .is_ok()
    }

    fn is_active(&self) -> bool {
        self.raft.metrics().borrow_watched().state == ServerState::Leader
    }

    /// Answers one request.
    pub async fn handle(&self, request: ControllerRequest) -> ControllerReply {
        match request {
            ControllerRequest::Raft(RaftRequest::Vote(_)) if !self.may_vote() => {
                ControllerReply::Failed(
                    "this controller is not a voter under its directory id: it grants no vote"
                        .into(),
                )
            }
            ControllerRequest::Raft(request) => match serve(&self.raft, request).await {
                Ok(reply) => ControllerReply::Raft(reply),
                Err(message) => ControllerReply::Failed(message),
            },
            ControllerRequest::Propose(command) => self.propose_local(command).await,
            ControllerRequest::Heartbeat {
                broker_id,
                broker_epoch,
                want_fence,
            } => {
                self.heartbeat_local(broker_id, broker_epoch, want_fence)
                    .await
            }
            ControllerRequest::FetchImage { after_index } => self.fetch_image(after_index).await,
            ControllerRequest::Probe => ControllerReply::Probed {
                initialized: self.initialized(),
            },
            ControllerRequest::DescribeQuorum => self.describe_quorum(),
            ControllerRequest::JoinObserver { id, node } => self.join_observer(id, node).await,
            ControllerRequest::AddVoter { id, directory_id } => {
                self.add_voter(id, directory_id).await
            }
            ControllerRequest::RemoveVoter { id, directory_id } => {
                self.remove_voter(id, directory_id).await
            }
        }
    }

    /// The quorum as this node sees it, if it is the active controller.
    fn describe_quorum(&self) -> ControllerReply {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let image = self.applied.lock().expect("poisoned").image.clone();
        match describe(&metrics, &image) {
            Some(description) if metrics.state == ServerState::Leader => {
                ControllerReply::Quorum(description)
            }
            _ => self.not_controller(metrics.current_leader),
        }
    }

    /// Proposes on this node if it is active.
    pub(crate) async fn propose_local(&self, command: MetadataCommand) -> ControllerReply {
        match self.raft.client_write(command).await {
            Ok(response) => match response.data {
                CommandResponse(Some(result)) => ControllerReply::Proposed(result),
                CommandResponse(None) => ControllerReply::Failed("no response".into()),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                self.not_controller(forward.leader_id)
            }
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(_))) => {
                ControllerReply::Unknown
            }
            Err(e) => ControllerReply::Failed(e.to_string()),
        }
    }

    /// Records a heartbeat on the active controller; unfences through the log when asked.
    async fn heartbeat_local(
        &self,
        broker_id: BrokerId,
        broker_epoch: i64,
        want_fence: bool,
    ) -> ControllerReply {
        // A leader that lost its quorum stays leader in openraft; answering for it would tell
        // a broker cut off with it that all is well.
        if !self.is_active() || !self.holds_quorum_lease().await {
            return self.not_controller(self.leader());
        }
        let registration = {
            let applied = self.applied.lock().expect("poisoned");
            applied.image.brokers.get(&broker_id).cloned()
        };
        let Some(registration) = registration else {
            return ControllerReply::Heartbeat(Err(ControllerError::UnknownBroker { broker_id }));
        };
        if registration.broker_epoch != broker_epoch {
            return ControllerReply::Heartbeat(Err(ControllerError::StaleBrokerEpoch {
                broker_id,
                requested: broker_epoch,
                current: registration.broker_epoch,
            }));
        }
        self.sessions
            .lock()
            .expect("poisoned")
            .heartbeat(broker_id, monotonic_ms());
        if registration.fenced && !want_fence && !registration.in_controlled_shutdown {
            let command = MetadataCommand::BrokerHeartbeat {
                broker_id,
                broker_epoch,
                want_fence,
            };
            return match self.propose_local(command).await {
                ControllerReply::Proposed(Ok(Outcome::Heartbeat {
                    fenced,
                    in_controlled_shutdown,
                })) => ControllerReply::Heartbeat(Ok(HeartbeatReply {
                    fenced,
                    in_controlled_shutdown,
                    metadata_offset: self.catch_up_offset(),
                })),
                ControllerReply::Proposed(Err(error)) => ControllerReply::Heartbeat(Err(error)),
                ControllerReply::Proposed(Ok(other)) => {
                    ControllerReply::Failed(format!("unexpected heartbeat outcome {other:?}"))
                }
                other => other,
            };
        }
        ControllerReply::Heartbeat(Ok(HeartbeatReply {
            fenced: registration.fenced,
            in_controlled_shutdown: registration.in_controlled_shutdown,
            metadata_offset: self.catch_up_offset(),
        }))
    }
}

/// A proposal's answer as the caller sees it.
pub(crate) fn proposed(
    reply: ControllerReply,
) -> Result<Result<Outcome, ControllerError>, crate::raft::QuorumError> {
    match reply {
        ControllerReply::Proposed(result) => Ok(result),
        ControllerReply::Unknown => Err(crate::raft::QuorumError::Unknown),
        other => Err(crate::raft::QuorumError::Raft {
            message: format!("unexpected answer to a proposal: {other:?}"),
        }),
    }
}

/// A heartbeat's answer as the caller sees it.
pub(crate) fn heartbeat_answer(
    reply: ControllerReply,
) -> Result<HeartbeatReply, crate::raft::QuorumError> {
    match reply {
        ControllerReply::Heartbeat(Ok(reply)) => Ok(reply),
        ControllerReply::Heartbeat(Err(error)) => Err(crate::raft::QuorumError::Controller(error)),
        ControllerReply::Unknown => Err(crate::raft::QuorumError::Unknown),
        other => Err(crate::raft::QuorumError::Raft {
            message: format!("unexpected answer to a heartbeat: {other:?}"),
        }),
    }
}

/// A way to the active controller: a voter's own node ([`crate::ControllerNode`]) or a
/// broker-only node's [`crate::ControllerClient`]. Each finds the active controller its own way
/// (`to_active`); proposing and heartbeating are the same on both.
pub trait ActiveController: Sync {
    /// Sends `request` (built anew for each attempt) to the active controller, following
    /// `NotController` answers and retrying, until `timeout`.
    fn to_active(
        &self,
        request: &(dyn Fn() -> ControllerRequest + Sync),
        timeout: std::time::Duration,
    ) -> impl std::future::Future<Output = Result<ControllerReply, crate::raft::QuorumError>> + Send;

    /// Replicates `command` through the active controller, wherever it is; answers with what
    /// applying it returned ([`crate::raft::QuorumError::Unknown`] when a leader change
    /// discarded it).
    fn propose_anywhere(
        &self,
        command: MetadataCommand,
        timeout: std::time::Duration,
    ) -> impl std::future::Future<
        Output = Result<Result<Outcome, ControllerError>, crate::raft::QuorumError>,
    > + Send {
        async move {
            let request = || ControllerRequest::Propose(command.clone());
            proposed(self.to_active(&request, timeout).await?)
        }
    }

    /// The quorum's state from the active controller (DescribeQuorum).
    fn describe_quorum(
        &self,
        timeout: std::time::Duration,
    ) -> impl std::future::Future<Output = Result<QuorumDescription, crate::raft::QuorumError>> + Send
    {
        async move {
            match self
                .to_active(&|| ControllerRequest::DescribeQuorum, timeout)
                .await?
            {
                ControllerReply::Quorum(description) => Ok(description),
                other => Err(crate::raft::QuorumError::Raft {
                    message: format!("unexpected answer to DescribeQuorum: {other:?}"),
                }),
            }
        }
    }

    /// Sends a voter change (AddVoter, RemoveVoter) to the active controller.
    fn change_voters(
        &self,
        request: ControllerRequest,
        timeout: std::time::Duration,
    ) -> impl std::future::Future<
        Output = Result<Result<(), ControllerError>, crate::raft::QuorumError>,
    > + Send {
        async move {
            let make = || request.clone();
            match self.to_active(&make, timeout).await? {
                ControllerReply::VotersChanged(result) => Ok(result),
                other => Err(crate::raft::QuorumError::Raft {
                    message: format!("unexpected answer to a voter change: {other:?}"),
                }),
            }
        }
    }

    /// A broker heartbeat to the active controller.
    fn heartbeat(
        &self,
        broker_id: BrokerId,
        broker_epoch: i64,
        want_fence: bool,
        timeout: std::time::Duration,
    ) -> impl std::future::Future<Output = Result<HeartbeatReply, crate::raft::QuorumError>> + Send
    {
        async move {
            let request = || ControllerRequest::Heartbeat {
                broker_id,
                broker_epoch,
                want_fence,
            };
            heartbeat_answer(self.to_active(&request, timeout).await?)
        }
    }
}
