//! Partition state changes: leader election from the ISR, ISR shrinking when a broker is fenced
//! or shuts down, preferred and unclean elections, and the AlterPartition compare-and-set.
//!
//! The functions here compute a partition's next state from its current one and a broker
//! eligibility test; they do not touch the rest of the image. They keep the invariants of
//! [`PartitionState`]: leader ∈ ISR ⊆ replicas, ISR never empty (when the last ISR member goes,
//! it stays in the ISR and the partition goes offline, as in KRaft, so it can lead again without
//! data loss), the partition epoch bumps on every change, the leader epoch on every leader
//! change. Like KRaft's `PartitionChangeBuilder`. KIP-966's eligible leader replicas (ELR) are not
//! here yet: they would widen the clean election order to ISR → unfenced ELR → last leader.

use crate::error::ControllerError;
use crate::image::{BrokerId, PartitionState};

/// Recomputes leader and ISR after `leaving` left (fenced, shutting down, re-registered) or after
/// a broker became eligible (`leaving = None`). Returns `None` if nothing changes.
pub(crate) fn rebalance(
    current: &PartitionState,
    leaving: Option<BrokerId>,
    eligible: impl Fn(BrokerId) -> bool,
    unclean: bool,
) -> Option<PartitionState> {
    let mut isr = current.isr.clone();
    if let Some(gone) = leaving
        && isr.len() > 1
    {
        isr.retain(|&r| r != gone);
    }
    let keep = current.leader.filter(|&l| eligible(l) && isr.contains(&l));
    let leader = keep.or_else(|| {
        // Preference order is the replica order; only ISR members are clean choices.
        let clean = current
            .replicas
            .iter()
            .copied()
            .find(|&r| isr.contains(&r) && eligible(r));
        if clean.is_none() && unclean {
            let any = current.replicas.iter().copied().find(|&r| eligible(r));
            if let Some(chosen) = any {
                isr = vec![chosen];
            }
            return any;
        }
        clean
    });
    next_state(current, leader, isr)
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
    Ok(next_state(current, Some(preferred), current.isr.clone()).expect("leader changes"))
}

/// Elects a leader for an offline partition, from the ISR if possible, else from any eligible
/// replica (an unclean election: records the new leader lacks are lost).
pub(crate) fn elect_unclean(
    current: &PartitionState,
    eligible: impl Fn(BrokerId) -> bool,
) -> Result<PartitionState, ControllerError> {
    if current.leader.is_some_and(&eligible) {
        return Err(ControllerError::ElectionNotNeeded);
    }
    match rebalance(current, None, &eligible, true) {
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
    Ok(next_state(current, current.leader, new_isr.to_vec()))
}

/// The state with `leader` and `isr`, epochs bumped; `None` when both are unchanged.
fn next_state(
    current: &PartitionState,
    leader: Option<BrokerId>,
    isr: Vec<BrokerId>,
) -> Option<PartitionState> {
    let mut same_members = isr.clone();
    let mut old_members = current.isr.clone();
    same_members.sort_unstable();
    old_members.sort_unstable();
    if leader == current.leader && same_members == old_members {
        return None;
    }
    let leader_changed = leader != current.leader;
    Some(PartitionState {
        replicas: current.replicas.clone(),
        isr,
        leader,
        leader_epoch: current.leader_epoch + i32::from(leader_changed),
        partition_epoch: current.partition_epoch + 1,
    })
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
