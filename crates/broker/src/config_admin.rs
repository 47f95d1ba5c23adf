//! Configuration as the admin APIs see it (Kafka's `ConfigHelper` and `ConfigAdminManager`):
//! every topic or broker key with its effective value, source, synonyms, type and
//! documentation (DescribeConfigs, CreateTopics v5+), and changes to a topic's overrides
//! (AlterConfigs, IncrementalAlterConfigs).
//!
//! What it does not own: the keys and their defaults (`config.rs`, `topic_config.rs`), the
//! wire format (the handlers). Broker configs are static here: this broker takes no dynamic
//! broker config changes, so every broker key is described as read-only and alterations of a
//! broker resource are refused with INVALID_REQUEST, as Kafka refuses a key it cannot change
//! dynamically.
//!
//! Log settings of a live partition (`retention.*`, `segment.*`, `flush.*`,
//! `index.interval.bytes`) cannot change in place: `storage::Log` takes its `LogConfig` when it
//! is opened and has no setter. An alteration persists them and updates the partition's
//! `TopicConfig` (what the broker's own rules read: `max.message.bytes`,
//! `message.timestamp.type`, `min.insync.replicas`, `cleanup.policy`); the log picks them up
//! when it is next opened (restart).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::broker::Broker;
use crate::config::{BROKER_KEYS, BrokerConfig};
use crate::error::BrokerError;
use crate::metadata::TopicMetadata;
use crate::topic_config::{TOPIC_KEYS, TopicConfig, TopicDefault, is_topic_key, topic_default};

/// Kafka's `ConfigResource.Type` ids.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// Kafka's `DescribeConfigsResponse.ConfigSource` ids.
pub mod source {
    pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
    pub const STATIC_BROKER_CONFIG: i8 = 4;
    pub const DEFAULT_CONFIG: i8 = 5;
}

/// Kafka's `DescribeConfigsResponse.ConfigType` ids.
pub mod config_type {
    pub const BOOLEAN: i8 = 1;
    pub const STRING: i8 = 2;
    pub const INT: i8 = 3;
    pub const SHORT: i8 = 4;
    pub const LONG: i8 = 5;
    pub const DOUBLE: i8 = 6;
    pub const LIST: i8 = 7;
}

/// A synonym of a config entry: a key whose value the entry's value may come from, in order of
/// precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
}

/// One config key as DescribeConfigs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
    pub read_only: bool,
    pub is_sensitive: bool,
    pub config_type: i8,
    pub documentation: Option<String>,
    /// The entry's own source first, then the broker keys it falls back to.
    pub synonyms: Vec<Synonym>,
}

impl ConfigEntry {
    pub fn is_default(&self) -> bool {
        self.source == source::DEFAULT_CONFIG
    }
}

/// The Kafka type of a topic key.
fn topic_key_type(name: &str) -> i8 {
    use config_type::*;
    match name {
        "cleanup.policy" => LIST,
        "compression.type" | "message.timestamp.type" => STRING,
        "index.interval.bytes"
        | "max.message.bytes"
        | "min.insync.replicas"
        | "segment.bytes"
        | "segment.index.bytes" => INT,
        "min.cleanable.dirty.ratio" => DOUBLE,
        "preallocate" | "unclean.leader.election.enable" => BOOLEAN,
        _ => LONG,
    }
}

/// A line of documentation for a topic key.
fn topic_key_doc(name: &str) -> &'static str {
    match name {
        "cleanup.policy" => "delete, compact, or both: what happens to old log segments.",
        "compression.type" => "Final compression of the topic's batches (producer keeps theirs).",
        "delete.retention.ms" => "How long delete tombstones are kept on compacted topics.",
        "file.delete.delay.ms" => "Delay before a deleted segment's file is removed.",
        "flush.messages" => "Flush the log after this many unflushed messages.",
        "flush.ms" => "Flush the log when its oldest unflushed append is this old.",
        "index.interval.bytes" => "Bytes appended between two offset index entries.",
        "max.compaction.lag.ms" => "Longest a record stays uncompacted.",
        "max.message.bytes" => "Largest record batch the topic accepts.",
        "message.timestamp.after.max.ms" => "How far in the future a record timestamp may be.",
        "message.timestamp.before.max.ms" => "How far in the past a record timestamp may be.",
        "message.timestamp.type" => "CreateTime or LogAppendTime.",
        "min.cleanable.dirty.ratio" => "Dirty ratio above which the log is compacted.",
        "min.compaction.lag.ms" => "Shortest time a record stays uncompacted.",
        "min.insync.replicas" => "Replicas that must acknowledge an acks=all write.",
        "preallocate" => "Preallocate segment files.",
        "retention.bytes" => "Largest size of a partition before old segments are deleted.",
        "retention.ms" => "How long records are kept before their segment is deleted.",
        "segment.bytes" => "Size of a log segment file.",
        "segment.index.bytes" => "Size of a segment's offset index.",
        "segment.jitter.ms" => "Random jitter subtracted from segment.ms.",
        "segment.ms" => "Time after which the active segment rolls.",
        "unclean.leader.election.enable" => "Elect an out-of-sync replica as a last resort.",
        _ => "",
    }
}

