//! The metadata quorum's network: our transport trait, the adapter that gives openraft its
//! `RaftNetworkV2` on top of it, the server side that hands a request to the local node, and an
//! in-process transport for tests.
//!
//! The trait moves one serializable request to one voter and brings back its reply, so a TCP
//! transport over the controller listener (`controller.listener.names`) fits it later: it frames
//! [`RaftRequest`] and [`RaftReply`] with serde, and the receiving side calls [`serve`].

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{OptionalSend, Raft};
use serde::{Deserialize, Serialize};

use super::rpc::{ControllerReply, ControllerRequest, ControllerService};
use super::state_machine::StateMachineStore;
use super::types::{MetadataRaft, NodeId, Snapshot, SnapshotData, SnapshotMeta, Vote, VoterNode};

/// An openraft node of the metadata quorum.
pub type RaftNode = Raft<MetadataRaft, StateMachineStore>;

/// A Raft message from one voter to another.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RaftRequest {
    AppendEntries(AppendEntriesRequest<MetadataRaft>),
    Vote(VoteRequest<MetadataRaft>),
    /// A whole snapshot: the image is small enough to send in one message.
    InstallSnapshot {
        vote: Vote,
        meta: SnapshotMeta,
        data: SnapshotData,
    },
}

/// The answer to a [`RaftRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftReply {
    AppendEntries(AppendEntriesResponse<MetadataRaft>),
    Vote(VoteResponse<MetadataRaft>),
    InstallSnapshot(SnapshotResponse<MetadataRaft>),
}

/// Why a message did not get an answer. openraft retries.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("controller {target} is unreachable")]
    Unreachable { target: NodeId },
    #[error("controller {target} failed the request: {message}")]
    Remote { target: NodeId, message: String },
    #[error("controller {target} answered {reply} to a {request} request")]
    UnexpectedReply {
        target: NodeId,
        request: &'static str,
        reply: &'static str,
    },
}

/// Carries controller messages (Raft, forwarded proposals, heartbeats) between nodes.
pub trait ControllerTransport: Send + Sync + 'static {
    /// Moves one request to `target` and brings back its answer.
    fn call(
        &self,
        target: NodeId,
        request: ControllerRequest,
    ) -> impl Future<Output = Result<ControllerReply, TransportError>> + Send;

    /// Remembers where `target` listens (a member of a dynamic quorum, the active controller a
    /// reply named); transports that route by id alone ignore it.
    fn learn(&self, _target: NodeId, _address: &str) {}

    /// Sends one Raft message.
    fn send(
        &self,
        target: NodeId,
        request: RaftRequest,
    ) -> impl Future<Output = Result<RaftReply, TransportError>> + Send {
        async move {
            match self.call(target, ControllerRequest::Raft(request)).await? {
                ControllerReply::Raft(reply) => Ok(reply),
                ControllerReply::Failed(message) => Err(TransportError::Remote { target, message }),
                _ => Err(TransportError::UnexpectedReply {
                    target,
                    request: "Raft",
                    reply: "another kind",
                }),
            }
        }
    }
}

/// The receiving side: hands `request` to the local node.
pub async fn serve(node: &RaftNode, request: RaftRequest) -> Result<RaftReply, String> {
    match request {
        RaftRequest::AppendEntries(rpc) => node
            .append_entries(rpc)
            .await
            .map(RaftReply::AppendEntries)
            .map_err(|e| e.to_string()),
        RaftRequest::Vote(rpc) => node
            .vote(rpc)
            .await
            .map(RaftReply::Vote)
            .map_err(|e| e.to_string()),
        RaftRequest::InstallSnapshot { vote, meta, data } => {
            let snapshot = Snapshot {
                meta,
                snapshot: data,
            };
            let reply = node.install_full_snapshot(vote, snapshot).await;
            reply
                .map(RaftReply::InstallSnapshot)
                .map_err(|e| e.to_string())
        }
    }
}

/// openraft's network factory over a [`ControllerTransport`].
pub struct Network<T> {
    transport: Arc<T>,
}

