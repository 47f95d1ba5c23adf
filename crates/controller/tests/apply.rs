//! Scenario tests of `MetadataImage::apply`: broker lifecycle, topic creation, fencing,
//! controlled shutdown, elections, AlterPartition, configs and producer ids, through commands
//! only, as the metadata log will drive them.

use std::collections::BTreeMap;

use controller::{
    ConfigResource, ControllerError, ElectionType, MetadataCommand as C, Outcome, TopicId,
};

mod common;

use common::Cluster;

#[test]
fn registered_brokers_start_fenced_and_a_heartbeat_unfences_them() {
    let mut c = Cluster::new(0);
    let epoch = c.register(1);
    assert!(c.image.brokers[&1].fenced);
    let stale = c.apply(C::BrokerHeartbeat {
        broker_id: 1,
        broker_epoch: epoch - 1,
        want_fence: false,
    });
    assert!(matches!(
        stale,
        Err(ControllerError::StaleBrokerEpoch { .. })
    ));
    let beat = c.ok(C::BrokerHeartbeat {
        broker_id: 1,
        broker_epoch: epoch,
        want_fence: false,
    });
    assert_eq!(
        beat,
        Outcome::Heartbeat {
            fenced: false,
            in_controlled_shutdown: false
        }
    );
    // Re-registering gives a larger epoch.
    assert!(c.register(1) > epoch);
}

#[test]
fn create_topic_places_rf_replicas_and_rejects_duplicates() {
    let mut c = Cluster::new(3);
    let id = c.create("orders", 6, 3);
    let topic = &c.image.topics["orders"];
    assert_eq!((topic.topic_id, topic.partitions.len()), (id, 6));
    for p in &topic.partitions {
        assert_eq!(p.replicas.len(), 3);
        assert_eq!(p.isr, p.replicas);
        assert_eq!(p.leader, Some(p.replicas[0]));
    }
    let again = c.apply(C::CreateTopic {
        name: "orders".into(),
        topic_id: TopicId(1),
        partitions: 1,
        replication_factor: 1,
        assignment: None,
        configs: BTreeMap::new(),
    });
    assert!(matches!(
        again,
        Err(ControllerError::TopicAlreadyExists { .. })
    ));
    let too_many = c.apply(C::CreateTopic {
        name: "wide".into(),
        topic_id: TopicId(2),
        partitions: 1,
        replication_factor: 4,
        assignment: None,
        configs: BTreeMap::new(),
    });
    assert!(matches!(
        too_many,
        Err(ControllerError::InvalidReplicationFactor { .. })
    ));
}

#[test]
fn topic_names_follow_kafka_rules() {
    let mut c = Cluster::new(1);
    let long = "x".repeat(250);
    for bad in ["", ".", "..", "a/b", "héllo", "with space", long.as_str()] {
        let result = c.apply(C::CreateTopic {
            name: bad.into(),
            topic_id: TopicId(3),
            partitions: 1,
            replication_factor: 1,
            assignment: None,
            configs: BTreeMap::new(),
        });
        assert!(
            matches!(result, Err(ControllerError::InvalidTopicName { .. })),
            "{bad:?}"
        );
    }
    assert!(controller::validate_topic_name(&"x".repeat(249)).is_ok());
    assert!(controller::validate_topic_name("__consumer_offsets").is_ok());
    assert!(controller::validate_topic_name("a.b-c_D9").is_ok());
}

#[test]
fn manual_assignment_is_validated() {
    let mut c = Cluster::new(3);
    let mut create = |assignment: Vec<Vec<i32>>| {
        c.apply(C::CreateTopic {
            name: "t".into(),
            topic_id: TopicId(9),
            partitions: 0,
            replication_factor: 0,
            assignment: Some(assignment),
            configs: BTreeMap::new(),
        })
    };
    for bad in [
        vec![vec![1, 1]],
        vec![vec![1, 9]],
        vec![vec![1, 2], vec![3]],
        vec![vec![]],
    ] {
        assert!(matches!(
            create(bad),
            Err(ControllerError::InvalidReplicaAssignment { .. })
        ));
    }
    assert!(create(vec![vec![3, 1], vec![2, 3]]).is_ok());
}

