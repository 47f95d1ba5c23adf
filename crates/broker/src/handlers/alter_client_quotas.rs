//! AlterClientQuotas (v0-1, KIP-546; `kafka-configs --alter --entity-type users|clients|ips`):
//! sets and removes quota keys per entity with the checks of Kafka's
//! `ClientQuotaControlManager`, each entity answered on its own: an invalid entity, an unknown
//! key, a value that is not positive (or fractional for a byte rate), a key given twice or an
//! entity named twice is INVALID_REQUEST for that entity; the valid ones are recorded together
//! (`quota_store.rs`), or only checked with `validate_only`. With ACLs the principal needs
//! ALTER_CONFIGS on the cluster (else CLUSTER_AUTHORIZATION_FAILED for every entity).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::alter_client_quotas_request::EntryData as RequestEntry;
use protocol::generated::alter_client_quotas_response::{EntityData, EntryData};
use protocol::generated::{AlterClientQuotasRequest, AlterClientQuotasResponse};
use security::acl::AclOperation;
use security::quota::{EntityError, QuotaChange, QuotaEntity, QuotaValue};

use super::RequestContext;
use crate::broker::Broker;

/// Kafka's cap on the records one request may write (`MAX_RECORDS_PER_USER_OP`).
const CHANGES_PER_REQUEST_MAX: usize = 10_000;

/// An entry's changes, or its error code and message.
type Checked = Result<Vec<QuotaChange>, (ErrorCode, String)>;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let authorized = broker.allows_cluster(context, AclOperation::AlterConfigs);
    let mut entities = BTreeSet::new();
    let mut results: Vec<(Vec<EntityData>, Checked)> = Vec::with_capacity(request.entries.len());
    for entry in &request.entries {
        let wire = wire_entity(entry);
        let checked = if authorized {
            changes(entry).and_then(|(entity, changes)| {
                if entities.insert(entity) {
                    Ok(changes)
                } else {
                    Err((
                        ErrorCode::InvalidRequest,
                        "Duplicate quota entity in the request".into(),
                    ))
                }
            })
        } else {
            Err((ErrorCode::ClusterAuthorizationFailed, String::new()))
        };
        results.push((wire, checked));
    }
    let accepted: Vec<QuotaChange> = results
        .iter()
        .filter_map(|(_, result)| result.as_ref().ok())
        .flatten()
        .cloned()
        .collect();
    let mut failure = None;
    if accepted.len() > CHANGES_PER_REQUEST_MAX {
        failure = Some((
            ErrorCode::PolicyViolation,
            format!("more than {CHANGES_PER_REQUEST_MAX} quota changes in one request"),
        ));
    } else if !request.validate_only
        && let Err(error) = crate::quota_store::change(broker, accepted).await
    {
        failure = Some((error.error_code(), error.to_string()));
    }
    let entries = results
        .into_iter()
        .map(|(entity, result)| {
            let (code, message) = match (result, &failure) {
                (Err((code, message)), _) => (code, (!message.is_empty()).then_some(message)),
                (Ok(_), Some((code, message))) => (*code, Some(message.clone())),
                (Ok(_), None) => (ErrorCode::None, None),
            };
            EntryData {
                error_code: code.code(),
                error_message: message,
                entity,
                ..Default::default()
            }
        })
        .collect();
    AlterClientQuotasResponse {
        throttle_time_ms: 0,
        entries,
        ..Default::default()
    }
}

fn wire_entity(entry: &RequestEntry) -> Vec<EntityData> {
    entry
        .entity
        .iter()
        .map(|e| EntityData {
            entity_type: e.entity_type.clone(),
            entity_name: e.entity_name.clone(),
            ..Default::default()
        })
        .collect()
}

/// One entry's entity and changes, each checked.
fn changes(entry: &RequestEntry) -> Result<(QuotaEntity, Vec<QuotaChange>), (ErrorCode, String)> {
    let invalid = |message: String| (ErrorCode::InvalidRequest, message);
    let components: Vec<(&str, Option<&str>)> = entry
        .entity
        .iter()
        .map(|e| (e.entity_type.as_str(), e.entity_name.as_deref()))
        .collect();
    let entity = QuotaEntity::from_components(&components).map_err(|error| match error {
        EntityError::Invalid(message) | EntityError::UnknownType(message) => invalid(message),
    })?;
    let mut keys = HashSet::new();
    let mut changes = Vec::with_capacity(entry.ops.len());
    for op in &entry.ops {
        if !keys.insert(op.key.as_str()) {
            return Err(invalid(format!("Duplicate quota key {}", op.key)));
        }
        let value = if op.remove {
            None
        } else {
            if let Some(reason) = entity.invalid_value(&op.key, op.value) {
                return Err(invalid(reason));
            }
            Some(QuotaValue(op.value))
        };
        changes.push(QuotaChange {
            entity: entity.clone(),
            key: op.key.clone(),
            value,
        });
    }
    Ok((entity, changes))
}
