//! DeleteAcls (v1-3): removes every ACL binding each filter matches and lists them per filter
//! (a binding several filters match is removed once and listed under each). The principal needs
//! ALTER on the cluster (else CLUSTER_AUTHORIZATION_FAILED on every filter); without an
//! authorizer every filter is SECURITY_DISABLED. A filter with an UNKNOWN code is
//! INVALID_REQUEST; more than 10,000 matches in all fail the whole request, as in Kafka 4.4
//! (no partial deletes). Matching runs on this node's copy of the ACLs; the removal of exactly
//! those bindings goes through the metadata.

use std::collections::BTreeSet;
use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use protocol::generated::{DeleteAclsRequest, DeleteAclsResponse};
use security::acl::{AclBinding, AclOperation};

use super::RequestContext;
use super::create_acls::ACLS_PER_REQUEST_MAX;
use super::describe_acls::filter;
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let every = |code: ErrorCode, message: &str| DeleteAclsResponse {
        filter_results: request
            .filters
            .iter()
            .map(|_| result(code, Some(message.to_string()), Vec::new()))
            .collect(),
        ..Default::default()
    };
    if let Some((code, message)) = broker.acl_api_refusal(context, AclOperation::Alter) {
        return every(code, message);
    }
    let acls = broker.metadata.acls();
    let matched: Vec<Result<Vec<&AclBinding>, &'static str>> = request
        .filters
        .iter()
        .map(|f| {
            let filter = filter(
                [
                    f.resource_type_filter,
                    f.pattern_type_filter,
                    f.operation,
                    f.permission_type,
                ],
                f.resource_name_filter.clone(),
                f.principal_filter.clone(),
                f.host_filter.clone(),
            )?;
            Ok(acls.iter().filter(|b| filter.matches(b)).collect())
        })
        .collect();
    let removed: BTreeSet<&AclBinding> = matched.iter().flatten().flatten().copied().collect();
    if removed.len() > ACLS_PER_REQUEST_MAX {
        return every(
            ErrorCode::InvalidRequest,
            "The filters match more than 10000 ACLs; nothing was deleted",
        );
    }
    let removed: Vec<AclBinding> = removed.into_iter().cloned().collect();
    if let Err(error) = crate::acl_store::change(broker, Vec::new(), removed).await {
        return every(error.error_code(), &error.to_string());
    }
    DeleteAclsResponse {
        filter_results: matched
            .into_iter()
            .map(|outcome| match outcome {
                Err(reason) => result(
                    ErrorCode::InvalidRequest,
                    Some(reason.to_string()),
                    Vec::new(),
                ),
                Ok(bindings) => result(
                    ErrorCode::None,
                    None,
                    bindings.into_iter().map(matching).collect(),
                ),
            })
            .collect(),
        ..Default::default()
    }
}

fn result(
    code: ErrorCode,
    message: Option<String>,
    matching_acls: Vec<DeleteAclsMatchingAcl>,
) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult {
        error_code: code.code(),
        error_message: message,
        matching_acls,
        ..Default::default()
    }
}

fn matching(binding: &AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl {
        error_code: 0,
        error_message: None,
        resource_type: binding.resource_type.code(),
        resource_name: binding.name.clone(),
        pattern_type: binding.pattern_type.code(),
        principal: binding.principal.clone(),
        host: binding.host.clone(),
        operation: binding.operation.code(),
        permission_type: binding.permission.code(),
        ..Default::default()
    }
}
