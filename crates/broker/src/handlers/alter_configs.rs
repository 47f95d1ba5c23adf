//! AlterConfigs (v0-2), the legacy whole-set alteration: a topic's overrides become exactly
//! the given configs (keys not given return to their defaults), validated as a whole
//! (unknown key or bad value: INVALID_CONFIG), with `validate_only`. Broker resources are
//! refused with INVALID_REQUEST: no broker config changes dynamically here (see
//! `config_admin.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::generated::AlterConfigsRequest;
use protocol::generated::AlterConfigsResponse;
use protocol::generated::alter_configs_request::AlterConfigsResource;
use protocol::generated::alter_configs_response::AlterConfigsResourceResponse;

use super::RequestContext;
use crate::broker::Broker;
use crate::config_admin::{
    RESOURCE_BROKER, RESOURCE_TOPIC, authorize_resource, check_broker_resource,
    refuse_broker_alteration, refuse_repeated_resources,
};
use crate::error::BrokerError;
use security::acl::AclOperation;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
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
            tracing::debug!(resource = %resource.resource_name, client = context.client_id(), %error, "alter configs failed");
        }
        responses.push(AlterConfigsResourceResponse {
            error_code: crate::error::code_of(&result),
            error_message: result.err().and_then(|error| error.message()),
            resource_type: resource.resource_type,
            resource_name: resource.resource_name,
            ..Default::default()
        });
    }
    AlterConfigsResponse {
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
    let mut configs = BTreeMap::new();
    for config in &resource.configs {
        let value = config.value.clone().ok_or_else(|| {
            BrokerError::InvalidRequest(format!("null value not supported for {}", config.name))
        })?;
        if configs.insert(config.name.clone(), value).is_some() {
            return Err(BrokerError::InvalidRequest(format!(
                "config {} is given more than once",
                config.name
            )));
        }
    }
    match resource.resource_type {
        RESOURCE_TOPIC => {
            broker
                .metadata_writer
                .alter_topic_config(broker, &resource.resource_name, validate_only, |_| {
                    Ok(configs)
                })
                .await
        }
        RESOURCE_BROKER => {
            check_broker_resource(&broker.config, &resource.resource_name)?;
            if configs.is_empty() {
                return Ok(());
            }
            Err(refuse_broker_alteration(
                &configs.into_keys().collect::<Vec<_>>(),
            ))
        }
        other => Err(BrokerError::InvalidRequest(format!(
            "resource type {other} is not supported; alter topics (2) or brokers (4)"
        ))),
    }
}
