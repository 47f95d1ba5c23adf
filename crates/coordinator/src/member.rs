//! One member of a classic group: its identity (member id, KIP-345 group instance id), the
//! protocols it supports with their opaque metadata, its assignment, its timeouts, and the
//! JoinGroup / SyncGroup requests it has parked while the group rebalances.
//!
//! The coordinator never looks inside protocol metadata or assignments (eager and cooperative
//! assignors work as-is); the one exception is reading the subscribed topics of `consumer`
//! groups (`group.rs`), for OffsetDelete and offset expiry.

use bytes::Bytes;
use protocol::generated::join_group_request::JoinGroupRequestProtocol;

use crate::Ticket;

/// A parked request: its ticket and the API version its response must be encodable at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parked {
    pub(crate) ticket: Ticket,
    pub(crate) version: i16,
}

/// One protocol a member supports (for consumers: an assignor name and a subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

impl Protocol {
    pub(crate) fn from_request(protocols: &[JoinGroupRequestProtocol]) -> Vec<Protocol> {
        protocols
            .iter()
            .map(|p| Protocol {
                name: p.name.clone(),
                metadata: p.metadata.clone(),
            })
            .collect()
    }
}

/// A member of a classic group.
#[derive(Debug, Clone)]
pub struct Member {
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) session_timeout_ms: i32,
    /// The protocol type the member joined with (the group's, once it is not Empty).
    pub(crate) protocol_type: String,
    /// In the member's order of preference.
    pub(crate) protocols: Vec<Protocol>,
    pub(crate) assignment: Bytes,
    /// The member's JoinGroup, parked until the join phase completes.
    pub(crate) awaiting_join: Option<Parked>,
    /// The member's SyncGroup, parked until the leader's assignment is in.
    pub(crate) awaiting_sync: Option<Parked>,
    /// Joined in the current rebalance and not yet given a JoinGroup response. A new member's
    /// session runs on `new_member_join_timeout_ms`, and it may expire even while waiting.
    pub(crate) is_new: bool,
}

impl Member {
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    pub fn group_instance_id(&self) -> Option<&str> {
        self.group_instance_id.as_deref()
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn client_host(&self) -> &str {
        &self.client_host
    }

    pub fn session_timeout_ms(&self) -> i32 {
        self.session_timeout_ms
    }

    pub fn rebalance_timeout_ms(&self) -> i32 {
        self.rebalance_timeout_ms
    }

    pub fn protocols(&self) -> &[Protocol] {
        &self.protocols
    }

    pub fn assignment(&self) -> &Bytes {
        &self.assignment
    }

    pub fn is_awaiting_join(&self) -> bool {
        self.awaiting_join.is_some()
    }

    pub fn is_awaiting_sync(&self) -> bool {
        self.awaiting_sync.is_some()
    }

    pub fn is_static(&self) -> bool {
        self.group_instance_id.is_some()
    }

    /// The metadata the member gave for `protocol`, empty if it does not support it.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    /// Whether `protocols` are exactly the member's (names, metadata and order).
    pub(crate) fn matches(&self, protocols: &[JoinGroupRequestProtocol]) -> bool {
        self.protocols.len() == protocols.len()
            && self
                .protocols
                .iter()
                .zip(protocols)
                .all(|(ours, theirs)| ours.name == theirs.name && ours.metadata == theirs.metadata)
    }

    /// The member's most preferred protocol among `candidates`.
    pub(crate) fn vote<'a>(&'a self, candidates: &[&str]) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|name| candidates.contains(name))
    }

    /// Kafka's `hasSatisfiedHeartbeat`: a member parked in JoinGroup or SyncGroup counts as alive
    /// (its client cannot heartbeat meanwhile), unless it is new.
    pub(crate) fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.is_awaiting_join() || self.is_awaiting_sync())
    }
}
