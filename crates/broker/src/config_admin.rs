//! Configuration as the admin APIs see it (Kafka's `ConfigHelper` and `ConfigAdminManager`):
//! every topic or broker key with its effective value, source, synonyms, type and
//! documentation (DescribeConfigs, CreateTopics v5+), the validation of a topic's overrides,
//! and the per-resource loop of AlterConfigs and IncrementalAlterConfigs (the change itself is
//! the metadata writer's, `metadata_writer.rs`).
//!
//! What it does not own: the keys and their defaults (`config.rs`, `topic_config.rs`), the
//! wire format (the handlers). Broker configs are static here, but for the replication throttle
//! rates (`replication_quota.rs`), which are dynamic and kept in the metadata image: every other
//! broker key is described as read-only and its alteration refused with INVALID_REQUEST, as
//! Kafka refuses a key it cannot change dynamically.
//!
//! Log settings of a live partition (`retention.*`, `segment.*`, `flush.*`,
//! `index.interval.bytes`) cannot change in place: `storage::Log` takes its `LogConfig` when it
//! is opened and has no setter. An alteration persists them and updates the partition's
//! `TopicConfig` (what the broker's own rules read: `max.message.bytes`,
//! `message.timestamp.type`, `min.insync.replicas`, `cleanup.policy`); the log picks them up
//! when it is next opened (restart).

use std::collections::BTreeMap;

use protocol::ErrorCode;
use security::acl::AclOperation;

use crate::broker::Broker;
use crate::config::{BrokerConfig, broker_keys};
use crate::config_keys::ConfigType;
use crate::error::BrokerError;
use crate::handlers::RequestContext;
use crate::topic_config::{TOPIC_KEYS, TopicDefault, is_topic_key, topic_default};

