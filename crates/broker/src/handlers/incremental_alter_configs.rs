//! IncrementalAlterConfigs (v0-1, KIP-339): changes single keys of a topic's overrides with
//! SET, DELETE (back to the default), APPEND and SUBTRACT (list keys only, i.e.
//! `cleanup.policy`), validated as a whole after the changes (unknown key or bad value:
//! INVALID_CONFIG), with `validate_only`. Broker resources take only the replication throttle
//! rates (`replication_quota.rs`: SET and DELETE, stored in the metadata image for this broker
//! or, with the empty name, for all); any other broker key is refused with INVALID_REQUEST (see
//! `config_admin.rs`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use protocol::generated::IncrementalAlterConfigsRequest;
use protocol::generated::IncrementalAlterConfigsResponse;
use protocol::generated::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use protocol::generated::incremental_alter_configs_response::AlterConfigsResourceResponse;

use super::RequestContext;
use crate::broker::Broker;
use crate::config_admin::{
    RESOURCE_BROKER, RESOURCE_TOPIC, authorize_resource, check_broker_resource, is_list_topic_key,
    refuse_broker_alteration, refuse_repeated_resources,
};
use crate::error::BrokerError;
use crate::replication_quota::{DYNAMIC_BROKER_KEYS, check_rate};
use crate::topic_config::{is_topic_key, topic_default};
use security::acl::AclOperation;

/// Kafka's `AlterConfigOp.OpType` ids.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// Most items APPEND and SUBTRACT work on (bounds their quadratic merge).
const LIST_ITEMS_MAX: usize = 64;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let validate_only = request.validate_only;
    let resources = refuse_repeated_resources(request.resources, |r| {
        (r.resource_type, r.resource_name.clone())
    });
    let mut responses = Vec::with_capacity(resources.len());
    for (resource, refusal) in resources {
        let result = match refusal {
            Some(error) => Err(error),
            None => match authorize_resource(
                broker,
                context,
                AclOperation::AlterConfigs,
                resource.resource_type,
                &resource.resource_name,
            ) {
                Ok(()) => alter(broker, &resource, validate_only).await,
                Err(error) => Err(error),
            },
        };
        if let Err(error) = &result {
            tracing::debug!(resource = %resource.resource_name, client = context.client_id(), %error, "incremental alter configs failed");
        }
        responses.push(AlterConfigsResourceResponse {
            error_code: crate::error::code_of(&result),
            error_message: result.err().and_then(|error| error.message()),
            resource_type: resource.resource_type,
            resource_name: resource.resource_name,
            ..Default::default()
        });
    }
    IncrementalAlterConfigsResponse {
        throttle_time_ms: 0,
        responses,
        ..Default::default()
    }
}

async fn alter(
    broker: &Arc<Broker>,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), BrokerError> {
    let mut names = HashSet::new();
    for config in &resource.configs {
        if !names.insert(config.name.as_str()) {
            return Err(BrokerError::InvalidRequest(format!(
                "config {} is given more than once",
                config.name
            )));
        }
        if !(OP_SET..=OP_SUBTRACT).contains(&config.config_operation) {
            return Err(BrokerError::InvalidRequest(format!(
                "unknown config operation {} for {}",
                config.config_operation, config.name
            )));
        }
        if config.config_operation != OP_DELETE && config.value.is_none() {
            return Err(BrokerError::InvalidRequest(format!(
                "null value not supported for {}",
                config.name
            )));
        }
    }
    match resource.resource_type {
        RESOURCE_TOPIC => {
            broker
                .metadata_writer
                .alter_topic_config(broker, &resource.resource_name, validate_only, |current| {
                    apply(broker, current, &resource.configs)
                })
                .await
        }
        RESOURCE_BROKER => {
            check_broker_resource(&broker.config, &resource.resource_name)?;
            let fixed: Vec<String> = resource
                .configs
                .iter()
                .filter(|c| !DYNAMIC_BROKER_KEYS.contains(&c.name.as_str()))
                .map(|c| c.name.clone())
                .collect();
            if !fixed.is_empty() {
                return Err(refuse_broker_alteration(&fixed));
            }
            alter_dynamic_broker(broker, resource, validate_only).await
        }
        crate::group_configs::RESOURCE_GROUP => {
            let mut changes = Vec::with_capacity(resource.configs.len());
            for config in &resource.configs {
                let value = match config.config_operation {
                    OP_SET => config.value.clone(),
                    OP_DELETE => None,
                    _ => {
                        return Err(BrokerError::InvalidConfig(format!(
                            "config value append or subtract is not allowed for config key {}",
                            config.name
                        )));
                    }
                };
                crate::group_configs::check_change(&config.name, value.as_deref())?;
                changes.push((config.name.clone(), value.map(|v| v.trim().to_owned())));
            }
            if validate_only {
                return Ok(());
            }
            crate::group_configs::alter(broker, &resource.resource_name, changes).await
        }
        other => Err(BrokerError::InvalidRequest(format!(
            "resource type {other} is not supported; alter topics (2), brokers (4) or groups (32)"
        ))),
    }
}

