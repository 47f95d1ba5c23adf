//! A hosted partition's replication role: leader (with its followers' progress, the ISR and
//! the high watermark rule) or follower (with the leader it fetches from).
//!
//! Pure state and rules, no I/O: [`crate::partitions::Partition`] holds a [`Role`] behind a
//! mutex and feeds it log end offsets; the cluster module turns [`LeaderState::isr_change`] into
//! AlterPartition proposals and metadata into [`Role`] changes.
//!
//! Rules (Kafka's `Partition`):
//! - The high watermark is the smallest log end offset among the ISR, counting a follower only
//!   once it has fetched in the current leader epoch; it never moves back. With `strict_min_isr`
//!   (a replicated cluster, KIP-966) it does not advance while the ISR is below
//!   `min.insync.replicas`.
//! - A follower is caught up when it fetched at the leader's log end offset, or at the offset
//!   the leader's log ended at when it last fetched; an ISR member not caught up for
//!   `replica.lag.time.max.ms` leaves the ISR.
//! - A follower joins the ISR when its log end offset reaches the high watermark and the start
//!   of the current leader epoch.
//! - Progress belongs to one incarnation of the follower's broker (its broker epoch, KIP-903):
//!   when metadata shows the broker registered again (a restart, perhaps with an empty disk),
//!   its progress is forgotten, and fetches from an older incarnation are ignored.
//!
//! Times are milliseconds on the monotonic clock (`clock::monotonic_ms`; Kafka reads the wall
//! clock here): a step of the wall clock must neither shrink the ISR to the leader nor hold a
//! proposed ISR change back for the length of the step.
//!
//! A single node is the leader of everything at epoch 0 with itself as the whole ISR.

use std::collections::{BTreeMap, BTreeSet};

/// A broker's `node.id`.
pub type BrokerId = i32;

/// How long an AlterPartition may stay unanswered before the leader proposes again.
pub const ISR_CHANGE_RETRY_MS: i64 = 5_000;

/// What the leader knows of one follower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The follower broker's epoch (registration) this progress belongs to; -1 unknown.
    pub broker_epoch: i64,
    /// The offset of its last fetch in this epoch; -1 before its first.
    pub log_end_offset: i64,
    /// When it was last caught up (ms since the epoch).
    pub last_caught_up_ms: i64,
    /// The leader's log end offset and the time at the follower's previous fetch.
    last_fetch_leader_end: i64,
    last_fetch_ms: i64,
    /// The log start offset its last fetch in this epoch reported; -1 before its first.
    pub log_start_offset: i64,
    /// Outside the ISR, it fetched at or past the high watermark and the epoch start: it
    /// holds the high watermark (as a member would) until it joins, so the next ISR check
    /// finds it still caught up however the other members' fetches interleave with its own.
    pub joining: bool,
}

impl FollowerProgress {
    fn new(broker_epoch: i64, now_ms: i64) -> Self {
        FollowerProgress {
            broker_epoch,
            log_end_offset: -1,
            last_caught_up_ms: now_ms,
            last_fetch_leader_end: -1,
            last_fetch_ms: now_ms,
            log_start_offset: -1,
            joining: false,
        }
    }
}

/// The leader's state of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderState {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    /// The log end offset when this epoch began.
    pub epoch_start_offset: i64,
    pub followers: BTreeMap<BrokerId, FollowerProgress>,
    /// An ISR proposed to the controller, not yet seen in metadata, and when.
    pub pending_isr: Option<(Vec<BrokerId>, i64)>,
    /// Hold the high watermark while the ISR is below `min.insync.replicas` (KIP-966).
    pub strict_min_isr: bool,
    /// Replicas whose broker may not join an ISR now ([`Assignment::ineligible`]).
    pub ineligible: BTreeSet<BrokerId>,
}

/// The partition's role on this broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Leader(LeaderState),
    Follower {
        leader: Option<BrokerId>,
        leader_epoch: i32,
    },
}

impl Role {
    /// A single node: leader at epoch 0, itself the ISR.
    pub fn single_node(local: BrokerId) -> Self {
        Role::Leader(LeaderState {
            leader_epoch: 0,
            partition_epoch: 0,
            replicas: vec![local],
            isr: vec![local],
            epoch_start_offset: 0,
            followers: BTreeMap::new(),
            pending_isr: None,
            strict_min_isr: false,
            ineligible: BTreeSet::new(),
        })
    }

