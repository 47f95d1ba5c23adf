//! Metadata: the cluster's brokers, controller and topics (partitions with leader, replicas and
//! ISR) as plain values, and the client's address book refreshed from each answer.
//!
//! Topics are asked for without auto-creation: a command naming a topic that does not exist
//! gets UNKNOWN_TOPIC_OR_PARTITION rather than a new topic with the broker's defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use protocol::generated::metadata_request::{MetadataRequest, MetadataRequestTopic};
use protocol::{ApiKey, ErrorCode, Uuid};

use crate::{Client, ClientError, Retry, Target, body, expect_response, is_connection_error};

/// A broker as Metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    /// -1 when the partition has no leader.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    pub error_code: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    /// `Uuid::ZERO` from brokers older than Metadata v10.
    pub topic_id: Uuid,
    pub is_internal: bool,
    pub error_code: i16,
    /// Sorted by partition index.
    pub partitions: Vec<PartitionMetadata>,
}

impl TopicMetadata {
    pub fn partition(&self, partition: i32) -> Option<&PartitionMetadata> {
        self.partitions.iter().find(|p| p.partition == partition)
    }

    /// The replication factor: the replica count of partition 0 (Kafka's tools show the same).
    pub fn replication_factor(&self) -> usize {
        self.partitions.first().map_or(0, |p| p.replicas.len())
    }

    /// `partition`'s metadata, or UNKNOWN_TOPIC_OR_PARTITION when the topic lacks it.
    pub fn require_partition(&self, partition: i32) -> Result<&PartitionMetadata, ClientError> {
        self.partition(partition).ok_or_else(|| {
            ClientError::from_code(
                format!("topic {} partition {partition}", self.name),
                ErrorCode::UnknownTopicOrPartition.code(),
                Some(format!(
                    "the topic has {} partitions",
                    self.partitions.len()
                )),
            )
        })
    }

    /// The leader of `partition`, or the error a client would get asking it.
    pub fn leader(&self, partition: i32) -> Result<i32, ClientError> {
        let metadata = self.require_partition(partition)?;
        if metadata.leader < 0 {
            return Err(ClientError::from_code(
                format!("topic {} partition {partition}", self.name),
                ErrorCode::LeaderNotAvailable.code(),
                None,
            ));
        }
        Ok(metadata.leader)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    /// -1 when the broker does not say.
    pub controller_id: i32,
    pub brokers: Vec<BrokerAddress>,
    /// By name; topics the broker answered with an error keep it in `error_code`.
    pub topics: BTreeMap<String, TopicMetadata>,
}

impl Client {
    /// Metadata for `topics` (`None`: every topic; `Some(&[])`: brokers only). Refreshes the
    /// address book.
    pub async fn metadata(
        &mut self,
        topics: Option<&[&str]>,
    ) -> Result<ClusterMetadata, ClientError> {
        let request = MetadataRequest {
            topics: topics.map(|names| {
                names
                    .iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some(name.to_string()),
                        ..Default::default()
                    })
                    .collect()
            }),
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        // A lost connection is tried again on another broker (the failed one is closed).
        let mut retry = Retry::new(self);
        let response = loop {
            match self
                .send(Target::Any, ApiKey::Metadata, Duration::ZERO, |_| {
                    body(request.clone())
                })
                .await
            {
                Ok((_, response)) => break response,
                Err(error) if is_connection_error(&error) && retry.wait().await => {}
                Err(error) => return Err(error),
            }
        };
        let response = expect_response!(response, Metadata);
        let brokers: Vec<BrokerAddress> = response
            .brokers
            .into_iter()
            .map(|b| BrokerAddress {
                node_id: b.node_id,
                host: b.host,
                port: b.port,
                rack: b.rack,
            })
            .collect();
        for broker in &brokers {
            self.learn_broker(broker.node_id, &broker.host, broker.port);
        }
        let topics = response
            .topics
            .into_iter()
            .filter_map(|topic| {
                let name = topic.name?;
                let mut partitions: Vec<PartitionMetadata> = topic
                    .partitions
                    .into_iter()
                    .map(|p| PartitionMetadata {
                        partition: p.partition_index,
                        leader: p.leader_id,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes,
                        isr: p.isr_nodes,
                        offline_replicas: p.offline_replicas,
                        error_code: p.error_code,
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Some((
                    name.clone(),
                    TopicMetadata {
                        name,
                        topic_id: topic.topic_id,
                        is_internal: topic.is_internal,
                        error_code: topic.error_code,
                        partitions,
                    },
                ))
            })
            .collect();
        Ok(ClusterMetadata {
            cluster_id: response.cluster_id,
            controller_id: response.controller_id,
            brokers,
            topics,
        })
    }

    /// One topic's metadata, waiting (bounded) while its partitions have no leader yet, as
    /// right after it was created. A missing topic is UNKNOWN_TOPIC_OR_PARTITION at once.
    pub async fn topic(&mut self, name: &str) -> Result<TopicMetadata, ClientError> {
        let mut retry = Retry::new(self);
        loop {
            let mut metadata = self.metadata(Some(&[name])).await?;
            let topic = metadata.topics.remove(name).ok_or_else(|| {
                ClientError::from_code(
                    format!("topic {name}"),
                    ErrorCode::UnknownTopicOrPartition.code(),
                    None,
                )
            })?;
            let leaderless = topic.error_code == ErrorCode::LeaderNotAvailable.code()
                || (topic.error_code == 0
                    && (topic.partitions.is_empty()
                        || topic.partitions.iter().any(|p| p.leader < 0)));
            if leaderless && retry.wait().await {
                continue;
            }
            crate::error::check(|| format!("topic {name}"), topic.error_code, None)?;
            return Ok(topic);
        }
    }

    /// The name of each topic id (OffsetFetch v10 and ConsumerGroupHeartbeat name topics by id).
    pub async fn topic_names_by_id(&mut self) -> Result<BTreeMap<Uuid, String>, ClientError> {
        let metadata = self.metadata(None).await?;
        Ok(metadata
            .topics
            .into_values()
            .filter(|t| t.topic_id != Uuid::ZERO)
            .map(|t| (t.topic_id, t.name))
            .collect())
    }
}