#[test]
fn fencing_moves_leadership_and_unfencing_restores_offline_partitions() {
    // Goal: the F1 path at the controller. Broker 1 leads partition 0 with ISR {1,2,3}; it is
    // fenced, so 2 leads at a higher epoch; with RF 1 the partition goes offline instead
    // until it is back.
    let mut c = Cluster::new(3);
    let id = c.create("t", 1, 3);
    let leader = c.image.partition("t", 0).unwrap().leader.unwrap();
    let changes = match c.ok(C::FenceBroker { broker_id: leader }) {
        Outcome::PartitionsChanged(changes) => changes,
        other => panic!("{other:?}"),
    };
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].topic_id, id);
    let p = c.image.partition("t", 0).unwrap();
    assert!(p.leader.is_some() && p.leader != Some(leader) && !p.isr.contains(&leader));
    assert_eq!((p.leader_epoch, p.partition_epoch), (1, 1));

    c.create("single", 1, 1);
    let only = c.image.partition("single", 0).unwrap().replicas[0];
    c.ok(C::FenceBroker { broker_id: only });
    let p = c.image.partition("single", 0).unwrap();
    // The last ISR member leaves the ISR for the ELR (KIP-966): it may lead again.
    assert_eq!(
        (p.leader, p.isr.clone(), p.elr.clone()),
        (None, vec![], vec![only])
    );
    c.ok(C::UnfenceBroker { broker_id: only });
    assert_eq!(c.image.partition("single", 0).unwrap().leader, Some(only));
}

#[test]
fn controlled_shutdown_moves_leadership_away() {
    let mut c = Cluster::new(3);
    c.create("t", 3, 2);
    let epoch = c.epoch(1);
    c.ok(C::ControlledShutdown {
        broker_id: 1,
        broker_epoch: epoch,
    });
    for p in &c.image.topics["t"].partitions {
        assert_ne!(p.leader, Some(1));
        assert!(!p.isr.contains(&1));
    }
    // A heartbeat does not unfence a broker in controlled shutdown; registering again does reset.
    let beat = c.ok(C::BrokerHeartbeat {
        broker_id: 1,
        broker_epoch: epoch,
        want_fence: false,
    });
    assert_eq!(
        beat,
        Outcome::Heartbeat {
            fenced: false,
            in_controlled_shutdown: true
        }
    );
}

#[test]
fn unclean_election_is_off_unless_configured() {
    let mut c = Cluster::new(2);
    c.ok(C::CreateTopic {
        name: "t".into(),
        topic_id: TopicId(5),
        partitions: 0,
        replication_factor: 0,
        assignment: Some(vec![vec![1, 2]]),
        configs: BTreeMap::new(),
    });
    // ISR shrinks to {1}; then 1 is fenced: the partition is offline although 2 is alive.
    let p = c.image.partition("t", 0).unwrap().clone();
    c.ok(C::AlterPartition {
        broker_id: 1,
        broker_epoch: c.epoch(1),
        topic_id: TopicId(5),
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: vec![1],
    });
    c.ok(C::FenceBroker { broker_id: 1 });
    assert_eq!(c.image.partition("t", 0).unwrap().leader, None);
    // Enabling it on the topic lets the next unfence or an explicit election pick broker 2.
    let key = "unclean.leader.election.enable".to_string();
    let resource = ConfigResource::Topic("t".into());
    c.ok(C::SetConfig {
        resource,
        key,
        value: Some("true".into()),
    });
    c.ok(C::ElectLeader {
        topic: "t".into(),
        partition: 0,
        election: ElectionType::Unclean,
    });
    let p = c.image.partition("t", 0).unwrap();
    assert_eq!((p.leader, p.isr.clone()), (Some(2), vec![2]));
}

#[test]
fn preferred_election_restores_the_first_replica() {
    let mut c = Cluster::new(3);
    c.create("t", 1, 3);
    let preferred = c.image.partition("t", 0).unwrap().replicas[0];
    c.ok(C::FenceBroker {
        broker_id: preferred,
    });
    let epoch = c.register(preferred);
    c.ok(C::BrokerHeartbeat {
        broker_id: preferred,
        broker_epoch: epoch,
        want_fence: false,
    });
    let elect = C::ElectLeader {
        topic: "t".into(),
        partition: 0,
        election: ElectionType::Preferred,
    };
    // Not back in the ISR yet: the leader must first add it with AlterPartition.
    assert!(matches!(
        c.apply(elect.clone()),
        Err(ControllerError::PreferredLeaderNotAvailable { .. })
    ));
    let p = c.image.partition("t", 0).unwrap().clone();
    let leader = p.leader.unwrap();
    let mut isr = p.isr.clone();
    isr.push(preferred);
    c.ok(C::AlterPartition {
        broker_id: leader,
        broker_epoch: c.epoch(leader),
        topic_id: c.image.topics["t"].topic_id,
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: isr,
    });
    c.ok(elect.clone());
    assert_eq!(c.image.partition("t", 0).unwrap().leader, Some(preferred));
    assert_eq!(c.apply(elect), Err(ControllerError::ElectionNotNeeded));
}

