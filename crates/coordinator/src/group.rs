//! A classic group's state: its rebalance state machine, members, leader, generation, selected
//! protocol, KIP-394 pending members, and its committed offsets.
//!
//! This file owns the group's invariants; the rules for *when* to move between states (the
//! JoinGroup / SyncGroup / timer logic) live in `join.rs`, `sync.rs` and `rebalance.rs`.
//! Invariants: the leader, when set, is a member; `static_members` maps each static member's
//! group instance id to its member id and nothing else; `pending_sync_members` are members.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::{Buf, Bytes};
use protocol::Message;
use protocol::generated::ConsumerProtocolSubscription;
use protocol::generated::join_group_request::JoinGroupRequestProtocol;
use protocol::generated::join_group_response::JoinGroupResponseMember;

use crate::member::Member;
use crate::offsets::CommittedOffset;

/// The protocol type of Kafka consumers, whose subscriptions the coordinator can read.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The classic group states, named as Kafka names them in DescribeGroups and ListGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members; the group may still hold committed offsets.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Join phase done; waiting for the leader's assignment in SyncGroup.
    CompletingRebalance,
    /// Every member has its assignment for the current generation.
    Stable,
    /// Removed; the group object is about to be dropped.
    Dead,
}

impl GroupState {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// The states a group may enter `self` from (Kafka's `ClassicGroupState.validPreviousStates`).
    fn valid_previous(self) -> &'static [GroupState] {
        use GroupState::*;
        match self {
            Empty => &[PreparingRebalance],
            PreparingRebalance => &[Stable, CompletingRebalance, Empty],
            CompletingRebalance => &[PreparingRebalance],
            Stable => &[CompletingRebalance],
            Dead => &[Stable, PreparingRebalance, CompletingRebalance, Empty, Dead],
        }
    }
}

/// A classic group.
#[derive(Debug)]
pub struct Group {
    pub(crate) group_id: String,
    pub(crate) state: GroupState,
    pub(crate) previous_state: GroupState,
    /// When the group last changed state; `None` for groups loaded from pre-2.1 records.
    pub(crate) state_timestamp_ms: Option<i64>,
    pub(crate) generation_id: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader_id: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    pub(crate) static_members: HashMap<String, String>,
    /// KIP-394: member ids handed out with MEMBER_ID_REQUIRED, not yet rejoined with.
    pub(crate) pending_members: BTreeSet<String>,
    /// Members that got their JoinGroup response this generation but have not synced yet.
    pub(crate) pending_sync_members: BTreeSet<String>,
    /// A member joined during the initial delayed rebalance, so the delay may be extended.
    pub(crate) new_member_added: bool,
    /// Topics the members subscribe to, when known (consumer protocol, readable subscriptions).
    pub(crate) subscribed_topics: Option<BTreeSet<String>>,
    /// Committed offsets by topic and partition.
    pub(crate) offsets: BTreeMap<String, BTreeMap<i32, CommittedOffset>>,
    /// Invariant: the number of partitions in `offsets`.
    pub(crate) offsets_len: usize,
    /// Set when the group uses the KIP-848 consumer protocol; the classic fields are then
    /// unused (state Empty, no members). A group is one protocol or the other.
    pub(crate) consumer: Option<Box<crate::consumer_group::ConsumerGroup>>,
}

impl Group {
    pub(crate) fn new(group_id: &str, now_ms: i64) -> Group {
        Group {
            group_id: group_id.to_owned(),
            state: GroupState::Empty,
            previous_state: GroupState::Empty,
            state_timestamp_ms: Some(now_ms),
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: BTreeSet::new(),
            pending_sync_members: BTreeSet::new(),
            new_member_added: false,
            subscribed_topics: None,
            offsets: BTreeMap::new(),
            offsets_len: 0,
            consumer: None,
        }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }

    pub fn leader_id(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }

    pub fn member(&self, member_id: &str) -> Option<&Member> {
        self.members.get(member_id)
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn pending_member_count(&self) -> usize {
        self.pending_members.len()
    }

    pub fn state_timestamp_ms(&self) -> Option<i64> {
        self.state_timestamp_ms
    }

    /// The member id a static member's group instance id currently maps to.
    pub fn static_member_id(&self, group_instance_id: &str) -> Option<&str> {
        self.static_members
            .get(group_instance_id)
            .map(String::as_str)
    }

    /// The KIP-848 side of the group, when it is a consumer-protocol group.
    pub fn consumer_group(&self) -> Option<&crate::consumer_group::ConsumerGroup> {
        self.consumer.as_deref()
    }

    /// A classic group with no members and no KIP-394 pending members (it may convert).
    pub(crate) fn is_classic_empty(&self) -> bool {
        self.members.is_empty()
            && self.pending_members.is_empty()
            && self.state == GroupState::Empty
    }

    /// Whether the group has members under either protocol.
    pub(crate) fn has_members(&self) -> bool {
        !self.members.is_empty()
            || self
                .consumer
                .as_ref()
                .is_some_and(|c| !c.members.is_empty())
    }

    /// Keeps `subscribed_topics` (retention, OffsetDelete) in step with a consumer group's
    /// members: the union of their topic names and of existing topics their regexes matched.
    pub(crate) fn refresh_consumer_subscribed_topics(&mut self) {
        if let Some(consumer) = &self.consumer {
            let mut topics: BTreeSet<String> =
                consumer.subscription_metadata.keys().cloned().collect();
            for member in consumer.members.values() {
                topics.extend(member.subscribed_topic_names.iter().cloned());
            }
            self.subscribed_topics = Some(topics);
        }
    }

    pub(crate) fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    pub(crate) fn transition_to(&mut self, state: GroupState, now_ms: i64) {
        assert!(
            state.valid_previous().contains(&self.state),
            "group {}: illegal transition {:?} -> {:?}",
            self.group_id,
            self.state,
            state
        );
        self.previous_state = self.state;
        self.state = state;
        self.state_timestamp_ms = Some(now_ms);
    }

    /// Kafka's `canRebalance`: whether PreparingRebalance may be entered now.
    pub(crate) fn can_rebalance(&self) -> bool {
        GroupState::PreparingRebalance
            .valid_previous()
            .contains(&self.state)
    }

    pub(crate) fn add_member(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        if let Some(instance) = &member.group_instance_id {
            self.static_members
                .insert(instance.clone(), member.member_id.clone());
        }
        self.pending_members.remove(&member.member_id);
        self.members.insert(member.member_id.clone(), member);
    }

    /// Removes a member and returns it; the caller answers its parked requests.
    pub(crate) fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        self.pending_members.remove(member_id);
        let member = self.members.remove(member_id)?;
        if let Some(instance) = &member.group_instance_id
            && self.static_members.get(instance).map(String::as_str) == Some(member_id)
        {
            self.static_members.remove(instance);
        }
        self.pending_sync_members.remove(member_id);
        if self.is_leader(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        Some(member)
    }

    pub(crate) fn awaiting_join_count(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.is_awaiting_join())
            .count()
    }

    pub(crate) fn has_all_members_joined(&self) -> bool {
        self.awaiting_join_count() == self.members.len() && self.pending_members.is_empty()
    }

