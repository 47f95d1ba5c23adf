//! Authorization by access control lists with the semantics of Kafka's `StandardAuthorizer`:
//! ACL bindings (resource pattern, principal, host, operation, ALLOW or DENY) with Kafka's wire
//! codes, the decision for one request ([`Authorizer::authorize`]), and the filters of DescribeAcls
//! and DeleteAcls ([`AclBindingFilter::matches`]).
//!
//! Decision order: a super user (`super.users`) is allowed before anything else; then every ACL
//! whose resource pattern matches (LITERAL with the name, PREFIXED with a prefix of it, LITERAL
//! `*`) is considered: a matching DENY wins, else a matching ALLOW; when no ACL names the
//! resource at all the answer is `allow.everyone.if.no.acl.found`, otherwise DENIED. Principals
//! match exactly or through `User:*`, hosts exactly (an IP literal) or through `*`. ALL matches
//! every operation; only ALLOW implies: DESCRIBE by READ, WRITE, DELETE, ALTER, and
//! DESCRIBE_CONFIGS by ALTER_CONFIGS.
//!
//! Not here: where ACLs are stored (the metadata), and which operation each API checks (the
//! broker's handlers).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::KafkaPrincipal;

/// A resource type (Kafka's `ResourceType`, its wire code in [`ResourceType::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceType {
    Any,
    Topic,
    Group,
    Cluster,
    TransactionalId,
    DelegationToken,
    User,
}

/// A resource pattern's kind; `Any` and `Match` exist only in filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PatternType {
    Any,
    Match,
    Literal,
    Prefixed,
}

/// An operation (Kafka's `AclOperation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AclOperation {
    Any,
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    CreateTokens,
    DescribeTokens,
    TwoPhaseCommit,
}

/// ALLOW or DENY; `Any` only in filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AclPermission {
    Any,
    Deny,
    Allow,
}

/// Kafka's int8 wire codes; `None` for UNKNOWN (0) and anything else unknown.
macro_rules! wire_codes {
    ($ty:ident { $($variant:ident = $code:literal),* $(,)? }) => {
        impl $ty {
            pub fn from_code(code: i8) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)*
                    _ => None,
                }
            }

            pub fn code(self) -> i8 {
                match self {
                    $(Self::$variant => $code,)*
                }
            }
        }
    };
}

wire_codes!(ResourceType { Any = 1, Topic = 2, Group = 3, Cluster = 4, TransactionalId = 5, DelegationToken = 6, User = 7 });
wire_codes!(PatternType { Any = 1, Match = 2, Literal = 3, Prefixed = 4 });
wire_codes!(AclOperation {
    Any = 1, All = 2, Read = 3, Write = 4, Create = 5, Delete = 6, Alter = 7, Describe = 8,
    ClusterAction = 9, DescribeConfigs = 10, AlterConfigs = 11, IdempotentWrite = 12,
    CreateTokens = 13, DescribeTokens = 14, TwoPhaseCommit = 15,
});
wire_codes!(AclPermission { Any = 1, Deny = 2, Allow = 3 });

/// The name of the one CLUSTER resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// One ACL. Invariant: `pattern_type` is Literal or Prefixed, `operation` is not Any,
/// `permission` is Allow or Deny (checked where bindings are created).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern_type: PatternType,
    /// `Type:name`, `User:*` for everyone.
    pub principal: String,
    /// An IP literal, or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclBinding {
    /// Whether this binding's resource pattern covers `name` of its type.
    fn covers(&self, name: &str) -> bool {
        match self.pattern_type {
            PatternType::Literal => self.name == name || self.name == "*",
            PatternType::Prefixed => name.starts_with(&self.name),
            PatternType::Any | PatternType::Match => false,
        }
    }

    fn applies_to(&self, principal: &str, host: &str, operation: AclOperation) -> bool {
        let principal_matches = self.principal == principal || self.principal == "User:*";
        let host_matches = self.host == "*" || self.host == host;
        let operation_matches = self.operation == AclOperation::All
            || self.operation == operation
            || (self.permission == AclPermission::Allow && implies(self.operation, operation));
        principal_matches && host_matches && operation_matches
    }
}

/// ALLOW-only implications: READ, WRITE, DELETE and ALTER allow DESCRIBE; ALTER_CONFIGS allows
/// DESCRIBE_CONFIGS.
fn implies(granted: AclOperation, wanted: AclOperation) -> bool {
    use AclOperation::*;
    match wanted {
        Describe => matches!(granted, Read | Write | Delete | Alter),
        DescribeConfigs => granted == AlterConfigs,
        _ => false,
    }
}

