//! CreateAcls (v1-3): adds ACL bindings, as Kafka's `AclApis` and `AclControlManager` do. The
//! principal needs ALTER on the cluster (else every result is CLUSTER_AUTHORIZATION_FAILED);
//! without an authorizer every result is SECURITY_DISABLED. A malformed binding (an UNKNOWN or
//! ANY code, a pattern other than LITERAL/PREFIXED, an empty name or host, a principal without
//! `Type:`, a cluster not named `kafka-cluster`) gets INVALID_REQUEST in its slot; the rest are
//! recorded together. A binding that exists already succeeds without a second copy.

use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::create_acls_request::AclCreation;
use protocol::generated::create_acls_response::AclCreationResult;
use protocol::generated::{CreateAclsRequest, CreateAclsResponse};
use security::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};

use super::RequestContext;
use crate::broker::Broker;

/// Kafka's cap on the records one request may write (`MAX_RECORDS_PER_USER_OP`).
pub const ACLS_PER_REQUEST_MAX: usize = 10_000;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: CreateAclsRequest,
) -> CreateAclsResponse {
    let every = |code: ErrorCode, message: &str| CreateAclsResponse {
        results: request
            .creations
            .iter()
            .map(|_| result(code, Some(message.to_string())))
            .collect(),
        ..Default::default()
    };
    if let Some((code, message)) = broker.acl_api_refusal(context, AclOperation::Alter) {
        return every(code, message);
    }
    if request.creations.len() > ACLS_PER_REQUEST_MAX {
        return every(
            ErrorCode::InvalidRequest,
            "Too many ACLs in one request (at most 10000)",
        );
    }
    let bindings: Vec<Result<AclBinding, &'static str>> =
        request.creations.iter().map(binding).collect();
    let valid: Vec<AclBinding> = bindings.iter().flatten().cloned().collect();
    let stored = crate::acl_store::change(broker, valid, Vec::new()).await;
    let results = bindings
        .into_iter()
        .map(|binding| match (binding, &stored) {
            (Err(reason), _) => result(ErrorCode::InvalidRequest, Some(reason.to_string())),
            (Ok(_), Ok(())) => result(ErrorCode::None, None),
            (Ok(_), Err(error)) => result(error.error_code(), Some(error.to_string())),
        })
        .collect();
    CreateAclsResponse {
        results,
        ..Default::default()
    }
}

fn result(code: ErrorCode, message: Option<String>) -> AclCreationResult {
    AclCreationResult {
        error_code: code.code(),
        error_message: message,
        ..Default::default()
    }
}

/// The binding a creation asks for, or why it cannot be one.
fn binding(creation: &AclCreation) -> Result<AclBinding, &'static str> {
    let binding = AclBinding {
        resource_type: ResourceType::from_code(creation.resource_type)
            .ok_or("unknown resource type")?,
        name: creation.resource_name.clone(),
        pattern_type: PatternType::from_code(creation.resource_pattern_type)
            .ok_or("unknown pattern type")?,
        principal: creation.principal.clone(),
        host: creation.host.clone(),
        operation: AclOperation::from_code(creation.operation).ok_or("unknown operation")?,
        permission: AclPermission::from_code(creation.permission_type)
            .ok_or("unknown permission type")?,
    };
    match binding.invalid_reason() {
        Some(reason) => Err(reason),
        None => Ok(binding),
    }
}
