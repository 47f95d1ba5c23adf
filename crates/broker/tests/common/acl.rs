//! ACL requests for tests: Kafka's wire codes, a binding to create, CreateAcls and
//! DescribeAcls, and the bindings an answer lists.
#![allow(dead_code)]

use protocol::generated::create_acls_request::AclCreation;
use protocol::generated::delete_acls_request::DeleteAclsFilter;
use protocol::generated::delete_acls_response::DeleteAclsFilterResult;
use protocol::generated::{
    CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest, DescribeAclsResponse,
};

use super::TestClient;

pub const TOPIC: i8 = 2;
pub const GROUP: i8 = 3;
pub const CLUSTER: i8 = 4;
pub const ANY: i8 = 1;
pub const LITERAL: i8 = 3;
pub const PREFIXED: i8 = 4;
pub const READ: i8 = 3;
pub const WRITE: i8 = 4;
pub const ALLOW: i8 = 3;

pub fn grant(
    resource_type: i8,
    name: &str,
    pattern: i8,
    principal: &str,
    operation: i8,
) -> AclCreation {
    AclCreation {
        resource_type,
        resource_name: name.into(),
        resource_pattern_type: pattern,
        principal: principal.into(),
        host: "*".into(),
        operation,
        permission_type: ALLOW,
        ..Default::default()
    }
}

/// CreateAcls v3; each result's error code.
pub async fn create_acls(client: &mut TestClient, creations: Vec<AclCreation>) -> Vec<i16> {
    let response = crate::expect_response!(
        client
            .send(
                3,
                CreateAclsRequest {
                    creations,
                    ..Default::default()
                }
            )
            .await,
        CreateAcls
    );
    response.results.iter().map(|r| r.error_code).collect()
}

/// DescribeAcls v3 of everything bound to `principal`.
pub async fn describe_acls(client: &mut TestClient, principal: &str) -> DescribeAclsResponse {
    let request = DescribeAclsRequest {
        resource_type_filter: ANY,
        resource_name_filter: None,
        pattern_type_filter: ANY,
        principal_filter: Some(principal.into()),
        host_filter: None,
        operation: ANY,
        permission_type: ANY,
        ..Default::default()
    };
    crate::expect_response!(client.send(3, request).await, DescribeAcls)
}

/// The (resource, operation) pairs a DescribeAcls answer lists, sorted.
pub fn listed(response: &DescribeAclsResponse) -> Vec<(String, i8, i8)> {
    let mut out: Vec<(String, i8, i8)> = response
        .resources
        .iter()
        .flat_map(|r| {
            r.acls
                .iter()
                .map(move |acl| (r.resource_name.clone(), r.pattern_type, acl.operation))
        })
        .collect();
    out.sort();
    out
}

/// DeleteAcls v3 of the bindings of `principal` on one resource with one operation (any
/// permission, any host); the filter's result.
pub async fn delete_acls(
    client: &mut TestClient,
    resource_type: i8,
    name: &str,
    pattern: i8,
    principal: &str,
    operation: i8,
) -> DeleteAclsFilterResult {
    let request = DeleteAclsRequest {
        filters: vec![DeleteAclsFilter {
            resource_type_filter: resource_type,
            resource_name_filter: Some(name.into()),
            pattern_type_filter: pattern,
            principal_filter: Some(principal.into()),
            host_filter: None,
            operation,
            permission_type: ANY,
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut response = crate::expect_response!(client.send(3, request).await, DeleteAcls);
    response.filter_results.remove(0)
}
