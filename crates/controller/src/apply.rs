//! Applying a metadata command to the image: dispatch, broker lifecycle (registration,
//! heartbeats, fencing, controlled shutdown, a failed log directory), partition elections, ISR
//! changes and reassignments, configs and producer-id blocks. Topic creation and deletion are in `topics.rs`.
//!
//! Every function validates first and mutates after, so a rejected command leaves the image
//! unchanged. `offset` is the command's position in the metadata log; it becomes the broker epoch
//! of a registration, as in KRaft.

use crate::command::{
    ConfigResource, ElectionType, MetadataCommand, Outcome, PRODUCER_ID_BLOCK_LEN, PartitionChange,
    ReplicaLogReport,
};
use crate::error::ControllerError;
use crate::image::{
    BrokerId, BrokerRegistration, MetadataImage, PartitionState, ReplicaLog, TopicId,
};
use crate::partition::{self, AlterIsr, Leaving, Policy};
use crate::reassignment;

impl MetadataImage {
    /// Applies `command`, the entry at `offset` of the metadata log. On error the image is
    /// unchanged.
    pub fn apply(
        &mut self,
        offset: i64,
        command: &MetadataCommand,
    ) -> Result<Outcome, ControllerError> {
        use MetadataCommand as C;
        match command {
            C::RegisterBroker {
                broker_id,
                incarnation_id,
                rack,
                listeners,
                previous_broker_epoch,
            } => {
                // Clean iff the broker's clean-shutdown marker names the registration it ended
                // (KIP-966); a first start or a crash counts as unclean.
                let clean = self
                    .brokers
                    .get(broker_id)
                    .is_some_and(|b| b.broker_epoch == *previous_broker_epoch);
                let registration = BrokerRegistration {
                    broker_id: *broker_id,
                    incarnation_id: *incarnation_id,
                    broker_epoch: offset,
                    rack: rack.clone(),
                    listeners: listeners.clone(),
                    fenced: true,
                    in_controlled_shutdown: false,
                    log_dir_failed: false,
                };
                self.brokers.insert(*broker_id, registration);
                // A restarted broker may have lost its log tail: it leaves every ISR until it has
                // caught up again, like a fenced one; after an unclean shutdown also the ELR.
                self.recompute_partitions(
                    Some(Leaving {
                        broker_id: *broker_id,
                        unclean_shutdown: !clean,
                    }),
                    |p| p.replicas.contains(broker_id),
                );
                Ok(Outcome::BrokerRegistered {
                    broker_epoch: offset,
                })
            }
            C::BrokerHeartbeat {
                broker_id,
                broker_epoch,
                want_fence,
            } => {
                let broker = self.checked_broker(*broker_id, *broker_epoch)?;
                if broker.fenced && !want_fence && !broker.in_controlled_shutdown {
                    self.unfence(*broker_id);
                }
                let broker = &self.brokers[broker_id];
                Ok(Outcome::Heartbeat {
                    fenced: broker.fenced,
                    in_controlled_shutdown: broker.in_controlled_shutdown,
                })
            }
            C::CreateTopic {
                name,
                topic_id,
                partitions,
                replication_factor,
                assignment,
                configs,
            } => self.create_topic(
                name,
                *topic_id,
                *partitions,
                *replication_factor,
                assignment,
                configs,
            ),
            C::DeleteTopic { name } => self.delete_topic(name),
            C::CreatePartitions { name, count } => self.create_partitions(name, *count),
            C::AlterPartition {
                broker_id,
                broker_epoch,
                topic_id,
                partition,
                leader_epoch,
                partition_epoch,
                new_isr,
            } => {
                self.checked_broker(*broker_id, *broker_epoch)?;
                let request = AlterIsr {
                    broker_id: *broker_id,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                    new_isr,
                };
                let current = self.partition_by_id(*topic_id, *partition)?;
                let policy = self.policy(*topic_id);
                let next =
                    partition::alter_isr(current, &request, |b| self.is_eligible(b), policy)?;
                let next = next.unwrap_or_else(|| current.clone());
                Ok(Outcome::PartitionsChanged(vec![
                    self.set_partition(*topic_id, *partition, next),
                ]))
            }
            C::AlterPartitions {
                broker_id,
                broker_epoch,
                changes,
            } => {
                self.checked_broker(*broker_id, *broker_epoch)?;
                let mut changed = Vec::new();
                let mut refused = Vec::new();
                for (index, change) in changes.iter().enumerate() {
                    let request = AlterIsr {
                        broker_id: *broker_id,
                        leader_epoch: change.leader_epoch,
                        partition_epoch: change.partition_epoch,
                        new_isr: &change.new_isr,
                    };
                    let next = self
                        .partition_by_id(change.topic_id, change.partition)
                        .and_then(|current| {
                            let policy = self.policy(change.topic_id);
                            partition::alter_isr(current, &request, |b| self.is_eligible(b), policy)
                                .map(|next| next.unwrap_or_else(|| current.clone()))
                        });
                    match next {
                        Ok(next) => changed.push(self.set_partition(
                            change.topic_id,
                            change.partition,
                            next,
                        )),
                        Err(error) => refused.push((index, error)),
                    }
                }
                Ok(Outcome::IsrChanges { changed, refused })
            }
            C::ElectLeader {
                topic,
                partition,
                election,
            } => {
                let topic_id = self.topics.get(topic).map(|t| t.topic_id);
                let topic_id = topic_id.ok_or_else(|| ControllerError::UnknownTopic {
                    name: topic.clone(),
                })?;
                let current = self.partition_by_id(topic_id, *partition)?;
                let eligible = |b| self.is_eligible(b);
                let next = match election {
                    ElectionType::Preferred => partition::elect_preferred(current, eligible)?,
                    ElectionType::Unclean => {
                        partition::elect_unclean(current, eligible, self.policy(topic_id))?
                    }
                };
                Ok(Outcome::PartitionsChanged(vec![
                    self.set_partition(topic_id, *partition, next),
                ]))
            }
            C::FenceBroker { broker_id } => {
                self.broker_mut(*broker_id)?.fenced = true;
                Ok(Outcome::PartitionsChanged(
                    self.remove_from_partitions(*broker_id),
                ))
            }
            C::UnfenceBroker { broker_id } => {
                self.broker_mut(*broker_id)?;
                Ok(Outcome::PartitionsChanged(self.unfence(*broker_id)))
            }
            C::ControlledShutdown {
                broker_id,
                broker_epoch,
            } => {
                self.checked_broker(*broker_id, *broker_epoch)?;
                self.broker_mut(*broker_id)?.in_controlled_shutdown = true;
                Ok(Outcome::PartitionsChanged(
                    self.remove_from_partitions(*broker_id),
                ))
            }
            C::UnregisterBroker { broker_id } => {
                // Out of every ISR and leadership first, as when fenced; then gone.
                self.broker_mut(*broker_id)?.fenced = true;
                let changes = self.remove_from_partitions(*broker_id);
                self.brokers.remove(broker_id);
                Ok(Outcome::PartitionsChanged(changes))
            }
            C::LogDirFailed {
                broker_id,
                broker_epoch,
            } => {
                self.checked_broker(*broker_id, *broker_epoch)?;
                self.broker_mut(*broker_id)?.log_dir_failed = true;
                Ok(Outcome::PartitionsChanged(
                    self.remove_from_partitions(*broker_id),
                ))
            }
            C::ReportReplicaLogs {
                broker_id,
                broker_epoch,
                logs,
            } => {
                self.checked_broker(*broker_id, *broker_epoch)?;
                Ok(Outcome::PartitionsChanged(
                    self.record_replica_logs(*broker_id, logs),
                ))
            }
            C::AlterPartitionReassignment {
                topic,
                partition,
                target,
                allow_replication_factor_change,
            } => self.alter_reassignment(
                topic,
                *partition,
                target.as_deref(),
                *allow_replication_factor_change,
            ),
            C::SetConfig {
                resource,
                key,
                value,
            } => {
                let configs = match resource {
                    ConfigResource::User(user) => {
                        self.user_configs.entry(user.clone()).or_default()
                    }
                    ConfigResource::Group(group) => {
                        self.group_configs.entry(group.clone()).or_default()
                    }
                    ConfigResource::Cluster => &mut self.cluster_configs,
                    ConfigResource::Broker(id) => self.broker_configs.entry(*id).or_default(),
                    ConfigResource::Topic(name) => {
                        let topic = self.topics.get_mut(name);
                        &mut topic
                            .ok_or_else(|| ControllerError::UnknownTopic { name: name.clone() })?
                            .configs
                    }
                };
                match value {
                    Some(value) => configs.insert(key.clone(), value.clone()),
                    None => configs.remove(key),
                };
                // A user or broker without configs is not kept.
                if let ConfigResource::User(user) = resource
                    && self.user_configs.get(user).is_some_and(|c| c.is_empty())
                {
                    self.user_configs.remove(user);
                }
                if let ConfigResource::Group(group) = resource
                    && self.group_configs.get(group).is_some_and(|c| c.is_empty())
                {
                    self.group_configs.remove(group);
                }
                if let ConfigResource::Broker(id) = resource
                    && self.broker_configs.get(id).is_some_and(|c| c.is_empty())
                {
                    self.broker_configs.remove(id);
                }
                Ok(Outcome::ConfigSet)
            }
            C::AllocateProducerIds {
                broker_id,
                broker_epoch,
            } => {
                self.checked_broker(*broker_id, *broker_epoch)?;
                let first = self.next_producer_id;
                let next = first
                    .checked_add(PRODUCER_ID_BLOCK_LEN)
                    .ok_or(ControllerError::ProducerIdsExhausted)?;
                self.next_producer_id = next;
                Ok(Outcome::ProducerIdsAllocated {
                    first_producer_id: first,
                    len: PRODUCER_ID_BLOCK_LEN,
                })
            }
            C::CreateAcls { acls } => {
                if let Some(reason) = acls.iter().find_map(|acl| acl.invalid_reason()) {
                    return Err(ControllerError::InvalidRequest(reason.to_string()));
                }
                self.acls.extend(acls.iter().cloned());
                Ok(Outcome::AclsChanged)
            }
            C::DeleteAcls { acls } => {
                for acl in acls {
                    self.acls.remove(acl);
                }
                Ok(Outcome::AclsChanged)
            }
            C::AlterClientQuotas { changes } => {
                security::quota::apply_changes(&mut self.client_quotas, changes)
                    .map_err(ControllerError::InvalidRequest)?;
                Ok(Outcome::QuotasChanged)
            }
        }
    }

