//! DescribeUserScramCredentials (v0): each user's SCRAM mechanisms and iterations (never salts
//! or keys); all users when none are named. A user named twice is DUPLICATE_RESOURCE, one
//! without credentials RESOURCE_NOT_FOUND, with Kafka's messages (`ScramImage.describe`).
//!
//! With ACLs it needs DESCRIBE on the cluster (else CLUSTER_AUTHORIZATION_FAILED at the top
//! and no results).

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use protocol::generated::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use security::acl::AclOperation;

use super::RequestContext;
use crate::broker::Broker;
use crate::scram_credentials;

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !broker.allows_cluster(context, AclOperation::Describe) {
        return DescribeUserScramCredentialsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            error_message: None,
            results: Vec::new(),
            ..Default::default()
        };
    }
    let named: Vec<String> = match request.users {
        Some(users) if !users.is_empty() => users.into_iter().map(|u| u.name).collect(),
        _ => scram_credentials::users(broker),
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for user in &named {
        *counts.entry(user.as_str()).or_default() += 1;
    }
    let results = counts
        .into_iter()
        .map(|(user, count)| {
            let mechanisms = scram_credentials::describe(broker, user);
            let (code, message) = if count > 1 {
                (
                    ErrorCode::DuplicateResource,
                    Some(format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                    )),
                )
            } else if mechanisms.is_empty() {
                (
                    ErrorCode::ResourceNotFound,
                    Some(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    )),
                )
            } else {
                (ErrorCode::None, None)
            };
            DescribeUserScramCredentialsResult {
                user: user.to_string(),
                error_code: code.code(),
                error_message: message,
                credential_infos: if code == ErrorCode::None {
                    mechanisms
                        .into_iter()
                        .map(|(mechanism, iterations)| CredentialInfo {
                            mechanism: mechanism.scram_code(),
                            iterations,
                            ..Default::default()
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                ..Default::default()
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse {
        results,
        error_message: None,
        ..Default::default()
    }
}
