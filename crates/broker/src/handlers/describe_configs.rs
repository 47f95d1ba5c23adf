//! DescribeConfigs (v0-4): every config of a topic or broker resource with its effective value,
//! source, read-only flag and sensitivity; synonyms (v1+, when asked), type and documentation
//! (v3+). Tools such as `kafka-configs --describe --all` list what this returns, so every key
//! is described, not only overrides (another Kafka-compatible broker returned no entries).
//!
//! Kafka 4 serves v1-4; v0 is served too (the codec has it: no synonyms, `is_default` instead
//! of a source). Resource types: 2 topic, 4 broker (named by node id, or "" for the cluster
//! defaults, of which there are none: no dynamic broker configs). Other types are
//! INVALID_REQUEST. With ACLs a resource needs DESCRIBE_CONFIGS on the topic or on the cluster
//! (for a broker); AlterConfigs and IncrementalAlterConfigs ask ALTER_CONFIGS the same way.

use std::collections::HashSet;
use std::sync::Arc;

use protocol::generated::DescribeConfigsRequest;
use protocol::generated::DescribeConfigsResponse;
use protocol::generated::describe_configs_request::DescribeConfigsResource;
use protocol::generated::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};

use super::RequestContext;
use crate::broker::Broker;
use crate::config_admin::{
    ConfigEntry, RESOURCE_BROKER, RESOURCE_TOPIC, authorize_resource, broker_entries,
    check_broker_resource, dynamic_broker_entries, topic_entries,
};
use crate::error::BrokerError;
use security::acl::AclOperation;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    // v0 has no include_synonyms field and no synonyms in the response.
    let include_synonyms = context.api_version >= 1 && request.include_synonyms;
    let include_documentation = request.include_documentation;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let resource_type = resource.resource_type;
            let resource_name = resource.resource_name.clone();
            let authorized = authorize_resource(
                broker,
                context,
                AclOperation::DescribeConfigs,
                resource_type,
                &resource_name,
            );
            match authorized.and_then(|()| describe(broker, &resource)) {
                Ok(entries) => DescribeConfigsResult {
                    error_code: 0,
                    error_message: None,
                    resource_type,
                    resource_name,
                    configs: entries
                        .into_iter()
                        .map(|entry| result_entry(entry, include_synonyms, include_documentation))
                        .collect(),
                    ..Default::default()
                },
                Err(error) => DescribeConfigsResult {
                    error_code: error.error_code().code(),
                    error_message: error.message(),
                    resource_type,
                    resource_name,
                    configs: Vec::new(),
                    ..Default::default()
                },
            }
        })
        .collect();
    DescribeConfigsResponse {
        throttle_time_ms: 0,
        results,
        ..Default::default()
    }
}

/// The entries of one resource, filtered by `configuration_keys` when given.
fn describe(
    broker: &Broker,
    resource: &DescribeConfigsResource,
) -> Result<Vec<ConfigEntry>, BrokerError> {
    let entries = match resource.resource_type {
        RESOURCE_TOPIC => {
            let name = &resource.resource_name;
            let topic = broker
                .metadata
                .topic(name)
                .ok_or_else(|| BrokerError::UnknownTopic(name.clone()))?;
            topic_entries(&broker.config, &topic.configs)
        }
        RESOURCE_BROKER => {
            check_broker_resource(&broker.config, &resource.resource_name)?;
            let cluster_default = resource.resource_name.is_empty();
            // The cluster-wide dynamic defaults are only the dynamic keys set for all.
            let mut entries = if cluster_default {
                Vec::new()
            } else {
                broker_entries(&broker.config)
            };
            let image = broker.cluster.get().map(|c| c.image());
            entries.extend(dynamic_broker_entries(
                image.as_deref(),
                broker.config.node_id,
                cluster_default,
            ));
            entries
        }
        crate::group_configs::RESOURCE_GROUP => {
            crate::group_configs::entries(broker, &resource.resource_name)
        }
        other => {
            return Err(BrokerError::InvalidRequest(format!(
                "resource type {other} is not supported; describe topics (2), brokers (4) or groups (32)"
            )));
        }
    };
    Ok(match &resource.configuration_keys {
        Some(keys) => {
            let wanted: HashSet<&str> = keys.iter().map(String::as_str).collect();
            entries
                .into_iter()
                .filter(|entry| wanted.contains(entry.name.as_str()))
                .collect()
        }
        None => entries,
    })
}

fn result_entry(
    entry: ConfigEntry,
    include_synonyms: bool,
    include_documentation: bool,
) -> DescribeConfigsResourceResult {
    let is_default = entry.is_default();
    DescribeConfigsResourceResult {
        name: entry.name,
        value: entry.value,
        read_only: entry.read_only,
        is_default,
        config_source: entry.source,
        is_sensitive: entry.is_sensitive,
        synonyms: if include_synonyms {
            entry
                .synonyms
                .into_iter()
                .map(|synonym| DescribeConfigsSynonym {
                    name: synonym.name,
                    value: synonym.value,
                    source: synonym.source,
                    ..Default::default()
                })
                .collect()
        } else {
            Vec::new()
        },
        config_type: entry.config_type,
        documentation: if include_documentation {
            entry.documentation
        } else {
            None
        },
        ..Default::default()
    }
}