    /// The registration, if `broker_epoch` is the current one.
    fn checked_broker(
        &self,
        broker_id: BrokerId,
        broker_epoch: i64,
    ) -> Result<&BrokerRegistration, ControllerError> {
        let broker = self
            .brokers
            .get(&broker_id)
            .ok_or(ControllerError::UnknownBroker { broker_id })?;
        if broker.broker_epoch != broker_epoch {
            return Err(ControllerError::StaleBrokerEpoch {
                broker_id,
                requested: broker_epoch,
                current: broker.broker_epoch,
            });
        }
        Ok(broker)
    }

    fn broker_mut(
        &mut self,
        broker_id: BrokerId,
    ) -> Result<&mut BrokerRegistration, ControllerError> {
        self.brokers
            .get_mut(&broker_id)
            .ok_or(ControllerError::UnknownBroker { broker_id })
    }

    fn partition_by_id(
        &self,
        topic_id: TopicId,
        partition: i32,
    ) -> Result<&PartitionState, ControllerError> {
        let name = self
            .topic_names
            .get(&topic_id)
            .ok_or(ControllerError::UnknownTopicId { topic_id })?;
        self.partition(name, partition)
            .ok_or_else(|| ControllerError::UnknownPartition {
                topic: name.clone(),
                partition,
            })
    }

