//! Scenario tests of eligible leader replicas and unclean shutdowns (KIP-966, reliability.md's
//! F14 "last replica standing"), through commands only: a replica that restarted without its
//! clean-shutdown marker never leads with a log that may have lost acknowledged records while a
//! candidate that holds them can still come back.

mod common;

use common::Cluster;
use controller::{MetadataCommand as C, PartitionState, ReplicaLogReport, TopicId};

/// Topic t on brokers 1 (leader), 2, 3 at min ISR 2, after 3 and then 2 were fenced and then
/// the leader: no leader, ISR empty, 2 and 1 eligible leader replicas.
fn last_replica_standing(c: &mut Cluster) -> TopicId {
    let id = c.create_on("t", &[1, 2, 3], &[("min.insync.replicas", "2")]);
    assert_eq!(t(c).leader, Some(1));
    c.ok(C::FenceBroker { broker_id: 3 });
    assert!(t(c).elr.is_empty(), "{:?}", t(c));
    c.ok(C::FenceBroker { broker_id: 2 });
    assert_eq!((t(c).isr.clone(), t(c).elr.clone()), (vec![1], vec![2]));
    c.ok(C::FenceBroker { broker_id: 1 });
    let p = t(c);
    assert_eq!(
        (p.leader, p.isr.clone(), p.elr.clone()),
        (None, vec![], vec![2, 1])
    );
    id
}

fn t(c: &Cluster) -> &PartitionState {
    c.image.partition("t", 0).unwrap()
}

fn report(c: &mut Cluster, broker_id: i32, topic_id: TopicId, last_epoch: i32, end: i64) {
    let broker_epoch = c.epoch(broker_id);
    c.ok(C::ReportReplicaLogs {
        broker_id,
        broker_epoch,
        logs: vec![ReplicaLogReport {
            topic_id,
            partition: 0,
            last_epoch,
            log_end_offset: end,
        }],
    });
}

#[test]
fn the_leader_back_from_a_power_cut_does_not_lead_while_a_clean_follower_can() {
    let mut c = Cluster::new(3);
    last_replica_standing(&mut c);
    c.restart(1, false);
    c.unfence(1);
    let p = t(&c);
    assert_eq!(
        (p.leader, p.elr.clone()),
        (None, vec![2]),
        "unavailable, not lossy"
    );
    assert_eq!(p.last_known_elr, [1]);
    c.restart(3, false);
    c.unfence(3);
    assert_eq!(t(&c).leader, None, "3 left the ISR while it was at min ISR");
    c.restart(2, true);
    assert_eq!(t(&c).elr, [2], "a clean restart keeps 2 a candidate");
    c.unfence(2);
    let p = t(&c);
    assert_eq!((p.leader, p.isr.clone()), (Some(2), vec![2]));
    assert_eq!(p.last_known_elr, [1], "until the ISR is back at min ISR");
}

#[test]
fn when_every_candidate_crashed_the_most_complete_reported_log_leads() {
    // Kafka 4.4 elects 1 here (its last known leader) and loses what 1's power cut lost.
    let mut c = Cluster::new(3);
    let topic_id = last_replica_standing(&mut c);
    c.restart(1, false);
    c.unfence(1);
    c.restart(2, false);
    c.unfence(2);
    let p = t(&c);
    assert_eq!(
        (p.leader, p.elr.clone(), p.last_known_elr.clone()),
        (None, vec![], vec![1, 2])
    );
    report(&mut c, 1, topic_id, 1, 120);
    assert_eq!(t(&c).leader, None, "2 has not reported");
    report(&mut c, 2, topic_id, 1, 4_956);
    let p = t(&c);
    assert_eq!((p.leader, p.isr.clone()), (Some(2), vec![2]));
    // Reports from outside the last known ELR, or once a leader is elected, change nothing.
    let before = t(&c).clone();
    report(&mut c, 3, topic_id, 9, 99_999);
    report(&mut c, 1, topic_id, 9, 99_999);
    assert_eq!(t(&c), &before);
}

#[test]
fn a_clean_restart_of_the_last_member_leads_again() {
    let mut c = Cluster::new(2);
    c.create_on("t", &[1, 2], &[]);
    c.ok(C::FenceBroker { broker_id: 2 });
    c.ok(C::FenceBroker { broker_id: 1 });
    c.restart(1, true);
    c.unfence(1);
    assert_eq!(t(&c).leader, Some(1));
}

#[test]
fn after_every_node_crashed_at_once_the_partition_comes_back_with_the_best_log() {
    // The quorum went down with the brokers: the image still shows them unfenced, in the ISR.
    let mut c = Cluster::new(3);
    let topic_id = c.create_on("t", &[1, 2, 3], &[("min.insync.replicas", "2")]);
    for id in [1, 2, 3] {
        c.restart(id, false);
    }
    let p = t(&c);
    assert_eq!((p.leader, p.isr.clone()), (None, vec![]));
    assert_eq!(p.last_known_elr, [2, 3]);
    for id in [1, 2, 3] {
        c.unfence(id);
    }
    report(&mut c, 3, topic_id, 0, 500);
    report(&mut c, 2, topic_id, 0, 700);
    assert_eq!(t(&c).leader, Some(2));
}
