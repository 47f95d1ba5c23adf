//! Scenario tests of partition reassignment (KIP-455 as KRaft runs it), through commands only:
//! a move keeps every original ISR member until the target replicas are all in sync, completes
//! on the leader's expansion, moves leadership off a removed leader with a new leader epoch, and
//! a cancel reverts to the original replicas.

mod common;

use common::Cluster;
use controller::{ControllerError, MetadataCommand as C, PartitionState, TopicId};

fn t(c: &Cluster) -> &PartitionState {
    c.image.partition("t", 0).unwrap()
}

fn reassign(c: &mut Cluster, target: Option<Vec<i32>>) -> Result<(), ControllerError> {
    c.apply(C::AlterPartitionReassignment {
        topic: "t".into(),
        partition: 0,
        target,
        allow_replication_factor_change: true,
    })
    .map(|_| ())
}

/// The leader's AlterPartition to `isr`.
fn alter_isr(c: &mut Cluster, id: TopicId, isr: &[i32]) -> Result<(), ControllerError> {
    let p = t(c).clone();
    let leader = p.leader.unwrap();
    let broker_epoch = c.epoch(leader);
    c.apply(C::AlterPartition {
        broker_id: leader,
        broker_epoch,
        topic_id: id,
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: isr.to_vec(),
    })
    .map(|_| ())
}

/// (replicas, ISR, leader, adding, removing).
type Summary = (Vec<i32>, Vec<i32>, Option<i32>, Vec<i32>, Vec<i32>);

fn summary(p: &PartitionState) -> Summary {
    (
        p.replicas.clone(),
        p.isr.clone(),
        p.leader,
        p.adding_replicas.clone(),
        p.removing_replicas.clone(),
    )
}

#[test]
fn a_move_completes_once_the_target_is_in_sync_and_leadership_leaves_the_removed_leader() {
    let mut c = Cluster::new(3);
    let id = c.create_on("t", &[1, 2], &[]);
    let before = t(&c).clone();
    reassign(&mut c, Some(vec![2, 3])).unwrap();
    assert_eq!(
        summary(t(&c)),
        (vec![2, 3, 1], vec![1, 2], Some(1), vec![3], vec![1]),
        "target first, then the replicas it removes; nothing leaves yet"
    );
    assert_eq!(t(&c).leader_epoch, before.leader_epoch, "the leader stays");
    // The leader adds the caught-up replica: every target replica is in sync, so it completes.
    alter_isr(&mut c, id, &[1, 2, 3]).unwrap();
    let p = t(&c);
    assert_eq!(
        summary(p),
        (vec![2, 3], vec![2, 3], Some(2), vec![], vec![])
    );
    assert_eq!(p.leader_epoch, before.leader_epoch + 1);
}

#[test]
fn a_move_that_keeps_the_leader_still_bumps_the_leader_epoch_to_fence_the_removed_replica() {
    let mut c = Cluster::new(3);
    let id = c.create_on("t", &[1, 2], &[]);
    let epoch = t(&c).leader_epoch;
    reassign(&mut c, Some(vec![1, 3])).unwrap();
    alter_isr(&mut c, id, &[1, 2, 3]).unwrap();
    let p = t(&c);
    assert_eq!(
        summary(p),
        (vec![1, 3], vec![1, 3], Some(1), vec![], vec![])
    );
    assert_eq!(p.leader_epoch, epoch + 1);
}

#[test]
fn an_expansion_short_of_the_target_does_not_complete() {
    let mut c = Cluster::new(4);
    let id = c.create_on("t", &[1, 2], &[]);
    reassign(&mut c, Some(vec![3, 4])).unwrap();
    alter_isr(&mut c, id, &[1, 2, 3]).unwrap();
    assert_eq!(
        summary(t(&c)),
        (
            vec![3, 4, 1, 2],
            vec![1, 2, 3],
            Some(1),
            vec![3, 4],
            vec![1, 2]
        )
    );
    // A removing replica may leave the ISR meanwhile (it was fenced, say): still in progress.
    alter_isr(&mut c, id, &[1, 3]).unwrap();
    assert!(t(&c).is_reassigning());
    alter_isr(&mut c, id, &[1, 3, 4]).unwrap();
    assert_eq!(
        summary(t(&c)),
        (vec![3, 4], vec![3, 4], Some(3), vec![], vec![])
    );
}

#[test]
fn shrinking_to_in_sync_replicas_completes_at_once() {
    let mut c = Cluster::new(3);
    c.create_on("t", &[1, 2, 3], &[]);
    reassign(&mut c, Some(vec![3, 2])).unwrap();
    assert_eq!(
        summary(t(&c)),
        (vec![3, 2], vec![2, 3], Some(3), vec![], vec![])
    );
}

#[test]
fn reassigning_to_the_current_replicas_changes_nothing() {
    let mut c = Cluster::new(3);
    c.create_on("t", &[1, 2], &[]);
    let before = t(&c).clone();
    reassign(&mut c, Some(vec![1, 2])).unwrap();
    assert_eq!(t(&c), &before);
}

