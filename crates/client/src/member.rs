//! Membership of a KIP-848 consumer group (`group.protocol=consumer`): the
//! ConsumerGroupHeartbeat loop. The coordinator assigns partitions itself, so the member only
//! joins (epoch 0, its subscription, no partitions owned), takes the assignment each answer may
//! carry, acknowledges it by listing what it owns in the next heartbeat, heartbeats every
//! `heartbeat_interval_ms`, and leaves with epoch -1.
//!
//! The member id is made here (ConsumerGroupHeartbeat v1, KIP-1082: the client's own UUID);
//! a v0 coordinator may answer with another, which is then used. A member fenced by the
//! coordinator (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID) loses its partitions and joins again
//! with epoch 0, as Kafka's consumer does.
//!
//! Not here: what the consumer does with the partitions (`consumer.rs` commits revoked ones
//! before acknowledging), static membership, regex subscriptions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use protocol::generated::consumer_group_heartbeat_request::{
    ConsumerGroupHeartbeatRequest, TopicPartitions,
};
use protocol::{ApiKey, ErrorCode, Uuid};

use crate::error::check;
use crate::{Client, ClientError, body, expect_response};

/// `rebalance.timeout.ms` sent on joining: how long the coordinator waits for this member to
/// give up revoked partitions (Kafka's consumer sends `max.poll.interval.ms`, 5 minutes).
const REBALANCE_TIMEOUT_MS: i32 = 60_000;
/// While it owns nothing, the member asks again this often rather than every interval.
const UNASSIGNED_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(250);

/// An assignment: topic id -> partitions.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// What a heartbeat changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    /// Nothing to do.
    Unchanged,
    /// The coordinator assigned this set (acknowledge it with `accept`).
    Assigned(Assignment),
    /// The member was fenced and lost every partition; it joins again on the next heartbeat.
    Fenced,
}

/// A member of one consumer group, subscribed to fixed topics.
pub struct GroupMember {
    group_id: String,
    member_id: String,
    /// 0 before joining (or after being fenced); the coordinator's epoch after.
    member_epoch: i32,
    topics: Vec<String>,
    /// What this member owns; sent in the next heartbeat when `acknowledge` is set.
    owned: Assignment,
    acknowledge: bool,
    heartbeat_interval: Duration,
    next_heartbeat: Instant,
}

