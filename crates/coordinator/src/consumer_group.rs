//! A KIP-848 consumer group's state: group epoch, target assignment (with its epoch), members
//! with their member epochs and current assignments, and which member owns each partition.
//! Also the member-side reconciliation (Kafka's `CurrentAssignmentBuilder`).
//!
//! Invariants: `owners` maps each partition to the one member whose `assigned` or
//! `pending_revocation` holds it, and holds every such partition (so no partition ever has two
//! owners); `assignment_epoch <= group_epoch`; `static_members` maps instance ids to members.
//! The rules for when epochs move live in `consumer_heartbeat.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use protocol::Uuid;

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// A member's reconciliation state, with Kafka's record values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// The member has its target assignment at the assignment epoch.
    Stable = 0,
    /// The member must revoke `pending_revocation` before it moves on.
    UnrevokedPartitions = 1,
    /// Partitions of the member's target are still owned by others.
    UnreleasedPartitions = 2,
}

impl MemberState {
    pub fn from_record(value: i8) -> MemberState {
        match value {
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            _ => MemberState::Stable,
        }
    }
}

/// The group states of KIP-848 groups, as ListGroups and ConsumerGroupDescribe name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// The member epoch of a static member that left temporarily (Kafka's
/// `LEAVE_GROUP_STATIC_MEMBER_EPOCH`).
pub const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;
/// The member epoch of a leaving member.
pub const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;

/// A member of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: Option<MemberState>,
    /// Partitions the member may use now.
    pub assigned: Assignment,
    /// Partitions the member must give up before it gets anything new.
    pub pending_revocation: Assignment,
}

impl ConsumerMember {
    pub fn state(&self) -> MemberState {
        self.state.unwrap_or(MemberState::Stable)
    }

    /// The same member with only its metadata (not epochs or assignment).
    pub(crate) fn same_metadata(&self, other: &ConsumerMember) -> bool {
        self.instance_id == other.instance_id
            && self.rack_id == other.rack_id
            && self.client_id == other.client_id
            && self.client_host == other.client_host
            && self.subscribed_topic_names == other.subscribed_topic_names
            && self.subscribed_topic_regex == other.subscribed_topic_regex
            && self.server_assignor == other.server_assignor
            && self.rebalance_timeout_ms == other.rebalance_timeout_ms
    }

    pub(crate) fn same_assignment(&self, other: &ConsumerMember) -> bool {
        self.member_epoch == other.member_epoch
            && self.previous_member_epoch == other.previous_member_epoch
            && self.state() == other.state()
            && self.assigned == other.assigned
            && self.pending_revocation == other.pending_revocation
    }
}

/// A KIP-848 consumer group (the part of a `Group` that the consumer protocol owns).
#[derive(Debug, Clone, Default)]
pub struct ConsumerGroup {
    pub group_epoch: i32,
    /// The group epoch the target assignment was computed at.
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    pub static_members: HashMap<String, String>,
    /// Target assignment by member id.
    pub target: BTreeMap<String, Assignment>,
    /// The subscribed topics' metadata the target was computed with: name → (id, partitions).
    pub subscription_metadata: BTreeMap<String, (Uuid, i32)>,
    /// Owner of every partition assigned or pending revocation (see the invariant above).
    pub(crate) owners: HashMap<(Uuid, i32), String>,
}

impl ConsumerGroup {
    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| m.state() != MemberState::Stable || m.member_epoch != self.assignment_epoch)
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The assignor the group uses: the one most members name (ties by name), else uniform.
    pub fn assignor(&self) -> &'static str {
        let mut votes: BTreeMap<&'static str, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some(name) = member.server_assignor.as_deref()
                && let Some(known) = crate::assignor::ASSIGNORS.iter().find(|a| **a == name)
            {
                *votes.entry(known).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
            .map_or(crate::assignor::UNIFORM_ASSIGNOR, |(name, _)| name)
    }

    /// Installs `member` (replacing the member of the same id), keeping `owners` exact.
    pub(crate) fn put_member(&mut self, member: ConsumerMember) {
        self.release_partitions(&member.member_id);
        for (topic, partitions) in member.assigned.iter().chain(&member.pending_revocation) {
            for &p in partitions {
                let previous = self.owners.insert((*topic, p), member.member_id.clone());
                assert!(
                    previous.is_none(),
                    "partition {topic}-{p} given to {} while owned by {previous:?}",
                    member.member_id
                );
            }
        }
        if let Some(instance) = &member.instance_id {
            self.static_members
                .insert(instance.clone(), member.member_id.clone());
        }
        self.members.insert(member.member_id.clone(), member);
    }

    /// Removes a member and frees its partitions.
    pub(crate) fn remove_member(&mut self, member_id: &str) -> Option<ConsumerMember> {
        self.release_partitions(member_id);
        let member = self.members.remove(member_id)?;
        if let Some(instance) = &member.instance_id
            && self.static_members.get(instance).map(String::as_str) == Some(member_id)
        {
            self.static_members.remove(instance);
        }
        Some(member)
    }

    fn release_partitions(&mut self, member_id: &str) {
        if let Some(member) = self.members.get(member_id) {
            for (topic, partitions) in member.assigned.iter().chain(&member.pending_revocation) {
                for &p in partitions {
                    if self.owners.get(&(*topic, p)).map(String::as_str) == Some(member_id) {
                        self.owners.remove(&(*topic, p));
                    }
                }
            }
        }
    }

    pub fn owner(&self, topic: Uuid, partition: i32) -> Option<&str> {
        self.owners.get(&(topic, partition)).map(String::as_str)
    }

    /// Rebuilds `owners` from the members (after replay, where records arrive in any order).
    /// A partition claimed twice in the log keeps its first claimant; the second loses it.
    pub(crate) fn rebuild_owners(&mut self) {
        self.owners.clear();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let member = self.members.get_mut(&id).expect("listed");
            for set in [&mut member.assigned, &mut member.pending_revocation] {
                for (topic, partitions) in set.iter_mut() {
                    partitions.retain(|p| match self.owners.entry((*topic, *p)) {
                        std::collections::hash_map::Entry::Occupied(_) => false,
                        std::collections::hash_map::Entry::Vacant(slot) => {
                            slot.insert(id.clone());
                            true
                        }
                    });
                }
                set.retain(|_, p| !p.is_empty());
            }
        }
    }
}

