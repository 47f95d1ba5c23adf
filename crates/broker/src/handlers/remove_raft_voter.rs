//! RemoveRaftVoter (v0, KIP-853), as `kafka-metadata-quorum remove-controller --controller-id N
//! --controller-directory-id D` sends it: forwarded to the active controller, which removes the
//! voter with exactly that id and directory id (VOTER_NOT_FOUND otherwise, and for the last
//! voter); it stays an observer. The common checks are add_raft_voter.rs's.

use std::sync::Arc;

use controller::raft::ControllerRequest;
use protocol::ErrorCode;
use protocol::generated::{RemoveRaftVoterRequest, RemoveRaftVoterResponse};

use super::RequestContext;
use super::add_raft_voter::{change, check_common};
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: RemoveRaftVoterRequest,
) -> RemoveRaftVoterResponse {
    let result = match check_common(
        broker,
        context,
        request.cluster_id.as_deref(),
        request.voter_id,
        request.voter_directory_id,
    ) {
        Ok(()) => {
            change(
                broker,
                ControllerRequest::RemoveVoter {
                    id: request.voter_id as u64,
                    directory_id: request.voter_directory_id.to_string(),
                },
            )
            .await
        }
        Err(refusal) => Err(refusal),
    };
    let (code, message) = result.err().unwrap_or((ErrorCode::None, None));
    RemoveRaftVoterResponse {
        throttle_time_ms: 0,
        error_code: code.code(),
        error_message: message,
        ..Default::default()
    }
}