impl GroupMember {
    /// A member that joins `group_id` on its first heartbeat.
    pub fn new(group_id: &str, topics: Vec<String>) -> Result<GroupMember, ClientError> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)
            .map_err(|e| ClientError::Invalid(format!("making a member id: {e}")))?;
        // A version-4 UUID, shown as Kafka shows ids.
        id[6] = (id[6] & 0x0f) | 0x40;
        id[8] = (id[8] & 0x3f) | 0x80;
        Ok(GroupMember {
            group_id: group_id.to_string(),
            member_id: Uuid(id).to_string(),
            member_epoch: 0,
            topics,
            owned: Assignment::new(),
            acknowledge: false,
            heartbeat_interval: Duration::from_secs(5),
            next_heartbeat: Instant::now(),
        })
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    pub fn member_epoch(&self) -> i32 {
        self.member_epoch
    }

    /// When the next heartbeat is due.
    pub fn next_heartbeat(&self) -> Instant {
        self.next_heartbeat
    }

    /// Records that the caller now owns `assignment`; the next heartbeat (sent at once)
    /// acknowledges it.
    pub fn accept(&mut self, assignment: Assignment) {
        self.owned = assignment;
        self.acknowledge = true;
        self.next_heartbeat = Instant::now();
    }

    /// Sends one heartbeat (joining first if needed).
    pub async fn heartbeat(
        &mut self,
        client: &mut Client,
    ) -> Result<HeartbeatOutcome, ClientError> {
        let joining = self.member_epoch == 0;
        let request = ConsumerGroupHeartbeatRequest {
            group_id: self.group_id.clone(),
            member_id: self.member_id.clone(),
            member_epoch: self.member_epoch,
            rebalance_timeout_ms: if joining { REBALANCE_TIMEOUT_MS } else { -1 },
            subscribed_topic_names: joining.then(|| self.topics.clone()),
            // Joining owns nothing; later heartbeats list what they own only when it changed.
            topic_partitions: if joining {
                Some(Vec::new())
            } else if self.acknowledge {
                Some(
                    self.owned
                        .iter()
                        .map(|(topic_id, partitions)| TopicPartitions {
                            topic_id: *topic_id,
                            partitions: partitions.iter().copied().collect(),
                            ..Default::default()
                        })
                        .collect(),
                )
            } else {
                None
            },
            ..Default::default()
        };
        let group = self.group_id.clone();
        let result = client
            .group_request(
                &group,
                ApiKey::ConsumerGroupHeartbeat,
                |_| body(request.clone()),
                |_, response| {
                    let response = expect_response!(response, ConsumerGroupHeartbeat);
                    check(
                        || format!("heartbeat in group {group}"),
                        response.error_code,
                        response.error_message.as_ref(),
                    )?;
                    Ok(response)
                },
            )
            .await;
        let response = match result {
            Ok(response) => response,
            Err(error)
                if matches!(
                    error.kafka_code(),
                    Some(ErrorCode::FencedMemberEpoch | ErrorCode::UnknownMemberId)
                ) =>
            {
                self.member_epoch = 0;
                self.owned.clear();
                self.acknowledge = false;
                self.next_heartbeat = Instant::now();
                return Ok(HeartbeatOutcome::Fenced);
            }
            Err(error) => return Err(error),
        };
        if let Some(member_id) = response.member_id.filter(|id| !id.is_empty()) {
            self.member_id = member_id;
        }
        self.member_epoch = response.member_epoch;
        if response.heartbeat_interval_ms > 0 {
            self.heartbeat_interval = Duration::from_millis(response.heartbeat_interval_ms as u64);
        }
        self.acknowledge = false;
        let outcome = match response.assignment {
            Some(assignment) => {
                let assignment: Assignment = assignment
                    .topic_partitions
                    .into_iter()
                    .filter(|t| !t.partitions.is_empty())
                    .map(|t| (t.topic_id, t.partitions.into_iter().collect()))
                    .collect();
                if assignment == self.owned {
                    HeartbeatOutcome::Unchanged
                } else {
                    HeartbeatOutcome::Assigned(assignment)
                }
            }
            None => HeartbeatOutcome::Unchanged,
        };
        let interval = if self.owned.is_empty() {
            self.heartbeat_interval.min(UNASSIGNED_HEARTBEAT_INTERVAL)
        } else {
            self.heartbeat_interval
        };
        self.next_heartbeat = Instant::now() + interval;
        Ok(outcome)
    }

    /// Leaves the group (epoch -1); the coordinator reassigns this member's partitions.
    pub async fn leave(&mut self, client: &mut Client) -> Result<(), ClientError> {
        if self.member_epoch <= 0 {
            // Never joined, or already fenced: nothing to leave.
            return Ok(());
        }
        let request = ConsumerGroupHeartbeatRequest {
            group_id: self.group_id.clone(),
            member_id: self.member_id.clone(),
            member_epoch: -1,
            ..Default::default()
        };
        let group = self.group_id.clone();
        let result = client
            .group_request(
                &group,
                ApiKey::ConsumerGroupHeartbeat,
                |_| body(request.clone()),
                |_, response| {
                    let response = expect_response!(response, ConsumerGroupHeartbeat);
                    check(
                        || format!("leaving group {group}"),
                        response.error_code,
                        response.error_message.as_ref(),
                    )
                },
            )
            .await;
        self.member_epoch = 0;
        self.owned.clear();
        match result {
            // Already gone (its session expired): the same end.
            Err(error) if error.kafka_code() == Some(ErrorCode::UnknownMemberId) => Ok(()),
            other => other,
        }
    }
}
