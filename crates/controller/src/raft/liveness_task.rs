//! The active controller's timer task: fences brokers whose sessions expired and, when
//! `auto.leader.rebalance.enable` is on, moves leadership back to preferred replicas every
//! rebalance interval. It runs on every node and acts only while the node is active; a node
//! that becomes active starts every broker's session clock afresh (liveness.rs), so a failover
//! never fences a live broker early.

use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::node::ControllerNode;
use super::rpc::{ControllerReply, monotonic_ms};
use crate::liveness::{BrokerSessions, preferred_elections};
use crate::raft::MetadataQuorum;

/// How often the task looks at sessions.
const TICK: Duration = Duration::from_millis(250);

/// Starts the task; it ends when `shutdown` turns true.
pub fn spawn_liveness(
    node: Arc<ControllerNode>,
    session_timeout_ms: i64,
    auto_leader_rebalance: bool,
    rebalance_interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut active = false;
        let mut last_rebalance = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            let is_leader =
                node.raft().metrics().borrow_watched().state == openraft::ServerState::Leader;
            if !is_leader {
                active = false;
                continue;
            }
            let now = monotonic_ms();
            let image = node.image();
            let expired = {
                let mut sessions = node.service().sessions.lock().expect("poisoned");
                if !active {
                    *sessions = BrokerSessions::new(session_timeout_ms);
                    active = true;
                    last_rebalance = tokio::time::Instant::now();
                }
                sessions.observe(&image, now);
                sessions.expired(&image, now)
            };
            for command in expired {
                tracing::info!(%command, "broker session expired");
                match node.service().propose_local(command).await {
                    ControllerReply::Proposed(Ok(_)) => {}
                    other => tracing::debug!(?other, "fencing not applied"),
                }
            }
            if auto_leader_rebalance && last_rebalance.elapsed() >= rebalance_interval {
                last_rebalance = tokio::time::Instant::now();
                for command in preferred_elections(&node.image()) {
                    let _ = node.service().propose_local(command).await;
                }
            }
        }
    })
}
