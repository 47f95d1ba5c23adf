//! Consumer groups from the outside: finding a group's coordinator (FindCoordinator), listing
//! groups on every broker (ListGroups), describing one (ConsumerGroupDescribe for KIP-848
//! groups, DescribeGroups for classic ones), reading and committing its offsets (OffsetFetch,
//! OffsetCommit) and deleting it (DeleteGroups).
//!
//! Every request to a coordinator goes through `group_request`, which finds the coordinator
//! again and retries while the answer says it moved or is loading (NOT_COORDINATOR,
//! COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS), as Kafka's clients do. Membership
//! (ConsumerGroupHeartbeat) is `member.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use protocol::generated::consumer_group_describe_request::ConsumerGroupDescribeRequest;
use protocol::generated::consumer_protocol_assignment::ConsumerProtocolAssignment;
use protocol::generated::delete_groups_request::DeleteGroupsRequest;
use protocol::generated::describe_groups_request::DescribeGroupsRequest;
use protocol::generated::find_coordinator_request::FindCoordinatorRequest;
use protocol::generated::list_groups_request::ListGroupsRequest;
use protocol::generated::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use protocol::generated::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use protocol::{ApiKey, ErrorCode, Message, RequestBody, ResponseBody, Uuid};

use crate::error::check;
use crate::{Client, ClientError, Retry, Target, TopicMetadata, body, expect_response};

/// FindCoordinator's key type for groups.
const KEY_TYPE_GROUP: i8 = 0;

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// `consumer`, `classic`, `share`, ... (empty before ListGroups v5).
    pub group_type: String,
    /// Empty before ListGroups v4.
    pub state: String,
    pub protocol_type: String,
}

/// A member and the partitions it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// Topic name -> partitions.
    pub assignment: BTreeMap<String, Vec<i32>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// `consumer` (KIP-848) or `classic`.
    pub group_type: String,
    pub state: String,
    /// The group epoch (consumer groups) or -1.
    pub epoch: i32,
    pub members: Vec<MemberDescription>,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Who commits: a member of the group, or an outsider (the group must then be empty).
#[derive(Debug, Clone, Copy)]
pub struct Committer<'a> {
    pub member_id: &'a str,
    /// The member epoch (KIP-848) or generation; -1 for an outsider.
    pub epoch: i32,
}

impl Committer<'static> {
    /// Kafka's admin client commits this way (`alterConsumerGroupOffsets`).
    pub const OUTSIDER: Committer<'static> = Committer {
        member_id: "",
        epoch: -1,
    };
}

impl Client {
    /// The node coordinating `group`, retrying while no coordinator is available.
    pub async fn find_coordinator(&mut self, group: &str) -> Result<i32, ClientError> {
        let mut retry = Retry::new(self);
        loop {
            match self.find_coordinator_once(group).await {
                Err(error) if error.is_retriable() && retry.wait().await => {}
                other => return other,
            }
        }
    }

    async fn find_coordinator_once(&mut self, group: &str) -> Result<i32, ClientError> {
        let (version, response) = self
            .send(
                Target::Any,
                ApiKey::FindCoordinator,
                Duration::ZERO,
                |version| {
                    let mut request = FindCoordinatorRequest {
                        key_type: KEY_TYPE_GROUP,
                        ..Default::default()
                    };
                    // v4 batches keys.
                    if version >= 4 {
                        request.coordinator_keys = vec![group.to_string()];
                    } else {
                        request.key = group.to_string();
                    }
                    body(request)
                },
            )
            .await?;
        let response = expect_response!(response, FindCoordinator);
        let context = || format!("finding the coordinator of group {group}");
        let (node_id, host, port) = if version >= 4 {
            let coordinator = response
                .coordinators
                .into_iter()
                .find(|c| c.key == group)
                .ok_or_else(|| ClientError::Invalid(format!("{}: no answer", context())))?;
            check(
                context,
                coordinator.error_code,
                coordinator.error_message.as_ref(),
            )?;
            (coordinator.node_id, coordinator.host, coordinator.port)
        } else {
            check(
                context,
                response.error_code,
                response.error_message.as_ref(),
            )?;
            (response.node_id, response.host, response.port)
        };
        self.learn_broker(node_id, &host, port);
        Ok(node_id)
    }

