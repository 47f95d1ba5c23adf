//! DescribeAcls (v1-3): the ACL bindings a filter matches, grouped by resource pattern as
//! Kafka's `DescribeAclsResponse.aclsResources` does. The principal needs DESCRIBE on the
//! cluster (else CLUSTER_AUTHORIZATION_FAILED); without an authorizer the answer is
//! SECURITY_DISABLED. A filter with an UNKNOWN code is INVALID_REQUEST.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::describe_acls_response::{AclDescription, DescribeAclsResource};
use protocol::generated::{DescribeAclsRequest, DescribeAclsResponse};
use security::acl::{AclBindingFilter, AclOperation, AclPermission, PatternType, ResourceType};

use super::RequestContext;
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let failed = |code: ErrorCode, message: &str| DescribeAclsResponse {
        error_code: code.code(),
        error_message: Some(message.to_string()),
        ..Default::default()
    };
    if let Some((code, message)) = broker.acl_api_refusal(context, AclOperation::Describe) {
        return failed(code, message);
    }
    let filter = match filter(
        [
            request.resource_type_filter,
            request.pattern_type_filter,
            request.operation,
            request.permission_type,
        ],
        request.resource_name_filter,
        request.principal_filter,
        request.host_filter,
    ) {
        Ok(filter) => filter,
        Err(reason) => return failed(ErrorCode::InvalidRequest, reason),
    };
    let acls = broker.metadata.acls();
    let mut resources: BTreeMap<(i8, &str, i8), Vec<AclDescription>> = BTreeMap::new();
    for binding in acls.iter().filter(|b| filter.matches(b)) {
        resources
            .entry((
                binding.resource_type.code(),
                binding.name.as_str(),
                binding.pattern_type.code(),
            ))
            .or_default()
            .push(AclDescription {
                principal: binding.principal.clone(),
                host: binding.host.clone(),
                operation: binding.operation.code(),
                permission_type: binding.permission.code(),
                ..Default::default()
            });
    }
    DescribeAclsResponse {
        error_message: None,
        resources: resources
            .into_iter()
            .map(
                |((resource_type, name, pattern_type), acls)| DescribeAclsResource {
                    resource_type,
                    resource_name: name.to_string(),
                    pattern_type,
                    acls,
                    ..Default::default()
                },
            )
            .collect(),
        ..Default::default()
    }
}

/// A DescribeAcls or DeleteAcls filter from its wire fields: `codes` are the resource type,
/// pattern type, operation and permission; an UNKNOWN one is refused.
pub fn filter(
    codes: [i8; 4],
    name: Option<String>,
    principal: Option<String>,
    host: Option<String>,
) -> Result<AclBindingFilter, &'static str> {
    let [resource_type, pattern_type, operation, permission] = codes;
    Ok(AclBindingFilter {
        resource_type: ResourceType::from_code(resource_type).ok_or("unknown resource type")?,
        name,
        pattern_type: PatternType::from_code(pattern_type).ok_or("unknown pattern type")?,
        principal,
        host,
        operation: AclOperation::from_code(operation).ok_or("unknown operation")?,
        permission: AclPermission::from_code(permission).ok_or("unknown permission type")?,
    })
}