    pub fn leader_epoch(&self) -> i32 {
        match self {
            Role::Leader(state) => state.leader_epoch,
            Role::Follower { leader_epoch, .. } => *leader_epoch,
        }
    }

    /// Takes the role metadata gives this replica on broker `local`: a newer partition epoch
    /// of the same leadership updates it; a leadership at a new epoch starts at the log end
    /// (`log_end`, asked only then); otherwise this replica follows the named leader (or
    /// nobody). Returns whether leadership or the leader followed changed, and the ISR sizes
    /// before and after an update of the same leadership.
    pub fn apply_assignment<E>(
        &mut self,
        assignment: &Assignment,
        local: BrokerId,
        log_end: impl FnOnce() -> Result<i64, E>,
        now_ms: i64,
    ) -> Result<RoleChange, E> {
        let unchanged = RoleChange {
            changed: false,
            isr_sizes: None,
        };
        match (&mut *self, assignment.leader) {
            (Role::Leader(state), Some(leader))
                if leader == local && state.leader_epoch == assignment.leader_epoch =>
            {
                let before = state.isr.len();
                state.update(assignment, local, now_ms);
                Ok(RoleChange {
                    changed: false,
                    isr_sizes: Some((before, state.isr.len())),
                })
            }
            (_, Some(leader)) if leader == local => {
                let log_end = log_end()?;
                *self = Role::Leader(LeaderState::new(assignment, local, log_end, now_ms));
                Ok(RoleChange {
                    changed: true,
                    isr_sizes: None,
                })
            }
            (
                Role::Follower {
                    leader,
                    leader_epoch,
                },
                new_leader,
            ) if *leader == new_leader && *leader_epoch == assignment.leader_epoch => Ok(unchanged),
            (_, new_leader) => {
                *self = Role::Follower {
                    leader: new_leader,
                    leader_epoch: assignment.leader_epoch,
                };
                Ok(RoleChange {
                    changed: true,
                    isr_sizes: None,
                })
            }
        }
    }
}

/// What [`Role::apply_assignment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleChange {
    /// Leadership or the leader followed changed (fetchers must be told).
    pub changed: bool,
    /// The ISR's size before and after, when the same leadership took a new partition epoch.
    pub isr_sizes: Option<(usize, usize)>,
}

/// A follower's fetch the leader does not count: the follower holds no replica here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownFollower;

/// The leadership metadata gives a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub leader: Option<BrokerId>,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    /// The current broker epoch of each replica's broker (absent: not registered).
    pub broker_epochs: BTreeMap<BrokerId, i64>,
    /// Replicas whose broker is fenced, shutting down, has a failed log dir or is not
    /// registered: the controller refuses them in an ISR, so the leader neither proposes them
    /// nor waits for them (Kafka's `isReplicaIsrEligible`).
    pub ineligible: BTreeSet<BrokerId>,
}

impl Assignment {
    fn broker_epoch(&self, broker: BrokerId) -> i64 {
        self.broker_epochs.get(&broker).copied().unwrap_or(-1)
    }
}

impl LeaderState {
    /// A new leadership starting at `log_end_offset`.
    pub fn new(assignment: &Assignment, local: BrokerId, log_end_offset: i64, now_ms: i64) -> Self {
        let followers = assignment
            .replicas
            .iter()
            .filter(|&&r| r != local)
            .map(|&r| (r, FollowerProgress::new(assignment.broker_epoch(r), now_ms)))
            .collect();
        LeaderState {
            leader_epoch: assignment.leader_epoch,
            partition_epoch: assignment.partition_epoch,
            replicas: assignment.replicas.clone(),
            isr: assignment.isr.clone(),
            epoch_start_offset: log_end_offset,
            followers,
            pending_isr: None,
            strict_min_isr: true,
            ineligible: assignment.ineligible.clone(),
        }
    }