#[test]
fn partitions_grow_delete_and_producer_ids() {
    let mut c = Cluster::new(3);
    let id = c.create("t", 2, 2);
    assert!(matches!(
        c.apply(C::CreatePartitions {
            name: "t".into(),
            count: 2
        }),
        Err(ControllerError::InvalidPartitions { .. })
    ));
    c.ok(C::CreatePartitions {
        name: "t".into(),
        count: 5,
    });
    assert_eq!(c.image.topics["t"].partitions.len(), 5);
    assert_eq!(
        c.ok(C::DeleteTopic { name: "t".into() }),
        Outcome::TopicDeleted { topic_id: id }
    );
    assert!(c.image.topic_names.is_empty());
    let epoch = c.epoch(2);
    let first = c.ok(C::AllocateProducerIds {
        broker_id: 2,
        broker_epoch: epoch,
    });
    let second = c.ok(C::AllocateProducerIds {
        broker_id: 2,
        broker_epoch: epoch,
    });
    assert_eq!(
        first,
        Outcome::ProducerIdsAllocated {
            first_producer_id: 0,
            len: 1000
        }
    );
    assert_eq!(
        second,
        Outcome::ProducerIdsAllocated {
            first_producer_id: 1000,
            len: 1000
        }
    );
}

#[test]
fn user_configs_are_set_and_deleted_and_a_user_without_any_is_dropped() {
    let mut c = Cluster::new(1);
    let set = |key: &str, value: Option<&str>| C::SetConfig {
        resource: ConfigResource::User("alice".into()),
        key: key.into(),
        value: value.map(str::to_string),
    };
    c.ok(set("SCRAM-SHA-256", Some("salt=c2FsdA==,iterations=4096")));
    c.ok(set("SCRAM-SHA-512", Some("salt=c2FsdA==,iterations=8192")));
    assert_eq!(c.image.user_configs["alice"].len(), 2);
    c.ok(set("SCRAM-SHA-256", None));
    assert_eq!(
        c.image.user_configs["alice"].keys().collect::<Vec<_>>(),
        vec!["SCRAM-SHA-512"]
    );
    c.ok(set("SCRAM-SHA-512", None));
    assert!(!c.image.user_configs.contains_key("alice"));
    // Deleting what is not there changes nothing and keeps no empty user.
    c.ok(set("SCRAM-SHA-512", None));
    assert!(c.image.user_configs.is_empty());
}

#[test]
fn a_failed_log_dir_takes_the_broker_out_of_every_isr_until_it_registers_again() {
    let mut c = Cluster::new(3);
    let topic_id = c.create("t", 3, 3);
    let epoch = c.epoch(1);
    c.ok(C::LogDirFailed {
        broker_id: 1,
        broker_epoch: epoch,
    });
    for p in &c.image.topics["t"].partitions {
        assert_ne!(p.leader, Some(1));
        assert!(!p.isr.contains(&1), "{p:?}");
    }
    // It stays registered and unfenced: its heartbeats are answered as before.
    let beat = c.ok(C::BrokerHeartbeat {
        broker_id: 1,
        broker_epoch: epoch,
        want_fence: false,
    });
    assert_eq!(
        beat,
        Outcome::Heartbeat {
            fenced: false,
            in_controlled_shutdown: false
        }
    );
    // A leader cannot bring it back while its replicas are offline.
    let p = c.image.partition("t", 0).unwrap().clone();
    let leader = p.leader.unwrap();
    let back = C::AlterPartition {
        broker_id: leader,
        broker_epoch: c.epoch(leader),
        topic_id,
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: vec![1, 2, 3],
    };
    assert_eq!(
        c.apply(back.clone()),
        Err(ControllerError::IneligibleReplica { broker_id: 1 })
    );
    // A report from an older incarnation is refused; a restart (a new registration) clears it.
    assert!(matches!(
        c.apply(C::LogDirFailed {
            broker_id: 2,
            broker_epoch: epoch,
        }),
        Err(ControllerError::StaleBrokerEpoch { .. })
    ));
    let epoch = c.register(1);
    c.ok(C::BrokerHeartbeat {
        broker_id: 1,
        broker_epoch: epoch,
        want_fence: false,
    });
    c.ok(back);
    assert_eq!(c.image.partition("t", 0).unwrap().isr, vec![1, 2, 3]);
}

