//! Property test: random command sequences keep the image's invariants.
//!
//! Method: apply arbitrary sequences of every command (many of them invalid) to one image; after
//! each, check leader ∈ ISR ⊆ replicas, ISR and ELR disjoint, a candidate left when offline, at most one
//! replica per broker, adding and removing replicas among the replicas (`check_invariants`), that leader and partition epochs never decrease, that a
//! rejected command changed nothing, and that applying the same sequence again gives the same
//! image, which also survives a serde round trip (a snapshot).

use std::collections::BTreeMap;

use controller::{
    ConfigResource, ElectionType, MetadataCommand as C, MetadataImage, PartitionState, TopicId,
};
use proptest::prelude::*;

const BROKERS: i32 = 5;
const TOPICS: [&str; 3] = ["a", "b", "c"];

fn command() -> impl Strategy<Value = C> {
    let broker = 1..=BROKERS;
    let topic = 0..TOPICS.len();
    prop_oneof![
        (broker.clone(), 0..3u128, any::<bool>()).prop_map(|(id, inc, clean)| {
            C::RegisterBroker {
                broker_id: id,
                incarnation_id: inc,
                rack: Some(format!("r{}", id % 2)),
                listeners: Vec::new(),
                // 0: replaced with the current epoch at apply time (a clean restart).
                previous_broker_epoch: if clean { 0 } else { -1 },
            }
        }),
        (broker.clone(), topic.clone(), 0..3i32, -1..3i32, 0..100i64).prop_map(
            |(id, t, p, last_epoch, end)| C::ReportReplicaLogs {
                broker_id: id,
                broker_epoch: -1,
                logs: vec![controller::ReplicaLogReport {
                    topic_id: TopicId(t as u128 + 1),
                    partition: p,
                    last_epoch,
                    log_end_offset: end,
                }],
            }
        ),
        (1..4i32).prop_map(|n| C::SetConfig {
            resource: ConfigResource::Cluster,
            key: "min.insync.replicas".into(),
            value: Some(n.to_string()),
        }),
        (broker.clone(), any::<bool>()).prop_map(|(id, fence)| C::BrokerHeartbeat {
            broker_id: id,
            broker_epoch: -1, // replaced with the current epoch at apply time
            want_fence: fence,
        }),
        (topic.clone(), 1..4i32, 1..4i32).prop_map(|(t, n, rf)| C::CreateTopic {
            name: TOPICS[t].into(),
            topic_id: TopicId(t as u128 + 1),
            partitions: n,
            replication_factor: rf,
            assignment: None,
            configs: BTreeMap::new(),
        }),
        topic.clone().prop_map(|t| C::DeleteTopic {
            name: TOPICS[t].into()
        }),
        (topic.clone(), 1..6i32).prop_map(|(t, n)| C::CreatePartitions {
            name: TOPICS[t].into(),
            count: n
        }),
        (
            topic.clone(),
            0..3i32,
            proptest::collection::vec(broker.clone(), 0..4),
            any::<bool>()
        )
            .prop_map(|(t, p, isr, stale)| C::AlterPartition {
                broker_id: 0, // replaced with the current leader at apply time
                broker_epoch: -1,
                topic_id: TopicId(t as u128 + 1),
                partition: p,
                leader_epoch: if stale { -1 } else { 0 },
                partition_epoch: 0,
                new_isr: isr,
            }),
        (topic.clone(), 0..3i32, any::<bool>()).prop_map(|(t, p, unclean)| C::ElectLeader {
            topic: TOPICS[t].into(),
            partition: p,
            election: if unclean {
                ElectionType::Unclean
            } else {
                ElectionType::Preferred
            },
        }),
        broker
            .clone()
            .prop_map(|id| C::FenceBroker { broker_id: id }),
        broker
            .clone()
            .prop_map(|id| C::UnfenceBroker { broker_id: id }),
        broker.clone().prop_map(|id| C::ControlledShutdown {
            broker_id: id,
            broker_epoch: -1
        }),
        broker
            .clone()
            .prop_map(|id| C::UnregisterBroker { broker_id: id }),
        broker.clone().prop_map(|id| C::LogDirFailed {
            broker_id: id,
            broker_epoch: -1
        }),
        any::<bool>().prop_map(|on| C::SetConfig {
            resource: ConfigResource::Cluster,
            key: "unclean.leader.election.enable".into(),
            value: Some(on.to_string()),
        }),
        (
            topic.clone(),
            0..3i32,
            proptest::option::weighted(0.8, proptest::collection::vec(0..=BROKERS + 1, 0..4)),
            any::<bool>()
        )
            .prop_map(|(t, p, target, allow)| C::AlterPartitionReassignment {
                topic: TOPICS[t].into(),
                partition: p,
                target,
                allow_replication_factor_change: allow,
            }),
    ]
}

