//! A dynamic quorum's controller following its membership (KIP-853): it teaches the transport
//! every member's address, joins as an observer until the membership holds it under its own
//! directory id (asking the active controller, found through the bootstrap servers), and votes
//! or stands for election only while the membership names it a voter with that directory id.
//!
//! The last rule is KRaft's guard against a voter that lost its metadata folder: it comes back
//! with a new directory id, so it neither votes nor campaigns (its empty log must not help elect
//! a leader that misses committed entries) until an operator removes its old key and adds the
//! new one (`kafka-metadata-quorum remove-controller`, then `add-controller`).

use std::time::Duration;

use openraft::async_runtime::WatchReceiver;

use super::network::RaftNode;
use super::node::{DynamicQuorum, Forwarder, Learner};
use super::rpc::{ControllerReply, ControllerRequest, ControllerService};
use super::types::{NodeId, VoterNode};

/// Pause between attempts to join.
const JOIN_RETRY: Duration = Duration::from_secs(1);
/// Longest one join attempt waits.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts following the membership; the task ends when the node shuts down (aborted).
pub(crate) fn spawn(
    raft: RaftNode,
    service: ControllerService,
    learn: Learner,
    forward: Forwarder,
    me: NodeId,
    dynamic: DynamicQuorum,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let my_node = VoterNode {
            addr: dynamic.address.clone(),
            directory_id: Some(dynamic.directory_id.clone()),
        };
        let mut metrics = raft.metrics();
        let mut hint: Option<NodeId> = None;
        let mut next_bootstrap = 0usize;
        let mut refusals_logged = 0u32;
        let mut last_attempt: Option<tokio::time::Instant> = None;
        loop {
            let (joined, leader) = {
                let m = metrics.borrow_watched();
                let membership = m.membership_config.membership();
                for (id, node) in membership.nodes() {
                    if *id != me {
                        learn(*id, &node.addr);
                    }
                }
                let mine = membership
                    .get_node(&me)
                    .is_some_and(|n| n.directory_id == my_node.directory_id);
                let voter = mine && membership.voter_ids().any(|v| v == me);
                if voter != service.may_vote() {
                    tracing::info!(voter, "metadata quorum: this controller's vote changed");
                }
                service.set_may_vote(voter);
                raft.runtime_config().elect(voter);
                (
                    mine && membership.get_node(&me) == Some(&my_node),
                    m.current_leader,
                )
            };
            let due = last_attempt.is_none_or(|at| at.elapsed() >= JOIN_RETRY);
            if !joined && due {
                last_attempt = Some(tokio::time::Instant::now());
                let target = leader.filter(|&l| l != me).or(hint).or_else(|| {
                    let servers = &dynamic.bootstrap;
                    next_bootstrap += 1;
                    servers.get(next_bootstrap % servers.len().max(1)).copied()
                });
                if let Some(target) = target {
                    let request = ControllerRequest::JoinObserver {
                        id: me,
                        node: my_node.clone(),
                    };
                    let reply = tokio::time::timeout(JOIN_TIMEOUT, forward(target, request)).await;
                    match reply {
                        Ok(Ok(ControllerReply::NotController {
                            leader: Some(leader),
                            leader_addr,
                        })) if leader != me => {
                            if let Some(addr) = leader_addr {
                                learn(leader, &addr);
                                hint = Some(leader);
                            }
                        }
                        Ok(Ok(ControllerReply::VotersChanged(Ok(())))) => {
                            tracing::info!(
                                controller = target,
                                "joined the metadata quorum as an observer"
                            );
                        }
                        Ok(Ok(ControllerReply::VotersChanged(Err(error)))) => {
                            if refusals_logged < 3 {
                                refusals_logged += 1;
                                tracing::warn!(%error, "the active controller refused this observer");
                            }
                        }
                        _ => hint = None,
                    }
                }
            }
            let wait = if joined {
                Duration::from_secs(3600)
            } else {
                JOIN_RETRY
            };
            tokio::select! {
                changed = metrics.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(wait) => {}
            }
        }
    })
}