/// The operations Kafka reports in authorized-operations bitfields, per resource type
/// (`AclEntry.supportedOperations`).
pub fn supported_operations(resource_type: ResourceType) -> &'static [AclOperation] {
    use AclOperation::*;
    match resource_type {
        ResourceType::Topic => &[
            Read,
            Write,
            Create,
            Describe,
            Delete,
            Alter,
            DescribeConfigs,
            AlterConfigs,
        ],
        ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
        ResourceType::Cluster => &[
            Create,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            Alter,
            Describe,
        ],
        ResourceType::TransactionalId => &[Describe, Write, TwoPhaseCommit],
        ResourceType::DelegationToken => &[Describe],
        ResourceType::User => &[CreateTokens, DescribeTokens],
        ResourceType::Any => &[],
    }
}

impl AclBinding {
    /// Why CreateAcls must refuse this binding (Kafka's INVALID_REQUEST cases), if it must.
    pub fn invalid_reason(&self) -> Option<&'static str> {
        if matches!(self.resource_type, ResourceType::Any) {
            return Some("the resource type must be specific");
        }
        if !matches!(
            self.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return Some("the pattern type must be LITERAL or PREFIXED");
        }
        if self.operation == AclOperation::Any {
            return Some("the operation must be specific");
        }
        if self.permission == AclPermission::Any {
            return Some("the permission must be ALLOW or DENY");
        }
        if self.name.is_empty() {
            return Some("the resource name is empty");
        }
        if self.resource_type == ResourceType::Cluster && self.name != CLUSTER_NAME {
            return Some("the cluster resource is named kafka-cluster");
        }
        if !self.principal.contains(':') {
            return Some("the principal must be Type:name");
        }
        if self.host.is_empty() {
            return Some("the host is empty");
        }
        None
    }
}

/// The authorizer's settings; the ACLs are passed to each decision, since they live in the
/// metadata and change while these do not.
#[derive(Debug, Clone, Default)]
pub struct Authorizer {
    /// `super.users`: principals (`User:admin`) allowed everything.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_if_no_acl: bool,
}

impl Authorizer {
    /// Reads `super.users` (`User:a;User:b`) and `allow.everyone.if.no.acl.found`.
    pub fn from_settings(super_users: &str, allow_if_no_acl: &str) -> Result<Self, String> {
        let super_users = super_users
            .split(';')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| match entry.split_once(':') {
                Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(entry.to_string()),
                _ => Err(format!("super.users: {entry:?} is not Type:name")),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            super_users,
            allow_if_no_acl: allow_if_no_acl.trim().eq_ignore_ascii_case("true"),
        })
    }

    /// Whether `principal` connecting from `host` may do `operation` on the resource.
    pub fn authorize(
        &self,
        acls: &[AclBinding],
        principal: &KafkaPrincipal,
        host: IpAddr,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        let principal = principal.to_string();
        if self.super_users.contains(&principal) {
            return true;
        }
        let host = host.to_string();
        let mut named = false;
        let mut allowed = false;
        for binding in acls
            .iter()
            .filter(|b| b.resource_type == resource_type && b.covers(name))
        {
            named = true;
            if binding.applies_to(&principal, &host, operation) {
                match binding.permission {
                    AclPermission::Deny => return false,
                    AclPermission::Allow => allowed = true,
                    AclPermission::Any => {}
                }
            }
        }
        allowed || (!named && self.allow_if_no_acl)
    }

    /// Whether `principal` may do `operation` on some resource of the type (Kafka's
    /// `authorizeByResourceType`: an idempotent producer needs WRITE on any topic): the
    /// decision for an unnamed resource, else an ALLOW pattern no DENY pattern covers.
    /// Operations are matched exactly here (no implication), as Kafka does.
    pub fn authorize_any(
        &self,
        acls: &[AclBinding],
        principal: &KafkaPrincipal,
        host: IpAddr,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        if self.authorize(acls, principal, host, operation, resource_type, "hardcode") {
            return true;
        }
        let principal = principal.to_string();
        let host = host.to_string();
        let relevant: Vec<&AclBinding> = acls
            .iter()
            .filter(|b| {
                b.resource_type == resource_type
                    && (b.host == "*" || b.host == host)
                    && (b.principal == principal || b.principal == "User:*")
                    && (b.operation == operation || b.operation == AclOperation::All)
            })
            .collect();
        let wildcard = |permission| {
            relevant.iter().any(|b| {
                b.permission == permission
                    && b.pattern_type == PatternType::Literal
                    && b.name == "*"
            })
        };
        if wildcard(AclPermission::Deny) {
            return false;
        }
        if wildcard(AclPermission::Allow) {
            return true;
        }
        let denied = |name: &str, literal: bool| {
            relevant.iter().any(|b| {
                b.permission == AclPermission::Deny
                    && match b.pattern_type {
                        PatternType::Literal => literal && b.name == name,
                        PatternType::Prefixed => name.starts_with(&b.name),
                        _ => false,
                    }
            })
        };
        relevant.iter().any(|b| {
            b.permission == AclPermission::Allow
                && match b.pattern_type {
                    PatternType::Literal => !denied(&b.name, true),
                    PatternType::Prefixed => !denied(&b.name, false),
                    _ => false,
                }
        })
    }

    /// Kafka's authorized-operations bitfield (bit `1 << code` per allowed operation) for one
    /// resource.
    pub fn authorized_operations(
        &self,
        acls: &[AclBinding],
        principal: &KafkaPrincipal,
        host: IpAddr,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        supported_operations(resource_type)
            .iter()
            .filter(|op| self.authorize(acls, principal, host, **op, resource_type, name))
            .fold(0, |bits, op| bits | (1 << op.code()))
    }
}