    /// Stores a partition's new state and describes it.
    fn set_partition(
        &mut self,
        topic_id: TopicId,
        partition: i32,
        next: PartitionState,
    ) -> PartitionChange {
        let name = &self.topic_names[&topic_id];
        let topic = self
            .topics
            .get_mut(name)
            .expect("topic_names mirrors topics");
        let index = usize::try_from(partition).expect("partition validated");
        let change = PartitionChange {
            topic_id,
            partition,
            leader: next.leader,
            isr: next.isr.clone(),
            leader_epoch: next.leader_epoch,
            partition_epoch: next.partition_epoch,
        };
        topic.partitions[index] = next;
        change
    }

    /// Takes an ineligible broker out of every ISR it is in (into the ELR when that leaves the
    /// ISR below min ISR) and moves its leaderships.
    fn remove_from_partitions(&mut self, broker_id: BrokerId) -> Vec<PartitionChange> {
        let leaving = Leaving {
            broker_id,
            unclean_shutdown: false,
        };
        self.recompute_partitions(Some(leaving), |p| p.replicas.contains(&broker_id))
    }

    /// The election policy of a topic's partitions.
    fn policy(&self, topic_id: TopicId) -> Policy {
        let topic = self
            .topic_names
            .get(&topic_id)
            .and_then(|n| self.topics.get(n));
        topic.map_or(
            Policy {
                min_isr: 1,
                unclean: false,
            },
            |t| Policy {
                min_isr: self.min_insync_replicas(t),
                unclean: self.unclean_election_enabled(t),
            },
        )
    }