/// Sets or deletes dynamic broker keys (the replication throttle rates, `replication_quota.rs`)
/// of this broker (its id) or of every broker (the empty name), in the metadata image. A
/// single node keeps none: deleting is a no-op there (as `kafka-reassign-partitions --verify`
/// does), setting is refused.
async fn alter_dynamic_broker(
    broker: &Broker,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), BrokerError> {
    let mut changes = Vec::with_capacity(resource.configs.len());
    for config in &resource.configs {
        let value = match config.config_operation {
            OP_SET => {
                let value = config.value.clone().unwrap_or_default();
                check_rate(&value).map_err(|reason| {
                    BrokerError::InvalidConfig(format!(
                        "invalid value {value} for configuration {}: {reason}",
                        config.name
                    ))
                })?;
                Some(value.trim().to_string())
            }
            OP_DELETE => None,
            _ => {
                return Err(BrokerError::InvalidConfig(format!(
                    "config value append or subtract is not allowed for config key {}",
                    config.name
                )));
            }
        };
        changes.push((config.name.clone(), value));
    }
    let Some(cluster) = broker.cluster.get() else {
        if changes.iter().any(|(_, value)| value.is_some()) {
            return Err(BrokerError::InvalidRequest(
                "replication throttles apply to a replicated cluster; a single node has no \
                 follower to throttle"
                    .into(),
            ));
        }
        return Ok(());
    };
    if validate_only {
        return Ok(());
    }
    let target = if resource.resource_name.is_empty() {
        controller::ConfigResource::Cluster
    } else {
        controller::ConfigResource::Broker(broker.config.node_id)
    };
    for (key, value) in changes {
        cluster
            .propose(controller::MetadataCommand::SetConfig {
                resource: target.clone(),
                key,
                value,
            })
            .await?;
    }
    Ok(())
}

/// The overrides after applying `changes` to `current`.
fn apply(
    broker: &Broker,
    current: &BTreeMap<String, String>,
    changes: &[AlterableConfig],
) -> Result<BTreeMap<String, String>, BrokerError> {
    let mut overrides = current.clone();
    for change in changes {
        let name = &change.name;
        if !is_topic_key(name) {
            return Err(BrokerError::InvalidConfig(format!(
                "unknown topic config name: {name}"
            )));
        }
        let value = change.value.clone().unwrap_or_default();
        match change.config_operation {
            OP_SET => {
                overrides.insert(name.clone(), value);
            }
            OP_DELETE => {
                overrides.remove(name);
            }
            operation => {
                if !is_list_topic_key(name) {
                    return Err(BrokerError::InvalidConfig(format!(
                        "config value append or subtract is not allowed for config key {name}: \
                         it is not a list"
                    )));
                }
                let existing = overrides
                    .get(name)
                    .cloned()
                    .or_else(|| topic_default(&broker.config, name))
                    .unwrap_or_default();
                let mut items: Vec<String> = split_list(&existing);
                let given = split_list(&value);
                if items.len() + given.len() > LIST_ITEMS_MAX {
                    return Err(BrokerError::InvalidConfig(format!(
                        "{name} may hold at most {LIST_ITEMS_MAX} items"
                    )));
                }
                if operation == OP_APPEND {
                    for item in given {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    }
                } else {
                    items.retain(|item| !given.contains(item));
                }
                overrides.insert(name.clone(), items.join(","));
            }
        }
    }
    Ok(overrides)
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}