/// A DescribeAcls or DeleteAcls filter: `None` fields and the Any codes match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBindingFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclBindingFilter {
    pub fn matches(&self, binding: &AclBinding) -> bool {
        let resource_type =
            self.resource_type == ResourceType::Any || self.resource_type == binding.resource_type;
        let pattern = match (self.pattern_type, &self.name) {
            (PatternType::Match, Some(name)) => binding.covers(name),
            (PatternType::Match | PatternType::Any, None) => true,
            (PatternType::Any, Some(name)) => binding.name == *name,
            (kind, name) => {
                kind == binding.pattern_type && name.as_ref().is_none_or(|n| *n == binding.name)
            }
        };
        let principal = self
            .principal
            .as_ref()
            .is_none_or(|p| *p == binding.principal);
        let host = self.host.as_ref().is_none_or(|h| *h == binding.host);
        let operation = self.operation == AclOperation::Any || self.operation == binding.operation;
        let permission =
            self.permission == AclPermission::Any || self.permission == binding.permission;
        resource_type && pattern && principal && host && operation && permission
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(
        resource: (ResourceType, &str, PatternType),
        principal: &str,
        operation: AclOperation,
        permission: AclPermission,
    ) -> AclBinding {
        AclBinding {
            resource_type: resource.0,
            name: resource.1.into(),
            pattern_type: resource.2,
            principal: principal.into(),
            host: "*".into(),
            operation,
            permission,
        }
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    use AclOperation::*;
    use AclPermission::*;
    use PatternType::*;
    use ResourceType::*;

    #[test]
    fn allow_deny_wildcards_prefixes_and_implied_operations() {
        let acls = vec![
            acl((Topic, "t", Literal), "User:alice", Read, Allow),
            acl((Topic, "t", Literal), "User:alice", Write, Allow),
            acl((Topic, "logs-", Prefixed), "User:*", Read, Allow),
            acl((Topic, "logs-secret", Literal), "User:bob", All, Deny),
            acl((Group, "*", Literal), "User:alice", Read, Allow),
            acl((Topic, "c", Literal), "User:carol", AlterConfigs, Allow),
        ];
        let authorizer = Authorizer::from_settings(" User:admin ;; ", "false").unwrap();
        let alice = KafkaPrincipal::user("alice");
        let bob = KafkaPrincipal::user("bob");
        let can = |who: &KafkaPrincipal, op, kind, name| {
            authorizer.authorize(&acls, who, LOCAL, op, kind, name)
        };
        assert!(can(&alice, Read, Topic, "t"));
        assert!(can(&alice, Describe, Topic, "t"), "READ implies DESCRIBE");
        assert!(!can(&alice, Delete, Topic, "t"));
        assert!(
            !can(&alice, Read, Topic, "u"),
            "no ACL names u and the default is deny"
        );
        assert!(
            can(&bob, Read, Topic, "logs-app"),
            "a prefix ACL for everyone"
        );
        assert!(
            !can(&bob, Read, Topic, "logs-secret"),
            "DENY wins over the prefix ALLOW"
        );
        assert!(can(&alice, Read, Topic, "logs-secret"));
        assert!(
            can(&alice, Read, Group, "any-group"),
            "the literal * wildcard"
        );
        let carol = KafkaPrincipal::user("carol");
        assert!(can(&carol, DescribeConfigs, Topic, "c"));
        assert!(!can(&carol, Describe, Topic, "c"));
        assert!(can(
            &KafkaPrincipal::user("admin"),
            Delete,
            Cluster,
            CLUSTER_NAME
        ));
    }

    #[test]
    fn the_no_acl_default_applies_only_to_resources_no_acl_names() {
        let authorizer = Authorizer::from_settings("", "true").unwrap();
        let mut acls = vec![acl((Topic, "t", Literal), "User:alice", Read, Allow)];
        let bob = KafkaPrincipal::user("bob");
        assert!(authorizer.authorize(&acls, &bob, LOCAL, Write, Topic, "u"));
        assert!(
            !authorizer.authorize(&acls, &bob, LOCAL, Read, Topic, "t"),
            "t has an ACL"
        );
        acls[0].host = "10.0.0.1".into();
        let alice = KafkaPrincipal::user("alice");
        assert!(!authorizer.authorize(&acls, &alice, LOCAL, Read, Topic, "t"));
        // DENY does not imply: DENY READ leaves DESCRIBE to the ALLOWs.
        acls = vec![
            acl((Topic, "t", Literal), "User:bob", Read, Deny),
            acl((Topic, "t", Literal), "User:bob", Write, Allow),
        ];
        assert!(authorizer.authorize(&acls, &bob, LOCAL, Describe, Topic, "t"));
        assert!(!authorizer.authorize(&acls, &bob, LOCAL, Read, Topic, "t"));
        assert!(Authorizer::from_settings("alice", "false").is_err());
    }

    #[test]
    fn write_on_any_topic_and_operation_bitfields() {
        let authorizer = Authorizer::default();
        let alice = KafkaPrincipal::user("alice");
        let any = |acls: &[AclBinding]| authorizer.authorize_any(acls, &alice, LOCAL, Write, Topic);
        assert!(!any(&[]));
        assert!(any(&[acl(
            (Topic, "t", Literal),
            "User:alice",
            Write,
            Allow
        )]));
        assert!(!any(&[acl(
            (Topic, "t", Literal),
            "User:alice",
            Read,
            Allow
        )]));
        assert!(!any(&[
            acl((Topic, "logs-a", Literal), "User:alice", Write, Allow),
            acl((Topic, "logs-", Prefixed), "User:alice", Write, Deny),
        ]));
        assert!(!any(&[
            acl((Topic, "x", Prefixed), "User:*", All, Allow),
            acl((Topic, "*", Literal), "User:alice", Write, Deny),
        ]));
        let acls = [acl((Topic, "t", Literal), "User:alice", Read, Allow)];
        let bits = authorizer.authorized_operations(&acls, &alice, LOCAL, Topic, "t");
        assert_eq!(bits, (1 << Read.code()) | (1 << Describe.code()));
        let mut bad = acls[0].clone();
        assert_eq!(bad.invalid_reason(), None);
        bad.resource_type = Cluster;
        assert!(
            bad.invalid_reason().is_some(),
            "the cluster is kafka-cluster"
        );
    }

    #[test]
    fn filters_match_as_describe_and_delete_acls_do() {
        let literal = acl((Topic, "foo", Literal), "User:alice", Read, Allow);
        let star = acl((Topic, "*", Literal), "User:alice", Read, Allow);
        let prefix = acl((Topic, "fo", Prefixed), "User:alice", Read, Allow);
        let filter = |pattern_type, name: Option<&str>| AclBindingFilter {
            resource_type: ResourceType::Any,
            name: name.map(str::to_string),
            pattern_type,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        };
        let matching = |f: &AclBindingFilter| {
            [&literal, &star, &prefix]
                .iter()
                .filter(|b| f.matches(b))
                .count()
        };
        assert_eq!(matching(&filter(Match, Some("foo"))), 3);
        assert_eq!(matching(&filter(PatternType::Any, Some("foo"))), 1);
        assert_eq!(matching(&filter(PatternType::Any, None)), 3);
        assert_eq!(matching(&filter(Prefixed, None)), 1);
        assert_eq!(matching(&filter(Literal, Some("*"))), 1);
        let mut by_principal = filter(PatternType::Any, None);
        by_principal.principal = Some("User:*".into());
        assert_eq!(matching(&by_principal), 0, "User:* is a literal in filters");
        assert_eq!(ResourceType::from_code(4), Some(Cluster));
        assert_eq!(AclOperation::from_code(0), None);
        assert_eq!(AclPermission::Allow.code(), 3);
    }
}
