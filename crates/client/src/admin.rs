//! Admin calls: create, delete and configure topics (CreateTopics, DeleteTopics,
//! DescribeConfigs, IncrementalAlterConfigs) and describe the cluster (DescribeCluster, with
//! Metadata for brokers that do not serve it). Each goes to any broker, which forwards what
//! the controller must decide, as Kafka's admin client does.

use std::time::Duration;

use protocol::generated::create_topics_request::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use protocol::generated::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use protocol::generated::describe_cluster_request::DescribeClusterRequest;
use protocol::generated::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use protocol::generated::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};
use protocol::{ApiKey, Uuid};

use crate::error::check;
use crate::{BrokerAddress, Client, ClientError, Target, body, expect_response};

/// Kafka's `ConfigResource.Type.TOPIC`.
const RESOURCE_TOPIC: i8 = 2;
/// Kafka's `ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG`.
pub const SOURCE_DYNAMIC_TOPIC_CONFIG: i8 = 1;
/// Kafka's `ConfigEntry.ConfigSource.DEFAULT_CONFIG`.
pub const SOURCE_DEFAULT_CONFIG: i8 = 5;
/// IncrementalAlterConfigs operations (`AlterConfigOp.OpType`).
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
/// How long the broker may take over a topic change before answering REQUEST_TIMED_OUT.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What CreateTopics answered for a new topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    pub name: String,
    /// `Uuid::ZERO` before CreateTopics v7.
    pub topic_id: Uuid,
    /// -1 when the broker did not say (before v5).
    pub partitions: i32,
    pub replication_factor: i16,
}

/// One configuration entry of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for sensitive values.
    pub value: Option<String>,
    /// Kafka's `ConfigSource` (`SOURCE_DYNAMIC_TOPIC_CONFIG` for a topic override).
    pub source: i8,
    pub read_only: bool,
    pub is_sensitive: bool,
}

/// The cluster as DescribeCluster (or Metadata) shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: Vec<BrokerAddress>,
}

