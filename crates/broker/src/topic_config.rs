//! Topic-level configuration: the keys Kafka accepts per topic, their broker-wide defaults, and
//! the resolution of a topic's overrides into the log's settings and the broker's rules.

use std::collections::BTreeMap;

use storage::{FlushPolicy, LogConfig};

use crate::config::{BrokerConfig, ConfigError};

/// A topic key and the broker key (or fixed value) its default comes from.
pub struct TopicKey {
    pub name: &'static str,
    pub default: TopicDefault,
}

pub enum TopicDefault {
    /// The value of this broker key.
    Broker(&'static str),
    /// A fixed default.
    Fixed(&'static str),
}

const fn broker(name: &'static str, from: &'static str) -> TopicKey {
    TopicKey {
        name,
        default: TopicDefault::Broker(from),
    }
}

const fn fixed(name: &'static str, value: &'static str) -> TopicKey {
    TopicKey {
        name,
        default: TopicDefault::Fixed(value),
    }
}

/// Every topic-level key, as `kafka-configs --describe --all` lists them.
pub const TOPIC_KEYS: &[TopicKey] = &[
    broker("cleanup.policy", "log.cleanup.policy"),
    broker("compression.type", "compression.type"),
    broker("delete.retention.ms", "log.cleaner.delete.retention.ms"),
    fixed("file.delete.delay.ms", "60000"),
    broker("flush.messages", "log.flush.interval.messages"),
    fixed("flush.ms", "9223372036854775807"),
    fixed("follower.replication.throttled.replicas", ""),
    broker("index.interval.bytes", "log.index.interval.bytes"),
    fixed("leader.replication.throttled.replicas", ""),
    broker("max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms"),
    broker("max.message.bytes", "message.max.bytes"),
    fixed("message.timestamp.after.max.ms", "3600000"),
    fixed("message.timestamp.before.max.ms", "9223372036854775807"),
    broker("message.timestamp.type", "log.message.timestamp.type"),
    broker(
        "min.cleanable.dirty.ratio",
        "log.cleaner.min.cleanable.ratio",
    ),
    broker("min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms"),
    broker("min.insync.replicas", "min.insync.replicas"),
    fixed("preallocate", "false"),
    broker("retention.bytes", "log.retention.bytes"),
    fixed("retention.ms", "604800000"),
    broker("segment.bytes", "log.segment.bytes"),
    fixed("segment.index.bytes", "10485760"),
    fixed("segment.jitter.ms", "0"),
    fixed("segment.ms", "604800000"),
    broker(
        "unclean.leader.election.enable",
        "unclean.leader.election.enable",
    ),
];

/// Whether `name` is a topic-level key.
pub fn is_topic_key(name: &str) -> bool {
    TOPIC_KEYS.iter().any(|key| key.name == name)
}

/// The broker-wide default of a topic key, as configured.
pub fn topic_default(broker_config: &BrokerConfig, name: &str) -> Option<String> {
    let key = TOPIC_KEYS.iter().find(|key| key.name == name)?;
    match (name, &key.default) {
        ("retention.ms", _) => Some(retention_ms_default(broker_config).to_string()),
        ("segment.ms", _) => Some(roll_ms_default(broker_config).to_string()),
        ("flush.ms", _) => broker_config
            .value("log.flush.interval.ms")
            .map(str::to_string)
            .or_else(|| Some("9223372036854775807".into())),
        (_, TopicDefault::Broker(from)) => broker_config.value(from).map(str::to_string),
        (_, TopicDefault::Fixed(value)) => Some(value.to_string()),
    }
}

fn retention_ms_default(config: &BrokerConfig) -> i64 {
    let parse = |k: &str| config.value(k).and_then(|v| v.parse::<i64>().ok());
    parse("log.retention.ms")
        .or_else(|| parse("log.retention.minutes").map(|m| m * 60_000))
        .or_else(|| parse("log.retention.hours").map(|h| h * 3_600_000))
        .unwrap_or(604_800_000)
}

fn roll_ms_default(config: &BrokerConfig) -> i64 {
    let parse = |k: &str| config.value(k).and_then(|v| v.parse::<i64>().ok());
    parse("log.roll.ms")
        .or_else(|| parse("log.roll.hours").map(|h| h * 3_600_000))
        .unwrap_or(604_800_000)
}

/// A topic's effective configuration: overrides over the broker defaults, resolved.
#[derive(Debug, Clone)]
pub struct TopicConfig {
    /// The topic's own overrides (what CreateTopics / AlterConfigs set).
    pub overrides: BTreeMap<String, String>,
    pub log: LogConfig,
    pub max_message_bytes: i32,
    pub compact: bool,
    pub log_append_time: bool,
    pub min_insync_replicas: i32,
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime record may be;
    /// `None` when unbounded (`Long.MAX_VALUE`).
    pub timestamp_before_max_ms: Option<i64>,
    /// `message.timestamp.after.max.ms`: how far in the future; `None` when unbounded.
    pub timestamp_after_max_ms: Option<i64>,
}

fn invalid(key: &str, value: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

impl TopicConfig {
    /// Resolves `overrides` (validated: known keys, parseable values) over the broker defaults.
    pub fn resolve(
        broker_config: &BrokerConfig,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        for name in overrides.keys() {
            if !is_topic_key(name) {
                return Err(ConfigError::UnknownKey { key: name.clone() });
            }
        }
        let value = |name: &str| -> String {
            overrides
                .get(name)
                .cloned()
                .or_else(|| topic_default(broker_config, name))
                .unwrap_or_default()
        };
        fn num(name: &str, text: String) -> Result<i64, ConfigError> {
            text.trim()
                .parse::<i64>()
                .map_err(|e| invalid(name, &text, e))
        }
        let positive_or_none = |v: i64| (v >= 0 && v != i64::MAX).then_some(v as u64);
        let segment_bytes = num("segment.bytes", value("segment.bytes"))?;
        if !(14..=i32::MAX as i64).contains(&segment_bytes) {
            return Err(invalid(
                "segment.bytes",
                &segment_bytes.to_string(),
                "out of range",
            ));
        }
        let segment_bytes =
            (segment_bytes as u64).clamp(storage::SEGMENT_BYTES_MIN, storage::SEGMENT_BYTES_MAX);
        let flush_messages = num("flush.messages", value("flush.messages"))?;
        let flush_ms = num("flush.ms", value("flush.ms"))?;
        let fsync = broker_config.value("log.flush.on.ack") == Some("true");
        let flush_policy = if fsync {
            FlushPolicy::FsyncBeforeAck
        } else {
            FlushPolicy::PageCache {
                flush_messages: positive_or_none(flush_messages),
                flush_ms: positive_or_none(flush_ms),
            }
        };
        let cleanup = value("cleanup.policy");
        let cleanup_policy = storage::CleanupPolicy::parse(&cleanup)
            .map_err(|reason| invalid("cleanup.policy", &cleanup, reason))?;
        let ratio_text = value("min.cleanable.dirty.ratio");
        let min_cleanable_dirty_ratio = ratio_text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| {
                invalid(
                    "min.cleanable.dirty.ratio",
                    &ratio_text,
                    "a number between 0 and 1",
                )
            })?;
        let non_negative = |name: &str| -> Result<u64, ConfigError> {
            let ms = num(name, value(name))?;
            u64::try_from(ms).map_err(|_| invalid(name, &ms.to_string(), "must be at least 0"))
        };
        let timestamp_type = value("message.timestamp.type");
        if timestamp_type != "CreateTime" && timestamp_type != "LogAppendTime" {
            return Err(invalid(
                "message.timestamp.type",
                &timestamp_type,
                "CreateTime or LogAppendTime",
            ));
        }
        let max_message_bytes = num("max.message.bytes", value("max.message.bytes"))?;
        let min_insync = num("min.insync.replicas", value("min.insync.replicas"))?;
        if min_insync < 1 {
            return Err(invalid(
                "min.insync.replicas",
                &min_insync.to_string(),
                "must be at least 1",
            ));
        }
        let log = LogConfig {
            segment_bytes_max: segment_bytes,
            segment_ms: positive_or_none(num("segment.ms", value("segment.ms"))?),
            index_interval_bytes: num("index.interval.bytes", value("index.interval.bytes"))?.max(1)
                as u64,
            retention_ms: positive_or_none(num("retention.ms", value("retention.ms"))?),
            retention_bytes: positive_or_none(num("retention.bytes", value("retention.bytes"))?),
            flush_policy,
            cleanup_policy,
            min_cleanable_dirty_ratio,
            min_compaction_lag_ms: non_negative("min.compaction.lag.ms")?,
            max_compaction_lag_ms: positive_or_none(num(
                "max.compaction.lag.ms",
                value("max.compaction.lag.ms"),
            )?),
            delete_retention_ms: non_negative("delete.retention.ms")?,
            verify_on_open: broker_config.value("log.verify.on.start") == Some("true"),
            ..LogConfig::default()
        };
        let timestamp_bound = |name: &str| -> Result<Option<i64>, ConfigError> {
            let ms = num(name, value(name))?;
            if ms < 0 {
                return Err(invalid(name, &ms.to_string(), "must be at least 0"));
            }
            Ok((ms != i64::MAX).then_some(ms))
        };
        let timestamp_before_max_ms = timestamp_bound("message.timestamp.before.max.ms")?;
        let timestamp_after_max_ms = timestamp_bound("message.timestamp.after.max.ms")?;
        Ok(TopicConfig {
            overrides: overrides.clone(),
            log,
            max_message_bytes: max_message_bytes.clamp(0, i32::MAX as i64) as i32,
            compact: cleanup_policy.compact,
            log_append_time: timestamp_type == "LogAppendTime",
            min_insync_replicas: min_insync.clamp(1, i32::MAX as i64) as i32,
            timestamp_before_max_ms,
            timestamp_after_max_ms,
        })
    }

    /// The effective value of every topic key: (name, value, is an override).
    pub fn effective(
        &self,
        broker_config: &BrokerConfig,
    ) -> Vec<(&'static str, Option<String>, bool)> {
        TOPIC_KEYS
            .iter()
            .map(|key| match self.overrides.get(key.name) {
                Some(value) => (key.name, Some(value.clone()), true),
                None => (key.name, topic_default(broker_config, key.name), false),
            })
            .collect()
    }
}