/// The broker keys a topic key's default comes from, in Kafka's order of precedence.
fn topic_key_broker_synonyms(name: &str) -> Vec<&'static str> {
    match name {
        "retention.ms" => vec![
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        "segment.ms" => vec!["log.roll.ms", "log.roll.hours"],
        "flush.ms" => vec!["log.flush.interval.ms"],
        _ => match TOPIC_KEYS
            .iter()
            .find(|key| key.name == name)
            .map(|key| &key.default)
        {
            Some(TopicDefault::Broker(from)) => vec![*from],
            _ => Vec::new(),
        },
    }
}

/// Kafka's broker key for a topic key whose default this broker does not let you configure
/// (a fixed default here); named as the DEFAULT_CONFIG synonym, as Kafka lists it.
fn fixed_default_synonym(name: &str) -> Option<&'static str> {
    Some(match name {
        "delete.retention.ms" => "log.cleaner.delete.retention.ms",
        "file.delete.delay.ms" => "log.segment.delete.delay.ms",
        "max.compaction.lag.ms" => "log.cleaner.max.compaction.lag.ms",
        "message.timestamp.after.max.ms" => "log.message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms" => "log.message.timestamp.before.max.ms",
        "min.cleanable.dirty.ratio" => "log.cleaner.min.cleanable.ratio",
        "min.compaction.lag.ms" => "log.cleaner.min.compaction.lag.ms",
        "preallocate" => "log.preallocate",
        "segment.index.bytes" => "log.index.size.max.bytes",
        "segment.jitter.ms" => "log.roll.jitter.ms",
        _ => return None,
    })
}

