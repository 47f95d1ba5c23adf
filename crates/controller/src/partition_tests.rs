//! Unit tests for partition elections and ISR changes.

use super::*;
use crate::image::ReplicaLog;

fn state(replicas: &[BrokerId], isr: &[BrokerId], leader: Option<BrokerId>) -> PartitionState {
    PartitionState {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch: 5,
        partition_epoch: 9,
        elr: Vec::new(),
        last_known_elr: Vec::new(),
        replica_logs: Vec::new(),
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    }
}

/// min ISR 1, unclean elections off (Kafka's defaults).
const DEFAULTS: Policy = Policy {
    min_isr: 1,
    unclean: false,
};
/// min ISR 2: a replica leaving the ISR below it becomes an eligible leader replica.
const MIN_ISR_2: Policy = Policy {
    min_isr: 2,
    unclean: false,
};

fn fenced(broker_id: BrokerId) -> Option<Leaving> {
    Some(Leaving {
        broker_id,
        unclean_shutdown: false,
    })
}

fn restarted_uncleanly(broker_id: BrokerId) -> Option<Leaving> {
    Some(Leaving {
        broker_id,
        unclean_shutdown: true,
    })
}

fn log(broker_id: BrokerId, last_epoch: i32, log_end_offset: i64) -> ReplicaLog {
    ReplicaLog {
        broker_id,
        last_epoch,
        log_end_offset,
        stale: false,
    }
}

#[test]
fn fencing_the_leader_elects_the_next_isr_member_and_bumps_both_epochs() {
    let p = state(&[1, 2, 3], &[1, 2, 3], Some(1));
    let next = rebalance(&p, fenced(1), |b| b != 1, DEFAULTS).unwrap();
    assert_eq!((next.leader, next.isr.as_slice()), (Some(2), &[2, 3][..]));
    assert_eq!((next.leader_epoch, next.partition_epoch), (6, 10));
}

#[test]
fn fencing_a_follower_shrinks_the_isr_and_keeps_the_leader_epoch() {
    let p = state(&[1, 2, 3], &[1, 2, 3], Some(1));
    let next = rebalance(&p, fenced(3), |b| b != 3, DEFAULTS).unwrap();
    assert_eq!((next.leader, next.isr.as_slice()), (Some(1), &[1, 2][..]));
    assert_eq!((next.leader_epoch, next.partition_epoch), (5, 10));
}

#[test]
fn the_last_isr_member_becomes_an_eligible_leader_replica_and_leads_again() {
    // Clean election only: replica 2 is alive but out of the ISR, so it must not lead.
    let p = state(&[1, 2], &[1], Some(1));
    let next = rebalance(&p, fenced(1), |b| b == 2, DEFAULTS).unwrap();
    assert_eq!((next.leader, next.isr.as_slice()), (None, &[][..]));
    assert_eq!(next.elr, [1]);
    assert_eq!(next.leader_epoch, 6);
    // When it comes back it leads again, from the ELR.
    let back = rebalance(&next, None, |_| true, DEFAULTS).unwrap();
    assert_eq!((back.leader, back.isr.as_slice()), (Some(1), &[1][..]));
    assert!(back.elr.is_empty());
}

#[test]
fn unclean_election_takes_an_out_of_sync_replica_only_when_enabled() {
    let p = state(&[1, 2], &[1], None);
    assert!(rebalance(&p, None, |b| b == 2, DEFAULTS).is_none());
    let unclean = Policy {
        unclean: true,
        ..DEFAULTS
    };
    let next = rebalance(&p, None, |b| b == 2, unclean).unwrap();
    assert_eq!((next.leader, next.isr.as_slice()), (Some(2), &[2][..]));
    assert_eq!(elect_unclean(&p, |b| b == 2, DEFAULTS).unwrap(), next);
    assert_eq!(
        elect_unclean(&p, |_| false, DEFAULTS),
        Err(ControllerError::EligibleLeadersNotAvailable)
    );
    let led = state(&[1, 2], &[1], Some(1));
    assert_eq!(
        elect_unclean(&led, |_| true, DEFAULTS),
        Err(ControllerError::ElectionNotNeeded)
    );
}

#[test]
fn preferred_election_needs_the_first_replica_eligible_and_in_sync() {
    let p = state(&[1, 2, 3], &[2, 3], Some(2));
    let err = elect_preferred(&p, |_| true).unwrap_err();
    assert_eq!(
        err,
        ControllerError::PreferredLeaderNotAvailable { broker_id: 1 }
    );
    let p = state(&[1, 2, 3], &[1, 2, 3], Some(2));
    let next = elect_preferred(&p, |_| true).unwrap();
    assert_eq!((next.leader, next.leader_epoch), (Some(1), 6));
    assert_eq!(
        elect_preferred(&next, |_| true),
        Err(ControllerError::ElectionNotNeeded)
    );
    assert!(elect_preferred(&p, |b| b != 1).is_err());
}

fn alter<'a>(leader_epoch: i32, partition_epoch: i32, new_isr: &'a [BrokerId]) -> AlterIsr<'a> {
    AlterIsr {
        broker_id: 1,
        leader_epoch,
        partition_epoch,
        new_isr,
    }
}

