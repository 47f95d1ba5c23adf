//! ShareAcknowledge (v1-2, KIP-932): acknowledgements outside a fetch. The share session's
//! epoch is checked as for ShareFetch (it must continue or close a session, never open one);
//! each partition's batches are applied all-or-nothing (`share::partition`), with
//! INVALID_RECORD_STATE for records the member does not hold. The final epoch (-1) closes the
//! session and releases what the member still holds. RENEW (KIP-1222) needs v2 and
//! `IsRenewAck`.

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::share_acknowledge_response::{
    LeaderIdAndEpoch, PartitionData, ShareAcknowledgeTopicResponse,
};
use protocol::generated::{ShareAcknowledgeRequest, ShareAcknowledgeResponse};
use security::acl::AclOperation;

use super::RequestContext;
use super::share_common::{Acknowledger, acknowledge, check_member};
use crate::broker::Broker;
use crate::share::session::SessionKey;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: ShareAcknowledgeRequest,
) -> ShareAcknowledgeResponse {
    let group_id = request.group_id.clone().unwrap_or_default();
    let member_id = request.member_id.clone().unwrap_or_default();
    let limits = crate::group_configs::share_settings(broker, &group_id).limits;
    let lock_ms = limits.lock_duration_ms.min(i32::MAX as i64) as i32;
    let top = |code: ErrorCode, message: &str| ShareAcknowledgeResponse {
        error_code: code.code(),
        error_message: Some(message.to_owned()),
        acquisition_lock_timeout_ms: lock_ms,
        ..Default::default()
    };
    if let Err((code, message)) = check_member(broker, context, &group_id, &member_id) {
        return top(code, message);
    }
    let key = SessionKey {
        group_id: group_id.clone(),
        member_id: member_id.clone(),
    };
    let closed = {
        let mut sessions = broker.shares.sessions.lock().unwrap();
        sessions.acknowledge(&key, request.share_session_epoch, crate::share::now_ms())
    };
    let closed = match closed {
        Ok(closed) => closed,
        Err(code) => return top(code, "The share session could not be used."),
    };
    let who = Acknowledger {
        group_id: &group_id,
        member_id: &member_id,
        limits,
        renew_allowed: context.api_version >= 2 && request.is_renew_ack,
    };
    let mut responses = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = broker.metadata.topic_name(topic.topic_id);
        let readable = name
            .as_deref()
            .is_none_or(|n| broker.allows_topic(context, AclOperation::Read, n));
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            let outcome = if !readable {
                Err(ErrorCode::TopicAuthorizationFailed)
            } else {
                let wire = partition.acknowledgement_batches.iter().map(|b| {
                    (
                        b.first_offset,
                        b.last_offset,
                        b.acknowledge_types.as_slice(),
                    )
                });
                acknowledge(
                    broker,
                    &who,
                    topic.topic_id,
                    partition.partition_index,
                    wire,
                )
                .await
            };
            partitions.push(PartitionData {
                partition_index: partition.partition_index,
                error_code: outcome.err().unwrap_or(ErrorCode::None).code(),
                current_leader: LeaderIdAndEpoch {
                    leader_id: -1,
                    leader_epoch: -1,
                    ..Default::default()
                },
                ..Default::default()
            });
        }
        responses.push(ShareAcknowledgeTopicResponse {
            topic_id: topic.topic_id,
            partitions,
            ..Default::default()
        });
    }
    if closed {
        let changed = broker.shares.release_member(&group_id, &member_id, &limits);
        broker.shares.persist_later(broker, changed);
    }
    ShareAcknowledgeResponse {
        acquisition_lock_timeout_ms: lock_ms,
        responses,
        ..Default::default()
    }
}