/// Fills in the fields a real sender would know (current epochs, the current leader) so that
/// many commands are valid; `leader_epoch: -1` stays stale on purpose.
fn as_sent(image: &MetadataImage, command: C) -> C {
    let epoch = |id: i32| image.brokers.get(&id).map_or(0, |b| b.broker_epoch);
    match command {
        C::BrokerHeartbeat {
            broker_id,
            want_fence,
            ..
        } => C::BrokerHeartbeat {
            broker_id,
            broker_epoch: epoch(broker_id),
            want_fence,
        },
        C::ControlledShutdown { broker_id, .. } => C::ControlledShutdown {
            broker_id,
            broker_epoch: epoch(broker_id),
        },
        C::LogDirFailed { broker_id, .. } => C::LogDirFailed {
            broker_id,
            broker_epoch: epoch(broker_id),
        },
        C::ReportReplicaLogs {
            broker_id, logs, ..
        } => C::ReportReplicaLogs {
            broker_id,
            broker_epoch: epoch(broker_id),
            logs,
        },
        C::RegisterBroker {
            broker_id,
            incarnation_id,
            rack,
            listeners,
            previous_broker_epoch,
        } => C::RegisterBroker {
            broker_id,
            incarnation_id,
            rack,
            listeners,
            previous_broker_epoch: if previous_broker_epoch == 0 {
                epoch(broker_id)
            } else {
                -1
            },
        },
        C::AlterPartition {
            topic_id,
            partition,
            leader_epoch,
            mut new_isr,
            ..
        } => {
            let state = image
                .topic_names
                .get(&topic_id)
                .and_then(|name| image.partition(name, partition));
            let leader = state.and_then(|p| p.leader).unwrap_or(1);
            new_isr.insert(0, leader);
            C::AlterPartition {
                broker_id: leader,
                broker_epoch: epoch(leader),
                topic_id,
                partition,
                leader_epoch: if leader_epoch < 0 {
                    -1
                } else {
                    state.map_or(0, |p| p.leader_epoch)
                },
                partition_epoch: state.map_or(0, |p| p.partition_epoch),
                new_isr,
            }
        }
        other => other,
    }
}

fn partitions(image: &MetadataImage) -> BTreeMap<(TopicId, usize), PartitionState> {
    let mut all = BTreeMap::new();
    for topic in image.topics.values() {
        for (i, p) in topic.partitions.iter().enumerate() {
            all.insert((topic.topic_id, i), p.clone());
        }
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_commands_keep_the_invariants(commands in proptest::collection::vec(command(), 1..80)) {
        let mut image = MetadataImage::new();
        let mut sent = Vec::new();
        for (offset, command) in commands.into_iter().enumerate() {
            let command = as_sent(&image, command);
            let before = image.clone();
            let result = image.apply(offset as i64 + 1, &command);
            if result.is_err() {
                prop_assert_eq!(&image, &before, "rejected {:?} changed the image", command);
            }
            if let Err(violation) = image.check_invariants() {
                prop_assert!(false, "after {:?}: {}", command, violation);
            }
            let old = partitions(&before);
            for (key, p) in partitions(&image) {
                if let Some(was) = old.get(&key) {
                    prop_assert!(p.leader_epoch >= was.leader_epoch && p.partition_epoch >= was.partition_epoch);
                    if p.leader.is_some() {
                        // An eligible leader: never a fenced or shutting-down broker.
                        prop_assert!(image.is_eligible(p.leader.unwrap()), "{:?} after {:?}", p, command);
                    }
                }
            }
            sent.push(command);
        }
        let mut replayed = MetadataImage::new();
        for (offset, command) in sent.iter().enumerate() {
            let _ = replayed.apply(offset as i64 + 1, command);
        }
        prop_assert_eq!(&replayed, &image);
        let snapshot = serde_json::to_vec(&image).unwrap();
        let restored: MetadataImage = serde_json::from_slice(&snapshot).unwrap();
        prop_assert_eq!(restored, image);
    }
}