    /// Starts, replaces or cancels a partition's reassignment (`reassignment.rs`).
    fn alter_reassignment(
        &mut self,
        topic: &str,
        partition: i32,
        target: Option<&[BrokerId]>,
        allow_replication_factor_change: bool,
    ) -> Result<Outcome, ControllerError> {
        let topic_id = self.topics.get(topic).map(|t| t.topic_id);
        let topic_id = topic_id.ok_or_else(|| ControllerError::UnknownTopic {
            name: topic.to_owned(),
        })?;
        let current = self.partition_by_id(topic_id, partition)?;
        let started = match target {
            Some(target) => {
                reassignment::check_target(target, |b| self.brokers.contains_key(&b))?;
                reassignment::start(current, target, allow_replication_factor_change)?
            }
            None => {
                let unclean = self.policy(topic_id).unclean;
                Some(reassignment::cancel(current, topic, partition, unclean)?)
            }
        };
        let Some(started) = started else {
            return Ok(Outcome::PartitionsChanged(Vec::new()));
        };
        let policy = self.policy(topic_id);
        let next = partition::finish(current, started, |b| self.is_eligible(b), policy);
        Ok(Outcome::PartitionsChanged(
            next.map(|next| self.set_partition(topic_id, partition, next))
                .into_iter()
                .collect(),
        ))
    }

    /// Stores what a replica's logs hold, for partitions that wait for log reports (others are
    /// ignored), and elects where every last-known-ELR member has now reported.
    fn record_replica_logs(
        &mut self,
        broker_id: BrokerId,
        logs: &[ReplicaLogReport],
    ) -> Vec<PartitionChange> {
        let mut changes = Vec::new();
        for report in logs {
            let Some(name) = self.topic_names.get(&report.topic_id) else {
                continue;
            };
            let topic = &self.topics[name];
            let Some(current) = usize::try_from(report.partition)
                .ok()
                .and_then(|i| topic.partitions.get(i))
            else {
                continue;
            };
            if !current.replicas.contains(&broker_id) || !partition::awaits_log_reports(current) {
                continue;
            }
            let mut reported = current.clone();
            reported.replica_logs.retain(|l| l.broker_id != broker_id);
            reported.replica_logs.push(ReplicaLog {
                broker_id,
                last_epoch: report.last_epoch,
                log_end_offset: report.log_end_offset,
                stale: false,
            });
            let policy = self.policy(report.topic_id);
            let next = partition::rebalance(&reported, None, |b| self.is_eligible(b), policy)
                .unwrap_or_else(|| {
                    let mut bumped = reported;
                    bumped.partition_epoch += 1;
                    bumped
                });
            changes.push((report.topic_id, report.partition, next));
        }
        changes
            .into_iter()
            .map(|(topic_id, partition, next)| self.set_partition(topic_id, partition, next))
            .collect()
    }

    /// Unfences a broker and gives leaders to the offline partitions it can lead.
    fn unfence(&mut self, broker_id: BrokerId) -> Vec<PartitionChange> {
        if let Some(broker) = self.brokers.get_mut(&broker_id) {
            broker.fenced = false;
        }
        self.recompute_partitions(None, |p| {
            p.leader.is_none() && p.replicas.contains(&broker_id)
        })
    }

    fn recompute_partitions(
        &mut self,
        leaving: Option<Leaving>,
        touches: impl Fn(&PartitionState) -> bool,
    ) -> Vec<PartitionChange> {
        let mut changes = Vec::new();
        for topic in self.topics.values() {
            let policy = self.policy(topic.topic_id);
            for (index, p) in topic.partitions.iter().enumerate() {
                if !touches(p) {
                    continue;
                }
                let eligible = |b| self.is_eligible(b);
                if let Some(next) = partition::rebalance(p, leaving, eligible, policy) {
                    changes.push((
                        topic.topic_id,
                        i32::try_from(index).expect("i32 count"),
                        next,
                    ));
                }
            }
        }
        changes
            .into_iter()
            .map(|(topic_id, partition, next)| self.set_partition(topic_id, partition, next))
            .collect()
    }
}