    /// Takes a newer partition epoch of the same leadership (an ISR or replica change).
    pub fn update(&mut self, assignment: &Assignment, local: BrokerId, now_ms: i64) {
        self.partition_epoch = assignment.partition_epoch;
        self.replicas = assignment.replicas.clone();
        self.isr = assignment.isr.clone();
        self.ineligible = assignment.ineligible.clone();
        self.followers
            .retain(|r, _| assignment.replicas.contains(r) && *r != local);
        for &r in &assignment.replicas {
            if r == local {
                continue;
            }
            let epoch = assignment.broker_epoch(r);
            let progress = self
                .followers
                .entry(r)
                .or_insert_with(|| FollowerProgress::new(epoch, now_ms));
            // A new incarnation of the broker: what the old one had says nothing of this one.
            if progress.broker_epoch < epoch {
                *progress = FollowerProgress::new(epoch, now_ms);
            }
        }
        for r in &self.isr {
            if let Some(progress) = self.followers.get_mut(r) {
                progress.joining = false;
            }
        }
        if self
            .pending_isr
            .as_ref()
            .is_some_and(|(isr, _)| same_members(isr, &self.isr))
        {
            self.pending_isr = None;
        }
    }

    /// Records a follower's fetch at `fetch_offset` while the leader's log ends at
    /// `leader_end`, sent by the incarnation with `broker_epoch` (-1: not said). Unknown
    /// followers are ignored (the caller refuses them), and so are fetches from an incarnation
    /// older than the one metadata knows.
    pub fn record_fetch(
        &mut self,
        follower: BrokerId,
        broker_epoch: i64,
        fetch_offset: i64,
        leader_end: i64,
        now_ms: i64,
    ) -> Option<&mut FollowerProgress> {
        let progress = self.followers.get_mut(&follower)?;
        if broker_epoch >= 0 && broker_epoch < progress.broker_epoch {
            return None;
        }
        if fetch_offset >= leader_end {
            progress.last_caught_up_ms = now_ms;
        } else if fetch_offset >= progress.last_fetch_leader_end
            && progress.last_fetch_leader_end >= 0
        {
            progress.last_caught_up_ms = progress.last_caught_up_ms.max(progress.last_fetch_ms);
        }
        progress.log_end_offset = fetch_offset;
        progress.last_fetch_leader_end = leader_end;
        progress.last_fetch_ms = now_ms;
        Some(progress)
    }

    /// A follower's fetch at `fetch_offset` (its log end offset) arrived while the leader's log
    /// ends at `leader_end` and the high watermark is `high_watermark`: [`Self::record_fetch`],
    /// unless the offset lies outside the leader's log (such a fetch is out of range, the read
    /// answers it, and it proves nothing about the follower). A follower outside the ISR that
    /// fetched at the high watermark and the epoch start becomes `joining` (Kafka checks the
    /// expansion at the fetch too). [`UnknownFollower`] when `follower` holds no replica.
    pub fn record_follower_fetch(
        &mut self,
        follower: BrokerId,
        broker_epoch: i64,
        fetch_offset: i64,
        leader_end: i64,
        high_watermark: i64,
        now_ms: i64,
    ) -> Result<(), UnknownFollower> {
        if !self.followers.contains_key(&follower) {
            return Err(UnknownFollower);
        }
        if fetch_offset > leader_end || fetch_offset < 0 {
            return Ok(());
        }
        let joins = !self.isr.contains(&follower)
            && !self.ineligible.contains(&follower)
            && fetch_offset >= high_watermark
            && fetch_offset >= self.epoch_start_offset;
        if let Some(progress) =
            self.record_fetch(follower, broker_epoch, fetch_offset, leader_end, now_ms)
            && joins
        {
            progress.joining = true;
        }
        Ok(())
    }

    /// Records the log start offset a follower's fetch reported (from the incarnation with
    /// `broker_epoch`, -1: not said). Returns true when it moved up (a DeleteRecords waiting on
    /// [`Self::low_watermark`] may be done).
    pub fn record_follower_log_start(
        &mut self,
        follower: BrokerId,
        broker_epoch: i64,
        log_start_offset: i64,
    ) -> bool {
        let Some(progress) = self.followers.get_mut(&follower) else {
            return false;
        };
        if broker_epoch >= 0 && broker_epoch < progress.broker_epoch {
            return false;
        }
        let before = progress.log_start_offset;
        progress.log_start_offset = log_start_offset;
        log_start_offset > before
    }

