//! Partition state changes: leader election, ISR shrinking when a broker is fenced, shuts down
//! or restarts, eligible leader replicas (KIP-966), recovery after unclean shutdowns,
//! preferred and unclean elections, and the AlterPartition compare-and-set.
//!
//! The functions here compute a partition's next state from its current one, a broker
//! eligibility test and the topic's [`Policy`]; they do not touch the rest of the image. They
//! keep the invariants of [`PartitionState`]; the partition epoch bumps on every change, the
//! leader epoch on every leader change. Like KRaft's `PartitionChangeBuilder`, with one
//! deliberate difference (docs/internals/controller.md): where Kafka 4.4 re-elects the last
//! leader after every candidate restarted uncleanly, Runnel waits for their log reports and
//! elects the most complete log.
//!
//! Election order: the current leader if still eligible; the first eligible ISR member in
//! replica order; with an empty ISR, the first eligible ELR member; with ISR and ELR empty, the
//! most complete log any replica reported once every last-known-ELR member reported; with
//! `unclean.leader.election.enable`, then any eligible replica, the most complete reported first.

use crate::error::ControllerError;
use crate::image::{BrokerId, PartitionState};
use crate::reassignment;

/// A broker leaving the ISR: fenced, shutting down, its log dir failed, or registering again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leaving {
    pub broker_id: BrokerId,
    /// It restarted without a clean-shutdown marker: its log may have lost its unsynced tail,
    /// so it cannot be an eligible leader replica.
    pub unclean_shutdown: bool,
}

/// The topic settings elections follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// `min.insync.replicas`, at least 1.
    pub min_isr: usize,
    /// `unclean.leader.election.enable`.
    pub unclean: bool,
}

/// Recomputes a partition after `leaving` left (fenced, shutting down, re-registered) or after
/// a broker became eligible or reported its log (`leaving = None`). Returns `None` if nothing
/// changes.
pub(crate) fn rebalance(
    current: &PartitionState,
    leaving: Option<Leaving>,
    eligible: impl Fn(BrokerId) -> bool,
    policy: Policy,
) -> Option<PartitionState> {
    let mut next = current.clone();
    if let Some(gone) = leaving {
        let id = gone.broker_id;
        let was_candidate = next.isr.contains(&id) || next.elr.contains(&id);
        next.isr.retain(|&r| r != id);
        if gone.unclean_shutdown {
            next.elr.retain(|&r| r != id);
            // A report of an earlier incarnation only bounds what its log holds now.
            for log in next.replica_logs.iter_mut().filter(|l| l.broker_id == id) {
                log.stale = true;
            }
            if was_candidate && next.isr.len() < policy.min_isr {
                add(&mut next.last_known_elr, id);
            }
        } else if current.isr.contains(&id) && next.isr.len() < policy.min_isr {
            add(&mut next.elr, id);
        }
    }
    finish(current, next, eligible, policy)
}

/// Completes a reassignment whose target is in sync, then elects if the leader is gone or no
/// longer eligible, and restores the ELR's rules: the common tail of every change.
pub(crate) fn finish(
    current: &PartitionState,
    mut next: PartitionState,
    eligible: impl Fn(BrokerId) -> bool,
    policy: Policy,
) -> Option<PartitionState> {
    reassignment::complete_if_ready(&mut next);
    if next
        .leader
        .is_some_and(|l| !eligible(l) || !next.isr.contains(&l))
    {
        next.leader = None;
    }
    if next.leader.is_none() {
        elect(&mut next, &eligible, policy);
    }
    settle(&mut next, policy);
    changed(current, next)
}

/// Picks a leader for a partition that has none, in the module's election order.
fn elect(next: &mut PartitionState, eligible: impl Fn(BrokerId) -> bool, policy: Policy) {
    let first = |set: &[BrokerId]| {
        next.replicas
            .iter()
            .copied()
            .find(|&r| set.contains(&r) && eligible(r))
    };
    if let Some(leader) = first(&next.isr) {
        next.leader = Some(leader);
        return;
    }
    if !next.isr.is_empty() {
        // ISR members are down: wait for them (or an unclean election).
        if policy.unclean {
            take_unclean(next, &eligible);
        }
        return;
    }
    if let Some(leader) = first(&next.elr) {
        next.isr = vec![leader];
        next.elr.retain(|&r| r != leader);
        next.leader = Some(leader);
        return;
    }
    if next.elr.is_empty()
        && let Some(best) = most_complete(next)
        && eligible(best)
    {
        next.isr = vec![best];
        next.leader = Some(best);
        return;
    }
    if policy.unclean {
        take_unclean(next, &eligible);
    }
}

