//! Changing the voters of a dynamic metadata quorum (KIP-853) on the active controller: a
//! controller joining as an observer (an openraft learner, which the leader replicates to), and
//! AddRaftVoter / RemoveRaftVoter with KRaft's checks and error codes.
//!
//! A member that comes back with the same directory at another address has its address changed
//! (what KRaft's UpdateRaftVoter does for a voter whose endpoints moved).
//!
//! A member is a node id with a directory id (the `directory.id` of its metadata folder). A
//! quorum is dynamic when every member has one; a static quorum (`controller.quorum.voters`)
//! refuses changes (UNSUPPORTED_VERSION, as Kafka's kraft.version 0). As in KRaft:
//! - adding needs the exact (id, directory) to be an observer caught up with the committed log,
//!   and an id already voting is DUPLICATE_VOTER whatever its directory;
//! - removing needs the exact (id, directory) among the voters and never removes the last one
//!   (VOTER_NOT_FOUND); a removed voter stays an observer, and a leader that removed itself
//!   steps down once the change commits (openraft's `removed_leader_step_down`);
//! - one change at a time: openraft refuses a change while another is uncommitted, which is
//!   answered REQUEST_TIMED_OUT so the operator retries.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::ChangeMembers;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, RaftError};

use super::rpc::{ControllerReply, ControllerService};
use super::types::{NodeId, VoterNode};
use crate::error::ControllerError;

/// How long AddRaftVoter waits for the observer to catch up with the committed log.
const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

type Membership = openraft::Membership<NodeId, VoterNode>;

/// Whether `membership` is a dynamic quorum's: every member carries a directory id.
pub(crate) fn is_dynamic(membership: &Membership) -> bool {
    let mut nodes = membership.nodes().peekable();
    nodes.peek().is_some() && membership.nodes().all(|(_, n)| n.directory_id.is_some())
}

fn refused(error: ControllerError) -> ControllerReply {
    ControllerReply::VotersChanged(Err(error))
}

fn not_ready(reason: String) -> ControllerReply {
    refused(ControllerError::VoterChangeNotReady { reason })
}

impl ControllerService {
    fn membership(&self) -> Membership {
        let metrics = self.raft().metrics();
        let metrics = metrics.borrow_watched();
        metrics.membership_config.membership().clone()
    }

    fn active(&self) -> Option<ControllerReply> {
        let metrics = self.raft().metrics();
        let (state, leader) = {
            let m = metrics.borrow_watched();
            (m.state, m.current_leader)
        };
        (state != openraft::ServerState::Leader).then(|| self.not_controller(leader))
    }

    /// A controller asks to follow the log as an observer under `node`'s directory id.
    pub(crate) async fn join_observer(&self, id: NodeId, node: VoterNode) -> ControllerReply {
        if let Some(reply) = self.active() {
            return reply;
        }
        let membership = self.membership();
        if !is_dynamic(&membership) {
            return refused(ControllerError::StaticQuorum);
        }
        if node.directory_id.as_deref().is_none_or(str::is_empty) {
            return refused(ControllerError::InvalidRequest(
                "an observer needs a directory id".into(),
            ));
        }
        let change = match membership.get_node(&id) {
            Some(known) if *known == node => return ControllerReply::VotersChanged(Ok(())),
            // The same member (same directory) now listening elsewhere: its address changes,
            // as KRaft's UpdateRaftVoter does for a voter whose endpoints moved.
            Some(known) if known.directory_id == node.directory_id => {
                ChangeMembers::SetNodes(BTreeMap::from([(id, node)]))
            }
            Some(known) if membership.voter_ids().any(|v| v == id) => {
                return not_ready(format!(
                    "controller {id} votes under directory {}; it must be removed \
                     (remove-controller) before it can join with directory {}",
                    known.directory_id.as_deref().unwrap_or("?"),
                    node.directory_id.as_deref().unwrap_or("?"),
                ));
            }
            // An observer that came back with another folder or address.
            Some(_) => ChangeMembers::SetNodes(BTreeMap::from([(id, node)])),
            None => ChangeMembers::AddNodes(BTreeMap::from([(id, node)])),
        };
        self.change(change).await
    }

    /// AddRaftVoter.
    pub(crate) async fn add_voter(&self, id: NodeId, directory_id: String) -> ControllerReply {
        if let Some(reply) = self.active() {
            return reply;
        }
        let membership = self.membership();
        if !is_dynamic(&membership) {
            return refused(ControllerError::StaticQuorum);
        }
        if membership.voter_ids().any(|v| v == id) {
            return refused(ControllerError::DuplicateVoter { id });
        }
        let observer = membership
            .get_node(&id)
            .is_some_and(|n| n.directory_id.as_deref() == Some(directory_id.as_str()));
        if !observer {
            return not_ready(format!(
                "controller {id} with directory {directory_id} is not an observer of the \
                 quorum: start it with controller.quorum.bootstrap.servers first"
            ));
        }
        if !self.caught_up(id).await {
            return not_ready(format!(
                "controller {id} with directory {directory_id} is lagging behind the leader"
            ));
        }
        self.change(ChangeMembers::AddVoterIds(BTreeSet::from([id])))
            .await
    }

    /// RemoveRaftVoter.
    pub(crate) async fn remove_voter(&self, id: NodeId, directory_id: String) -> ControllerReply {
        if let Some(reply) = self.active() {
            return reply;
        }
        let membership = self.membership();
        if !is_dynamic(&membership) {
            return refused(ControllerError::StaticQuorum);
        }
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let reason = match membership.get_node(&id) {
            _ if !voters.contains(&id) => Some(format!("controller {id} is not a voter")),
            Some(node) if node.directory_id.as_deref() != Some(directory_id.as_str()) => {
                Some(format!(
                    "controller {id} votes under directory {}, not {directory_id}",
                    node.directory_id.as_deref().unwrap_or("?")
                ))
            }
            _ if voters.len() == 1 => Some(format!("controller {id} is the last voter")),
            _ => None,
        };
        if let Some(reason) = reason {
            return refused(ControllerError::VoterNotFound { reason });
        }
        // Kept as an observer, as a removed KRaft voter keeps fetching.
        self.change(ChangeMembers::RemoveVoters(BTreeSet::from([id])))
            .await
    }

    /// Whether the observer `id` holds everything committed, waiting up to [`CATCH_UP_WAIT`].
    async fn caught_up(&self, id: NodeId) -> bool {
        let deadline = tokio::time::Instant::now() + CATCH_UP_WAIT;
        loop {
            let done = {
                let metrics = self.raft().metrics();
                let m = metrics.borrow_watched();
                let committed = m.cluster_committed.map(|c| c.index);
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(&id).copied().flatten())
                    .map(|l| l.index);
                matched.is_some() && matched >= committed
            };
            if done {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn change(&self, change: ChangeMembers<NodeId, VoterNode>) -> ControllerReply {
        match self.raft().change_membership(change, true).await {
            Ok(_) => ControllerReply::VotersChanged(Ok(())),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                self.not_controller(forward.leader_id)
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(error))) => {
                not_ready(format!("the voters cannot change now: {error}"))
            }
            Err(error) => ControllerReply::Failed(error.to_string()),
        }
    }
}