/// Every topic key with its effective value and where it comes from.
pub fn topic_entries(
    config: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<ConfigEntry> {
    TOPIC_KEYS
        .iter()
        .map(|key| {
            let mut synonyms = Vec::new();
            if let Some(value) = overrides.get(key.name) {
                synonyms.push(Synonym {
                    name: key.name.to_string(),
                    value: Some(value.clone()),
                    source: source::DYNAMIC_TOPIC_CONFIG,
                });
            }
            for broker_key in topic_key_broker_synonyms(key.name) {
                if let Some(value) = config.explicit.get(broker_key) {
                    synonyms.push(Synonym {
                        name: broker_key.to_string(),
                        value: Some(value.clone()),
                        source: source::STATIC_BROKER_CONFIG,
                    });
                } else if let Some(value) = config.value(broker_key) {
                    synonyms.push(Synonym {
                        name: broker_key.to_string(),
                        value: Some(value.to_string()),
                        source: source::DEFAULT_CONFIG,
                    });
                }
            }
            if let Some(kafka_key) = fixed_default_synonym(key.name) {
                synonyms.push(Synonym {
                    name: kafka_key.to_string(),
                    value: topic_default(config, key.name),
                    source: source::DEFAULT_CONFIG,
                });
            }
            let source = synonyms
                .first()
                .map_or(source::DEFAULT_CONFIG, |first| first.source);
            let value = overrides
                .get(key.name)
                .cloned()
                .or_else(|| topic_default(config, key.name));
            ConfigEntry {
                name: key.name.to_string(),
                value,
                source,
                read_only: false,
                is_sensitive: false,
                config_type: topic_key_type(key.name),
                documentation: Some(topic_key_doc(key.name).to_string()),
                synonyms,
            }
        })
        .collect()
}

/// Every broker key with its value: set explicitly (file, environment, flags) is
/// STATIC_BROKER_CONFIG, otherwise DEFAULT_CONFIG. All read-only: none changes dynamically.
pub fn broker_entries(config: &BrokerConfig) -> Vec<ConfigEntry> {
    BROKER_KEYS
        .iter()
        .map(|key| {
            let explicit = config.explicit.get(key.name);
            let source = if explicit.is_some() {
                source::STATIC_BROKER_CONFIG
            } else {
                source::DEFAULT_CONFIG
            };
            let value = config.value(key.name).map(str::to_string);
            let mut synonyms = Vec::new();
            if let Some(value) = explicit {
                synonyms.push(Synonym {
                    name: key.name.to_string(),
                    value: Some(value.clone()),
                    source: source::STATIC_BROKER_CONFIG,
                });
            }
            if let Some(default) = key.default {
                synonyms.push(Synonym {
                    name: key.name.to_string(),
                    value: Some(default.to_string()),
                    source: source::DEFAULT_CONFIG,
                });
            }
            ConfigEntry {
                name: key.name.to_string(),
                value,
                source,
                read_only: true,
                is_sensitive: false,
                config_type: key.ty.kafka_id(),
                documentation: Some(key.doc.to_string()),
                synonyms,
            }
        })
        .collect()
}

/// Checks that a broker resource name is this broker (its node id) or the cluster default ("").
pub fn check_broker_resource(config: &BrokerConfig, name: &str) -> Result<(), BrokerError> {
    if name.is_empty() || name.parse::<i32>().ok() == Some(config.node_id) {
        Ok(())
    } else {
        Err(BrokerError::InvalidRequest(format!(
            "unexpected broker id, expected {} or empty string, but received {name}",
            config.node_id
        )))
    }
}

/// The refusal of a broker config alteration: no broker key changes dynamically here.
pub fn refuse_broker_alteration(keys: &[String]) -> BrokerError {
    BrokerError::InvalidRequest(format!(
        "cannot update these configs dynamically: {}; set them in server.properties and restart",
        keys.join(", ")
    ))
}

/// Whether a topic key holds a list (the only kind APPEND and SUBTRACT apply to).
pub fn is_list_topic_key(name: &str) -> bool {
    topic_key_type(name) == config_type::LIST
}

/// Checks each override's value the way Kafka's `LogConfig` validation does: its type (long,
/// int, double, boolean), its lower bound, and the allowed words of list and enum keys.
/// (`TopicConfig::resolve` then checks how the values combine.)
pub fn validate_topic_overrides(overrides: &BTreeMap<String, String>) -> Result<(), BrokerError> {
    for (name, value) in overrides {
        let invalid = |reason: String| {
            BrokerError::InvalidConfig(format!(
                "invalid value {value} for configuration {name}: {reason}"
            ))
        };
        if !is_topic_key(name) {
            return Err(BrokerError::InvalidConfig(format!(
                "unknown topic config name: {name}"
            )));
        }
        let text = value.trim();
        let min: i64 = match name.as_str() {
            "retention.ms" | "retention.bytes" => -1,
            "segment.bytes" => 14,
            "segment.index.bytes" => 4,
            "segment.ms" | "max.compaction.lag.ms" | "flush.messages" | "min.insync.replicas" => 1,
            _ => 0,
        };
        match topic_key_type(name) {
            config_type::LONG | config_type::INT => {
                let number: i64 = text.parse().map_err(|e| invalid(format!("{e}")))?;
                if topic_key_type(name) == config_type::INT && i32::try_from(number).is_err() {
                    return Err(invalid("out of the range of an int".into()));
                }
                if number < min {
                    return Err(invalid(format!("value must be at least {min}")));
                }
            }
            config_type::DOUBLE => {
                let ratio: f64 = text.parse().map_err(|e| invalid(format!("{e}")))?;
                if !(0.0..=1.0).contains(&ratio) {
                    return Err(invalid("value must be between 0 and 1".into()));
                }
            }
            config_type::BOOLEAN
                if !text.eq_ignore_ascii_case("true") && !text.eq_ignore_ascii_case("false") =>
            {
                return Err(invalid("expected true or false".into()));
            }
            config_type::LIST => {
                if let Some(bad) = text
                    .split(',')
                    .map(str::trim)
                    .find(|policy| *policy != "delete" && *policy != "compact")
                {
                    return Err(invalid(format!(
                        "{bad:?} is not a cleanup policy (delete, compact)"
                    )));
                }
            }
            _ if name == "compression.type" => {
                const CODECS: &[&str] =
                    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
                if !CODECS.contains(&text) {
                    return Err(invalid(format!("expected one of {}", CODECS.join(", "))));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Replaces a topic's overrides with `change(current overrides)`, validated as a whole; with
/// `validate_only` nothing changes. Applies the result to the live partitions.
pub fn alter_topic_overrides(
    broker: &Arc<Broker>,
    topic: &str,
    validate_only: bool,
    change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, BrokerError>,
) -> Result<(), BrokerError> {
    let mut resolved: Option<Arc<TopicConfig>> = None;
    let update = |metadata: &mut TopicMetadata| -> Result<(), BrokerError> {
        let overrides = change(&metadata.configs)?;
        validate_topic_overrides(&overrides)?;
        resolved = Some(broker.topic_config(&overrides)?);
        metadata.configs = overrides;
        Ok(())
    };
    if validate_only {
        let mut metadata = broker
            .metadata
            .topic(topic)
            .ok_or_else(|| BrokerError::UnknownTopic(topic.to_string()))?;
        return update(&mut metadata);
    }
    if let Some(cluster) = broker.cluster.get() {
        let mut metadata = broker
            .metadata
            .topic(topic)
            .ok_or_else(|| BrokerError::UnknownTopic(topic.to_string()))?;
        let before = metadata.configs.clone();
        update(&mut metadata)?;
        return alter_through_controller(broker, cluster, topic, &before, &metadata.configs);
    }
    broker.metadata.update_topic(topic, update)?;
    if let Some(config) = resolved {
        for partition in broker.replicas.topic_partitions(topic) {
            partition.set_config(config.clone())?;
        }
        tracing::info!(topic, overrides = ?config.overrides, "altered topic config");
    }
    Ok(())
}

/// A replicated cluster: each changed key becomes a `SetConfig` through the active
/// controller; the metadata task applies the result to the partitions on every node. The
/// config handlers are synchronous, so this waits on the runtime's blocking section (clustered
/// nodes run the multi-threaded runtime).
fn metadata_shows(broker: &Broker, topic: &str, configs: &BTreeMap<String, String>) -> bool {
    broker
        .metadata
        .topic(topic)
        .is_some_and(|t| &t.configs == configs)
}

fn alter_through_controller(
    broker: &Broker,
    cluster: &crate::cluster::Cluster,
    topic: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Result<(), BrokerError> {
    let mut commands = Vec::new();
    for (key, value) in after {
        if before.get(key) != Some(value) {
            commands.push((key.clone(), Some(value.clone())));
        }
    }
    for key in before.keys() {
        if !after.contains_key(key) {
            commands.push((key.clone(), None));
        }
    }
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        handle.block_on(async {
            let changed = !commands.is_empty();
            for (key, value) in commands {
                cluster
                    .propose(controller::MetadataCommand::SetConfig {
                        resource: controller::ConfigResource::Topic(topic.to_string()),
                        key,
                        value,
                    })
                    .await?;
            }
            // Answer once this node's view shows the change (the metadata task applies it); the
            // change is committed either way, so a slow apply still answers success.
            if changed {
                let _ = broker
                    .metadata
                    .wait_for(crate::broker::METADATA_APPLY_TIMEOUT, |_| {
                        metadata_shows(broker, topic, after)
                    })
                    .await;
            }
            Ok::<(), BrokerError>(())
        })
    })?;
    tracing::info!(topic, overrides = ?after, "altered topic config through the controller");
    Ok(())
}

/// Runs `alter` on each resource of an AlterConfigs or IncrementalAlterConfigs request, in
/// order, except resources named more than once, which all get INVALID_REQUEST as in Kafka.
pub fn alter_each_resource<R>(
    resources: Vec<R>,
    key: impl Fn(&R) -> (i8, String),
    mut alter: impl FnMut(&R) -> Result<(), BrokerError>,
) -> Vec<(R, Result<(), BrokerError>)> {
    let duplicates = repeated(resources.iter().map(&key));
    resources
        .into_iter()
        .map(|resource| {
            let result = if duplicates.contains(&key(&resource)) {
                Err(BrokerError::InvalidRequest(
                    "the resource is given more than once".into(),
                ))
            } else {
                alter(&resource)
            };
            (resource, result)
        })
        .collect()
}

/// The keys that occur more than once: admin requests answer every entry of a name given twice
/// with INVALID_REQUEST, as Kafka does.
pub fn repeated<K: std::hash::Hash + Eq + Clone>(
    keys: impl Iterator<Item = K>,
) -> std::collections::HashSet<K> {
    let mut seen = std::collections::HashSet::new();
    keys.filter(|key| !seen.insert(key.clone())).collect()
}
