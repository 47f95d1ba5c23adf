//! The metadata quorum on openraft: type config, the fsyncing log store, the state-machine store,
//! the network behind [`ControllerTransport`], and [`ControllerNode`].
//!
//! Nothing outside this module names an openraft type.

mod client;
mod liveness_task;
mod log_store;
mod membership_task;
mod network;
mod node;
mod quorum_state;
mod record_file;
mod rpc;
mod state_machine;
mod tcp;
mod types;
mod voters;

pub use client::ControllerClient;
pub use liveness_task::spawn_liveness;
pub use log_store::LogStore;
pub use network::{
    ControllerTransport, InProcessTransport, RaftReply, RaftRequest, TransportError, serve,
};
pub use node::{ControllerConfig, ControllerNode, DynamicQuorum, MetadataQuorum, QuorumError};
pub use quorum_state::{QuorumDescription, QuorumReplica};
pub use rpc::{
    ActiveController, ControllerReply, ControllerRequest, ControllerService, HeartbeatReply,
};
pub use state_machine::{SnapshotFile, StateMachineStore};
pub use tcp::{ControllerTls, TcpTransport, bootstrap_id, serve_controller_listener};
pub use types::{CommandResponse, MetadataRaft, NodeId, VoterNode};

impl InProcessTransport {
    /// Makes `node` reachable by the other voters.
    pub fn connect(&self, node: &ControllerNode) {
        self.register(node.node_id(), node.service().clone());
    }
}