/// Once every last-known-ELR member reported: the most complete reported log, of any replica
/// (earlier replicas first on a tie). The member list says whom to wait for; the choice is
/// wider because a replica outside it may still hold what every member lost, and the log with
/// the latest epoch and then the most records holds the longest prefix of the latest leader's
/// log that survived. A stale report above the best fresh one makes it wait for that replica.
fn most_complete(p: &PartitionState) -> Option<BrokerId> {
    if p.last_known_elr.is_empty() {
        return None;
    }
    let fresh = |b: BrokerId| p.replica_logs.iter().find(|l| l.broker_id == b && !l.stale);
    if p.last_known_elr.iter().any(|&b| fresh(b).is_none()) {
        return None;
    }
    let mut best: Option<(BrokerId, (i32, i64))> = None;
    for &r in &p.replicas {
        if let Some(log) = fresh(r)
            && best.is_none_or(|(_, c)| log.completeness() > c)
        {
            best = Some((r, log.completeness()));
        }
    }
    // A replica that reported more before it restarted may still hold it: wait for its report.
    let (leader, completeness) = best?;
    let maybe_more = p
        .replica_logs
        .iter()
        .any(|l| l.stale && l.completeness() > completeness);
    (!maybe_more).then_some(leader)
}

/// An unclean election: the most complete eligible reported log, else the first eligible
/// replica. Records the new leader lacks are lost.
fn take_unclean(next: &mut PartitionState, eligible: impl Fn(BrokerId) -> bool) {
    let reported = next
        .replica_logs
        .iter()
        .filter(|l| !l.stale && eligible(l.broker_id) && next.replicas.contains(&l.broker_id))
        .max_by_key(|l| l.completeness())
        .map(|l| l.broker_id);
    let any = reported.or_else(|| next.replicas.iter().copied().find(|&r| eligible(r)));
    if let Some(chosen) = any {
        next.isr = vec![chosen];
        next.elr.clear();
        next.leader = Some(chosen);
    }
}

/// Restores the ELR's rules after a change: ELR and last known ELR disjoint from the ISR, both
/// emptied once the ISR is back at min ISR; reports dropped once a leader is elected (its
/// followers' logs change from then on). Below min ISR the last known ELR outlives an
/// election: the high watermark stays frozen, so its members still hold every acknowledged
/// record if the new leader fails in turn.
fn settle(next: &mut PartitionState, policy: Policy) {
    let isr = next.isr.clone();
    next.elr.retain(|r| !isr.contains(r));
    next.last_known_elr.retain(|r| !isr.contains(r));
    if next.isr.len() >= policy.min_isr {
        next.elr.clear();
        next.last_known_elr.clear();
    }
    if next.leader.is_some() {
        next.replica_logs.clear();
    }
}

/// Whether the partition waits for its last known ELR's log reports (no leader, ISR and ELR
/// empty): the only time a report is taken, or sent.
pub fn awaits_log_reports(p: &PartitionState) -> bool {
    p.leader.is_none() && p.isr.is_empty() && p.elr.is_empty() && !p.last_known_elr.is_empty()
}

fn add(set: &mut Vec<BrokerId>, id: BrokerId) {
    if !set.contains(&id) {
        set.push(id);
    }
}

/// Moves leadership to the preferred (first) replica (Kafka's preferred election, run by
/// `kafka-leader-election --election-type PREFERRED` and `auto.leader.rebalance.enable`).
pub(crate) fn elect_preferred(
    current: &PartitionState,
    eligible: impl Fn(BrokerId) -> bool,
) -> Result<PartitionState, ControllerError> {
    let preferred = current.replicas[0];
    if current.leader == Some(preferred) {
        return Err(ControllerError::ElectionNotNeeded);
    }
    if !current.isr.contains(&preferred) || !eligible(preferred) {
        return Err(ControllerError::PreferredLeaderNotAvailable {
            broker_id: preferred,
        });
    }
    let mut next = current.clone();
    next.leader = Some(preferred);
    Ok(changed(current, next).expect("leader changes"))
}