    /// The largest rebalance timeout of the members: how long a join phase waits.
    pub(crate) fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Protocols every member supports.
    fn candidate_protocols(&self) -> Vec<&str> {
        let Some(first) = self.members.values().next() else {
            return Vec::new();
        };
        first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|p| p.name == *name))
            })
            .collect()
    }

    /// Kafka's `supportsProtocols`: a joining member must share the group's protocol type and at
    /// least one protocol with every current member.
    pub(crate) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[JoinGroupRequestProtocol],
    ) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|p| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|q| q.name == p.name))
            })
    }

    /// The protocol with the most votes, each member voting for its most preferred candidate.
    /// Ties go to the protocol first in the leader's (else the first member's) preference.
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: Vec<(&str, usize)> = candidates.iter().map(|c| (*c, 0)).collect();
        for member in self.members.values() {
            if let Some(choice) = member.vote(&candidates)
                && let Some(entry) = votes.iter_mut().find(|(name, _)| *name == choice)
            {
                entry.1 += 1;
            }
        }
        let preference: Vec<&str> = self
            .leader_id
            .as_deref()
            .and_then(|id| self.members.get(id))
            .or_else(|| self.members.values().next())
            .map(|m| m.protocols.iter().map(|p| p.name.as_str()).collect())
            .unwrap_or_default();
        let rank = |name: &str| preference.iter().position(|p| *p == name);
        votes
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| rank(b.0).cmp(&rank(a.0))))
            .map(|(name, _)| (*name).to_owned())
    }

    /// Kafka's `maybeElectNewJoinedLeader`: keep the leader if it rejoined, else pick a member
    /// that did. False when no member rejoined.
    pub(crate) fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader_id.as_deref() else {
            return false;
        };
        if self
            .members
            .get(leader)
            .is_some_and(Member::is_awaiting_join)
        {
            return true;
        }
        match self.members.values().find(|m| m.is_awaiting_join()) {
            Some(member) => {
                self.leader_id = Some(member.member_id.clone());
                true
            }
            None => false,
        }
    }

    /// Starts the next generation: a selected protocol and CompletingRebalance, or Empty.
    pub(crate) fn init_next_generation(&mut self, now_ms: i64) {
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition_to(GroupState::Empty, now_ms);
        } else {
            self.protocol_name = self.select_protocol();
            self.transition_to(GroupState::CompletingRebalance, now_ms);
        }
        self.subscribed_topics = self.compute_subscribed_topics();
        self.pending_sync_members.clear();
    }

    /// The members as the leader sees them in its JoinGroup response.
    pub(crate) fn leader_view(&self) -> Vec<JoinGroupResponseMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinGroupResponseMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(protocol),
                ..Default::default()
            })
            .collect()
    }

    /// Kafka's `validateMember`: a static member must present the member id its instance id maps
    /// to (else it is a stale instance: FENCED_INSTANCE_ID); a dynamic member must exist.
    pub(crate) fn validate_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), protocol::ErrorCode> {
        use protocol::ErrorCode;
        match group_instance_id {
            Some(instance) => match self.static_members.get(instance) {
                None => Err(ErrorCode::UnknownMemberId),
                Some(current) if current != member_id => Err(ErrorCode::FencedInstanceId),
                Some(_) => Ok(()),
            },
            None if self.members.contains_key(member_id) => Ok(()),
            None => Err(ErrorCode::UnknownMemberId),
        }
    }

    /// The union of the members' subscribed topics, for `consumer` groups whose subscriptions
    /// decode; `None` when unknown.
    pub(crate) fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for member in self.members.values() {
            topics.extend(decode_subscription_topics(&member.metadata(protocol))?);
        }
        Some(topics)
    }

    /// Whether the group reads `topic`. When the subscriptions are unknown, a `consumer` group
    /// is assumed to read every topic and any other group none (as Kafka's ClassicGroup).
    pub(crate) fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        match &self.subscribed_topics {
            Some(topics) => topics.contains(topic),
            None => self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE),
        }
    }
}

/// The topics of a `ConsumerProtocolSubscription` (an int16 version, then the struct; versions
/// above ours are read as our highest, as Kafka's `ConsumerProtocol` does).
fn decode_subscription_topics(metadata: &Bytes) -> Option<Vec<String>> {
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16();
    if version < 0 {
        return None;
    }
    let version = version.min(ConsumerProtocolSubscription::VERSIONS.1);
    ConsumerProtocolSubscription::decode(&mut buf, version)
        .ok()
        .map(|s| s.topics)
}