/// Whether any partition of `assignment` is in `owned` (`None`: the member did not say, so it
/// is assumed to still own everything).
fn owns_any(owned: Option<&Assignment>, assignment: &Assignment) -> bool {
    let Some(owned) = owned else {
        return true;
    };
    assignment.iter().any(|(topic, partitions)| {
        owned
            .get(topic)
            .is_some_and(|o| partitions.iter().any(|p| o.contains(p)))
    })
}

/// Kafka's `CurrentAssignmentBuilder`: the member's next state on the way to `target` at
/// `target_epoch`. A member first revokes what it must give up (it stays at its epoch, its
/// assignment shrinks), and gets a partition only once no other member owns it. `owned` is what
/// the member reported owning in this heartbeat. `owner_of` names a partition's current owner.
pub(crate) fn reconcile(
    member: &ConsumerMember,
    target: &Assignment,
    target_epoch: i32,
    owned: Option<&Assignment>,
    owner_of: impl Fn(Uuid, i32) -> Option<String>,
) -> ConsumerMember {
    match member.state() {
        MemberState::Stable if member.member_epoch == target_epoch => member.clone(),
        MemberState::UnrevokedPartitions if owns_any(owned, &member.pending_revocation) => {
            member.clone()
        }
        _ => compute_next_assignment(member, target, target_epoch, owned, owner_of),
    }
}

fn compute_next_assignment(
    member: &ConsumerMember,
    target: &Assignment,
    target_epoch: i32,
    owned: Option<&Assignment>,
    owner_of: impl Fn(Uuid, i32) -> Option<String>,
) -> ConsumerMember {
    let mut assigned = Assignment::new();
    let mut revoking = Assignment::new();
    let mut pending_assignment = Assignment::new();
    let mut unreleased = false;
    let topics: BTreeSet<Uuid> = target
        .keys()
        .chain(member.assigned.keys())
        .copied()
        .collect();
    let empty = BTreeSet::new();
    for topic in topics {
        let wanted = target.get(&topic).unwrap_or(&empty);
        let current = member.assigned.get(&topic).unwrap_or(&empty);
        let keep: BTreeSet<i32> = current.intersection(wanted).copied().collect();
        let revoke: BTreeSet<i32> = current.difference(&keep).copied().collect();
        let mut add = BTreeSet::new();
        for &p in wanted.difference(&keep) {
            if owner_of(topic, p).is_some() {
                unreleased = true;
            } else {
                add.insert(p);
            }
        }
        if !keep.is_empty() {
            assigned.insert(topic, keep);
        }
        if !revoke.is_empty() {
            revoking.insert(topic, revoke);
        }
        if !add.is_empty() {
            pending_assignment.insert(topic, add);
        }
    }
    let mut next = member.clone();
    if !revoking.is_empty() && owns_any(owned, &revoking) {
        next.state = Some(MemberState::UnrevokedPartitions);
        next.assigned = assigned;
        next.pending_revocation = revoking;
        return next;
    }
    for (topic, partitions) in pending_assignment {
        assigned.entry(topic).or_default().extend(partitions);
    }
    next.state = Some(if unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    });
    if next.member_epoch != target_epoch {
        next.previous_member_epoch = next.member_epoch;
        next.member_epoch = target_epoch;
    }
    next.assigned = assigned;
    next.pending_revocation = Assignment::new();
    next
}