    /// Kafka's low watermark: the smallest log start offset among this replica (`local`) and
    /// the followers alive now, taken as those that fetched in this epoch within
    /// `lag_max_ms` (Kafka counts the replicas on live brokers). DeleteRecords answers once it
    /// reaches the new log start.
    pub fn low_watermark(&self, local: i64, lag_max_ms: i64, now_ms: i64) -> i64 {
        self.followers
            .values()
            .filter(|p| p.log_end_offset >= 0 && now_ms - p.last_fetch_ms <= lag_max_ms)
            .map(|p| p.log_start_offset)
            .fold(local, i64::min)
    }

    /// Joining followers (see [`FollowerProgress::joining`]) not caught up within
    /// `lag_max_ms` stop holding the high watermark: one that stopped fetching before it
    /// joined must not stall the partition.
    pub fn drop_stalled_joiners(&mut self, lag_max_ms: i64, now_ms: i64) {
        for progress in self.followers.values_mut() {
            if progress.joining && now_ms - progress.last_caught_up_ms > lag_max_ms {
                progress.joining = false;
            }
        }
    }

    /// The controller refused an ISR change: the followers it would have added stop holding
    /// the high watermark until a fetch shows them caught up again.
    pub fn abandon_joins(&mut self) {
        for progress in self.followers.values_mut() {
            progress.joining = false;
        }
    }

    /// The high watermark to move to from `current`, if the ISR lets it rise
    /// ([`Self::high_watermark_bound`]); `None` when it stays. It never moves back.
    pub fn next_high_watermark(
        &self,
        local: BrokerId,
        leader_end: i64,
        min_insync_replicas: i32,
        current: i64,
    ) -> Option<i64> {
        self.high_watermark_bound(local, leader_end, min_insync_replicas)
            .filter(|&bound| bound > current)
    }

    /// The high watermark the ISR allows, given the leader's own log end offset: the smallest
    /// log end offset among the ISR and the members an expansion in flight adds. `None` when
    /// it may not move (a member has not fetched in this epoch, or the ISR is too small).
    pub fn high_watermark_bound(
        &self,
        local: BrokerId,
        leader_end: i64,
        min_insync_replicas: i32,
    ) -> Option<i64> {
        if self.strict_min_isr && (self.isr.len() as i64) < i64::from(min_insync_replicas) {
            return None;
        }
        let mut bound = leader_end;
        // Kafka's "maximal ISR": the committed ISR and the members a proposal in flight adds.
        // The controller may already have committed the larger ISR and could elect any of its
        // members, so none may be left behind by the high watermark.
        // Followers joining hold it too, from the fetch that found them caught up.
        let proposed = self.pending_isr.as_ref().map_or(&[][..], |(isr, _)| isr);
        let added = proposed.iter().filter(|r| !self.isr.contains(r));
        let joining = self
            .followers
            .iter()
            .filter(|(r, p)| {
                p.joining
                    && !self.isr.contains(r)
                    && !proposed.contains(r)
                    && !self.ineligible.contains(r)
            })
            .map(|(r, _)| r);
        for member in self.isr.iter().chain(added).chain(joining) {
            if *member == local {
                continue;
            }
            let end = self.followers.get(member).map_or(-1, |p| p.log_end_offset);
            if end < 0 {
                return None;
            }
            bound = bound.min(end);
        }
        Some(bound)
    }

    /// Drops a proposal older than [`ISR_CHANGE_RETRY_MS`] that nothing replaced: had the
    /// controller committed it, a leader still serving would have seen it in metadata by now
    /// (it serves only while caught up with the controller, `cluster/self_fencing.rs`); its
    /// outcome was lost (a quorum error), so it no longer holds the high watermark.
    pub fn forget_stale_isr_proposal(&mut self, now_ms: i64) {
        if self
            .pending_isr
            .as_ref()
            .is_some_and(|(_, at)| now_ms - at >= ISR_CHANGE_RETRY_MS)
        {
            self.pending_isr = None;
        }
    }

    /// Whether follower `r` was caught up within `lag_max_ms`.
    fn caught_up(&self, r: BrokerId, lag_max_ms: i64, now_ms: i64) -> bool {
        self.followers
            .get(&r)
            .is_some_and(|p| now_ms - p.last_caught_up_ms <= lag_max_ms)
    }

