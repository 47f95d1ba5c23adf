//! Authorization by access control lists with the semantics of Kafka's `StandardAuthorizer`:
//! ACL bindings (resource pattern, principal, host, operation, ALLOW or DENY) with Kafka's wire
//! codes, the decision for one request ([`Acls::authorize`]), and the filters of DescribeAcls
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
//! Not here: where ACLs are stored, and which operation each API checks (the broker's).

use std::net::IpAddr;

use crate::KafkaPrincipal;

/// A resource type (Kafka's `ResourceType`, its wire code in [`ResourceType::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PatternType {
    Any,
    Match,
    Literal,
    Prefixed,
}

/// An operation (Kafka's `AclOperation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// The ACLs in force and the authorizer's settings.
#[derive(Debug, Clone, Default)]
pub struct Acls {
    pub bindings: Vec<AclBinding>,
    /// `super.users`: principals (`User:admin`) allowed everything.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_if_no_acl: bool,
}

impl Acls {
    /// Whether `principal` connecting from `host` may do `operation` on the resource.
    pub fn authorize(
        &self,
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
        for binding in self
            .bindings
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
        let acls = Acls {
            bindings: vec![
                acl((Topic, "t", Literal), "User:alice", Read, Allow),
                acl((Topic, "t", Literal), "User:alice", Write, Allow),
                acl((Topic, "logs-", Prefixed), "User:*", Read, Allow),
                acl((Topic, "logs-secret", Literal), "User:bob", All, Deny),
                acl((Group, "*", Literal), "User:alice", Read, Allow),
                acl((Topic, "c", Literal), "User:carol", AlterConfigs, Allow),
            ],
            super_users: vec!["User:admin".into()],
            allow_if_no_acl: false,
        };
        let alice = KafkaPrincipal::user("alice");
        let bob = KafkaPrincipal::user("bob");
        let can = |who: &KafkaPrincipal, op, kind, name| acls.authorize(who, LOCAL, op, kind, name);
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
        let mut acls = Acls {
            bindings: vec![acl((Topic, "t", Literal), "User:alice", Read, Allow)],
            super_users: vec![],
            allow_if_no_acl: true,
        };
        let bob = KafkaPrincipal::user("bob");
        assert!(acls.authorize(&bob, LOCAL, Write, Topic, "u"));
        assert!(
            !acls.authorize(&bob, LOCAL, Read, Topic, "t"),
            "t has an ACL"
        );
        acls.bindings[0].host = "10.0.0.1".into();
        assert!(!acls.authorize(&KafkaPrincipal::user("alice"), LOCAL, Read, Topic, "t"));
        // DENY does not imply: DENY READ leaves DESCRIBE to the ALLOWs.
        acls.bindings = vec![
            acl((Topic, "t", Literal), "User:bob", Read, Deny),
            acl((Topic, "t", Literal), "User:bob", Write, Allow),
        ];
        assert!(acls.authorize(&bob, LOCAL, Describe, Topic, "t"));
        assert!(!acls.authorize(&bob, LOCAL, Read, Topic, "t"));
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
