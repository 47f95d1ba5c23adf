//! Follows the metadata log: after every change the controller's image is applied to this
//! broker. Topics replace the broker's topic view; for each partition with a replica here the
//! log is opened (created when new) and takes the role the image gives it (leader at an epoch
//! with an ISR, or follower of a leader, whose fetcher is started); topics gone from the image
//! are deleted here, as are partitions of a topic re-created under a new id and replicas a
//! reassignment moved to other nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use controller::MetadataImage;
use tokio::sync::watch;

use super::{Cluster, fetcher};
use crate::broker::Broker;
use crate::metadata::TopicMetadata;
use crate::replica::Assignment;

/// How often the first apply checks whether the metadata log has caught up (besides on every
/// new image: the controller's offset arrives with heartbeats).
const CATCH_UP_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// Topic id in Kafka's form from the controller's.
pub fn kafka_topic_id(id: controller::TopicId) -> protocol::Uuid {
    protocol::Uuid(id.0.to_be_bytes())
}

/// The leadership `image` gives a partition in `state`, with the broker epochs of its replicas
/// (what a replica's role is made from: [`crate::replica::Role::apply_assignment`]).
pub fn assignment(image: &MetadataImage, state: &controller::PartitionState) -> Assignment {
    Assignment {
        leader: state.leader,
        leader_epoch: state.leader_epoch,
        partition_epoch: state.partition_epoch,
        replicas: state.replicas.clone(),
        isr: state.isr.clone(),
        broker_epochs: state
            .replicas
            .iter()
            .filter_map(|r| image.brokers.get(r).map(|b| (*r, b.broker_epoch)))
            .collect(),
        ineligible: state
            .replicas
            .iter()
            .copied()
            .filter(|&r| !image.is_eligible(r))
            .collect(),
    }
}

/// Applies every new image until the shutdown begins, each on the blocking pool (opening a
/// partition creates or recovers its log; deleting a topic renames directories), then wakes
/// idle fetchers.
pub async fn run(broker: Arc<Broker>, cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    let mut images = cluster.subscribe();
    // No image is applied before the metadata log has caught up with the controller's (as
    // Kafka's metadata loader publishes nothing while catching up): a restarting node replays
    // its log from the start, and an image from the middle of that replay hands the
    // partitions leaderships they lost long ago (seen: a node led a partition at epoch 0 for
    // 30 ms after a restart, took writes as leader, and an idempotent producer later got
    // OUT_OF_ORDER_SEQUENCE_NUMBER from it).
    loop {
        if cluster
            .serving
            .is_caught_up(images.borrow_and_update().offset)
        {
            break;
        }
        tokio::select! {
            changed = images.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(CATCH_UP_CHECK_INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
    }
    let mut first = true;
    loop {
        let image = images.borrow_and_update().clone();
        let offset = image.offset;
        let applied = tokio::task::spawn_blocking({
            let (broker, cluster) = (broker.clone(), cluster.clone());
            move || apply(&broker, &cluster, &image)
        })
        .await;
        match applied {
            Ok(()) => cluster.serving.record_applied(offset),
            Err(error) => tracing::error!(%error, "applying a metadata image"),
        }
        if first {
            first = false;
            let image = cluster.image();
            let local = cluster.local_id;
            let broker = broker.clone();
            let _ = tokio::task::spawn_blocking(move || {
                broker.replicas.delete_stray_dirs(|topic, index| {
                    image
                        .partition(topic, index)
                        .is_some_and(|p| !p.replicas.contains(&local))
                })
            })
            .await;
        }
        cluster.roles_changed.notify_waiters();
        tokio::select! {
            changed = images.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

/// Applies one image to the broker.
pub fn apply(broker: &Arc<Broker>, cluster: &Arc<Cluster>, image: &MetadataImage) {
    let local = cluster.local_id;
    let topics: BTreeMap<String, TopicMetadata> = image
        .topics
        .values()
        .map(|t| {
            let metadata = TopicMetadata {
                name: t.name.clone(),
                id: kafka_topic_id(t.topic_id).to_string(),
                partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
                replication_factor: t
                    .partitions
                    .first()
                    .map_or(0, |p| i16::try_from(p.replicas.len()).unwrap_or(i16::MAX)),
                configs: t.configs.clone(),
            };
            (t.name.clone(), metadata)
        })
        .collect();
    // Hosted partitions whose topic is gone, or came back under another id.
    let stale: BTreeSet<String> = broker
        .replicas
        .all()
        .into_iter()
        .filter(|p| {
            image
                .topics
                .get(&p.topic_partition.topic)
                .is_none_or(|t| kafka_topic_id(t.topic_id) != p.topic_id)
        })
        .map(|p| p.topic_partition.topic.clone())
        .collect();
    for topic in stale {
        tracing::info!(%topic, "deleting a topic gone from the metadata");
        broker.replicas.delete_topic(&topic);
    }
    // Hosted partitions of which this node is no longer a replica (a completed or cancelled
    // reassignment), as Kafka's broker deletes a replica removed from the assignment.
    for hosted in broker.replicas.all() {
        let tp = &hosted.topic_partition;
        let moved_away = image
            .partition(&tp.topic, tp.partition)
            .is_some_and(|p| !p.replicas.contains(&local));
        if moved_away {
            tracing::info!(partition = ?tp, "deleting a replica reassigned away from this node");
            broker.replicas.delete_partition(&tp.topic, tp.partition);
        }
    }
    let now = broker.replica_now_ms();
    for topic in image.topics.values() {
        let topic_id = kafka_topic_id(topic.topic_id);
        let config = match broker.topic_config(&topic.configs) {
            Ok(config) => config,
            Err(error) => {
                tracing::warn!(topic = %topic.name, %error, "topic config");
                continue;
            }
        };
        for (index, state) in topic.partitions.iter().enumerate() {
            if !state.replicas.contains(&local) {
                continue;
            }
            let index = i32::try_from(index).unwrap_or(i32::MAX);
            let partition = match broker.replicas.get(&topic.name, index) {
                Some(partition) => partition,
                None => {
                    if let Err(error) = broker.replicas.open_partitions(
                        &topic.name,
                        topic_id,
                        index,
                        index + 1,
                        config.clone(),
                    ) {
                        tracing::error!(topic = %topic.name, index, %error, "opening a partition");
                        continue;
                    }
                    match broker.replicas.get(&topic.name, index) {
                        Some(partition) => partition,
                        None => continue,
                    }
                }
            };
            if partition.config().overrides != config.overrides {
                let _ = partition.set_config(config.clone());
            }
            let assignment = assignment(image, state);
            match partition.apply_assignment(&assignment, now) {
                Ok(changed) => {
                    if changed {
                        tracing::info!(
                            partition = ?partition.topic_partition,
                            leader = ?state.leader,
                            epoch = state.leader_epoch,
                            isr = ?state.isr,
                            "partition role changed"
                        );
                    }
                }
                Err(error) => {
                    tracing::error!(partition = ?partition.topic_partition, %error, "taking a role");
                    continue;
                }
            }
            if let Some((leader, _)) = partition.followed_leader() {
                fetcher::ensure(broker, cluster, leader);
            }
        }
    }
    // Published last: a topic this node shows in Metadata has its local partitions open and
    // their roles taken, so a client sent here by that answer finds them.
    broker.metadata.replace_topics(topics);
    broker.metadata.replace_user_configs(&image.user_configs);
    broker.metadata.replace_group_configs(&image.group_configs);
    broker.metadata.replace_acls(&image.acls);
    broker.metadata.replace_client_quotas(&image.client_quotas);
}
