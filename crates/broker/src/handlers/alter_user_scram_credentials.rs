//! AlterUserScramCredentials (v0): sets and deletes users' SCRAM credentials, with Kafka's
//! per-user checks (`ScramControlManager`): a user named twice in one request
//! DUPLICATE_RESOURCE (all its operations dropped), an empty name UNACCEPTABLE_CREDENTIAL, a
//! mechanism other than 1 or 2 UNSUPPORTED_SASL_MECHANISM, iterations outside 4096..=16384
//! UNACCEPTABLE_CREDENTIAL, deleting a credential that does not exist RESOURCE_NOT_FOUND. The
//! client salts the password; the broker keeps only the salt and the derived keys. Users that
//! pass are recorded together; the others do not block them.
//!
//! With ACLs it needs ALTER on the cluster: denied, every named user is
//! CLUSTER_AUTHORIZATION_FAILED and nothing changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::ErrorCode;
use protocol::generated::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use protocol::generated::{AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse};
use security::acl::AclOperation;
use security::sasl::Mechanism;
use security::sasl::scram::{ITERATIONS_MAX, ITERATIONS_MIN, ScramCredential};

use super::RequestContext;
use crate::broker::Broker;
use crate::scram_credentials::{self, CredentialChange};

pub async fn handle(
    broker: &Arc<Broker>,
    context: &RequestContext,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let authorized = broker.allows_cluster(context, AclOperation::Alter);
    let mut named: BTreeMap<&str, usize> = BTreeMap::new();
    for name in request
        .deletions
        .iter()
        .map(|d| d.name.as_str())
        .chain(request.upsertions.iter().map(|u| u.name.as_str()))
    {
        *named.entry(name).or_default() += 1;
    }
    let mut refused: BTreeMap<String, (ErrorCode, String)> = BTreeMap::new();
    let mut refuse = |user: &str, code: ErrorCode, message: &str| {
        refused
            .entry(user.to_string())
            .or_insert((code, message.to_string()));
    };
    for (user, count) in &named {
        if !authorized {
            refuse(
                user,
                ErrorCode::ClusterAuthorizationFailed,
                "Not authorized to alter SCRAM credentials",
            );
        } else if *count > 1 {
            refuse(
                user,
                ErrorCode::DuplicateResource,
                "A user credential cannot be altered twice in the same request",
            );
        } else if user.is_empty() {
            refuse(
                user,
                ErrorCode::UnacceptableCredential,
                "Username must not be empty",
            );
        }
    }
    let mut changes: Vec<CredentialChange> = Vec::new();
    for deletion in &request.deletions {
        let Some(mechanism) = Mechanism::scram_from_code(deletion.mechanism) else {
            refuse(
                &deletion.name,
                ErrorCode::UnsupportedSaslMechanism,
                "Unknown SCRAM mechanism",
            );
            continue;
        };
        if scram_credentials::lookup(broker, &deletion.name, mechanism).is_none() {
            refuse(
                &deletion.name,
                ErrorCode::ResourceNotFound,
                "Attempt to delete a user credential that does not exist",
            );
            continue;
        }
        changes.push((deletion.name.clone(), mechanism, None));
    }
    for upsertion in &request.upsertions {
        let Some(mechanism) = Mechanism::scram_from_code(upsertion.mechanism) else {
            refuse(
                &upsertion.name,
                ErrorCode::UnsupportedSaslMechanism,
                "Unknown SCRAM mechanism",
            );
            continue;
        };
        if upsertion.iterations < ITERATIONS_MIN {
            refuse(
                &upsertion.name,
                ErrorCode::UnacceptableCredential,
                "Too few iterations",
            );
            continue;
        }
        if upsertion.iterations > ITERATIONS_MAX {
            refuse(
                &upsertion.name,
                ErrorCode::UnacceptableCredential,
                "Too many iterations",
            );
            continue;
        }
        let credential = ScramCredential::from_salted_password(
            mechanism,
            &upsertion.salt,
            &upsertion.salted_password,
            upsertion.iterations,
        );
        changes.push((upsertion.name.clone(), mechanism, Some(credential)));
    }
    changes.retain(|(user, _, _)| !refused.contains_key(user));
    let mut accepted: Vec<String> = changes.iter().map(|(user, _, _)| user.clone()).collect();
    accepted.dedup();
    if let Err(error) = scram_credentials::apply(broker, changes).await {
        for user in accepted.drain(..) {
            refused.insert(user, (error.error_code(), error.to_string()));
        }
    }
    let mut results: Vec<AlterUserScramCredentialsResult> = accepted
        .into_iter()
        .map(|user| AlterUserScramCredentialsResult {
            user,
            error_message: None,
            ..Default::default()
        })
        .collect();
    results.extend(refused.into_iter().map(|(user, (code, message))| {
        AlterUserScramCredentialsResult {
            user,
            error_code: code.code(),
            error_message: Some(message),
            ..Default::default()
        }
    }));
    AlterUserScramCredentialsResponse {
        results,
        ..Default::default()
    }
}
