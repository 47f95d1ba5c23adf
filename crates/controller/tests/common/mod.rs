//! The test cluster of the controller's scenario tests: an image driven by commands only, its
//! invariants checked after every one.

#![allow(dead_code)]

use std::collections::BTreeMap;

use controller::{ControllerError, MetadataCommand as C, MetadataImage, Outcome, TopicId};

/// A cluster of `n` registered, unfenced brokers (ids 1..=n, racks r1..r3) and a log offset.
pub struct Cluster {
    pub image: MetadataImage,
    pub offset: i64,
}

impl Cluster {
    pub fn new(n: i32) -> Self {
        let mut cluster = Cluster {
            image: MetadataImage::new(),
            offset: 0,
        };
        for id in 1..=n {
            cluster.register(id);
            let epoch = cluster.image.brokers[&id].broker_epoch;
            cluster.ok(C::BrokerHeartbeat {
                broker_id: id,
                broker_epoch: epoch,
                want_fence: false,
            });
        }
        cluster
    }

    pub fn register(&mut self, id: i32) -> i64 {
        let rack = Some(format!("r{}", id % 3));
        let command = C::RegisterBroker {
            broker_id: id,
            incarnation_id: 7,
            rack,
            listeners: Vec::new(),
            previous_broker_epoch: -1,
        };
        match self.ok(command) {
            Outcome::BrokerRegistered { broker_epoch } => broker_epoch,
            other => panic!("{other:?}"),
        }
    }

    pub fn apply(&mut self, command: C) -> Result<Outcome, ControllerError> {
        self.offset += 1;
        let before = self.image.clone();
        let result = self.image.apply(self.offset, &command);
        if result.is_err() {
            assert_eq!(self.image, before, "a rejected command changed the image");
        }
        self.image.check_invariants().unwrap();
        result
    }

    pub fn ok(&mut self, command: C) -> Outcome {
        self.apply(command).unwrap()
    }

    pub fn create(&mut self, name: &str, partitions: i32, rf: i32) -> TopicId {
        let topic_id = TopicId(0xabc + self.offset as u128);
        self.ok(C::CreateTopic {
            name: name.into(),
            topic_id,
            partitions,
            replication_factor: rf,
            assignment: None,
            configs: BTreeMap::new(),
        });
        topic_id
    }

    pub fn epoch(&self, id: i32) -> i64 {
        self.image.brokers[&id].broker_epoch
    }

    /// Registers `id` again: cleanly when `clean` (its marker names its current epoch), else as
    /// after a crash or a power loss.
    pub fn restart(&mut self, id: i32, clean: bool) -> i64 {
        let previous_broker_epoch = if clean { self.epoch(id) } else { -1 };
        let command = C::RegisterBroker {
            broker_id: id,
            incarnation_id: 8 + self.offset as u128,
            rack: None,
            listeners: Vec::new(),
            previous_broker_epoch,
        };
        match self.ok(command) {
            Outcome::BrokerRegistered { broker_epoch } => broker_epoch,
            other => panic!("{other:?}"),
        }
    }

    /// A heartbeat that unfences `id`.
    pub fn unfence(&mut self, id: i32) {
        let broker_epoch = self.epoch(id);
        self.ok(C::BrokerHeartbeat {
            broker_id: id,
            broker_epoch,
            want_fence: false,
        });
    }

    /// Creates a one-partition topic on `replicas` with `configs`.
    pub fn create_on(&mut self, name: &str, replicas: &[i32], configs: &[(&str, &str)]) -> TopicId {
        let topic_id = TopicId(0xdef + self.offset as u128);
        let configs = configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.ok(C::CreateTopic {
            name: name.into(),
            topic_id,
            partitions: 1,
            replication_factor: replicas.len() as i32,
            assignment: Some(vec![replicas.to_vec()]),
            configs,
        });
        topic_id
    }
}
