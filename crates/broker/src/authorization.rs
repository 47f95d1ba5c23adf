//! Authorization of requests, as Kafka's `AuthHelper` does it: with no `authorizer.class.name`
//! every check passes (and the ACL APIs answer SECURITY_DISABLED); with the StandardAuthorizer
//! each check is decided by `security::acl::Authorizer` over the ACLs in the metadata, for the
//! request's principal and client address. Handlers ask here with Kafka's operation for their
//! API (docs/internals/kafka-facts/acls-quotas.md §3) and write the `*_AUTHORIZATION_FAILED`
//! code themselves, since where it goes differs per API.
//!
//! Denials are logged at INFO on the `runnel::authorizer` target (Kafka's
//! `kafka.authorizer.logger`).

use protocol::ErrorCode;
use security::acl::{AclOperation, Authorizer, CLUSTER_NAME, ResourceType, supported_operations};

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::handlers::RequestContext;
use crate::security_config_keys::STANDARD_AUTHORIZER;

/// The authorizer the configuration asks for, if any.
pub fn from_config(config: &BrokerConfig) -> Result<Option<Authorizer>, String> {
    match config.value("authorizer.class.name").unwrap_or("").trim() {
        "" => Ok(None),
        STANDARD_AUTHORIZER => Authorizer::from_settings(
            config.value("super.users").unwrap_or(""),
            config
                .value("allow.everyone.if.no.acl.found")
                .unwrap_or("false"),
        )
        .map(Some),
        other => Err(format!(
            "authorizer.class.name {other:?} is not served (only {STANDARD_AUTHORIZER})"
        )),
    }
}

impl Broker {
    /// Whether ACLs decide (`authorizer.class.name` is set).
    pub fn authorization_enabled(&self) -> bool {
        self.authorizer.is_some()
    }

    /// Whether the request's principal may do `operation` on the resource.
    pub fn allows(
        &self,
        context: &RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        let Some(authorizer) = &self.authorizer else {
            return true;
        };
        let acls = self.metadata.acls();
        let host = context.peer.ip();
        let allowed = authorizer.authorize(
            &acls,
            &context.principal,
            host,
            operation,
            resource_type,
            name,
        );
        if !allowed {
            tracing::info!(
                target: "runnel::authorizer",
                principal = %context.principal,
                %host,
                ?operation,
                ?resource_type,
                resource = name,
                api = ?context.header.request_api_key,
                "denied"
            );
        }
        allowed
    }

    pub fn allows_topic(&self, context: &RequestContext, op: AclOperation, topic: &str) -> bool {
        self.allows(context, op, ResourceType::Topic, topic)
    }

    pub fn allows_group(&self, context: &RequestContext, op: AclOperation, group: &str) -> bool {
        self.allows(context, op, ResourceType::Group, group)
    }

    pub fn allows_cluster(&self, context: &RequestContext, op: AclOperation) -> bool {
        self.allows(context, op, ResourceType::Cluster, CLUSTER_NAME)
    }

    pub fn allows_transactional_id(
        &self,
        context: &RequestContext,
        op: AclOperation,
        transactional_id: &str,
    ) -> bool {
        self.allows(context, op, ResourceType::TransactionalId, transactional_id)
    }

    /// `operation` on the group, or GROUP_AUTHORIZATION_FAILED.
    pub fn require_group(
        &self,
        context: &RequestContext,
        operation: AclOperation,
        group: &str,
    ) -> Result<(), BrokerError> {
        if self.allows_group(context, operation, group) {
            Ok(())
        } else {
            Err(BrokerError::NotAuthorized(
                ErrorCode::GroupAuthorizationFailed,
            ))
        }
    }

    /// `operation` on the transactional id, or TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
    pub fn require_transactional_id(
        &self,
        context: &RequestContext,
        operation: AclOperation,
        transactional_id: &str,
    ) -> Result<(), BrokerError> {
        if self.allows_transactional_id(context, operation, transactional_id) {
            Ok(())
        } else {
            Err(BrokerError::NotAuthorized(
                ErrorCode::TransactionalIdAuthorizationFailed,
            ))
        }
    }

    /// What a group heartbeat (KIP-848 or share group) needs: READ on the group, and DESCRIBE
    /// on every subscribed topic name (else the whole answer is TOPIC_AUTHORIZATION_FAILED).
    pub fn require_group_member(
        &self,
        context: &RequestContext,
        group_id: &str,
        subscribed_topic_names: &[String],
    ) -> Result<(), BrokerError> {
        self.require_group(context, AclOperation::Read, group_id)?;
        if subscribed_topic_names
            .iter()
            .any(|name| !self.allows_topic(context, AclOperation::Describe, name))
        {
            return Err(BrokerError::NotAuthorized(
                ErrorCode::TopicAuthorizationFailed,
            ));
        }
        Ok(())
    }

    /// `operation` on the cluster, or CLUSTER_AUTHORIZATION_FAILED.
    pub fn require_cluster(
        &self,
        context: &RequestContext,
        operation: AclOperation,
    ) -> Result<(), BrokerError> {
        if self.allows_cluster(context, operation) {
            Ok(())
        } else {
            Err(BrokerError::NotAuthorized(
                ErrorCode::ClusterAuthorizationFailed,
            ))
        }
    }

    /// Why an ACL API is refused, with Kafka's message: without `operation` on the cluster
    /// CLUSTER_AUTHORIZATION_FAILED, without an authorizer SECURITY_DISABLED.
    pub fn acl_api_refusal(
        &self,
        context: &RequestContext,
        operation: AclOperation,
    ) -> Option<(ErrorCode, &'static str)> {
        if !self.allows_cluster(context, operation) {
            Some((
                ErrorCode::ClusterAuthorizationFailed,
                "Cluster authorization failed.",
            ))
        } else if !self.authorization_enabled() {
            Some((
                ErrorCode::SecurityDisabled,
                "No Authorizer is configured on the broker",
            ))
        } else {
            None
        }
    }

    /// Whether the request may use an inter-broker API (AddPartitionsToTxn v4+, COMMIT
    /// markers): CLUSTER_ACTION on the cluster when ACLs decide; without an authorizer, where
    /// Kafka lets anyone, only a request over another registered broker's peer connection
    /// (`cluster::peers::from_peer`).
    pub fn allows_inter_broker(&self, context: &RequestContext) -> bool {
        if self.authorization_enabled() {
            self.allows_cluster(context, AclOperation::ClusterAction)
        } else {
            crate::cluster::peers::from_peer(self.cluster.get().map(|c| &**c), context.client_id())
        }
    }

    /// Whether the principal may do `operation` on some resource of the type (an idempotent
    /// producer without IDEMPOTENT_WRITE needs WRITE on any topic).
    pub fn allows_any(
        &self,
        context: &RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        let Some(authorizer) = &self.authorizer else {
            return true;
        };
        authorizer.authorize_any(
            &self.metadata.acls(),
            &context.principal,
            context.peer.ip(),
            operation,
            resource_type,
        )
    }

    /// Kafka's authorized-operations bitfield for one resource (every supported operation when
    /// nothing is authorized).
    pub fn authorized_operations(
        &self,
        context: &RequestContext,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        match &self.authorizer {
            None => supported_operations(resource_type)
                .iter()
                .fold(0, |bits, op| bits | (1 << op.code())),
            Some(authorizer) => authorizer.authorized_operations(
                &self.metadata.acls(),
                &context.principal,
                context.peer.ip(),
                resource_type,
                name,
            ),
        }
    }
}
