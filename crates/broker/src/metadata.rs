//! The cluster's metadata on a single node: the cluster id (`meta.properties`, as Kafka keeps
//! it), the topics (name, id, partition count, config overrides), users' configs, the ACLs and
//! client quotas, persisted in the log directory with write-to-temp, fsync, rename, so a crash
//! leaves the old or the new file.
//!
//! A replicated cluster replaces this with the controller's metadata log (issue 6); the broker
//! reads topics through the same methods.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use protocol::Uuid;
use security::acl::AclBinding;
use security::quota::{QuotaChange, QuotaMap};
use serde::{Deserialize, Serialize};

use crate::error::BrokerError;

/// A topic as the metadata knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMetadata {
    pub name: String,
    /// Kafka's topic id, in its base64 form.
    pub id: String,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Config overrides set at creation or by AlterConfigs.
    pub configs: BTreeMap<String, String>,
}

impl TopicMetadata {
    pub fn uuid(&self) -> Uuid {
        Uuid::parse(&self.id).unwrap_or(Uuid::ZERO)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TopicsFile {
    topics: Vec<TopicMetadata>,
    /// Users' entity configs (SCRAM credentials) by user name.
    #[serde(default)]
    user_configs: UserConfigs,
    /// Groups' dynamic configs (Kafka's GROUP resource) by group id.
    #[serde(default)]
    group_configs: UserConfigs,
    /// The ACLs, each once.
    #[serde(default)]
    acls: BTreeSet<AclBinding>,
    /// Client quotas by entity.
    #[serde(default, with = "security::quota::as_list")]
    client_quotas: QuotaMap,
}

/// The parts of the file a change replaces; the others are written as they are now.
#[derive(Default)]
struct Next<'a> {
    topics: Option<&'a BTreeMap<String, TopicMetadata>>,
    user_configs: Option<&'a UserConfigs>,
    group_configs: Option<&'a UserConfigs>,
    acls: Option<&'a [AclBinding]>,
    client_quotas: Option<&'a QuotaMap>,
}

/// Which entity configs a change is to.
#[derive(Debug, Clone, Copy)]
enum Entities {
    Users,
    Groups,
}

/// Users' entity configs by user name, then key (`SCRAM-SHA-256`, ...).
pub type UserConfigs = BTreeMap<String, BTreeMap<String, String>>;

/// The topics of this node and the cluster id. Every change is on disk before it returns.
#[derive(Debug)]
pub struct MetadataStore {
    topics_path: PathBuf,
    cluster_id: String,
    topics: RwLock<BTreeMap<String, TopicMetadata>>,
    /// Users' entity configs; in a cluster a copy of the image's.
    user_configs: RwLock<UserConfigs>,
    /// Groups' dynamic configs; in a cluster a copy of the image's.
    group_configs: RwLock<UserConfigs>,
    /// The ACLs; in a cluster a copy of the image's. Shared with every authorization decision
    /// made while it is current.
    acls: RwLock<Arc<Vec<AclBinding>>>,
    /// Client quotas; in a cluster a copy of the image's.
    client_quotas: RwLock<Arc<QuotaMap>>,
    /// Topic names by id (Fetch v13+, Produce v13, OffsetCommit v10 look topics up by id on
    /// every request); rebuilt under the topics' write lock after each change.
    names_by_id: RwLock<HashMap<Uuid, String>>,
    /// Serialises changes, so the topics file is written by one change at a time.
    writer: std::sync::Mutex<()>,
    /// Bumped after every change to the topics, for [`MetadataStore::wait_for`].
    changes: tokio::sync::watch::Sender<u64>,
}

/// Applies (entity, key, value) changes; an entity left without configs is dropped.
fn apply_entity_changes(configs: &mut UserConfigs, changes: &[(String, String, Option<String>)]) {
    for (entity, key, value) in changes {
        let entry = configs.entry(entity.clone()).or_default();
        match value {
            Some(value) => entry.insert(key.clone(), value.clone()),
            None => entry.remove(key),
        };
        if entry.is_empty() {
            configs.remove(entity);
        }
    }
}

fn index_by_id(topics: &BTreeMap<String, TopicMetadata>) -> HashMap<Uuid, String> {
    topics
        .values()
        .map(|t| (t.uuid(), t.name.clone()))
        .collect()
}

/// A random Kafka UUID (version 4 bits set, as Kafka's `Uuid.randomUuid`), never zero.
pub fn random_uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid(bytes)
}

pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl MetadataStore {
    /// Opens (or creates) the metadata in `log_dir`: reads or writes `meta.properties` with the
    /// cluster id and node id, and loads the topics.
    pub fn open(log_dir: &Path, node_id: i32) -> Result<Self, BrokerError> {
        std::fs::create_dir_all(log_dir)
            .map_err(|e| BrokerError::io("creating the log directory", e))?;
        let meta_path = log_dir.join("meta.properties");
        let cluster_id = match std::fs::read_to_string(&meta_path) {
            Ok(text) => {
                let mut cluster_id = None;
                for line in text.lines() {
                    if let Some((k, v)) = line.split_once('=') {
                        match k.trim() {
                            "cluster.id" => cluster_id = Some(v.trim().to_string()),
                            "node.id" if v.trim() != node_id.to_string() => {
                                return Err(BrokerError::Config(format!(
                                    "{} belongs to node {}, not {node_id}",
                                    meta_path.display(),
                                    v.trim()
                                )));
                            }
                            _ => {}
                        }
                    }
                }
                cluster_id.ok_or_else(|| {
                    BrokerError::Config(format!("{} has no cluster.id", meta_path.display()))
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let cluster_id = random_uuid().to_string();
                let text = format!(
                    "#Written by Runnel\nversion=1\ncluster.id={cluster_id}\nnode.id={node_id}\n"
                );
                write_atomically(&meta_path, text.as_bytes())
                    .map_err(|e| BrokerError::io("writing meta.properties", e))?;
                cluster_id
            }
            Err(e) => return Err(BrokerError::io("reading meta.properties", e)),
        };
        let topics_path = log_dir.join("__runnel_topics.json");
        let (topics, user_configs, group_configs, acls, client_quotas) =
            match std::fs::read(&topics_path) {
                Ok(bytes) => {
                    let file: TopicsFile = serde_json::from_slice(&bytes).map_err(|e| {
                        BrokerError::Config(format!("{} is corrupt: {e}", topics_path.display()))
                    })?;
                    let topics = file
                        .topics
                        .into_iter()
                        .map(|t| (t.name.clone(), t))
                        .collect();
                    (
                        topics,
                        file.user_configs,
                        file.group_configs,
                        file.acls,
                        file.client_quotas,
                    )
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
                Err(e) => return Err(BrokerError::io("reading the topics file", e)),
            };
        Ok(Self {
            topics_path,
            cluster_id,
            names_by_id: RwLock::new(index_by_id(&topics)),
            changes: tokio::sync::watch::Sender::new(0),
            writer: std::sync::Mutex::new(()),
            topics: RwLock::new(topics),
            user_configs: RwLock::new(user_configs),
            group_configs: RwLock::new(group_configs),
            acls: RwLock::new(Arc::new(acls.into_iter().collect())),
            client_quotas: RwLock::new(Arc::new(client_quotas)),
        })
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// Writes the file with `next`'s parts and the others as they are now.
    fn persist(&self, next: Next<'_>) -> Result<(), BrokerError> {
        let file = TopicsFile {
            topics: match next.topics {
                Some(topics) => topics.values().cloned().collect(),
                None => self.read().values().cloned().collect(),
            },
            user_configs: next
                .user_configs
                .cloned()
                .unwrap_or_else(|| self.user_configs()),
            group_configs: next
                .group_configs
                .cloned()
                .unwrap_or_else(|| self.all_group_configs()),
            acls: next
                .acls
                .map(|acls| acls.iter().cloned().collect())
                .unwrap_or_else(|| self.acls().iter().cloned().collect()),
            client_quotas: next
                .client_quotas
                .cloned()
                .unwrap_or_else(|| (*self.client_quotas()).clone()),
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| BrokerError::Config(e.to_string()))?;
        write_atomically(&self.topics_path, &bytes)
            .map_err(|e| BrokerError::io("writing the topics file", e))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, TopicMetadata>> {
        self.topics
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, TopicMetadata>> {
        self.topics
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Rebuilds the id index and tells the waiters; called with the topics' write lock held.
    fn reindex(&self, topics: &BTreeMap<String, TopicMetadata>) {
        *self
            .names_by_id
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = index_by_id(topics);
        self.changes.send_modify(|version| *version += 1);
    }

    /// Waits until `ready` holds of this store, re-checking after each change (no polling);
    /// REQUEST_TIMED_OUT after `timeout`. A replicated cluster's requests use it to answer once
    /// this node has applied what the controller committed.
    pub async fn wait_for(
        &self,
        timeout: std::time::Duration,
        ready: impl Fn(&Self) -> bool,
    ) -> Result<(), BrokerError> {
        // Subscribed before the first check, so a change in between is not missed.
        let mut changes = self.changes.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            while !ready(self) {
                if changes.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        waited.map_err(|_| BrokerError::RequestTimedOut)
    }

    pub fn topic(&self, name: &str) -> Option<TopicMetadata> {
        self.read().get(name).cloned()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<TopicMetadata> {
        self.topic(&self.topic_name(id)?)
    }

    /// The name of the topic with this id (a hash lookup, for the requests that name topics by
    /// id: Fetch v13+, Produce v13).
    pub fn topic_name(&self, id: Uuid) -> Option<String> {
        self.names_by_id
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&id)
            .cloned()
    }

    pub fn topics(&self) -> Vec<TopicMetadata> {
        self.read().values().cloned().collect()
    }

    /// Replaces every topic with the controller's view (a replicated cluster: the metadata log
    /// is the record, so nothing is written here).
    pub fn replace_topics(&self, topics: BTreeMap<String, TopicMetadata>) {
        let mut current = self.write();
        *current = topics;
        self.reindex(&current);
    }

    /// Every user's entity configs.
    pub fn user_configs(&self) -> UserConfigs {
        self.read_users().clone()
    }

    /// One user's config `key` (a SCRAM credential).
    pub fn user_config(&self, user: &str, key: &str) -> Option<String> {
        self.read_users().get(user)?.get(key).cloned()
    }

    fn read_users(&self) -> std::sync::RwLockReadGuard<'_, UserConfigs> {
        self.user_configs
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A cluster node mirrors the image's user configs (copied only when they changed).
    pub fn replace_user_configs(&self, user_configs: &UserConfigs) {
        self.replace_entity_configs(Entities::Users, user_configs);
    }

    /// Sets (`Some`) or removes (`None`) users' config keys, on disk before it returns (a
    /// single node); a user left without configs is dropped.
    pub fn change_user_configs(
        &self,
        changes: &[(String, String, Option<String>)],
    ) -> Result<(), BrokerError> {
        self.change_entity_configs(Entities::Users, changes)
    }

    /// Every group's dynamic configs.
    pub fn all_group_configs(&self) -> UserConfigs {
        self.entity_configs(Entities::Groups)
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// One group's dynamic configs (empty when it has none).
    pub fn group_configs(&self, group_id: &str) -> BTreeMap<String, String> {
        self.entity_configs(Entities::Groups)
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(group_id)
            .cloned()
            .unwrap_or_default()
    }

    /// A cluster node mirrors the image's group configs.
    pub fn replace_group_configs(&self, group_configs: &UserConfigs) {
        self.replace_entity_configs(Entities::Groups, group_configs);
    }

    /// Sets (`Some`) or removes (`None`) groups' config keys, on disk before it returns (a
    /// single node); a group left without configs is dropped.
    pub fn change_group_configs(
        &self,
        changes: &[(String, String, Option<String>)],
    ) -> Result<(), BrokerError> {
        self.change_entity_configs(Entities::Groups, changes)
    }

    fn entity_configs(&self, which: Entities) -> &RwLock<UserConfigs> {
        match which {
            Entities::Users => &self.user_configs,
            Entities::Groups => &self.group_configs,
        }
    }

    /// Replaces users' or groups' configs (copied only when they changed) and tells the waiters.
    fn replace_entity_configs(&self, which: Entities, configs: &UserConfigs) {
        let mut current = self
            .entity_configs(which)
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *current != *configs {
            *current = configs.clone();
            drop(current);
            self.changes.send_modify(|version| *version += 1);
        }
    }

    fn change_entity_configs(
        &self,
        which: Entities,
        changes: &[(String, String, Option<String>)],
    ) -> Result<(), BrokerError> {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = self
            .entity_configs(which)
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        apply_entity_changes(&mut next, changes);
        self.persist(match which {
            Entities::Users => Next {
                user_configs: Some(&next),
                ..Default::default()
            },
            Entities::Groups => Next {
                group_configs: Some(&next),
                ..Default::default()
            },
        })?;
        self.replace_entity_configs(which, &next);
        Ok(())
    }

    /// The ACLs in force.
    pub fn acls(&self) -> Arc<Vec<AclBinding>> {
        self.acls
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// A cluster node mirrors the image's ACLs (copied only when they changed).
    pub fn replace_acls(&self, acls: &BTreeSet<AclBinding>) {
        let mut current = self
            .acls
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.len() != acls.len() || !current.iter().eq(acls.iter()) {
            *current = Arc::new(acls.iter().cloned().collect());
            drop(current);
            self.changes.send_modify(|version| *version += 1);
        }
    }

    /// Adds and removes ACLs, on disk before it returns (a single node).
    pub fn change_acls(
        &self,
        added: &[AclBinding],
        removed: &[AclBinding],
    ) -> Result<(), BrokerError> {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next: BTreeSet<AclBinding> = self.acls().iter().cloned().collect();
        next.extend(added.iter().cloned());
        for acl in removed {
            next.remove(acl);
        }
        let list: Vec<AclBinding> = next.iter().cloned().collect();
        self.persist(Next {
            acls: Some(&list),
            ..Default::default()
        })?;
        self.replace_acls(&next);
        Ok(())
    }

    /// The client quotas in force.
    pub fn client_quotas(&self) -> Arc<QuotaMap> {
        self.client_quotas
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// A cluster node mirrors the image's client quotas (copied only when they changed).
    pub fn replace_client_quotas(&self, quotas: &QuotaMap) {
        let mut current = self
            .client_quotas
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if **current != *quotas {
            *current = Arc::new(quotas.clone());
            drop(current);
            self.changes.send_modify(|version| *version += 1);
        }
    }

    /// Applies AlterClientQuotas changes, all or none, on disk before it returns (a single
    /// node).
    pub fn change_client_quotas(&self, changes: &[QuotaChange]) -> Result<(), BrokerError> {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = (*self.client_quotas()).clone();
        security::quota::apply_changes(&mut next, changes).map_err(BrokerError::InvalidRequest)?;
        self.persist(Next {
            client_quotas: Some(&next),
            ..Default::default()
        })?;
        self.replace_client_quotas(&next);
        Ok(())
    }

    /// Takes the cluster id every node of a replicated cluster shares.
    pub fn set_cluster_id(&mut self, cluster_id: String) {
        self.cluster_id = cluster_id;
    }

    /// Adds a topic; fails if one of that name exists.
    pub fn create_topic(&self, topic: TopicMetadata) -> Result<TopicMetadata, BrokerError> {
        self.change(|topics| {
            if topics.contains_key(&topic.name) {
                return Err(BrokerError::TopicAlreadyExists(topic.name.clone()));
            }
            topics.insert(topic.name.clone(), topic.clone());
            Ok(topic)
        })
    }

    /// Removes a topic, returning what it was.
    pub fn delete_topic(&self, name: &str) -> Result<TopicMetadata, BrokerError> {
        self.change(|topics| {
            topics
                .remove(name)
                .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()))
        })
    }

    /// Changes a topic with `update`, persisting the result.
    pub fn update_topic(
        &self,
        name: &str,
        update: impl FnOnce(&mut TopicMetadata) -> Result<(), BrokerError>,
    ) -> Result<TopicMetadata, BrokerError> {
        self.change(|topics| {
            let topic = topics
                .get_mut(name)
                .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()))?;
            update(topic)?;
            Ok(topic.clone())
        })
    }

    /// One change to the topics: `change` edits a copy, the copy is written and fsynced holding
    /// only the writers' lock, and then replaces the topics readers see. Readers (Metadata,
    /// Produce and Fetch by topic id) never wait for the disk; a failed write changes nothing.
    fn change<T>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, TopicMetadata>) -> Result<T, BrokerError>,
    ) -> Result<T, BrokerError> {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = self.read().clone();
        let outcome = change(&mut next)?;
        self.persist(Next {
            topics: Some(&next),
            ..Default::default()
        })?;
        let mut topics = self.write();
        *topics = next;
        self.reindex(&topics);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn topic(name: &str) -> TopicMetadata {
        TopicMetadata {
            name: name.into(),
            id: random_uuid().to_string(),
            partitions: 1,
            replication_factor: 1,
            configs: BTreeMap::new(),
        }
    }

    /// A waiter is woken by the change it waits for, and only times out when it never comes.
    #[tokio::test]
    async fn waiters_wake_on_a_change_and_time_out_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MetadataStore::open(dir.path(), 1).unwrap());
        let writer = Arc::clone(&store);
        let created = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            writer.create_topic(topic("late")).unwrap()
        });
        store
            .wait_for(Duration::from_secs(10), |m| m.topic("late").is_some())
            .await
            .expect("woken by the creation");
        let id = created.await.unwrap().uuid();
        assert_eq!(store.topic_by_id(id).unwrap().name, "late");
        let never = store
            .wait_for(Duration::from_millis(50), |m| m.topic("never").is_some())
            .await;
        assert!(matches!(never, Err(BrokerError::RequestTimedOut)));
        store.delete_topic("late").unwrap();
        assert!(
            store.topic_by_id(id).is_none(),
            "the id index follows deletions"
        );
    }
}
