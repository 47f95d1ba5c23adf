//! Topic commands: CreateTopic (placed or manual assignment), DeleteTopic, CreatePartitions.
//!
//! Topic names and the per-topic partition limit are `protocol::topic`'s rules, the same ones
//! the broker checks before it proposes a command.
//!
//! A new partition's ISR is its eligible replicas and its leader the first of them, at leader
//! and partition epoch 0. Validation comes before any change, so a rejected command leaves the
//! image unchanged.

use std::collections::BTreeMap;

use protocol::topic::PARTITIONS_PER_TOPIC_MAX;

use crate::command::Outcome;
use crate::error::ControllerError;
use crate::image::{BrokerId, MetadataImage, PartitionState, TopicId, TopicImage};
use crate::placement::place_replicas;

/// Kafka's topic-name rules (`protocol::topic`, shared with the broker), as a controller error.
pub fn validate_topic_name(name: &str) -> Result<(), ControllerError> {
    protocol::topic::validate_topic_name(name).map_err(|reason| ControllerError::InvalidTopicName {
        name: name.to_owned(),
        reason: reason.to_string(),
    })
}

impl MetadataImage {
    pub(crate) fn create_topic(
        &mut self,
        name: &str,
        topic_id: TopicId,
        partitions: i32,
        replication_factor: i32,
        assignment: &Option<Vec<Vec<BrokerId>>>,
        configs: &BTreeMap<String, String>,
    ) -> Result<Outcome, ControllerError> {
        validate_topic_name(name)?;
        if self.topics.contains_key(name) {
            return Err(ControllerError::TopicAlreadyExists {
                name: name.to_owned(),
            });
        }
        if self.topic_names.contains_key(&topic_id) {
            return Err(ControllerError::TopicIdInUse { topic_id });
        }
        let assignment = match assignment {
            Some(manual) => {
                self.check_manual_assignment(manual)?;
                manual.clone()
            }
            None => {
                check_partition_count(partitions)?;
                place_replicas(&self.brokers, topic_id.0, 0, partitions, replication_factor)?
            }
        };
        let partitions = assignment
            .iter()
            .map(|replicas| self.new_partition(replicas))
            .collect();
        let topic = TopicImage {
            name: name.to_owned(),
            topic_id,
            partitions,
            configs: configs.clone(),
        };
        self.topics.insert(name.to_owned(), topic);
        self.topic_names.insert(topic_id, name.to_owned());
        Ok(Outcome::TopicCreated {
            topic_id,
            assignment,
        })
    }

    pub(crate) fn delete_topic(&mut self, name: &str) -> Result<Outcome, ControllerError> {
        let topic = self
            .topics
            .remove(name)
            .ok_or_else(|| ControllerError::UnknownTopic {
                name: name.to_owned(),
            })?;
        self.topic_names.remove(&topic.topic_id);
        Ok(Outcome::TopicDeleted {
            topic_id: topic.topic_id,
        })
    }

    pub(crate) fn create_partitions(
        &mut self,
        name: &str,
        count: i32,
    ) -> Result<Outcome, ControllerError> {
        let topic = self
            .topics
            .get(name)
            .ok_or_else(|| ControllerError::UnknownTopic {
                name: name.to_owned(),
            })?;
        let existing = i32::try_from(topic.partitions.len()).expect("bounded by the max");
        if count <= existing {
            return Err(ControllerError::InvalidPartitions {
                reason: format!("topic {name} has {existing} partitions, asked for {count}"),
            });
        }
        check_partition_count(count)?;
        // The replication factor a reassignment of partition 0 moves to, if one is in progress.
        let replication_factor =
            i32::try_from(topic.partitions[0].target_replicas().len()).expect("small");
        let assignment = place_replicas(
            &self.brokers,
            topic.topic_id.0,
            existing,
            count - existing,
            replication_factor,
        )?;
        let added: Vec<_> = assignment.iter().map(|r| self.new_partition(r)).collect();
        self.topics
            .get_mut(name)
            .expect("checked above")
            .partitions
            .extend(added);
        Ok(Outcome::PartitionsCreated { assignment })
    }

    fn new_partition(&self, replicas: &[BrokerId]) -> PartitionState {
        let isr: Vec<BrokerId> = replicas
            .iter()
            .copied()
            .filter(|&b| self.is_eligible(b))
            .collect();
        PartitionState {
            replicas: replicas.to_vec(),
            leader: isr.first().copied(),
            isr,
            leader_epoch: 0,
            partition_epoch: 0,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
            replica_logs: Vec::new(),
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    }

    fn check_manual_assignment(&self, manual: &[Vec<BrokerId>]) -> Result<(), ControllerError> {
        let invalid = |reason: String| Err(ControllerError::InvalidReplicaAssignment { reason });
        check_partition_count(i32::try_from(manual.len()).unwrap_or(i32::MAX))?;
        let replication_factor = manual[0].len();
        for (partition, replicas) in manual.iter().enumerate() {
            if replicas.is_empty() || replicas.len() != replication_factor {
                return invalid(format!(
                    "partition {partition} has {} replicas",
                    replicas.len()
                ));
            }
            for (i, broker) in replicas.iter().enumerate() {
                if replicas[..i].contains(broker) {
                    return invalid(format!("partition {partition} repeats broker {broker}"));
                }
                if !self.brokers.contains_key(broker) {
                    return invalid(format!("partition {partition}: broker {broker} is unknown"));
                }
            }
            if !replicas.iter().any(|&b| self.is_eligible(b)) {
                return invalid(format!("partition {partition}: every replica is fenced"));
            }
        }
        Ok(())
    }
}

fn check_partition_count(count: i32) -> Result<(), ControllerError> {
    if count <= 0 || count > PARTITIONS_PER_TOPIC_MAX {
        return Err(ControllerError::InvalidPartitions {
            reason: format!("{count} is not in 1..={PARTITIONS_PER_TOPIC_MAX}"),
        });
    }
    Ok(())
}