#[test]
fn alter_partition_is_a_compare_and_set_on_the_partition_epoch() {
    let p = state(&[1, 2, 3], &[1, 2], Some(1));
    let next = alter_isr(&p, &alter(5, 9, &[1, 2, 3]), |_| true, DEFAULTS)
        .unwrap()
        .unwrap();
    assert_eq!(
        (next.isr.as_slice(), next.partition_epoch, next.leader_epoch),
        (&[1, 2, 3][..], 10, 5)
    );
    // The same request again is stale.
    let err = alter_isr(&next, &alter(5, 9, &[1, 2]), |_| true, DEFAULTS).unwrap_err();
    assert_eq!(
        err,
        ControllerError::InvalidUpdateVersion {
            requested: 9,
            current: 10
        }
    );
    // An unchanged ISR is accepted and changes nothing.
    assert_eq!(
        alter_isr(&p, &alter(5, 9, &[2, 1]), |_| true, DEFAULTS).unwrap(),
        None
    );
}

#[test]
fn alter_partition_rejections() {
    let p = state(&[1, 2, 3], &[1, 2], Some(1));
    let fenced = ControllerError::FencedLeaderEpoch {
        requested: 4,
        current: 5,
    };
    assert_eq!(
        alter_isr(&p, &alter(4, 9, &[1]), |_| true, DEFAULTS).unwrap_err(),
        fenced
    );
    let other = AlterIsr {
        broker_id: 2,
        ..alter(5, 9, &[2])
    };
    assert!(matches!(
        alter_isr(&p, &other, |_| true, DEFAULTS),
        Err(ControllerError::NotLeader { .. })
    ));
    for bad in [&[2][..], &[1, 1], &[1, 4]] {
        let err = alter_isr(&p, &alter(5, 9, bad), |_| true, DEFAULTS).unwrap_err();
        assert!(
            matches!(err, ControllerError::InvalidIsr { .. }),
            "{bad:?}: {err}"
        );
    }
    // A fenced replica may not join, but a member may stay while the leader shrinks others.
    let err = alter_isr(&p, &alter(5, 9, &[1, 2, 3]), |b| b != 3, DEFAULTS).unwrap_err();
    assert_eq!(err, ControllerError::IneligibleReplica { broker_id: 3 });
    assert!(
        alter_isr(&p, &alter(5, 9, &[1, 2]), |b| b != 2, DEFAULTS)
            .unwrap()
            .is_none()
    );
}

/// Replicas 1 (leader), 2, 3 at min ISR 2 after 3 and then 2 were fenced: the ISR is the
/// leader alone and 2, which left it below min ISR, is an eligible leader replica.
fn leader_alone_with_two_in_the_elr() -> PartitionState {
    let p = state(&[1, 2, 3], &[1, 2, 3], Some(1));
    let p = rebalance(&p, fenced(3), |b| b == 1 || b == 2, MIN_ISR_2).unwrap();
    assert!(p.elr.is_empty(), "the ISR is still at min ISR");
    let p = rebalance(&p, fenced(2), |b| b == 1, MIN_ISR_2).unwrap();
    assert_eq!(
        (p.leader, p.isr.as_slice(), p.elr.as_slice()),
        (Some(1), &[1][..], &[2][..])
    );
    p
}

#[test]
fn a_replica_shrunk_out_below_min_isr_joins_the_elr_and_the_isr_at_min_isr_empties_it() {
    let p = state(&[1, 2, 3], &[1, 2], Some(1));
    let next = alter_isr(&p, &alter(5, 9, &[1]), |_| true, MIN_ISR_2)
        .unwrap()
        .unwrap();
    assert_eq!(next.elr, [2]);
    let back = alter_isr(&next, &alter(5, 10, &[1, 3]), |_| true, MIN_ISR_2)
        .unwrap()
        .unwrap();
    assert!(back.elr.is_empty(), "{back:?}");
}

#[test]
fn after_the_leader_restarts_uncleanly_a_clean_elr_member_leads() {
    // F14 with followers stopped cleanly: the leader's power cut leaves 2, which holds every
    // acknowledged record, as the one candidate.
    let p = leader_alone_with_two_in_the_elr();
    let p = rebalance(&p, fenced(1), |_| false, MIN_ISR_2).unwrap();
    assert_eq!((p.leader, p.isr.as_slice()), (None, &[][..]));
    assert_eq!(p.elr, [2, 1]);
    let p = rebalance(&p, restarted_uncleanly(1), |b| b == 1, MIN_ISR_2).unwrap();
    assert_eq!(
        (p.leader, p.elr.as_slice()),
        (None, &[2][..]),
        "1 must not lead: {p:?}"
    );
    assert_eq!(p.last_known_elr, [1]);
    let p = rebalance(&p, None, |_| true, MIN_ISR_2).unwrap();
    assert_eq!((p.leader, p.isr.as_slice()), (Some(2), &[2][..]));
    // Below min ISR 1 stays a recovery candidate until the ISR is back at min ISR.
    assert_eq!(p.last_known_elr, [1]);
    let mut p = p;
    p.isr.push(1);
    let whole = rebalance(&p, None, |_| true, MIN_ISR_2).unwrap();
    assert!(whole.last_known_elr.is_empty());
}

