//! DescribeClientQuotas (v0-1, KIP-546): the configured quota entities a filter matches, with
//! their keys, as Kafka's `ClientQuotasImage.describe` answers: components intersect, `strict`
//! keeps entities without other types, no components with `strict` matches nothing. Errors go
//! in the top-level code: a repeated or empty entity type, a match type with the wrong name
//! (EXACT needs one, DEFAULT and ANY none) or ip mixed with user or client-id is
//! INVALID_REQUEST, an unknown entity type UNSUPPORTED_VERSION. With ACLs the principal needs
//! DESCRIBE_CONFIGS on the cluster.

use std::collections::HashSet;
use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::describe_client_quotas_request::ComponentData;
use protocol::generated::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use protocol::generated::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use security::acl::AclOperation;
use security::quota::{CLIENT_ID, ComponentMatch, IP, QuotaFilter, USER};

use super::RequestContext;
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let failed = |code: ErrorCode, message: Option<String>| DescribeClientQuotasResponse {
        error_code: code.code(),
        error_message: message,
        entries: None,
        ..Default::default()
    };
    if !broker.allows_cluster(context, AclOperation::DescribeConfigs) {
        return failed(ErrorCode::ClusterAuthorizationFailed, None);
    }
    let filter = match filter(&request.components, request.strict) {
        Ok(filter) => filter,
        Err((code, message)) => return failed(code, Some(message)),
    };
    let quotas = broker.metadata.client_quotas();
    let entries = quotas
        .iter()
        .filter(|(entity, _)| filter.matches(entity))
        .map(|(entity, keys)| EntryData {
            entity: entity
                .components()
                .into_iter()
                .map(|(entity_type, name)| EntityData {
                    entity_type: entity_type.to_string(),
                    entity_name: name.to_wire(),
                    ..Default::default()
                })
                .collect(),
            values: keys
                .iter()
                .map(|(key, value)| ValueData {
                    key: key.clone(),
                    value: value.0,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    DescribeClientQuotasResponse {
        error_code: 0,
        error_message: None,
        entries: Some(entries),
        ..Default::default()
    }
}

/// The request's filter, or the top-level error Kafka answers for it.
fn filter(components: &[ComponentData], strict: bool) -> Result<QuotaFilter, (ErrorCode, String)> {
    let invalid = |message: String| (ErrorCode::InvalidRequest, message);
    let mut seen = HashSet::new();
    let mut parsed = Vec::with_capacity(components.len());
    for component in components {
        let entity_type = component.entity_type.as_str();
        if entity_type.is_empty() {
            return Err(invalid("Invalid empty entity type".into()));
        }
        if !seen.insert(entity_type) {
            return Err(invalid(format!(
                "Entity type {entity_type} cannot appear more than once in the filter"
            )));
        }
        if ![USER, CLIENT_ID, IP].contains(&entity_type) {
            return Err((
                ErrorCode::UnsupportedVersion,
                format!("Custom entity type {entity_type} not supported"),
            ));
        }
        let matcher = match (component.match_type, &component.r#match) {
            (0, Some(name)) => ComponentMatch::Exact(name.clone()),
            (1, None) => ComponentMatch::Default,
            (2, None) => ComponentMatch::Specified,
            (0, None) => {
                return Err(invalid(format!(
                    "Request specified an exact match for {entity_type} without a name"
                )));
            }
            (1 | 2, Some(_)) => {
                return Err(invalid(format!(
                    "Request specified a non-exact match for {entity_type} with a name"
                )));
            }
            (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
        };
        parsed.push((entity_type.to_string(), matcher));
    }
    if seen.contains(IP) && (seen.contains(USER) || seen.contains(CLIENT_ID)) {
        return Err(invalid("Invalid entity filter component combination: ip cannot be combined with user or client-id".into()));
    }
    Ok(QuotaFilter {
        components: parsed,
        strict,
    })
}
