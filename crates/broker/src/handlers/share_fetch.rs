//! ShareFetch (v1-2, KIP-932): a share consumer's fetch. In order: the share session's epoch is
//! checked and its partitions updated (`share::session`), the piggybacked acknowledgements are
//! applied (each partition's outcome in `AcknowledgeErrorCode`), and records are acquired for
//! the member from the share-partitions of the session this broker leads (`share::partition`),
//! waiting up to `max_wait_ms` while none can be acquired. The final epoch (-1) only
//! acknowledges, closes the session and releases what the member still holds.
//!
//! - Records are whole batches read from the log; `AcquiredRecords` says which offsets of
//!   them the member holds, and for how many deliveries. At most `max_records` are acquired
//!   per request, across partitions; in the batch-optimized mode (v1, and v2 with
//!   `ShareAcquireMode` 0) the last batch touched is acquired whole, in the record-limit mode
//!   (KIP-1206, `ShareAcquireMode` 1) exactly `max_records` at most.
//! - `AcquisitionLockTimeoutMs` is `group.share.record.lock.duration.ms`.
//! - With `IsRenewAck` (v2, KIP-1222) the request only acknowledges (RENEW restarts locks) and
//!   must ask for no records (MaxWaitMs, MinBytes, MaxRecords, BatchSize 0, else
//!   INVALID_REQUEST).
//! - Group membership is not checked (as in Kafka): records are locked to the member id the
//!   request names.
//! - A share-partition starts, when first fetched, where the group's `share.auto.offset.reset`
//!   says (`group_configs.rs`; by default `latest`, the high watermark); the group's lock
//!   duration, delivery count limit and in-flight bound apply to it.
//! - Errors: a missing group or member id is INVALID_REQUEST; acknowledgements with the
//!   opening epoch are INVALID_REQUEST; session errors are top-level
//!   (SHARE_SESSION_NOT_FOUND, INVALID_SHARE_SESSION_EPOCH, SHARE_SESSION_LIMIT_REACHED); a
//!   partition not led here is NOT_LEADER_OR_FOLLOWER; READ on the group
//!   (GROUP_AUTHORIZATION_FAILED, top-level) and on each topic (TOPIC_AUTHORIZATION_FAILED).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use protocol::codec::Records;
use protocol::generated::share_fetch_response::{
    AcquiredRecords, LeaderIdAndEpoch, PartitionData, ShareFetchableTopicResponse,
};
use protocol::generated::{ShareFetchRequest, ShareFetchResponse};
use protocol::{ErrorCode, Uuid};
use security::acl::AclOperation;
use tokio::time::Instant;

use super::RequestContext;
use super::long_poll::AppendWait;
use super::share_common::{Acknowledger, acknowledge, check_member, leader_partition};
use crate::broker::Broker;
use crate::share::session::{FINAL_EPOCH, INITIAL_EPOCH, SessionKey};
use crate::share::{ShareKey, read};

/// The longest a ShareFetch waits for records.
const SHARE_FETCH_WAIT_MS_MAX: i32 = 30_000;
/// The most records one ShareFetch acquires, whatever it asks.
const SHARE_FETCH_RECORDS_MAX: i32 = 10_000;

#[derive(Default)]
struct Answer {
    error: Option<ErrorCode>,
    acknowledge: Option<ErrorCode>,
    records: Bytes,
    acquired: Vec<AcquiredRecords>,
}

