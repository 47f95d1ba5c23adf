//! Reaching the metadata quorum from a node that is not a voter (`process.roles=broker`): a
//! client of the controller listeners that finds the active controller (following
//! `NotController` answers, trying the voters in turn), forwards proposals and heartbeats to it,
//! and follows the metadata by long-polling it for newer images (`FetchImage`), so a
//! broker-only node sees the same image as the voters without storing the metadata log.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::network::TransportError;
use super::node::QuorumError;
use super::rpc::{ActiveController, ControllerReply, ControllerRequest};
use super::tcp::{ControllerTls, TcpTransport};
use super::types::NodeId;
use crate::ControllerTransport;
use crate::image::MetadataImage;

/// Pause after a voter could not be reached or knew no leader.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// A broker-only node's way to the active controller.
pub struct ControllerClient {
    transport: TcpTransport,
    voters: Vec<NodeId>,
    leader: Mutex<Option<NodeId>>,
}

impl ControllerClient {
    pub fn new(voters: BTreeMap<NodeId, String>, tls: Option<ControllerTls>) -> Self {
        ControllerClient {
            voters: voters.keys().copied().collect(),
            transport: TcpTransport::new(voters, tls),
            leader: Mutex::new(None),
        }
    }

    /// The active controller as last learned.
    pub fn active_controller(&self) -> Option<NodeId> {
        *self.leader.lock().expect("poisoned")
    }

    /// The active controller's image once newer than `after_index`; `None` when nothing newer
    /// was applied within its wait.
    pub async fn fetch_image(
        &self,
        after_index: Option<u64>,
        timeout: Duration,
    ) -> Result<Option<(u64, MetadataImage)>, QuorumError> {
        let reply = self
            .to_active(&|| ControllerRequest::FetchImage { after_index }, timeout)
            .await?;
        match reply {
            ControllerReply::Image {
                index: Some(index),
                image: Some(image),
            } => Ok(Some((index, *image))),
            ControllerReply::Image { .. } => Ok(None),
            other => Err(QuorumError::Raft {
                message: format!("unexpected answer to FetchImage: {other:?}"),
            }),
        }
    }
}

impl ActiveController for ControllerClient {
    async fn to_active(
        &self,
        request: &(dyn Fn() -> ControllerRequest + Sync),
        timeout: Duration,
    ) -> Result<ControllerReply, QuorumError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut next = 0usize;
        loop {
            let hint = self.active_controller();
            let target = hint.unwrap_or_else(|| {
                next += 1;
                self.voters[next % self.voters.len().max(1)]
            });
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let reply =
                tokio::time::timeout(remaining, self.transport.call(target, request())).await;
            let pause = match reply {
                Ok(Ok(ControllerReply::NotController {
                    leader,
                    leader_addr,
                })) => {
                    if let (Some(id), Some(addr)) = (leader, leader_addr.as_deref()) {
                        self.transport.learn(id, addr);
                    }
                    let moved = leader.filter(|&l| l != target);
                    *self.leader.lock().expect("poisoned") = moved;
                    moved.is_none()
                }
                Ok(Ok(ControllerReply::Failed(_)))
                | Ok(Err(TransportError::Unreachable { .. }))
                | Ok(Err(_))
                | Err(_) => {
                    *self.leader.lock().expect("poisoned") = None;
                    true
                }
                Ok(Ok(reply)) => {
                    *self.leader.lock().expect("poisoned") = Some(target);
                    return Ok(reply);
                }
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(QuorumError::Timeout);
            }
            if pause {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}