impl<T> Network<T> {
    pub fn new(transport: Arc<T>) -> Self {
        Network { transport }
    }
}

/// openraft's connection to one voter.
pub struct Connection<T> {
    transport: Arc<T>,
    target: NodeId,
}

impl<T: ControllerTransport> RaftNetworkFactory<MetadataRaft> for Network<T> {
    type Network = Connection<T>;

    async fn new_client(&mut self, target: NodeId, node: &VoterNode) -> Self::Network {
        // A member added at run time (a dynamic quorum) is reached at the address it joined with.
        self.transport.learn(target, &node.addr);
        Connection {
            transport: Arc::clone(&self.transport),
            target,
        }
    }
}

impl<T: ControllerTransport> Connection<T> {
    async fn call(&self, request: RaftRequest) -> Result<RaftReply, TransportError> {
        self.transport.send(self.target, request).await
    }

    fn unexpected(&self, request: &'static str, reply: &RaftReply) -> TransportError {
        let reply = match reply {
            RaftReply::AppendEntries(_) => "AppendEntries",
            RaftReply::Vote(_) => "Vote",
            RaftReply::InstallSnapshot(_) => "InstallSnapshot",
        };
        TransportError::UnexpectedReply {
            target: self.target,
            request,
            reply,
        }
    }
}

fn unreachable(e: TransportError) -> RPCError<MetadataRaft> {
    RPCError::Unreachable(Unreachable::new(&e))
}

impl<T: ControllerTransport> RaftNetworkV2<MetadataRaft> for Connection<T> {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<MetadataRaft>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<MetadataRaft>, RPCError<MetadataRaft>> {
        match self
            .call(RaftRequest::AppendEntries(rpc))
            .await
            .map_err(unreachable)?
        {
            RaftReply::AppendEntries(reply) => Ok(reply),
            other => Err(unreachable(self.unexpected("AppendEntries", &other))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<MetadataRaft>,
        _option: RPCOption,
    ) -> Result<VoteResponse<MetadataRaft>, RPCError<MetadataRaft>> {
        match self
            .call(RaftRequest::Vote(rpc))
            .await
            .map_err(unreachable)?
        {
            RaftReply::Vote(reply) => Ok(reply),
            other => Err(unreachable(self.unexpected("Vote", &other))),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<MetadataRaft>, StreamingError<MetadataRaft>> {
        let request = RaftRequest::InstallSnapshot {
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot,
        };
        let as_streaming = |e: TransportError| StreamingError::Unreachable(Unreachable::new(&e));
        match self.call(request).await.map_err(as_streaming)? {
            RaftReply::InstallSnapshot(reply) => Ok(reply),
            other => Err(as_streaming(self.unexpected("InstallSnapshot", &other))),
        }
    }
}

/// Voters in one process, for tests: a message goes straight to the target's service.
/// Removing a node makes it unreachable, as a crashed process would be.
#[derive(Clone, Default)]
pub struct InProcessTransport {
    nodes: Arc<Mutex<BTreeMap<NodeId, ControllerService>>>,
}

impl InProcessTransport {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn register(&self, id: NodeId, node: ControllerService) {
        self.nodes.lock().expect("poisoned").insert(id, node);
    }

    /// Makes `service` reachable under `id` too (a bootstrap server's id, in tests).
    pub fn register_as(&self, id: NodeId, service: ControllerService) {
        self.register(id, service);
    }

    /// Makes `id` unreachable from the others.
    pub fn disconnect(&self, id: NodeId) {
        self.nodes.lock().expect("poisoned").remove(&id);
    }
}

impl ControllerTransport for InProcessTransport {
    async fn call(
        &self,
        target: NodeId,
        request: ControllerRequest,
    ) -> Result<ControllerReply, TransportError> {
        let node = self.nodes.lock().expect("poisoned").get(&target).cloned();
        let node = node.ok_or(TransportError::Unreachable { target })?;
        Ok(node.handle(request).await)
    }
}