impl Answer {
    fn is_empty(&self) -> bool {
        self.error.is_none() && self.acknowledge.is_none() && self.acquired.is_empty()
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: ShareFetchRequest,
) -> ShareFetchResponse {
    let group_id = request.group_id.clone().unwrap_or_default();
    let member_id = request.member_id.clone().unwrap_or_default();
    let settings = crate::group_configs::share_settings(broker, &group_id);
    let lock_ms = settings.limits.lock_duration_ms.min(i32::MAX as i64) as i32;
    let top = |code: ErrorCode, message: &str| ShareFetchResponse {
        error_code: code.code(),
        error_message: Some(message.to_owned()),
        acquisition_lock_timeout_ms: lock_ms,
        ..Default::default()
    };
    if let Err((code, message)) = check_member(broker, context, &group_id, &member_id) {
        return top(code, message);
    }
    let epoch = request.share_session_epoch;
    let has_acks = request
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .any(|p| !p.acknowledgement_batches.is_empty());
    if epoch == INITIAL_EPOCH && has_acks {
        return top(
            ErrorCode::InvalidRequest,
            "Acknowledgements are not allowed when opening a share session.",
        );
    }
    let renew_allowed = context.api_version >= 2 && request.is_renew_ack;
    // KIP-1222: a renewing request only acknowledges; it must ask for nothing.
    if renew_allowed
        && (request.max_wait_ms != 0
            || request.min_bytes != 0
            || request.max_records != 0
            || request.batch_size != 0)
    {
        return top(
            ErrorCode::InvalidRequest,
            "A ShareFetch with IsRenewAck must have MaxWaitMs, MinBytes, MaxRecords and BatchSize 0.",
        );
    }
    let key = SessionKey {
        group_id: group_id.clone(),
        member_id: member_id.clone(),
    };
    let requested: Vec<(Uuid, i32)> = request
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic_id, p.partition_index)))
        .collect();
    let forgotten: Vec<(Uuid, i32)> = request
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic_id, *p)))
        .collect();
    let now = crate::share::now_ms();
    let view = {
        let mut sessions = broker.shares.sessions.lock().unwrap();
        sessions.fetch(&key, epoch, &requested, &forgotten, now)
    };
    let view = match view {
        Ok(view) => view,
        Err(code) => return top(code, "The share session could not be used."),
    };
    let mut answers: BTreeMap<(Uuid, i32), Answer> = BTreeMap::new();
    // Authorization by topic name; unknown ids are answered by the partition lookups.
    let denied = |topic_id: Uuid| {
        broker
            .metadata
            .topic_name(topic_id)
            .is_some_and(|name| !broker.allows_topic(context, AclOperation::Read, &name))
    };
    let who = Acknowledger {
        group_id: &group_id,
        member_id: &member_id,
        limits: settings.limits,
        renew_allowed,
    };
    for topic in &request.topics {
        for partition in &topic.partitions {
            if partition.acknowledgement_batches.is_empty() {
                continue;
            }
            let outcome = if denied(topic.topic_id) {
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
            answers
                .entry((topic.topic_id, partition.partition_index))
                .or_default()
                .acknowledge = Some(outcome.err().unwrap_or(ErrorCode::None));
        }
    }
    if view.closed || epoch == FINAL_EPOCH {
        let changed = broker
            .shares
            .release_member(&group_id, &member_id, &settings.limits);
        broker.shares.persist_later(broker, changed);
        return response(answers, lock_ms);
    }
    if renew_allowed {
        return response(answers, lock_ms);
    }
    let member: Arc<str> = Arc::from(member_id.as_str());
    let limits = settings.limits;
    let max_records = request.max_records.clamp(1, SHARE_FETCH_RECORDS_MAX) as usize;
    let whole_batches = !(context.api_version >= 2 && request.share_acquire_mode == 1);
    let max_bytes = request.max_bytes.max(1) as u64;
    let wait_ms = request.max_wait_ms.clamp(0, SHARE_FETCH_WAIT_MS_MAX);
    let deadline = Instant::now() + Duration::from_millis(wait_ms as u64);
    loop {
        // Armed before looking, so a release or an append between the look and the wait
        // still wakes this fetch.
        let changed = broker.shares.changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let mut led = Vec::new();
        for &(topic_id, index) in &view.partitions {
            if denied(topic_id) {
                answers.entry((topic_id, index)).or_default().error =
                    Some(ErrorCode::TopicAuthorizationFailed);
                continue;
            }
            match leader_partition(broker, topic_id, index) {
                Ok(partition) => led.push((topic_id, index, partition)),
                Err(error) => {
                    answers.entry((topic_id, index)).or_default().error = Some(error.error_code());
                }
            }
        }
        let appended = AppendWait::arm(led.iter().map(|(_, _, p)| p));
        let mut remaining = max_records;
        let mut bytes_left = max_bytes;
        for (topic_id, index, partition) in &led {
            let (topic_id, index) = (*topic_id, *index);
            if remaining == 0 || bytes_left == 0 {
                break;
            }
            let share_key = ShareKey {
                group_id: group_id.clone(),
                topic_id,
                partition: index,
            };
            let share = match broker
                .shares
                .load(
                    broker,
                    &share_key,
                    partition,
                    settings.auto_offset_reset,
                    &limits,
                )
                .await
            {
                Ok(share) => share,
                // The share coordinator is starting or moving (e.g. `__share_group_state` is
                // being created): nothing to deliver yet, as Kafka's fetch waits while a
                // share-partition initializes, rather than an error the client surfaces.
                Err(
                    ErrorCode::CoordinatorNotAvailable
                    | ErrorCode::CoordinatorLoadInProgress
                    | ErrorCode::NotCoordinator,
                ) => continue,
                Err(code) => {
                    answers.entry((topic_id, index)).or_default().error = Some(code);
                    continue;
                }
            };
            let mut share = share.lock().unwrap();
            if let Ok(log_start) = partition.log_start_offset() {
                share.truncate_before(log_start);
            }
            let Some(offset) = share.next_fetch_offset(&limits) else {
                continue;
            };
            let data = match read::read(partition, offset, bytes_left) {
                Ok(data) => data,
                Err(error) => {
                    answers.entry((topic_id, index)).or_default().error = Some(error.error_code());
                    continue;
                }
            };
            if data.batches.is_empty() {
                continue;
            }
            let acquired = share.acquire(
                &member,
                &data.bounds(),
                remaining,
                whole_batches,
                crate::share::now_ms(),
                &limits,
            );
            drop(share);
            let Some(last) = acquired.last() else {
                continue;
            };
            let records = data.through(last.last_offset);
            let count: i64 = acquired
                .iter()
                .map(|r| r.last_offset - r.first_offset + 1)
                .sum();
            remaining = remaining.saturating_sub(count as usize);
            bytes_left = bytes_left.saturating_sub(records.len() as u64);
            let answer = answers.entry((topic_id, index)).or_default();
            answer.records = records;
            answer.acquired = acquired
                .into_iter()
                .map(|r| AcquiredRecords {
                    first_offset: r.first_offset,
                    last_offset: r.last_offset,
                    delivery_count: r.delivery_count,
                    ..Default::default()
                })
                .collect();
        }
        let got_records = answers.values().any(|a| !a.acquired.is_empty());
        let got_errors = answers.values().any(|a| a.error.is_some());
        if got_records || got_errors || Instant::now() >= deadline || broker.is_shutting_down() {
            break;
        }
        tokio::select! {
            _ = appended.wait(broker, deadline) => {}
            _ = changed => {}
        }
    }
    response(answers, lock_ms)
}

fn response(answers: BTreeMap<(Uuid, i32), Answer>, lock_ms: i32) -> ShareFetchResponse {
    let mut responses: Vec<ShareFetchableTopicResponse> = Vec::new();
    for ((topic_id, index), answer) in answers {
        if answer.is_empty() {
            continue;
        }
        let data = PartitionData {
            partition_index: index,
            error_code: answer.error.unwrap_or(ErrorCode::None).code(),
            acknowledge_error_code: answer.acknowledge.unwrap_or(ErrorCode::None).code(),
            current_leader: LeaderIdAndEpoch {
                leader_id: -1,
                leader_epoch: -1,
                ..Default::default()
            },
            records: Records::Bytes(answer.records),
            acquired_records: answer.acquired,
            ..Default::default()
        };
        match responses.last_mut() {
            Some(last) if last.topic_id == topic_id => last.partitions.push(data),
            _ => responses.push(ShareFetchableTopicResponse {
                topic_id,
                partitions: vec![data],
                ..Default::default()
            }),
        }
    }
    ShareFetchResponse {
        acquisition_lock_timeout_ms: lock_ms,
        responses,
        ..Default::default()
    }
}