#[test]
fn after_every_candidate_restarted_uncleanly_the_most_complete_log_leads() {
    // F14 with followers crashed: Kafka 4.4 re-elects the last leader, 1, whatever it lost.
    let p = leader_alone_with_two_in_the_elr();
    let p = rebalance(&p, fenced(1), |_| false, MIN_ISR_2).unwrap();
    let p = rebalance(&p, restarted_uncleanly(1), |b| b == 1, MIN_ISR_2).unwrap();
    let mut p = rebalance(&p, restarted_uncleanly(2), |b| b == 1, MIN_ISR_2).unwrap();
    assert_eq!((p.leader, p.elr.as_slice()), (None, &[][..]));
    assert_eq!(p.last_known_elr, [1, 2]);
    // 1 reported a log that lost its tail; 2 has not reported: nobody leads yet.
    p.replica_logs.push(log(1, 7, 100));
    assert!(rebalance(&p, None, |_| true, MIN_ISR_2).is_none());
    p.replica_logs.push(log(2, 7, 4_936));
    // 2 is the most complete but still fenced: wait for it rather than take 1.
    assert!(rebalance(&p, None, |b| b == 1, MIN_ISR_2).is_none());
    let led = rebalance(&p, None, |_| true, MIN_ISR_2).unwrap();
    assert_eq!((led.leader, led.isr.as_slice()), (Some(2), &[2][..]));
    assert_eq!(
        led.last_known_elr,
        [1],
        "still a candidate should 2 fail in turn"
    );
    assert!(
        led.replica_logs.is_empty(),
        "followers' logs change from here on"
    );
    // A later epoch wins over a longer log.
    p.replica_logs[0] = log(1, 8, 50);
    let led = rebalance(&p, None, |_| true, MIN_ISR_2).unwrap();
    assert_eq!(led.leader, Some(1));
}

#[test]
fn a_restart_forgets_the_replicas_earlier_report() {
    let mut p = state(&[1, 2, 3], &[], None);
    p.last_known_elr = vec![1, 2];
    p.replica_logs = vec![log(1, 3, 10), log(2, 3, 20)];
    let next = rebalance(&p, restarted_uncleanly(2), |_| false, MIN_ISR_2).unwrap();
    assert_eq!(next.last_known_elr, [1, 2]);
    let stale = ReplicaLog {
        stale: true,
        ..log(2, 3, 20)
    };
    assert_eq!(next.replica_logs, [log(1, 3, 10), stale]);
    assert!(rebalance(&next, None, |_| true, MIN_ISR_2).is_none());
}

#[test]
fn a_replica_that_reported_more_before_a_restart_is_waited_for() {
    // 3 is outside the last known ELR but reported the most complete log, then crashed again.
    let mut p = state(&[1, 2, 3], &[], None);
    p.last_known_elr = vec![1];
    let stale = ReplicaLog {
        stale: true,
        ..log(3, 3, 20)
    };
    p.replica_logs = vec![log(1, 3, 10), stale];
    assert!(
        rebalance(&p, None, |_| true, MIN_ISR_2).is_none(),
        "3 may still hold 10..20"
    );
    p.replica_logs[1] = log(3, 3, 12);
    let led = rebalance(&p, None, |_| true, MIN_ISR_2).unwrap();
    assert_eq!(led.leader, Some(3), "the most complete log, of any replica");
    p.replica_logs[1] = ReplicaLog {
        stale: true,
        ..log(3, 3, 4)
    };
    let led = rebalance(&p, None, |_| true, MIN_ISR_2).unwrap();
    assert_eq!(
        led.leader,
        Some(1),
        "a stale report below the best is no reason to wait"
    );
}

#[test]
fn an_unclean_election_takes_the_most_complete_eligible_report() {
    let mut p = state(&[1, 2, 3], &[], None);
    p.last_known_elr = vec![1, 2];
    p.replica_logs = vec![log(1, 3, 10), log(2, 3, 20)];
    // 2 never comes back: an operator's unclean election takes 1 (3 never reported).
    let next = elect_unclean(&p, |b| b != 2, MIN_ISR_2).unwrap();
    assert_eq!((next.leader, next.isr.as_slice()), (Some(1), &[1][..]));
}

#[test]
fn at_min_isr_1_the_last_member_back_from_a_crash_leads_again() {
    // Kafka's pre-ELR behaviour: with min ISR 1 its writes were acknowledged by it alone.
    let p = state(&[1, 2], &[1], Some(1));
    let p = rebalance(&p, fenced(1), |_| false, DEFAULTS).unwrap();
    let mut p = rebalance(&p, restarted_uncleanly(1), |_| false, DEFAULTS).unwrap();
    assert_eq!(
        (p.elr.as_slice(), p.last_known_elr.as_slice()),
        (&[][..], &[1][..])
    );
    p.replica_logs.push(log(1, 5, 0));
    let led = rebalance(&p, None, |b| b == 1, DEFAULTS).unwrap();
    assert_eq!(led.leader, Some(1));
}
