//! AddRaftVoter (v0-1, KIP-853), as `kafka-metadata-quorum add-controller` and the admin
//! client's `addRaftVoter` send it: the broker forwards it to the active controller, which makes
//! the observer controller with that id and directory id a voter (controller `raft/voters.rs`
//! holds KRaft's checks). This file also holds what RemoveRaftVoter shares with it.
//!
//! Checked here first, as KafkaRaftClient does: a cluster id that is set and not ours
//! (INCONSISTENT_CLUSTER_ID), a negative id or the zero directory id (INVALID_REQUEST), no
//! endpoint on the controller listener (INVALID_REQUEST). A static quorum
//! (`controller.quorum.voters`) and a single node answer UNSUPPORTED_VERSION. With ACLs it needs
//! ALTER on the cluster. The request's TimeoutMs is not used (nor is it by KRaft), and v1's
//! AckWhenCommitted=false is answered after the commit all the same.

use std::sync::Arc;
use std::time::Duration;

use controller::raft::ControllerRequest;
use protocol::generated::{AddRaftVoterRequest, AddRaftVoterResponse};
use protocol::{ErrorCode, Uuid};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::error::BrokerError;

/// How long a voter change may take: the observer's catch-up and two membership commits.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A refusal's code and message.
pub(super) type Refusal = (ErrorCode, Option<String>);

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: AddRaftVoterRequest,
) -> AddRaftVoterResponse {
    let result = add(broker, context, &request).await;
    let (code, message) = result.err().unwrap_or((ErrorCode::None, None));
    AddRaftVoterResponse {
        throttle_time_ms: 0,
        error_code: code.code(),
        error_message: message,
        ..Default::default()
    }
}

async fn add(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: &AddRaftVoterRequest,
) -> Result<(), Refusal> {
    check_common(
        broker,
        context,
        request.cluster_id.as_deref(),
        request.voter_id,
        request.voter_directory_id,
    )?;
    let listener = controller_listener_name(broker);
    if !request
        .listeners
        .iter()
        .any(|l| l.name.eq_ignore_ascii_case(&listener))
    {
        return Err((
            ErrorCode::InvalidRequest,
            Some(format!(
                "the request names no endpoint for the controller listener {listener}"
            )),
        ));
    }
    change(
        broker,
        ControllerRequest::AddVoter {
            id: request.voter_id as u64,
            directory_id: request.voter_directory_id.to_string(),
        },
    )
    .await
}

/// The first of `controller.listener.names` (Kafka's default listener of the quorum).
fn controller_listener_name(broker: &Broker) -> String {
    broker
        .config
        .value("controller.listener.names")
        .and_then(|names| names.split(',').next())
        .unwrap_or("CONTROLLER")
        .trim()
        .to_string()
}

/// The checks both changes make before asking the controller.
pub(super) fn check_common(
    broker: &Broker,
    context: &RequestContext,
    cluster_id: Option<&str>,
    voter_id: i32,
    directory_id: Uuid,
) -> Result<(), Refusal> {
    if !broker.allows_cluster(context, AclOperation::Alter) {
        return Err((ErrorCode::ClusterAuthorizationFailed, None));
    }
    if let Some(id) = cluster_id
        && id != broker.metadata.cluster_id()
    {
        return Err((
            ErrorCode::InconsistentClusterId,
            Some(format!(
                "cluster id {id} is not this cluster's ({})",
                broker.metadata.cluster_id()
            )),
        ));
    }
    if voter_id < 0 || directory_id == Uuid::ZERO {
        return Err((
            ErrorCode::InvalidRequest,
            Some("the request names no valid voter (id and directory id)".into()),
        ));
    }
    Ok(())
}

/// Sends the change to the active controller and maps its answer.
pub(super) async fn change(broker: &Broker, request: ControllerRequest) -> Result<(), Refusal> {
    let Some(cluster) = broker.cluster.get() else {
        return Err((
            ErrorCode::UnsupportedVersion,
            Some("a single node has no metadata quorum to change".into()),
        ));
    };
    let refusal = |error: BrokerError| (error.error_code(), error.message());
    match cluster.quorum.change_voters(request, TIMEOUT).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(refusal(BrokerError::Controller(error))),
        Err(error) => Err(refusal(BrokerError::NotController(error.to_string()))),
    }
}