/// Elects a leader for an offline partition, by the clean order if possible, else from any
/// eligible replica (an unclean election: records the new leader lacks are lost).
pub(crate) fn elect_unclean(
    current: &PartitionState,
    eligible: impl Fn(BrokerId) -> bool,
    policy: Policy,
) -> Result<PartitionState, ControllerError> {
    if current.leader.is_some_and(&eligible) {
        return Err(ControllerError::ElectionNotNeeded);
    }
    match rebalance(
        current,
        None,
        &eligible,
        Policy {
            unclean: true,
            ..policy
        },
    ) {
        Some(next) if next.leader.is_some() => Ok(next),
        _ => Err(ControllerError::EligibleLeadersNotAvailable),
    }
}

/// The AlterPartition request's view of the partition.
pub(crate) struct AlterIsr<'a> {
    pub broker_id: BrokerId,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: &'a [BrokerId],
}

/// Validates an ISR change from the leader, in the order Kafka's `ReplicationControlManager`
/// checks it, and returns the new state (`None` if the ISR is unchanged).
pub(crate) fn alter_isr(
    current: &PartitionState,
    request: &AlterIsr<'_>,
    eligible: impl Fn(BrokerId) -> bool,
    policy: Policy,
) -> Result<Option<PartitionState>, ControllerError> {
    if request.leader_epoch != current.leader_epoch {
        return Err(ControllerError::FencedLeaderEpoch {
            requested: request.leader_epoch,
            current: current.leader_epoch,
        });
    }
    if current.leader != Some(request.broker_id) {
        return Err(ControllerError::NotLeader {
            broker_id: request.broker_id,
            leader: current.leader,
        });
    }
    if request.partition_epoch != current.partition_epoch {
        return Err(ControllerError::InvalidUpdateVersion {
            requested: request.partition_epoch,
            current: current.partition_epoch,
        });
    }
    let new_isr = request.new_isr;
    if !new_isr.contains(&request.broker_id) {
        return Err(ControllerError::InvalidIsr {
            reason: "the leader is not in it".into(),
        });
    }
    for (i, member) in new_isr.iter().enumerate() {
        if new_isr[..i].contains(member) {
            return Err(ControllerError::InvalidIsr {
                reason: format!("{member} is repeated"),
            });
        }
        if !current.replicas.contains(member) {
            return Err(ControllerError::InvalidIsr {
                reason: format!("{member} is no replica"),
            });
        }
        // Members already in the ISR may stay; only a joining replica must be eligible (KIP-841).
        if !current.isr.contains(member) && !eligible(*member) {
            return Err(ControllerError::IneligibleReplica { broker_id: *member });
        }
    }
    let mut next = current.clone();
    next.isr = new_isr.to_vec();
    // A member shrunk out below min ISR holds everything below the (now frozen) high watermark.
    if next.isr.len() < policy.min_isr {
        for &gone in current.isr.iter().filter(|r| !new_isr.contains(r)) {
            add(&mut next.elr, gone);
        }
    }
    // An expansion may complete a reassignment, which may remove the leader.
    if reassignment::complete_if_ready(&mut next) && next.leader.is_none() {
        elect(&mut next, &eligible, policy);
    }
    settle(&mut next, policy);
    Ok(changed(current, next))
}

/// `next` with its epochs bumped (the leader epoch when the leader changed); `None` when
/// nothing changed but the order of the ISR.
fn changed(current: &PartitionState, mut next: PartitionState) -> Option<PartitionState> {
    let sorted = |v: &[BrokerId]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    };
    let mut same = next.clone();
    same.isr = current.isr.clone();
    if same == *current && sorted(&next.isr) == sorted(&current.isr) {
        return None;
    }
    // Removed replicas are fenced by a new leader epoch, as Kafka does on a reassignment.
    let removed = current.replicas.iter().any(|r| !next.replicas.contains(r));
    if next.leader != current.leader || removed {
        next.leader_epoch = current.leader_epoch + 1;
    }
    next.partition_epoch = current.partition_epoch + 1;
    Some(next)
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