#[test]
fn broker_configs_fall_back_to_the_cluster_wide_value_and_an_empty_broker_is_dropped() {
    let mut c = Cluster::new(2);
    let key = "leader.replication.throttled.rate";
    let set = |c: &mut Cluster, resource: ConfigResource, value: Option<&str>| {
        c.ok(C::SetConfig {
            resource,
            key: key.into(),
            value: value.map(str::to_string),
        });
    };
    set(&mut c, ConfigResource::Cluster, Some("100"));
    set(&mut c, ConfigResource::Broker(1), Some("5"));
    assert_eq!(c.image.broker_config(1, key), Some("5"));
    assert_eq!(c.image.broker_config(2, key), Some("100"));
    set(&mut c, ConfigResource::Broker(1), None);
    assert!(c.image.broker_configs.is_empty());
    assert_eq!(c.image.broker_config(1, key), Some("100"));
}

#[test]
fn an_unregistered_broker_leaves_every_isr_and_gets_no_new_replicas() {
    let mut c = Cluster::new(3);
    c.create_on("t", &[3, 1], &[]);
    c.ok(C::UnregisterBroker { broker_id: 3 });
    assert!(!c.image.brokers.contains_key(&3));
    let p = c.image.partition("t", 0).unwrap();
    assert_eq!((p.leader, p.isr.clone()), (Some(1), vec![1]));
    // New topics are placed on the registered brokers only.
    c.create("u", 4, 2);
    let placed: Vec<i32> = c.image.topics["u"]
        .partitions
        .iter()
        .flat_map(|p| p.replicas.clone())
        .collect();
    assert!(placed.iter().all(|b| *b != 3), "{placed:?}");
    assert_eq!(
        c.apply(C::UnregisterBroker { broker_id: 3 }),
        Err(ControllerError::UnknownBroker { broker_id: 3 })
    );
}

#[test]
fn a_batch_of_isr_changes_applies_each_on_its_own() {
    let mut c = Cluster::new(3);
    c.ok(C::CreateTopic {
        name: "t".into(),
        topic_id: TopicId(9),
        partitions: 0,
        replication_factor: 0,
        assignment: Some(vec![vec![1, 2, 3], vec![1, 2, 3]]),
        configs: BTreeMap::new(),
    });
    let (p0, p1) = (
        c.image.partition("t", 0).unwrap().clone(),
        c.image.partition("t", 1).unwrap().clone(),
    );
    let change =
        |partition: i32, p: &controller::PartitionState, partition_epoch| controller::IsrChange {
            topic_id: TopicId(9),
            partition,
            leader_epoch: p.leader_epoch,
            partition_epoch,
            new_isr: vec![1, 2],
        };
    // Partition 1's change is stale (an old partition epoch): refused alone.
    let outcome = c.ok(C::AlterPartitions {
        broker_id: 1,
        broker_epoch: c.epoch(1),
        changes: vec![
            change(0, &p0, p0.partition_epoch),
            change(1, &p1, p1.partition_epoch - 1),
        ],
    });
    let Outcome::IsrChanges { changed, refused } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(changed.len(), 1);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, 1);
    assert!(
        matches!(refused[0].1, ControllerError::InvalidUpdateVersion { .. }),
        "{:?}",
        refused[0].1
    );
    assert_eq!(c.image.partition("t", 0).unwrap().isr, vec![1, 2]);
    assert_eq!(c.image.partition("t", 1).unwrap(), &p1);
    // A stale broker epoch refuses the whole batch and changes nothing.
    let before = c.image.clone();
    let stale = c.apply(C::AlterPartitions {
        broker_id: 1,
        broker_epoch: c.epoch(1) - 1,
        changes: vec![change(1, &p1, p1.partition_epoch)],
    });
    assert!(stale.is_err(), "{stale:?}");
    assert_eq!(c.image, before);
}