    /// Whether an ISR member has lagged past `lag_max_ms`: the high watermark cannot pass it
    /// until the controller takes it out of the ISR.
    pub fn isr_member_lagging(&self, local: BrokerId, lag_max_ms: i64, now_ms: i64) -> bool {
        self.isr
            .iter()
            .any(|&r| r != local && !self.caught_up(r, lag_max_ms, now_ms))
    }

    /// The ISR this leader wants, if it differs from the current one and no change is in
    /// flight: laggards out, caught-up followers in.
    pub fn isr_change(
        &self,
        local: BrokerId,
        high_watermark: i64,
        lag_max_ms: i64,
        now_ms: i64,
    ) -> Option<Vec<BrokerId>> {
        if let Some((_, at)) = &self.pending_isr
            && now_ms - at < ISR_CHANGE_RETRY_MS
        {
            return None;
        }
        let mut wanted: Vec<BrokerId> = self
            .isr
            .iter()
            .copied()
            .filter(|&r| r == local || self.caught_up(r, lag_max_ms, now_ms))
            .collect();
        for (&r, progress) in &self.followers {
            if !wanted.contains(&r)
                && !self.isr.contains(&r)
                && !self.ineligible.contains(&r)
                && progress.log_end_offset >= high_watermark
                && progress.log_end_offset >= self.epoch_start_offset
            {
                wanted.push(r);
            }
        }
        if !wanted.contains(&local) {
            wanted.push(local);
        }
        (!same_members(&wanted, &self.isr)).then_some(wanted)
    }
}

