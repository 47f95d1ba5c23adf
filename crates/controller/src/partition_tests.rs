//! Unit tests for partition elections and ISR changes.

use super::*;

fn state(replicas: &[BrokerId], isr: &[BrokerId], leader: Option<BrokerId>) -> PartitionState {
    PartitionState {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch: 5,
        partition_epoch: 9,
    }
}

#[test]
fn fencing_the_leader_elects_the_next_isr_member_and_bumps_both_epochs() {
    let p = state(&[1, 2, 3], &[1, 2, 3], Some(1));
    let next = rebalance(&p, Some(1), |b| b != 1, false).unwrap();
    assert_eq!((next.leader, next.isr.as_slice()), (Some(2), &[2, 3][..]));
    assert_eq!((next.leader_epoch, next.partition_epoch), (6, 10));
}

#[test]
fn fencing_a_follower_shrinks_the_isr_and_keeps_the_leader_epoch() {
    let p = state(&[1, 2, 3], &[1, 2, 3], Some(1));
    let next = rebalance(&p, Some(3), |b| b != 3, false).unwrap();
    assert_eq!((next.leader, next.isr.as_slice()), (Some(1), &[1, 2][..]));
    assert_eq!((next.leader_epoch, next.partition_epoch), (5, 10));
}

#[test]
fn the_last_isr_member_stays_and_the_partition_goes_offline() {
    // Clean election only: replica 2 is alive but out of the ISR, so it must not lead.
    let p = state(&[1, 2], &[1], Some(1));
    let next = rebalance(&p, Some(1), |b| b == 2, false).unwrap();
    assert_eq!((next.leader, next.isr.as_slice()), (None, &[1][..]));
    assert_eq!(next.leader_epoch, 6);
    // When the last ISR member comes back it leads again.
    let back = rebalance(&next, None, |_| true, false).unwrap();
    assert_eq!((back.leader, back.isr.as_slice()), (Some(1), &[1][..]));
}

#[test]
fn unclean_election_takes_an_out_of_sync_replica_only_when_enabled() {
    let p = state(&[1, 2], &[1], None);
    assert!(rebalance(&p, None, |b| b == 2, false).is_none());
    let next = rebalance(&p, None, |b| b == 2, true).unwrap();
    assert_eq!((next.leader, next.isr.as_slice()), (Some(2), &[2][..]));
    assert_eq!(elect_unclean(&p, |b| b == 2).unwrap(), next);
    assert_eq!(
        elect_unclean(&p, |_| false),
        Err(ControllerError::EligibleLeadersNotAvailable)
    );
    let led = state(&[1, 2], &[1], Some(1));
    assert_eq!(
        elect_unclean(&led, |_| true),
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
    let next = alter_isr(&p, &alter(5, 9, &[1, 2, 3]), |_| true)
        .unwrap()
        .unwrap();
    assert_eq!(
        (next.isr.as_slice(), next.partition_epoch, next.leader_epoch),
        (&[1, 2, 3][..], 10, 5)
    );
    // The same request again is stale.
    let err = alter_isr(&next, &alter(5, 9, &[1, 2]), |_| true).unwrap_err();
    assert_eq!(
        err,
        ControllerError::InvalidUpdateVersion {
            requested: 9,
            current: 10
        }
    );
    // An unchanged ISR is accepted and changes nothing.
    assert_eq!(
        alter_isr(&p, &alter(5, 9, &[2, 1]), |_| true).unwrap(),
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
        alter_isr(&p, &alter(4, 9, &[1]), |_| true).unwrap_err(),
        fenced
    );
    let other = AlterIsr {
        broker_id: 2,
        ..alter(5, 9, &[2])
    };
    assert!(matches!(
        alter_isr(&p, &other, |_| true),
        Err(ControllerError::NotLeader { .. })
    ));
    for bad in [&[2][..], &[1, 1], &[1, 4]] {
        let err = alter_isr(&p, &alter(5, 9, bad), |_| true).unwrap_err();
        assert!(
            matches!(err, ControllerError::InvalidIsr { .. }),
            "{bad:?}: {err}"
        );
    }
    // A fenced replica may not join, but a member may stay while the leader shrinks others.
    let err = alter_isr(&p, &alter(5, 9, &[1, 2, 3]), |b| b != 3).unwrap_err();
    assert_eq!(err, ControllerError::IneligibleReplica { broker_id: 3 });
    assert!(
        alter_isr(&p, &alter(5, 9, &[1, 2]), |b| b != 2)
            .unwrap()
            .is_none()
    );
}