    /// Sends a request to `group`'s coordinator; `parse` turns the answer into a value or an
    /// error, and coordinator errors (or a lost connection) find the coordinator and try again.
    pub(crate) async fn group_request<T>(
        &mut self,
        group: &str,
        api: ApiKey,
        build: impl Fn(i16) -> RequestBody,
        parse: impl Fn(i16, ResponseBody) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut retry = Retry::new(self);
        loop {
            let node = self.find_coordinator(group).await?;
            let result = match self
                .send(Target::Node(node), api, Duration::ZERO, &build)
                .await
            {
                Ok((version, response)) => parse(version, response),
                Err(error) => Err(error),
            };
            match result {
                Err(error) if retry_with_coordinator(&error) && retry.wait().await => {}
                other => return other,
            }
        }
    }

    /// Every group of the cluster: ListGroups asked of each broker (each lists the groups it
    /// coordinates).
    pub async fn list_groups(&mut self) -> Result<Vec<GroupListing>, ClientError> {
        let metadata = self.metadata(Some(&[])).await?;
        let mut groups = BTreeMap::new();
        for broker in metadata.brokers {
            let (_, response) = self
                .send(
                    Target::Node(broker.node_id),
                    ApiKey::ListGroups,
                    Duration::ZERO,
                    |_| body(ListGroupsRequest::default()),
                )
                .await?;
            let response = expect_response!(response, ListGroups);
            check(
                || format!("listing the groups of broker {}", broker.node_id),
                response.error_code,
                None,
            )?;
            for group in response.groups {
                groups.insert(
                    group.group_id.clone(),
                    GroupListing {
                        group_id: group.group_id,
                        group_type: group.group_type,
                        state: group.group_state,
                        protocol_type: group.protocol_type,
                    },
                );
            }
        }
        Ok(groups.into_values().collect())
    }

    /// A group's state and members: ConsumerGroupDescribe, or DescribeGroups when the group is
    /// a classic one (or the broker does not serve KIP-848).
    pub async fn describe_group(&mut self, group: &str) -> Result<GroupDescription, ClientError> {
        if self.serves(ApiKey::ConsumerGroupDescribe).await? {
            let described = self
                .group_request(
                    group,
                    ApiKey::ConsumerGroupDescribe,
                    |_| {
                        body(ConsumerGroupDescribeRequest {
                            group_ids: vec![group.to_string()],
                            ..Default::default()
                        })
                    },
                    |_, response| {
                        let response = expect_response!(response, ConsumerGroupDescribe);
                        let described = response
                            .groups
                            .into_iter()
                            .find(|g| g.group_id == group)
                            .ok_or_else(|| no_answer("ConsumerGroupDescribe", group))?;
                        if described.error_code == ErrorCode::GroupIdNotFound.code() {
                            // Not a consumer group: perhaps a classic one.
                            return Ok(None);
                        }
                        check(
                            || format!("describing group {group}"),
                            described.error_code,
                            described.error_message.as_ref(),
                        )?;
                        Ok(Some(GroupDescription {
                            group_id: described.group_id,
                            group_type: "consumer".into(),
                            state: described.group_state,
                            epoch: described.group_epoch,
                            members: described
                                .members
                                .into_iter()
                                .map(|m| MemberDescription {
                                    member_id: m.member_id,
                                    client_id: m.client_id,
                                    client_host: m.client_host,
                                    assignment: m
                                        .assignment
                                        .topic_partitions
                                        .into_iter()
                                        .map(|t| (t.topic_name, t.partitions))
                                        .collect(),
                                })
                                .collect(),
                        }))
                    },
                )
                .await?;
            if let Some(described) = described {
                return Ok(described);
            }
        }
        self.group_request(
            group,
            ApiKey::DescribeGroups,
            |_| {
                body(DescribeGroupsRequest {
                    groups: vec![group.to_string()],
                    ..Default::default()
                })
            },
            |_, response| {
                let response = expect_response!(response, DescribeGroups);
                let described = response
                    .groups
                    .into_iter()
                    .find(|g| g.group_id == group)
                    .ok_or_else(|| no_answer("DescribeGroups", group))?;
                check(
                    || format!("describing group {group}"),
                    described.error_code,
                    described.error_message.as_ref(),
                )?;
                if described.group_state == "Dead" {
                    return Err(ClientError::from_code(
                        format!("describing group {group}"),
                        ErrorCode::GroupIdNotFound.code(),
                        None,
                    ));
                }
                Ok(GroupDescription {
                    group_id: described.group_id,
                    group_type: "classic".into(),
                    state: described.group_state,
                    epoch: -1,
                    members: described
                        .members
                        .into_iter()
                        .map(|m| MemberDescription {
                            member_id: m.member_id,
                            client_id: m.client_id,
                            client_host: m.client_host,
                            assignment: classic_assignment(&m.member_assignment),
                        })
                        .collect(),
                })
            },
        )
        .await
    }