#[test]
fn a_cancel_reverts_to_the_original_replicas() {
    let mut c = Cluster::new(4);
    let id = c.create_on("t", &[1, 2], &[]);
    reassign(&mut c, Some(vec![3, 4])).unwrap();
    alter_isr(&mut c, id, &[1, 2, 3]).unwrap();
    let epoch = t(&c).leader_epoch;
    reassign(&mut c, None).unwrap();
    let p = t(&c);
    assert_eq!(
        summary(p),
        (vec![1, 2], vec![1, 2], Some(1), vec![], vec![])
    );
    assert_eq!(p.leader_epoch, epoch + 1, "the added replicas are fenced");
    assert_eq!(
        reassign(&mut c, None),
        Err(ControllerError::NoReassignmentInProgress)
    );
}

#[test]
fn a_cancel_is_refused_when_only_added_replicas_are_in_sync() {
    let mut c = Cluster::new(4);
    let id = c.create_on("t", &[1, 2], &[]);
    reassign(&mut c, Some(vec![3, 4])).unwrap();
    alter_isr(&mut c, id, &[1, 2, 3]).unwrap();
    c.ok(C::FenceBroker { broker_id: 2 });
    c.ok(C::FenceBroker { broker_id: 1 });
    // Only 3, being added, is in sync, and leads: the original replicas may lack what it holds.
    assert_eq!(
        summary(t(&c)),
        (vec![3, 4, 1, 2], vec![3], Some(3), vec![3, 4], vec![1, 2])
    );
    let before = t(&c).clone();
    assert!(matches!(
        reassign(&mut c, None),
        Err(ControllerError::ReassignmentCannotRevert { .. })
    ));
    assert_eq!(t(&c), &before);
}

#[test]
fn bad_targets_are_refused_and_change_nothing() {
    let mut c = Cluster::new(3);
    c.create_on("t", &[1, 2], &[]);
    let invalid = |r: Result<(), ControllerError>| {
        matches!(r, Err(ControllerError::InvalidReplicaAssignment { .. }))
    };
    assert!(invalid(reassign(&mut c, Some(vec![]))));
    assert!(invalid(reassign(&mut c, Some(vec![2, 2]))));
    assert!(invalid(reassign(&mut c, Some(vec![2, 7]))));
    assert!(invalid(reassign(&mut c, Some(vec![-1, 2]))));
    assert_eq!(
        c.apply(C::AlterPartitionReassignment {
            topic: "t".into(),
            partition: 0,
            target: Some(vec![1, 2, 3]),
            allow_replication_factor_change: false,
        }),
        Err(ControllerError::ReplicationFactorChange { from: 2, to: 3 })
    );
    assert!(matches!(
        c.apply(C::AlterPartitionReassignment {
            topic: "t".into(),
            partition: 4,
            target: Some(vec![1]),
            allow_replication_factor_change: true,
        }),
        Err(ControllerError::UnknownPartition { .. })
    ));
}

#[test]
fn a_new_target_replaces_the_move_in_progress() {
    let mut c = Cluster::new(4);
    let id = c.create_on("t", &[1, 2], &[]);
    reassign(&mut c, Some(vec![3, 4])).unwrap();
    reassign(&mut c, Some(vec![2, 4])).unwrap();
    assert_eq!(
        summary(t(&c)),
        (vec![2, 4, 1, 3], vec![1, 2], Some(1), vec![4], vec![1, 3])
    );
    alter_isr(&mut c, id, &[1, 2, 4]).unwrap();
    assert_eq!(
        summary(t(&c)),
        (vec![2, 4], vec![2, 4], Some(2), vec![], vec![])
    );
}

#[test]
fn a_fenced_target_replica_holds_the_move_until_it_is_back() {
    let mut c = Cluster::new(3);
    let id = c.create_on("t", &[1, 2], &[]);
    c.ok(C::FenceBroker { broker_id: 3 });
    reassign(&mut c, Some(vec![1, 3])).unwrap();
    assert_eq!(
        alter_isr(&mut c, id, &[1, 2, 3]),
        Err(ControllerError::IneligibleReplica { broker_id: 3 })
    );
    assert!(t(&c).is_reassigning());
    c.unfence(3);
    alter_isr(&mut c, id, &[1, 2, 3]).unwrap();
    assert_eq!(
        summary(t(&c)),
        (vec![1, 3], vec![1, 3], Some(1), vec![], vec![])
    );
}

#[test]
fn an_unclean_cancel_takes_the_first_original_replica_where_the_topic_allows_it() {
    let mut c = Cluster::new(4);
    let id = c.create_on("t", &[1, 2], &[("unclean.leader.election.enable", "true")]);
    reassign(&mut c, Some(vec![3, 4])).unwrap();
    alter_isr(&mut c, id, &[1, 2, 3]).unwrap();
    c.ok(C::FenceBroker { broker_id: 2 });
    c.ok(C::FenceBroker { broker_id: 1 });
    c.unfence(1);
    reassign(&mut c, None).unwrap();
    assert_eq!(
        summary(t(&c)),
        (vec![1, 2], vec![1], Some(1), vec![], vec![])
    );
}
