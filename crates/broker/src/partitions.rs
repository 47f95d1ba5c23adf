//! The partitions this broker hosts (Kafka's ReplicaManager on a single node): one storage
//! `Log` per partition, opened at start for every known topic, created and deleted with topics,
//! and the wake-up that long-polling fetches wait on.
//!
//! Locking: the map is behind an `RwLock` held only to look up, add or remove an
//! `Arc<Partition>`; log operations run on the `Arc` outside it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use protocol::Uuid;
use storage::{Log, LogAppendInfo};
use tokio::sync::Notify;

use crate::error::BrokerError;
use crate::topic_config::TopicConfig;

/// A topic name and partition index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

/// One hosted partition.
pub struct Partition {
    pub topic_partition: TopicPartition,
    pub topic_id: Uuid,
    pub log: Log,
    config: RwLock<Arc<TopicConfig>>,
    /// Woken after every append and high-watermark change; fetches wait on it.
    appended: Notify,
    /// Serialises "read the log end offset, raise the HighWatermark to it" after appends, so
    /// concurrent appends never move the HighWatermark backwards.
    high_watermark_lock: Mutex<()>,
}

impl Partition {
    pub fn config(&self) -> Arc<TopicConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies a topic's new configuration: the broker's rules at once, and the log's settings
    /// (retention, segments, flushing) from its next append or retention pass.
    pub fn set_config(&self, config: Arc<TopicConfig>) -> Result<(), BrokerError> {
        self.log.set_config(config.log.clone())?;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }

    /// Wakes every fetch waiting on this partition.
    pub fn notify_appended(&self) {
        self.appended.notify_waiters();
    }

    /// A future that completes at the next [`Partition::notify_appended`]; create it before
    /// checking for data so no append is missed.
    pub fn appended(&self) -> tokio::sync::futures::Notified<'_> {
        self.appended.notified()
    }

    /// The leader epoch batches are stamped with on a single node.
    pub fn leader_epoch(&self) -> i32 {
        0
    }

    /// Appends a produced (validated) batch as leader, stamping this partition's leader epoch
    /// into it in place, then advances the HighWatermark to the log end offset (on a single
    /// node the ISR is this replica alone) and wakes waiting fetches. Blocking file I/O: in
    /// fsync-before-ack mode it returns once the batch is on disk.
    pub fn append_as_leader(&self, records: &mut [u8]) -> Result<LogAppendInfo, BrokerError> {
        let info = self.log.append_as_leader(records, self.leader_epoch())?;
        if !info.duplicate {
            self.advance_high_watermark()?;
            self.notify_appended();
        }
        Ok(info)
    }

    /// Raises the HighWatermark to the log end offset (single node: every appended offset is
    /// replicated to the whole ISR).
    pub fn advance_high_watermark(&self) -> Result<i64, BrokerError> {
        let _serial = self
            .high_watermark_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let log_end = self.log.log_end_offset()?;
        Ok(self.log.set_high_watermark(log_end)?)
    }
}

/// Every partition this broker hosts.
pub struct ReplicaManager {
    log_dir: PathBuf,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
}

impl ReplicaManager {
    pub fn new(log_dir: &Path) -> Self {
        Self {
            log_dir: log_dir.to_path_buf(),
            partitions: RwLock::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn map_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.log_dir
            .join(storage::partition_dir_name(topic, partition))
    }

    /// Opens (creating when absent) the logs of partitions `from..to` of a topic.
    pub fn open_partitions(
        &self,
        topic: &str,
        topic_id: Uuid,
        from: i32,
        to: i32,
        config: Arc<TopicConfig>,
    ) -> Result<(), BrokerError> {
        for index in from..to {
            let tp = TopicPartition {
                topic: topic.to_string(),
                partition: index,
            };
            if self.map().contains_key(&tp) {
                continue;
            }
            let log = Log::open(&self.partition_dir(topic, index), config.log.clone())?;
            let partition = Arc::new(Partition {
                topic_partition: tp.clone(),
                topic_id,
                log,
                config: RwLock::new(config.clone()),
                appended: Notify::new(),
                high_watermark_lock: Mutex::new(()),
            });
            // Recovery starts the HighWatermark at the log start; this replica is the whole ISR.
            partition.advance_high_watermark()?;
            self.map_mut().insert(tp, partition);
        }
        Ok(())
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.map()
            .get(&TopicPartition {
                topic: topic.to_string(),
                partition,
            })
            .cloned()
    }

    /// The hosted partition, or UNKNOWN_TOPIC_OR_PARTITION.
    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>, BrokerError> {
        self.get(topic, partition)
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: topic.to_string(),
                partition,
            })
    }

    /// Every hosted partition, sorted.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        let mut all: Vec<_> = self.map().values().cloned().collect();
        all.sort_by(|a, b| a.topic_partition.cmp(&b.topic_partition));
        all
    }

    /// The partitions of one topic.
    pub fn topic_partitions(&self, topic: &str) -> Vec<Arc<Partition>> {
        self.all()
            .into_iter()
            .filter(|p| p.topic_partition.topic == topic)
            .collect()
    }

    /// Stops hosting a topic: closes its logs and deletes their directories in the background
    /// (renamed first, as Kafka does, so a restart never sees a half-deleted log).
    pub fn delete_topic(&self, topic: &str) {
        let removed: Vec<Arc<Partition>> = {
            let mut map = self.map_mut();
            let keys: Vec<_> = map.keys().filter(|tp| tp.topic == topic).cloned().collect();
            keys.into_iter().filter_map(|k| map.remove(&k)).collect()
        };
        let mut doomed = Vec::new();
        for partition in removed {
            let _ = partition.log.close();
            partition.notify_appended();
            let dir = partition.log.dir().to_path_buf();
            let tombstone =
                dir.with_extension(format!("{}-delete", crate::metadata::random_uuid()));
            if std::fs::rename(&dir, &tombstone).is_ok() {
                doomed.push(tombstone);
            }
        }
        if !doomed.is_empty() {
            std::thread::spawn(move || {
                for dir in doomed {
                    let _ = std::fs::remove_dir_all(dir);
                }
            });
        }
    }

    /// Removes directories left by deletions a crash interrupted.
    pub fn clean_deleted_dirs(&self) {
        if let Ok(entries) = std::fs::read_dir(&self.log_dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().ends_with("-delete") {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }

    /// Closes every log cleanly (flush, clean-shutdown marker).
    pub fn close_all(&self) {
        for partition in self.all() {
            if let Err(error) = partition.log.close() {
                tracing::warn!(partition = ?partition.topic_partition, %error, "closing log");
            }
        }
    }
}
