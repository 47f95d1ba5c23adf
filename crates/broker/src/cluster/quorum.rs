//! How a clustered node reaches the metadata quorum: through its own controller when it is a
//! voter (`process.roles` includes `controller`), or as a client of the voters' controller
//! listeners when it is a broker only. Either way it can propose, heartbeat and follow the
//! image; a broker-only node long-polls the active controller for newer images.

use std::sync::Arc;
use std::time::Duration;

use controller::{
    ActiveController, ControllerClient, ControllerError, ControllerNode, HeartbeatReply,
    MetadataCommand, MetadataImage, MetadataQuorum, Outcome, QuorumError,
};
use tokio::sync::watch;

/// The node's way to the quorum.
pub enum Quorum {
    /// A voter: its own controller.
    Local(Arc<ControllerNode>),
    /// A broker-only node: the voters over the controller listeners.
    Remote(Arc<ControllerClient>),
}

/// Pause after a failed image fetch.
const FOLLOW_RETRY: Duration = Duration::from_millis(200);

impl Quorum {
    pub async fn propose(
        &self,
        command: MetadataCommand,
        timeout: Duration,
    ) -> Result<Result<Outcome, ControllerError>, QuorumError> {
        match self {
            Quorum::Local(node) => node.propose_anywhere(command, timeout).await,
            Quorum::Remote(client) => client.propose_anywhere(command, timeout).await,
        }
    }

    pub async fn heartbeat(
        &self,
        broker_id: i32,
        broker_epoch: i64,
        want_fence: bool,
        timeout: Duration,
    ) -> Result<HeartbeatReply, QuorumError> {
        match self {
            Quorum::Local(node) => {
                node.heartbeat(broker_id, broker_epoch, want_fence, timeout)
                    .await
            }
            Quorum::Remote(client) => {
                client
                    .heartbeat(broker_id, broker_epoch, want_fence, timeout)
                    .await
            }
        }
    }

    /// The quorum's state from the active controller (DescribeQuorum).
    pub async fn describe_quorum(
        &self,
        timeout: Duration,
    ) -> Result<controller::QuorumDescription, QuorumError> {
        match self {
            Quorum::Local(node) => node.describe_quorum(timeout).await,
            Quorum::Remote(client) => client.describe_quorum(timeout).await,
        }
    }

    /// A voter change (AddRaftVoter, RemoveRaftVoter) through the active controller.
    pub async fn change_voters(
        &self,
        request: controller::raft::ControllerRequest,
        timeout: Duration,
    ) -> Result<Result<(), ControllerError>, QuorumError> {
        match self {
            Quorum::Local(node) => node.change_voters(request, timeout).await,
            Quorum::Remote(client) => client.change_voters(request, timeout).await,
        }
    }

    /// The active controller this node knows of.
    pub fn active_controller(&self) -> Option<u64> {
        match self {
            Quorum::Local(node) => node.active_controller(),
            Quorum::Remote(client) => client.active_controller(),
        }
    }

    /// The image as it changes: the local controller's, or one fed by [`follow`].
    pub fn subscribe(
        &self,
        remote_images: &watch::Sender<Arc<MetadataImage>>,
    ) -> watch::Receiver<Arc<MetadataImage>> {
        match self {
            Quorum::Local(node) => node.subscribe(),
            Quorum::Remote(_) => remote_images.subscribe(),
        }
    }
}

/// A broker-only node's metadata: newer images from the active controller into `images`,
/// until the shutdown begins.
pub async fn follow(
    client: Arc<ControllerClient>,
    images: watch::Sender<Arc<MetadataImage>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut index = None;
    loop {
        let fetched = tokio::select! {
            fetched = client.fetch_image(index, Duration::from_secs(10)) => fetched,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match fetched {
            Ok(Some((at, image))) => {
                index = Some(at);
                images.send_replace(Arc::new(image));
            }
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(%error, "following the metadata");
                tokio::time::sleep(FOLLOW_RETRY).await;
            }
        }
    }
}