/// Kafka's `ConfigResource.Type` ids.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// Kafka's `DescribeConfigsResponse.ConfigSource` ids.
pub mod source {
    pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
    pub const DYNAMIC_BROKER_CONFIG: i8 = 2;
    pub const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
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
        "cleanup.policy"
        | "leader.replication.throttled.replicas"
        | "follower.replication.throttled.replicas" => LIST,
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
        "follower.replication.throttled.replicas" => {
            "Replicas (partition:broker, or *) throttled on the follower side."
        }
        "leader.replication.throttled.replicas" => {
            "Replicas (partition:broker, or *) throttled on the leader side."
        }
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
        "file.delete.delay.ms" => "log.segment.delete.delay.ms",
        "message.timestamp.after.max.ms" => "log.message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms" => "log.message.timestamp.before.max.ms",
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

/// The dynamic broker keys set in the metadata image (the replication throttle rates): for a
/// broker id, its own value (DYNAMIC_BROKER_CONFIG) or else the cluster-wide one
/// (DYNAMIC_DEFAULT_BROKER_CONFIG); for the empty name, the cluster-wide ones. Not read-only.
pub fn dynamic_broker_entries(
    image: Option<&controller::MetadataImage>,
    node_id: i32,
    cluster_default: bool,
) -> Vec<ConfigEntry> {
    let Some(image) = image else {
        return Vec::new();
    };
    crate::replication_quota::DYNAMIC_BROKER_KEYS
        .iter()
        .filter_map(|&key| {
            let own = (!cluster_default)
                .then(|| image.broker_configs.get(&node_id)?.get(key))
                .flatten();
            let shared = image.cluster_configs.get(key);
            let mut synonyms = Vec::new();
            if let Some(value) = own {
                synonyms.push(Synonym {
                    name: key.to_string(),
                    value: Some(value.clone()),
                    source: source::DYNAMIC_BROKER_CONFIG,
                });
            }
            if let Some(value) = shared {
                synonyms.push(Synonym {
                    name: key.to_string(),
                    value: Some(value.clone()),
                    source: source::DYNAMIC_DEFAULT_BROKER_CONFIG,
                });
            }
            let first = synonyms.first()?;
            Some(ConfigEntry {
                name: key.to_string(),
                value: first.value.clone(),
                source: first.source,
                read_only: false,
                is_sensitive: false,
                config_type: config_type::LONG,
                documentation: Some(
                    "Replication throttle in bytes/s (kafka-reassign-partitions --throttle)."
                        .into(),
                ),
                synonyms,
            })
        })
        .collect()
}

/// Every broker key with its value: set explicitly (file, environment, flags) is
/// STATIC_BROKER_CONFIG, otherwise DEFAULT_CONFIG. All read-only: none changes dynamically.
pub fn broker_entries(config: &BrokerConfig) -> Vec<ConfigEntry> {
    broker_keys()
        .map(|key| {
            let explicit = config.explicit.get(key.name);
            let source = if explicit.is_some() {
                source::STATIC_BROKER_CONFIG
            } else {
                source::DEFAULT_CONFIG
            };
            // Secrets are never shown, as Kafka answers them: null and sensitive.
            let sensitive = key.ty == ConfigType::Password;
            let shown = |value: &str| (!sensitive).then(|| value.to_string());
            let value = config.value(key.name).and_then(shown);
            let mut synonyms = Vec::new();
            if let Some(value) = explicit {
                synonyms.push(Synonym {
                    name: key.name.to_string(),
                    value: shown(value),
                    source: source::STATIC_BROKER_CONFIG,
                });
            }
            if let Some(default) = key.default {
                synonyms.push(Synonym {
                    name: key.name.to_string(),
                    value: shown(default),
                    source: source::DEFAULT_CONFIG,
                });
            }
            ConfigEntry {
                name: key.name.to_string(),
                value,
                source,
                read_only: true,
                is_sensitive: sensitive,
                config_type: key.ty.kafka_id(),
                documentation: Some(key.doc.to_string()),
                synonyms,
            }
        })
        .collect()
}

/// With ACLs, `operation` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a config resource: on the
/// topic itself (TOPIC_AUTHORIZATION_FAILED) or, for a broker, on the cluster
/// (CLUSTER_AUTHORIZATION_FAILED). Other types are refused later as unsupported.
pub fn authorize_resource(
    broker: &Broker,
    context: &RequestContext,
    operation: AclOperation,
    resource_type: i8,
    name: &str,
) -> Result<(), BrokerError> {
    let (allowed, code) = match resource_type {
        RESOURCE_TOPIC => (
            broker.allows_topic(context, operation, name),
            ErrorCode::TopicAuthorizationFailed,
        ),
        RESOURCE_BROKER => (
            broker.allows_cluster(context, operation),
            ErrorCode::ClusterAuthorizationFailed,
        ),
        crate::group_configs::RESOURCE_GROUP => (
            broker.allows_group(context, operation, name),
            ErrorCode::GroupAuthorizationFailed,
        ),
        _ => (true, ErrorCode::None),
    };
    if allowed {
        Ok(())
    } else {
        Err(BrokerError::NotAuthorized(code))
    }
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
            config_type::LIST if name != "cleanup.policy" => {
                crate::replication_quota::check_replicas_list(text).map_err(invalid)?;
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

/// The resources of an AlterConfigs or IncrementalAlterConfigs request, in order, each with
/// the refusal it gets without being altered: INVALID_REQUEST for every resource named more
/// than once, as in Kafka. The handlers alter the others, one after the other.
pub fn refuse_repeated_resources<R>(
    resources: Vec<R>,
    key: impl Fn(&R) -> (i8, String),
) -> Vec<(R, Option<BrokerError>)> {
    let duplicates = repeated(resources.iter().map(&key));
    resources
        .into_iter()
        .map(|resource| {
            let refusal = duplicates.contains(&key(&resource)).then(|| {
                BrokerError::InvalidRequest("the resource is given more than once".into())
            });
            (resource, refusal)
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
