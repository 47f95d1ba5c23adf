//! Broker sessions and the preferred-leader check, driven by explicit time through commands.
//!
//! Goal: a broker that stops heartbeating is fenced after `broker.session.timeout.ms` and not
//! before; a new active controller does not fence anyone early; leadership returns to preferred
//! replicas once they are back in the ISR.

use std::collections::BTreeMap;

use controller::{
    BrokerSessions, MetadataCommand as C, MetadataImage, Outcome, TopicId, preferred_elections,
};

fn cluster(n: i32) -> (MetadataImage, i64) {
    let mut image = MetadataImage::new();
    let mut offset = 0;
    for id in 1..=n {
        offset += 1;
        let register = C::RegisterBroker {
            broker_id: id,
            incarnation_id: 1,
            rack: None,
            listeners: Vec::new(),
            previous_broker_epoch: -1,
        };
        let Ok(Outcome::BrokerRegistered { broker_epoch }) = image.apply(offset, &register) else {
            panic!()
        };
        offset += 1;
        let beat = C::BrokerHeartbeat {
            broker_id: id,
            broker_epoch,
            want_fence: false,
        };
        image.apply(offset, &beat).unwrap();
    }
    (image, offset)
}

#[test]
fn a_silent_broker_is_fenced_after_the_session_timeout() {
    let (image, _) = cluster(3);
    let mut sessions = BrokerSessions::new(9000);
    sessions.observe(&image, 1_000);
    assert_eq!(sessions.next_deadline_ms(&image), Some(10_000));
    for at in [4_000, 8_000] {
        sessions.heartbeat(1, at);
        sessions.heartbeat(2, at);
    }
    assert!(sessions.expired(&image, 9_999).is_empty());
    assert_eq!(
        sessions.expired(&image, 10_000),
        vec![C::FenceBroker { broker_id: 3 }]
    );
    // A heartbeat from the past does not move the clock back.
    sessions.heartbeat(1, 2_000);
    assert_eq!(sessions.next_deadline_ms(&image), Some(10_000));
    // A newly active controller starts clocks afresh: nobody expires at once.
    let mut fresh = BrokerSessions::new(9000);
    fresh.observe(&image, 50_000);
    assert!(fresh.expired(&image, 50_000).is_empty());
}

#[test]
fn preferred_leaders_come_back_when_eligible_and_in_sync() {
    let (mut image, mut offset) = cluster(3);
    offset += 1;
    let create = C::CreateTopic {
        name: "t".into(),
        topic_id: TopicId(1),
        partitions: 3,
        replication_factor: 3,
        assignment: None,
        configs: BTreeMap::new(),
    };
    image.apply(offset, &create).unwrap();
    assert!(preferred_elections(&image).is_empty());
    offset += 1;
    image
        .apply(offset, &C::FenceBroker { broker_id: 1 })
        .unwrap();
    // Broker 1 led one partition; it is fenced and out of the ISR: nothing to do yet.
    assert!(preferred_elections(&image).is_empty());
    offset += 1;
    image
        .apply(offset, &C::UnfenceBroker { broker_id: 1 })
        .unwrap();
    assert!(preferred_elections(&image).is_empty(), "not in the ISR yet");
    // The leader adds broker 1 back to the ISR; the check now proposes an election.
    let (index, p) = image.topics["t"]
        .partitions
        .iter()
        .enumerate()
        .find(|(_, p)| p.replicas[0] == 1)
        .map(|(i, p)| (i as i32, p.clone()))
        .unwrap();
    let leader = p.leader.unwrap();
    let mut isr = p.isr.clone();
    isr.push(1);
    offset += 1;
    let alter = C::AlterPartition {
        broker_id: leader,
        broker_epoch: image.brokers[&leader].broker_epoch,
        topic_id: TopicId(1),
        partition: index,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: isr,
    };
    image.apply(offset, &alter).unwrap();
    let elections = preferred_elections(&image);
    assert_eq!(elections.len(), 1);
    offset += 1;
    image.apply(offset, &elections[0]).unwrap();
    assert_eq!(image.topics["t"].partitions[index as usize].leader, Some(1));
    assert!(preferred_elections(&image).is_empty());
}