    /// The group's committed offsets: of `topic` only, or of every topic (`None`).
    pub async fn committed_offsets(
        &mut self,
        group: &str,
        topic: Option<&TopicMetadata>,
    ) -> Result<Vec<CommittedOffset>, ClientError> {
        // OffsetFetch v10 names topics by id only.
        let names: BTreeMap<Uuid, String> = match topic {
            Some(topic) => [(topic.topic_id, topic.name.clone())].into(),
            None if self
                .connection(Target::Any)
                .await?
                .version(ApiKey::OffsetFetch)?
                >= 10 =>
            {
                self.topic_names_by_id().await?
            }
            None => BTreeMap::new(),
        };
        self.group_request(
            group,
            ApiKey::OffsetFetch,
            |version| {
                let partitions =
                    |t: &TopicMetadata| t.partitions.iter().map(|p| p.partition).collect();
                if version >= 8 {
                    body(OffsetFetchRequest {
                        groups: vec![OffsetFetchRequestGroup {
                            group_id: group.to_string(),
                            member_id: None,
                            member_epoch: -1,
                            topics: topic.map(|t| {
                                vec![OffsetFetchRequestTopics {
                                    name: t.name.clone(),
                                    topic_id: t.topic_id,
                                    partition_indexes: partitions(t),
                                    ..Default::default()
                                }]
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    })
                } else {
                    body(OffsetFetchRequest {
                        group_id: group.to_string(),
                        topics: topic.map(|t| {
                            vec![OffsetFetchRequestTopic {
                                name: t.name.clone(),
                                partition_indexes: partitions(t),
                                ..Default::default()
                            }]
                        }),
                        ..Default::default()
                    })
                }
            },
            |version, response| {
                let response = expect_response!(response, OffsetFetch);
                let context = || format!("fetching the offsets of group {group}");
                let mut offsets = Vec::new();
                // (topic, partition, offset, error)
                let mut found: Vec<(String, i32, i64, i16)> = Vec::new();
                if version >= 8 {
                    let answer = response
                        .groups
                        .into_iter()
                        .find(|g| g.group_id == group)
                        .ok_or_else(|| no_answer("OffsetFetch", group))?;
                    check(context, answer.error_code, None)?;
                    for t in answer.topics {
                        let name = if version >= 10 {
                            names
                                .get(&t.topic_id)
                                .cloned()
                                .unwrap_or_else(|| t.topic_id.to_string())
                        } else {
                            t.name
                        };
                        for p in t.partitions {
                            found.push((
                                name.clone(),
                                p.partition_index,
                                p.committed_offset,
                                p.error_code,
                            ));
                        }
                    }
                } else {
                    check(context, response.error_code, None)?;
                    for t in response.topics {
                        for p in t.partitions {
                            found.push((
                                t.name.clone(),
                                p.partition_index,
                                p.committed_offset,
                                p.error_code,
                            ));
                        }
                    }
                }
                for (topic, partition, offset, error_code) in found {
                    check(
                        || format!("fetching the offset of group {group} for {topic}-{partition}"),
                        error_code,
                        None,
                    )?;
                    if offset >= 0 {
                        offsets.push(CommittedOffset {
                            topic,
                            partition,
                            offset,
                        });
                    }
                }
                offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
                Ok(offsets)
            },
        )
        .await
    }

    /// OffsetCommit of `offsets` (partition -> next offset to read) of `topic` for `group`.
    pub async fn commit_offsets(
        &mut self,
        group: &str,
        committer: Committer<'_>,
        topic: &TopicMetadata,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<(), ClientError> {
        if offsets.is_empty() {
            return Ok(());
        }
        self.group_request(
            group,
            ApiKey::OffsetCommit,
            |_| {
                body(OffsetCommitRequest {
                    group_id: group.to_string(),
                    generation_id_or_member_epoch: committer.epoch,
                    member_id: committer.member_id.to_string(),
                    group_instance_id: None,
                    topics: vec![OffsetCommitRequestTopic {
                        // v10 names the topic by id, earlier versions by name.
                        name: topic.name.clone(),
                        topic_id: topic.topic_id,
                        partitions: offsets
                            .iter()
                            .map(|(&partition, &offset)| OffsetCommitRequestPartition {
                                partition_index: partition,
                                committed_offset: offset,
                                committed_metadata: Some(String::new()),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            },
            |_, response| {
                let response = expect_response!(response, OffsetCommit);
                for t in response.topics {
                    for p in t.partitions {
                        check(
                            || {
                                format!(
                                    "committing the offset of group {group} for {}-{}",
                                    topic.name, p.partition_index
                                )
                            },
                            p.error_code,
                            None,
                        )?;
                    }
                }
                Ok(())
            },
        )
        .await
    }

    /// DeleteGroups for one group (it must have no members).
    pub async fn delete_group(&mut self, group: &str) -> Result<(), ClientError> {
        self.group_request(
            group,
            ApiKey::DeleteGroups,
            |_| {
                body(DeleteGroupsRequest {
                    groups_names: vec![group.to_string()],
                    ..Default::default()
                })
            },
            |_, response| {
                let response = expect_response!(response, DeleteGroups);
                let result = response
                    .results
                    .into_iter()
                    .find(|r| r.group_id == group)
                    .ok_or_else(|| no_answer("DeleteGroups", group))?;
                check(
                    || format!("deleting group {group}"),
                    result.error_code,
                    result.error_message.as_ref(),
                )
            },
        )
        .await
    }
}

/// Coordinator moves and loads, and lost connections, are retried after finding it again.
fn retry_with_coordinator(error: &ClientError) -> bool {
    match error.kafka_code() {
        Some(code) => matches!(
            code,
            ErrorCode::NotCoordinator
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::CoordinatorLoadInProgress
        ),
        None => crate::is_connection_error(error),
    }
}

fn no_answer(api: &str, group: &str) -> ClientError {
    ClientError::Invalid(format!("{api} did not answer for group {group}"))
}

/// A classic member's assignment (Kafka's `ConsumerProtocolAssignment`, version first); empty
/// when it is not the consumer protocol's.
fn classic_assignment(bytes: &Bytes) -> BTreeMap<String, Vec<i32>> {
    let mut buf = bytes.clone();
    if buf.len() < 2 {
        return BTreeMap::new();
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let _ = bytes::Buf::get_i16(&mut buf);
    // Newer versions only add fields: read them as the newest this codec knows.
    let version = version.clamp(0, ConsumerProtocolAssignment::VERSIONS.1);
    match ConsumerProtocolAssignment::decode(&mut buf, version) {
        Ok(assignment) => assignment
            .assigned_partitions
            .into_iter()
            .map(|t| (t.topic, t.partitions))
            .collect(),
        Err(_) => BTreeMap::new(),
    }
}