fn same_members(a: &[BrokerId], b: &[BrokerId]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(isr: &[BrokerId]) -> Assignment {
        Assignment {
            leader: Some(1),
            leader_epoch: 3,
            partition_epoch: 7,
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            broker_epochs: BTreeMap::from([(1, 10), (2, 20), (3, 30)]),
            ineligible: BTreeSet::new(),
        }
    }

    #[test]
    fn the_high_watermark_waits_for_every_isr_member_to_fetch_in_the_epoch() {
        let mut leader = LeaderState::new(&assignment(&[1, 2, 3]), 1, 10, 0);
        assert_eq!(leader.high_watermark_bound(1, 15, 2), None);
        leader.record_fetch(2, -1, 12, 15, 1);
        assert_eq!(leader.high_watermark_bound(1, 15, 2), None);
        leader.record_fetch(3, -1, 11, 15, 1);
        assert_eq!(leader.high_watermark_bound(1, 15, 2), Some(11));
        leader.record_fetch(3, -1, 15, 15, 2);
        assert_eq!(leader.high_watermark_bound(1, 15, 2), Some(12));
    }

    #[test]
    fn an_expansion_in_flight_holds_the_high_watermark_for_the_joining_member() {
        // Found by the simulator (seed 2): the controller committed ISR [1, 2, 3] while the
        // leader still counted [1, 2]; it acknowledged an offset 3 lacked, 3 was elected and
        // the acknowledged record was lost. Kafka counts the "maximal ISR".
        let mut leader = LeaderState::new(&assignment(&[1, 2]), 1, 10, 0);
        leader.record_fetch(2, -1, 15, 15, 1);
        leader.record_fetch(3, -1, 12, 15, 1);
        assert_eq!(leader.high_watermark_bound(1, 15, 2), Some(15));
        leader.pending_isr = Some((vec![1, 2, 3], 1));
        assert_eq!(leader.high_watermark_bound(1, 15, 2), Some(12));
        // A shrink in flight keeps the committed (larger) ISR.
        leader.pending_isr = Some((vec![1], 1));
        assert_eq!(leader.high_watermark_bound(1, 15, 2), Some(15));
        // A proposal whose outcome was lost stops holding it after the retry interval (found
        // by cluster_transactions: a refused expansion held the high watermark for good).
        leader.pending_isr = Some((vec![1, 2, 3], 100));
        leader.forget_stale_isr_proposal(100 + ISR_CHANGE_RETRY_MS - 1);
        assert_eq!(leader.high_watermark_bound(1, 15, 2), Some(12));
        leader.forget_stale_isr_proposal(100 + ISR_CHANGE_RETRY_MS);
        assert_eq!(leader.high_watermark_bound(1, 15, 2), Some(15));
    }

    #[test]
    fn a_small_isr_holds_the_high_watermark_under_the_strict_rule() {
        let leader = LeaderState::new(&assignment(&[1]), 1, 10, 0);
        assert_eq!(leader.high_watermark_bound(1, 15, 2), None);
        assert_eq!(leader.high_watermark_bound(1, 15, 1), Some(15));
    }

    #[test]
    fn laggards_leave_and_caught_up_followers_join() {
        let mut leader = LeaderState::new(&assignment(&[1, 2]), 1, 10, 0);
        leader.record_fetch(2, -1, 10, 10, 100);
        leader.record_fetch(3, -1, 10, 10, 100);
        // 3 reached the high watermark and the epoch start: it joins.
        assert_eq!(leader.isr_change(1, 10, 1000, 200), Some(vec![1, 2, 3]));
        leader.pending_isr = Some((vec![1, 2, 3], 200));
        assert_eq!(
            leader.isr_change(1, 10, 1000, 300),
            None,
            "one change at a time"
        );
        leader.update(
            &Assignment {
                partition_epoch: 8,
                ..assignment(&[1, 2, 3])
            },
            1,
            300,
        );
        assert_eq!(leader.pending_isr, None);
        // 2 stops fetching; 3 keeps up. After the lag bound 2 leaves.
        leader.record_fetch(3, -1, 20, 20, 1500);
        assert_eq!(leader.isr_change(1, 20, 1000, 1500), Some(vec![1, 3]));
    }

    #[test]
    fn a_caught_up_follower_on_a_fenced_broker_is_neither_proposed_nor_waited_for() {
        // Seen in F14: with the ISR down to the leader, it proposed every 250 ms to add back a
        // follower whose broker was fenced, and the controller refused each time.
        let fenced = Assignment {
            ineligible: BTreeSet::from([3]),
            ..assignment(&[1, 2])
        };
        let mut leader = LeaderState::new(&fenced, 1, 10, 0);
        leader
            .record_follower_fetch(2, -1, 10, 10, 10, 100)
            .unwrap();
        leader
            .record_follower_fetch(3, -1, 10, 10, 10, 100)
            .unwrap();
        assert!(!leader.followers[&3].joining);
        assert_eq!(leader.isr_change(1, 10, 1000, 110), None);
        leader
            .record_follower_fetch(2, -1, 12, 12, 10, 120)
            .unwrap();
        assert_eq!(leader.high_watermark_bound(1, 12, 1), Some(12));
        // Unfenced, it is proposed again.
        leader.update(&assignment(&[1, 2]), 1, 130);
        assert_eq!(leader.isr_change(1, 10, 1000, 140), Some(vec![1, 2, 3]));
    }

    #[test]
    fn a_follower_that_reached_the_high_watermark_holds_it_until_it_joins() {
        // Found by the fault harness (F22 under a transactional load): a follower back with an
        // empty disk caught up in 3 s but stayed out of the ISR for 88 s, until the producers
        // stopped. Each time the ISR was checked the other follower had fetched the newest
        // batch and moved the high watermark past it, a fetch ahead of it.
        let mut leader = LeaderState::new(&assignment(&[1, 2]), 1, 10, 0);
        leader
            .record_follower_fetch(2, -1, 10, 10, 10, 100)
            .unwrap();
        // 3 fetches at the high watermark: from now on the high watermark waits for it.
        leader
            .record_follower_fetch(3, -1, 10, 10, 10, 110)
            .unwrap();
        // A batch arrives; 2 fetches it before 3 does.
        leader
            .record_follower_fetch(2, -1, 12, 12, 10, 120)
            .unwrap();
        assert_eq!(leader.high_watermark_bound(1, 12, 1), Some(10));
        assert_eq!(leader.isr_change(1, 10, 1000, 130), Some(vec![1, 2, 3]));
        // Once metadata has it in the ISR it holds the high watermark as a member does.
        leader.update(
            &Assignment {
                partition_epoch: 8,
                ..assignment(&[1, 2, 3])
            },
            1,
            140,
        );
        assert!(!leader.followers[&3].joining);
        // A fetch below the high watermark proves nothing: no hold.
        let mut leader = LeaderState::new(&assignment(&[1, 2]), 1, 10, 0);
        leader
            .record_follower_fetch(2, -1, 12, 12, 10, 100)
            .unwrap();
        leader
            .record_follower_fetch(3, -1, 11, 12, 12, 100)
            .unwrap();
        assert_eq!(leader.high_watermark_bound(1, 12, 1), Some(12));
        // A follower that reached it and then stopped fetching stops holding it once it has
        // lagged past the bound.
        leader
            .record_follower_fetch(3, -1, 12, 12, 12, 200)
            .unwrap();
        leader
            .record_follower_fetch(2, -1, 14, 14, 12, 210)
            .unwrap();
        assert_eq!(leader.high_watermark_bound(1, 14, 1), Some(12));
        leader.drop_stalled_joiners(1000, 1100);
        assert_eq!(leader.high_watermark_bound(1, 14, 1), Some(12));
        leader.drop_stalled_joiners(1000, 1300);
        assert_eq!(leader.high_watermark_bound(1, 14, 1), Some(14));
    }

    #[test]
    fn the_low_watermark_waits_for_live_followers_only() {
        let mut leader = LeaderState::new(&assignment(&[1, 2, 3]), 1, 10, 0);
        // Before any fetch in this epoch the followers do not count.
        assert_eq!(leader.low_watermark(5, 1000, 0), 5);
        leader
            .record_follower_fetch(2, -1, 10, 10, 10, 100)
            .unwrap();
        leader
            .record_follower_fetch(3, -1, 10, 10, 10, 100)
            .unwrap();
        assert!(leader.record_follower_log_start(2, -1, 5));
        assert!(leader.record_follower_log_start(3, -1, 3));
        assert_eq!(leader.low_watermark(5, 1000, 200), 3);
        assert!(!leader.record_follower_log_start(3, -1, 3));
        assert!(leader.record_follower_log_start(3, -1, 5));
        assert_eq!(leader.low_watermark(5, 1000, 200), 5);
        // A follower that stopped fetching no longer holds it back.
        leader
            .record_follower_fetch(2, -1, 10, 10, 10, 1500)
            .unwrap();
        leader.record_follower_log_start(2, -1, 8);
        assert_eq!(leader.low_watermark(8, 1000, 1500), 8);
    }

    #[test]
    fn a_restarted_follower_starts_over() {
        // Found by the fault harness (F22): follower 3 was in sync, lost its disk and
        // registered again; its old progress must not bring it back into the ISR.
        let mut leader = LeaderState::new(&assignment(&[1, 2, 3]), 1, 0, 0);
        leader.record_fetch(2, 20, 100, 100, 10);
        leader.record_fetch(3, 30, 100, 100, 10);
        let mut registered_again = assignment(&[1, 2]);
        registered_again.partition_epoch = 8;
        registered_again.broker_epochs.insert(3, 31);
        leader.update(&registered_again, 1, 20);
        assert_eq!(leader.followers[&3].log_end_offset, -1);
        assert_eq!(leader.isr_change(1, 100, 10_000, 30), None);
        // A fetch from the old incarnation still in flight changes nothing.
        leader.record_fetch(3, 30, 100, 100, 40);
        assert_eq!(leader.isr_change(1, 100, 10_000, 50), None);
        // The new incarnation starts from an empty log and joins once caught up.
        leader.record_fetch(3, 31, 0, 100, 60);
        assert_eq!(leader.isr_change(1, 100, 10_000, 70), None);
        leader.record_fetch(3, 31, 100, 100, 80);
        assert_eq!(leader.isr_change(1, 100, 10_000, 90), Some(vec![1, 2, 3]));
    }

    #[test]
    fn a_follower_behind_the_epoch_start_does_not_join() {
        let mut leader = LeaderState::new(&assignment(&[1]), 1, 50, 0);
        leader.record_fetch(2, -1, 40, 50, 10);
        assert_eq!(leader.isr_change(1, 40, 1000, 20), None);
        leader.record_fetch(2, -1, 50, 50, 30);
        assert_eq!(leader.isr_change(1, 50, 1000, 40), Some(vec![1, 2]));
    }
}