impl Client {
    /// CreateTopics for one topic. `replication_factor` `None` takes the broker's default.
    pub async fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: Option<i16>,
        configs: &[(String, String)],
    ) -> Result<CreatedTopic, ClientError> {
        let (_, response) = self
            .send(Target::Any, ApiKey::CreateTopics, ADMIN_TIMEOUT, |_| {
                body(CreateTopicsRequest {
                    topics: vec![CreatableTopic {
                        name: name.to_string(),
                        num_partitions: partitions,
                        replication_factor: replication_factor.unwrap_or(-1),
                        configs: configs
                            .iter()
                            .map(|(key, value)| CreatableTopicConfig {
                                name: key.clone(),
                                value: Some(value.clone()),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    timeout_ms: ADMIN_TIMEOUT.as_millis() as i32,
                    ..Default::default()
                })
            })
            .await?;
        let response = expect_response!(response, CreateTopics);
        let result = response
            .topics
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| {
                ClientError::Invalid(format!("CreateTopics did not answer for {name}"))
            })?;
        check(
            || format!("creating topic {name}"),
            result.error_code,
            result.error_message.as_ref(),
        )?;
        Ok(CreatedTopic {
            name: result.name,
            topic_id: result.topic_id,
            partitions: result.num_partitions,
            replication_factor: result.replication_factor,
        })
    }

    /// DeleteTopics for one topic, by name.
    pub async fn delete_topic(&mut self, name: &str) -> Result<(), ClientError> {
        let (_, response) = self
            .send(
                Target::Any,
                ApiKey::DeleteTopics,
                ADMIN_TIMEOUT,
                |version| {
                    let mut request = DeleteTopicsRequest {
                        timeout_ms: ADMIN_TIMEOUT.as_millis() as i32,
                        ..Default::default()
                    };
                    // v6 names topics in `topics` (by name or id); earlier versions in `topic_names`.
                    if version >= 6 {
                        request.topics = vec![DeleteTopicState {
                            name: Some(name.to_string()),
                            topic_id: Uuid::ZERO,
                            ..Default::default()
                        }];
                    } else {
                        request.topic_names = vec![name.to_string()];
                    }
                    body(request)
                },
            )
            .await?;
        let response = expect_response!(response, DeleteTopics);
        let result = response
            .responses
            .into_iter()
            .find(|r| r.name.as_deref() == Some(name))
            .ok_or_else(|| {
                ClientError::Invalid(format!("DeleteTopics did not answer for {name}"))
            })?;
        check(
            || format!("deleting topic {name}"),
            result.error_code,
            result.error_message.as_ref(),
        )
    }

    /// A topic's configuration: every entry, with its source.
    pub async fn describe_topic_configs(
        &mut self,
        name: &str,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        let (_, response) = self
            .send(Target::Any, ApiKey::DescribeConfigs, Duration::ZERO, |_| {
                body(DescribeConfigsRequest {
                    resources: vec![DescribeConfigsResource {
                        resource_type: RESOURCE_TOPIC,
                        resource_name: name.to_string(),
                        configuration_keys: None,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            })
            .await?;
        let response = expect_response!(response, DescribeConfigs);
        let result = response
            .results
            .into_iter()
            .find(|r| r.resource_name == name)
            .ok_or_else(|| {
                ClientError::Invalid(format!("DescribeConfigs did not answer for {name}"))
            })?;
        check(
            || format!("describing the configs of topic {name}"),
            result.error_code,
            result.error_message.as_ref(),
        )?;
        let mut entries: Vec<ConfigEntry> = result
            .configs
            .into_iter()
            .map(|c| ConfigEntry {
                name: c.name,
                value: c.value,
                source: c.config_source,
                read_only: c.read_only,
                is_sensitive: c.is_sensitive,
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// IncrementalAlterConfigs on a topic: `set` keys take their values, `delete` keys go back
    /// to the default.
    pub async fn alter_topic_configs(
        &mut self,
        name: &str,
        set: &[(String, String)],
        delete: &[String],
    ) -> Result<(), ClientError> {
        let mut configs: Vec<AlterableConfig> = set
            .iter()
            .map(|(key, value)| AlterableConfig {
                name: key.clone(),
                config_operation: OP_SET,
                value: Some(value.clone()),
                ..Default::default()
            })
            .collect();
        configs.extend(delete.iter().map(|key| AlterableConfig {
            name: key.clone(),
            config_operation: OP_DELETE,
            value: None,
            ..Default::default()
        }));
        let (_, response) = self
            .send(
                Target::Any,
                ApiKey::IncrementalAlterConfigs,
                ADMIN_TIMEOUT,
                |_| {
                    body(IncrementalAlterConfigsRequest {
                        resources: vec![AlterConfigsResource {
                            resource_type: RESOURCE_TOPIC,
                            resource_name: name.to_string(),
                            configs,
                            ..Default::default()
                        }],
                        validate_only: false,
                        ..Default::default()
                    })
                },
            )
            .await?;
        let response = expect_response!(response, IncrementalAlterConfigs);
        let result = response
            .responses
            .into_iter()
            .find(|r| r.resource_name == name)
            .ok_or_else(|| {
                ClientError::Invalid(format!("IncrementalAlterConfigs did not answer for {name}"))
            })?;
        check(
            || format!("altering the configs of topic {name}"),
            result.error_code,
            result.error_message.as_ref(),
        )
    }

    /// The cluster id, controller and brokers: DescribeCluster, or Metadata from a broker that
    /// does not serve it.
    pub async fn describe_cluster(&mut self) -> Result<ClusterDescription, ClientError> {
        if !self.serves(ApiKey::DescribeCluster).await? {
            let metadata = self.metadata(Some(&[])).await?;
            return Ok(ClusterDescription {
                cluster_id: metadata.cluster_id,
                controller_id: metadata.controller_id,
                brokers: metadata.brokers,
            });
        }
        let (_, response) = self
            .send(Target::Any, ApiKey::DescribeCluster, Duration::ZERO, |_| {
                body(DescribeClusterRequest::default())
            })
            .await?;
        let response = expect_response!(response, DescribeCluster);
        check(
            || "describing the cluster".into(),
            response.error_code,
            response.error_message.as_ref(),
        )?;
        let mut brokers: Vec<BrokerAddress> = response
            .brokers
            .into_iter()
            .map(|b| BrokerAddress {
                node_id: b.broker_id,
                host: b.host,
                port: b.port,
                rack: b.rack,
            })
            .collect();
        brokers.sort_by_key(|b| b.node_id);
        Ok(ClusterDescription {
            cluster_id: Some(response.cluster_id),
            controller_id: response.controller_id,
            brokers,
        })
    }
}
