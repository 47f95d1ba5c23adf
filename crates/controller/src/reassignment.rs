//! Partition reassignment (KIP-455, as KRaft's controller runs it): AlterPartitionReassignments
//! starts one or cancels it, and the partition's ISR changes complete it.
//!
//! Starting a reassignment to `target` makes the replica list `target` followed by the current
//! replicas not in it (ascending), with `adding_replicas` (target replicas not yet replicas) and
//! `removing_replicas` (replicas not in the target), both ascending, as Kafka's
//! `PartitionReassignmentReplicas`. A new target replaces a reassignment in progress, measured
//! from the merged list. New replicas create their log and fetch from
//! the leader like any follower; the leader adds each to the ISR once it has caught up
//! (AlterPartition). Nothing is removed before then: the ISR, the leader and the high watermark
//! keep their rules over the merged list, so an acknowledged record stays on every ISR member.
//!
//! The reassignment completes on the first change after which every target replica is in the
//! ISR: the replicas become the target, the removing ones leave the ISR (and the ELR), and if the
//! leader was removed the first target replica in the ISR leads. The leader epoch is bumped
//! whenever replicas are removed, so a removed replica can no longer fetch (as Kafka does).
//!
//! Cancelling (a null target) reverts to the original replicas: the adding ones leave the
//! replica list and the ISR. A cancel that would leave the ISR empty (only added replicas are in
//! sync) needs `unclean.leader.election.enable` (the original replicas may lack acknowledged
//! records), as in Kafka; otherwise it is refused with INVALID_REPLICA_ASSIGNMENT.

use crate::error::ControllerError;
use crate::image::{BrokerId, PartitionState};

/// A reassignment request's target, checked against the registered brokers with Kafka's
/// messages (`validateManualPartitionAssignment`: ids in ascending order, each first for
/// registration, then for repetition, so the lowest offending id decides the message).
pub(crate) fn check_target(
    target: &[BrokerId],
    registered: impl Fn(BrokerId) -> bool,
) -> Result<(), ControllerError> {
    let invalid = |reason: String| Err(ControllerError::InvalidReplicaAssignment { reason });
    if target.is_empty() {
        return invalid("The manual partition assignment includes an empty replica list.".into());
    }
    let mut sorted = target.to_vec();
    sorted.sort_unstable();
    for (i, &broker) in sorted.iter().enumerate() {
        if broker < 0 || !registered(broker) {
            return invalid(format!(
                "The manual partition assignment includes broker {broker}, but no such broker \
                 is registered."
            ));
        }
        if i > 0 && sorted[i - 1] == broker {
            return invalid(format!(
                "The manual partition assignment includes the broker {broker} more than once."
            ));
        }
    }
    Ok(())
}

/// The partition with a reassignment to `target` started (replacing one in progress: the
/// merged replica list is the starting point). `Ok(None)` when the partition already has exactly
/// these replicas and nothing is in progress.
pub(crate) fn start(
    current: &PartitionState,
    target: &[BrokerId],
    allow_replication_factor_change: bool,
) -> Result<Option<PartitionState>, ControllerError> {
    let original = original_replicas(current);
    if !allow_replication_factor_change && target.len() != original.len() {
        return Err(ControllerError::ReplicationFactorChange {
            from: original.len(),
            to: target.len(),
        });
    }
    if !current.is_reassigning() && current.replicas == target {
        return Ok(None);
    }
    let mut removing: Vec<BrokerId> = current
        .replicas
        .iter()
        .copied()
        .filter(|r| !target.contains(r))
        .collect();
    removing.sort_unstable();
    // Replicas of a replaced target that stay in the new one are still being added (where
    // Kafka keeps the old adding list when the new one comes out empty).
    let mut adding: Vec<BrokerId> = target
        .iter()
        .copied()
        .filter(|r| !original.contains(r))
        .collect();
    adding.sort_unstable();
    let mut next = current.clone();
    next.replicas = target.iter().chain(&removing).copied().collect();
    next.adding_replicas = adding;
    next.removing_replicas = removing;
    Ok(Some(next))
}

/// The partition with its reassignment cancelled: the replicas without the adding ones (in the
/// merged list's order, as Kafka's `PartitionReassignmentRevert`), and the ISR without them.
/// Where only adding replicas are in sync, the first original replica becomes the ISR if
/// `unclean` (`unclean.leader.election.enable`) allows it; otherwise the cancel is refused.
pub(crate) fn cancel(
    current: &PartitionState,
    topic: &str,
    partition: i32,
    unclean: bool,
) -> Result<PartitionState, ControllerError> {
    if !current.is_reassigning() {
        return Err(ControllerError::NoReassignmentInProgress);
    }
    let mut next = current.clone();
    next.replicas = original_replicas(current);
    next.isr.retain(|r| !current.adding_replicas.contains(r));
    next.adding_replicas.clear();
    next.removing_replicas.clear();
    keep_within_replicas(&mut next);
    let no_candidate = next.isr.is_empty() && next.elr.is_empty() && next.last_known_elr.is_empty();
    if (next.isr.is_empty() && !current.isr.is_empty()) || no_candidate {
        if !unclean {
            return Err(ControllerError::ReassignmentCannotRevert {
                reason: format!(
                    "Unable to revert partition assignment for {topic}:{partition} because it \
                     would require an unclean leader election."
                ),
            });
        }
        next.isr = vec![next.replicas[0]];
        next.elr.clear();
        next.last_known_elr.clear();
    }
    if next.leader.is_some_and(|l| !next.isr.contains(&l)) {
        next.leader = None;
    }
    Ok(next)
}

/// Completes the reassignment if every target replica is in the ISR: the replicas become the
/// target and the removing ones leave the ISR and the ELR; a removed leader is unset for the
/// caller to elect another. Returns whether it completed.
pub(crate) fn complete_if_ready(next: &mut PartitionState) -> bool {
    if !next.is_reassigning() {
        return false;
    }
    let target = next.target_replicas();
    let isr: Vec<BrokerId> = next
        .isr
        .iter()
        .copied()
        .filter(|r| !next.removing_replicas.contains(r))
        .collect();
    if isr.is_empty() || target.iter().any(|r| !isr.contains(r)) {
        return false;
    }
    next.replicas = target;
    next.isr = isr;
    next.adding_replicas.clear();
    next.removing_replicas.clear();
    keep_within_replicas(next);
    if next.leader.is_some_and(|l| !next.isr.contains(&l)) {
        next.leader = None;
    }
    true
}

/// The replicas before the reassignment in progress (the replicas when none is).
fn original_replicas(p: &PartitionState) -> Vec<BrokerId> {
    p.replicas
        .iter()
        .copied()
        .filter(|r| !p.adding_replicas.contains(r))
        .collect()
}

/// Drops ELR members, last-known-ELR members and log reports of replicas no longer assigned.
fn keep_within_replicas(p: &mut PartitionState) {
    let replicas = p.replicas.clone();
    p.elr.retain(|r| replicas.contains(r));
    p.last_known_elr.retain(|r| replicas.contains(r));
    p.replica_logs.retain(|l| replicas.contains(&l.broker_id));
}
