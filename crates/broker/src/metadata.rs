//! The cluster's metadata on a single node: the cluster id (`meta.properties`, as Kafka keeps
//! it), and the topics (name, id, partition count, config overrides), persisted in the log
//! directory with write-to-temp, fsync, rename, so a crash leaves the old or the new file.
//!
//! A replicated cluster replaces this with the controller's metadata log (issue 6); the broker
//! reads topics through the same methods.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use protocol::Uuid;
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
}

/// The topics of this node and the cluster id. Every change is on disk before it returns.
#[derive(Debug)]
pub struct MetadataStore {
    topics_path: PathBuf,
    cluster_id: String,
    topics: RwLock<BTreeMap<String, TopicMetadata>>,
}

/// A random Kafka UUID (version 4 bits set, as Kafka's `Uuid.randomUuid`), never zero.
pub fn random_uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid(bytes)
}

fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
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
        let topics = match std::fs::read(&topics_path) {
            Ok(bytes) => {
                let file: TopicsFile = serde_json::from_slice(&bytes).map_err(|e| {
                    BrokerError::Config(format!("{} is corrupt: {e}", topics_path.display()))
                })?;
                file.topics
                    .into_iter()
                    .map(|t| (t.name.clone(), t))
                    .collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(BrokerError::io("reading the topics file", e)),
        };
        Ok(Self {
            topics_path,
            cluster_id,
            topics: RwLock::new(topics),
        })
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    fn persist(&self, topics: &BTreeMap<String, TopicMetadata>) -> Result<(), BrokerError> {
        let file = TopicsFile {
            topics: topics.values().cloned().collect(),
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

    pub fn topic(&self, name: &str) -> Option<TopicMetadata> {
        self.read().get(name).cloned()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<TopicMetadata> {
        self.read().values().find(|t| t.uuid() == id).cloned()
    }

    pub fn topics(&self) -> Vec<TopicMetadata> {
        self.read().values().cloned().collect()
    }

    /// Replaces every topic with the controller's view (a replicated cluster: the metadata log
    /// is the record, so nothing is written here).
    pub fn replace_topics(&self, topics: BTreeMap<String, TopicMetadata>) {
        *self.write() = topics;
    }

    /// Takes the cluster id every node of a replicated cluster shares.
    pub fn set_cluster_id(&mut self, cluster_id: String) {
        self.cluster_id = cluster_id;
    }

    /// Adds a topic; fails if one of that name exists.
    pub fn create_topic(&self, topic: TopicMetadata) -> Result<TopicMetadata, BrokerError> {
        let mut topics = self.write();
        if topics.contains_key(&topic.name) {
            return Err(BrokerError::TopicAlreadyExists(topic.name));
        }
        topics.insert(topic.name.clone(), topic.clone());
        if let Err(e) = self.persist(&topics) {
            topics.remove(&topic.name);
            return Err(e);
        }
        Ok(topic)
    }

    /// Removes a topic, returning what it was.
    pub fn delete_topic(&self, name: &str) -> Result<TopicMetadata, BrokerError> {
        let mut topics = self.write();
        let removed = topics
            .remove(name)
            .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()))?;
        if let Err(e) = self.persist(&topics) {
            topics.insert(name.to_string(), removed);
            return Err(e);
        }
        Ok(removed)
    }

    /// Changes a topic with `update`, persisting the result.
    pub fn update_topic(
        &self,
        name: &str,
        update: impl FnOnce(&mut TopicMetadata) -> Result<(), BrokerError>,
    ) -> Result<TopicMetadata, BrokerError> {
        let mut topics = self.write();
        let current = topics
            .get(name)
            .cloned()
            .ok_or_else(|| BrokerError::UnknownTopic(name.to_string()))?;
        let mut updated = current.clone();
        update(&mut updated)?;
        topics.insert(name.to_string(), updated.clone());
        if let Err(e) = self.persist(&topics) {
            topics.insert(name.to_string(), current);
            return Err(e);
        }
        Ok(updated)
    }
}
