//! The broker's configuration registry: every key by Kafka's name, with its type, default,
//! validator and a line of documentation, in one table. Parsing (`config.rs`),
//! `--print-default-config`, DescribeConfigs' types and the start-up check all read it, so a key
//! cannot be known to one and not the others. A value that does not parse as its type or fails
//! its validator stops the start with a message naming the key and what it allows.
//!
//! Topic-level keys (`retention.ms`, ...) live in `topic_config.rs`.

use crate::config::ConfigError;

/// A key's type, as Kafka's `ConfigDef.Type` names it (DescribeConfigs reports these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    /// A secret (keys, passwords, JAAS text): never shown by DescribeConfigs.
    Password,
}

impl ConfigType {
    /// Kafka's `DescribeConfigsResponse.ConfigType` id.
    pub fn kafka_id(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Password => 9,
        }
    }
}

/// What values a key allows beyond its type.
#[derive(Debug, Clone, Copy)]
pub enum Valid {
    Any,
    /// A number at least this.
    AtLeast(i64),
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// A comma-separated list whose every item is one of these.
    EachOf(&'static [&'static str]),
    /// A number between 0 and 1 (a ratio).
    Ratio,
}

/// One configuration key: Kafka's name, its type, the default as Kafka writes it (`None` =
/// null), what it allows, and a line of documentation.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    pub name: &'static str,
    pub ty: ConfigType,
    pub default: Option<&'static str>,
    pub valid: Valid,
    pub doc: &'static str,
}

impl ConfigKey {
    /// Checks `value` against the key's type and validator.
    pub fn validate(&self, value: &str) -> Result<(), ConfigError> {
        let invalid = |reason: String| ConfigError::InvalidValue {
            key: self.name.to_string(),
            value: value.to_string(),
            reason,
        };
        let number = match self.ty {
            ConfigType::Boolean => {
                return match value.to_ascii_lowercase().as_str() {
                    "true" | "false" => Ok(()),
                    _ => Err(invalid("expected true or false".into())),
                };
            }
            ConfigType::Int => value.parse::<i32>().map(i64::from).ok(),
            ConfigType::Short => value.parse::<i16>().map(i64::from).ok(),
            ConfigType::Long => value.parse::<i64>().ok(),
            ConfigType::Double => {
                return match value.trim().parse::<f64>() {
                    Ok(number)
                        if matches!(self.valid, Valid::Ratio) && !(0.0..=1.0).contains(&number) =>
                    {
                        Err(invalid("expected a number between 0 and 1".into()))
                    }
                    Ok(number) if number.is_nan() => Err(invalid("expected a number".into())),
                    Ok(_) => Ok(()),
                    Err(_) => Err(invalid("expected a number".into())),
                };
            }
            ConfigType::String | ConfigType::List | ConfigType::Password => None,
        };
        let numeric = matches!(
            self.ty,
            ConfigType::Int | ConfigType::Short | ConfigType::Long
        );
        if numeric && number.is_none() {
            let range = match self.ty {
                ConfigType::Short => "a 16-bit integer",
                ConfigType::Int => "a 32-bit integer",
                _ => "a 64-bit integer",
            };
            return Err(invalid(format!("expected {range}{}", self.allowed())));
        }
        match (self.valid, number) {
            (Valid::AtLeast(min), Some(n)) if n < min => {
                Err(invalid(format!("expected a number{}", self.allowed())))
            }
            (Valid::OneOf(allowed), _) if !allowed.contains(&value) => {
                Err(invalid(format!("expected {}", allowed.join(", "))))
            }
            (Valid::EachOf(allowed), _)
                if value
                    .split(',')
                    .map(str::trim)
                    .any(|item| !allowed.contains(&item)) =>
            {
                Err(invalid(format!(
                    "expected a comma-separated list of {}",
                    allowed.join(", ")
                )))
            }
            _ => Ok(()),
        }
    }

    /// The type and what the validator allows, as `--print-default-config` shows them.
    pub fn describe_type(&self) -> String {
        let ty = match self.ty {
            ConfigType::Boolean => "boolean",
            ConfigType::String => "string",
            ConfigType::Int => "int",
            ConfigType::Short => "short",
            ConfigType::Long => "long",
            ConfigType::Double => "double",
            ConfigType::List => "list",
            ConfigType::Password => "password",
        };
        match self.valid {
            Valid::Any => ty.to_string(),
            Valid::AtLeast(min) => format!("{ty}, at least {min}"),
            Valid::OneOf(allowed) => format!("{ty}, one of {}", allowed.join(", ")),
            Valid::EachOf(allowed) => format!("{ty} of {}", allowed.join(", ")),
            Valid::Ratio => format!("{ty}, between 0 and 1"),
        }
    }

    fn allowed(&self) -> String {
        match self.valid {
            Valid::AtLeast(min) => format!(" at least {min}"),
            _ => String::new(),
        }
    }
}

/// The key named `name`, if this build knows it.
pub fn broker_key(name: &str) -> Option<&'static ConfigKey> {
    broker_keys().find(|key| key.name == name)
}

/// Every broker key this build understands: the core table here, the replicated cluster's
/// (`replication_config_keys.rs`), the security keys (`security_config_keys.rs`) and the HTTP
/// listener's (`http_config_keys.rs`).
pub fn broker_keys() -> impl Iterator<Item = &'static ConfigKey> {
    CORE_KEYS
        .iter()
        .chain(crate::replication_config_keys::REPLICATION_KEYS)
        .chain(crate::security_config_keys::SECURITY_KEYS)
        .chain(crate::http_config_keys::HTTP_KEYS)
}

/// A key as `listener.name.<listener>.<key>` (or `listener.name.<listener>.<mechanism>.
/// sasl.jaas.config`) overrides it for one listener: the base key, if it may be overridden.
pub fn listener_override(name: &str) -> Option<&'static ConfigKey> {
    let rest = name.strip_prefix("listener.name.")?;
    let (_listener, key) = rest.split_once('.')?;
    crate::security_config_keys::listener_key(key)
}

pub(crate) const fn key(
    name: &'static str,
    ty: ConfigType,
    default: Option<&'static str>,
    valid: Valid,
    doc: &'static str,
) -> ConfigKey {
    ConfigKey {
        name,
        ty,
        default,
        valid,
        doc,
    }
}

pub(crate) const BOOLEAN: ConfigType = ConfigType::Boolean;
pub(crate) const STRING: ConfigType = ConfigType::String;
pub(crate) const INT: ConfigType = ConfigType::Int;
const SHORT: ConfigType = ConfigType::Short;
pub(crate) const LONG: ConfigType = ConfigType::Long;
const DOUBLE: ConfigType = ConfigType::Double;
pub(crate) const LIST: ConfigType = ConfigType::List;
pub(crate) const PASSWORD: ConfigType = ConfigType::Password;
use Valid::{Any, AtLeast, EachOf, OneOf, Ratio};

/// The broker keys outside security.
const CORE_KEYS: &[ConfigKey] = &[
    key(
        "node.id",
        INT,
        Some("1"),
        AtLeast(0),
        "This node's id in the cluster.",
    ),
    key(
        "broker.id",
        INT,
        None,
        AtLeast(0),
        "Alias of node.id (ZooKeeper-era name).",
    ),
    key(
        "process.roles",
        LIST,
        Some("broker,controller"),
        EachOf(&["broker", "controller"]),
        "The roles of this node: broker, controller, or both.",
    ),
    key(
        "listeners",
        LIST,
        Some("PLAINTEXT://127.0.0.1:9092"),
        Any,
        "Where the broker listens (name://host:port, comma separated).",
    ),
    key(
        "advertised.listeners",
        LIST,
        None,
        Any,
        "Addresses given to clients; defaults to listeners.",
    ),
    key(
        "controller.quorum.voters",
        LIST,
        None,
        Any,
        "The metadata quorum: id@host:port,...",
    ),
    key(
        "controller.quorum.bootstrap.servers",
        LIST,
        None,
        Any,
        "A dynamic metadata quorum's controllers to first contact: host:port,... (KIP-853).",
    ),
    key(
        "controller.listener.names",
        LIST,
        Some("CONTROLLER"),
        Any,
        "Listener names used by the controller.",
    ),
    key(
        "log.dirs",
        LIST,
        Some("./data"),
        Any,
        "Directory holding the partition logs and metadata.",
    ),
    key(
        "log.dir",
        STRING,
        None,
        Any,
        "Alias of log.dirs when that is unset.",
    ),
    key(
        "num.partitions",
        INT,
        Some("1"),
        AtLeast(1),
        "Partitions of an auto-created topic or of CreateTopics with -1.",
    ),
    key(
        "default.replication.factor",
        INT,
        Some("1"),
        AtLeast(1),
        "Replication factor of auto-created topics.",
    ),
    key(
        "auto.create.topics.enable",
        BOOLEAN,
        Some("true"),
        Any,
        "Create a topic when a client asks Metadata for an unknown one.",
    ),
    key(
        "delete.topic.enable",
        BOOLEAN,
        Some("true"),
        Any,
        "Allow DeleteTopics.",
    ),
    key(
        "min.insync.replicas",
        INT,
        Some("1"),
        AtLeast(1),
        "Default minimum in-sync replicas for acks=all.",
    ),
    key(
        "log.retention.ms",
        LONG,
        None,
        AtLeast(-1),
        "Default retention time; overrides log.retention.minutes/hours.",
    ),
    key(
        "log.retention.minutes",
        INT,
        None,
        AtLeast(-1),
        "Default retention time in minutes.",
    ),
    key(
        "log.retention.hours",
        INT,
        Some("168"),
        AtLeast(-1),
        "Default retention time in hours.",
    ),
    key(
        "log.retention.bytes",
        LONG,
        Some("-1"),
        Any,
        "Default retention size per partition; -1 = unlimited.",
    ),
    key(
        "log.retention.check.interval.ms",
        LONG,
        Some("300000"),
        AtLeast(1),
        "How often retention runs.",
    ),
    key(
        "log.segment.bytes",
        INT,
        Some("1073741824"),
        AtLeast(14),
        "Default segment size.",
    ),
    key(
        "log.roll.ms",
        LONG,
        None,
        AtLeast(1),
        "Default time before a segment rolls; overrides log.roll.hours.",
    ),
    key(
        "log.roll.hours",
        INT,
        Some("168"),
        AtLeast(1),
        "Default time before a segment rolls, in hours.",
    ),
    key(
        "log.index.interval.bytes",
        INT,
        Some("4096"),
        AtLeast(0),
        "Bytes between two index entries.",
    ),
    key(
        "log.cleanup.policy",
        LIST,
        Some("delete"),
        EachOf(&["delete", "compact"]),
        "Default cleanup policy: delete or compact.",
    ),
    key(
        "log.cleaner.enable",
        BOOLEAN,
        Some("true"),
        Any,
        "Run the log cleaner (compaction of cleanup.policy=compact topics).",
    ),
    key(
        "log.cleaner.threads",
        INT,
        Some("1"),
        AtLeast(0),
        "Threads that clean logs; 0 disables cleaning.",
    ),
    key(
        "log.cleaner.backoff.ms",
        LONG,
        Some("15000"),
        AtLeast(0),
        "How long a cleaner thread sleeps when no log needs cleaning.",
    ),
    key(
        "log.cleaner.dedupe.buffer.size",
        LONG,
        Some("134217728"),
        AtLeast(0),
        "Memory for the cleaners' key maps, shared by the threads (24 bytes per key).",
    ),
    key(
        "log.cleaner.io.max.bytes.per.second",
        DOUBLE,
        Some("1.7976931348623157E308"),
        Any,
        "Bytes read and written per second by each cleaner thread, at most.",
    ),
    key(
        "log.cleaner.delete.retention.ms",
        LONG,
        Some("86400000"),
        AtLeast(0),
        "Default delete.retention.ms: how long tombstones stay readable.",
    ),
    key(
        "log.cleaner.min.cleanable.ratio",
        DOUBLE,
        Some("0.5"),
        Ratio,
        "Default min.cleanable.dirty.ratio.",
    ),
    key(
        "log.cleaner.min.compaction.lag.ms",
        LONG,
        Some("0"),
        AtLeast(0),
        "Default min.compaction.lag.ms.",
    ),
    key(
        "log.cleaner.max.compaction.lag.ms",
        LONG,
        Some("9223372036854775807"),
        AtLeast(1),
        "Default max.compaction.lag.ms.",
    ),
    key(
        "log.message.timestamp.type",
        STRING,
        Some("CreateTime"),
        OneOf(&["CreateTime", "LogAppendTime"]),
        "CreateTime or LogAppendTime.",
    ),
    key(
        "log.flush.interval.messages",
        LONG,
        Some("9223372036854775807"),
        AtLeast(1),
        "Flush after this many appended messages.",
    ),
    key(
        "log.flush.interval.ms",
        LONG,
        None,
        AtLeast(0),
        "Flush when the oldest unflushed append is this old.",
    ),
    key(
        "log.flush.scheduler.interval.ms",
        LONG,
        Some("9223372036854775807"),
        AtLeast(0),
        "How often the flusher checks log.flush.interval.ms.",
    ),
    key(
        "log.flush.on.ack",
        BOOLEAN,
        Some("false"),
        Any,
        "Runnel: fsync (group-committed) before acknowledging a produce request.",
    ),
    key(
        "log.verify.on.start",
        BOOLEAN,
        Some("false"),
        Any,
        "Runnel: at start, verify the CRC of every batch, also those recovery trusts, and cut a log at damage (a cluster replica re-fetches it).",
    ),
    key(
        "message.max.bytes",
        INT,
        Some("1048588"),
        AtLeast(0),
        "Largest record batch the broker accepts.",
    ),
    key(
        "socket.request.max.bytes",
        INT,
        Some("104857600"),
        AtLeast(1),
        "Largest request frame; larger frames close the connection.",
    ),
    key(
        "max.connections",
        INT,
        Some("10000"),
        AtLeast(0),
        "Most client connections open at once.",
    ),
    key(
        "connections.max.idle.ms",
        LONG,
        Some("600000"),
        AtLeast(-1),
        "Close connections idle this long.",
    ),
    key(
        "queued.max.requests",
        INT,
        Some("500"),
        AtLeast(1),
        "Requests read ahead per connection, bounded (Runnel applies it per connection).",
    ),
    key(
        "offsets.topic.num.partitions",
        INT,
        Some("50"),
        AtLeast(1),
        "Partitions of __consumer_offsets.",
    ),
    key(
        "offsets.topic.replication.factor",
        SHORT,
        Some("3"),
        AtLeast(1),
        "Replication factor of __consumer_offsets (capped by live brokers).",
    ),
    key(
        "offsets.topic.segment.bytes",
        INT,
        Some("104857600"),
        AtLeast(1),
        "Segment size of __consumer_offsets (small segments let the cleaner compact it).",
    ),
    key(
        "offsets.retention.minutes",
        INT,
        Some("10080"),
        AtLeast(1),
        "How long committed offsets of empty groups are kept.",
    ),
    key(
        "group.initial.rebalance.delay.ms",
        LONG,
        Some("3000"),
        AtLeast(0),
        "Delay of a new group's first rebalance.",
    ),
    key(
        "group.min.session.timeout.ms",
        INT,
        Some("6000"),
        AtLeast(0),
        "Smallest session timeout a member may ask for.",
    ),
    key(
        "group.max.session.timeout.ms",
        INT,
        Some("1800000"),
        AtLeast(0),
        "Largest session timeout a member may ask for.",
    ),
    key(
        "group.max.size",
        INT,
        Some("1000"),
        AtLeast(1),
        "Members one consumer group may have (Kafka: unbounded; Runnel bounds it).",
    ),
    key(
        "group.consumer.heartbeat.interval.ms",
        INT,
        Some("5000"),
        AtLeast(1),
        "How often KIP-848 consumer group members heartbeat.",
    ),
    key(
        "group.consumer.session.timeout.ms",
        INT,
        Some("45000"),
        AtLeast(1),
        "How long a KIP-848 consumer group member lives without heartbeats.",
    ),
    key(
        "group.share.heartbeat.interval.ms",
        INT,
        Some("5000"),
        AtLeast(1),
        "How often share group members heartbeat (KIP-932).",
    ),
    key(
        "group.share.session.timeout.ms",
        INT,
        Some("45000"),
        AtLeast(1),
        "How long a share group member lives without heartbeats; also how long an unused share session lasts.",
    ),
    key(
        "group.share.max.size",
        INT,
        Some("200"),
        AtLeast(1),
        "Members one share group may have (at most 1000).",
    ),
    key(
        "group.share.record.lock.duration.ms",
        INT,
        Some("30000"),
        AtLeast(1000),
        "How long a share consumer holds an acquired record before it is released (at most one hour).",
    ),
    key(
        "group.share.delivery.count.limit",
        INT,
        Some("5"),
        AtLeast(2),
        "Deliveries of one record to share consumers before it is archived (at most 10).",
    ),
    key(
        "group.share.partition.max.record.locks",
        INT,
        Some("2000"),
        AtLeast(100),
        "Records in flight (acquired, or waiting behind an acquired one) per share-partition (at most 10000).",
    ),
    key(
        "share.coordinator.state.topic.num.partitions",
        INT,
        Some("50"),
        AtLeast(1),
        "Partitions of __share_group_state, where share-partition state is kept (fixed once the topic exists; at most 1000).",
    ),
    key(
        "share.coordinator.state.topic.replication.factor",
        SHORT,
        Some("3"),
        AtLeast(1),
        "Replicas of __share_group_state (at most the brokers registered when it is created).",
    ),
    key(
        "share.coordinator.state.topic.segment.bytes",
        INT,
        Some("104857600"),
        AtLeast(1024),
        "Segment size of __share_group_state (compacted).",
    ),
    key(
        "group.share.max.share.sessions",
        INT,
        Some("2000"),
        AtLeast(1),
        "Share sessions one broker keeps open.",
    ),
    key(
        "offsets.retention.check.interval.ms",
        LONG,
        Some("600000"),
        AtLeast(1),
        "How often expired committed offsets and empty groups are purged.",
    ),
    key(
        "offset.metadata.max.bytes",
        INT,
        Some("4096"),
        AtLeast(0),
        "Longest metadata string an offset commit may carry.",
    ),
    key(
        "transaction.state.log.num.partitions",
        INT,
        Some("50"),
        AtLeast(1),
        "Partitions of __transaction_state.",
    ),
    key(
        "transaction.state.log.replication.factor",
        SHORT,
        Some("3"),
        AtLeast(1),
        "Replication factor of __transaction_state (a single node uses 1).",
    ),
    key(
        "transaction.state.log.min.isr",
        INT,
        Some("2"),
        AtLeast(1),
        "min.insync.replicas of __transaction_state.",
    ),
    key(
        "transaction.state.log.segment.bytes",
        INT,
        Some("104857600"),
        AtLeast(1),
        "Segment size of __transaction_state.",
    ),
    key(
        "transaction.max.timeout.ms",
        INT,
        Some("900000"),
        AtLeast(1),
        "Largest transaction timeout a producer may ask for.",
    ),
    key(
        "transactional.id.expiration.ms",
        INT,
        Some("604800000"),
        AtLeast(1),
        "An idle transactional id is forgotten after this long.",
    ),
    key(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        INT,
        Some("10000"),
        AtLeast(1),
        "How often transactions past their timeout are aborted.",
    ),
    key(
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        INT,
        Some("3600000"),
        AtLeast(1),
        "How often expired transactional ids are removed.",
    ),
    key(
        "compression.type",
        STRING,
        Some("producer"),
        OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        "Default compression of topics (producer keeps the producer's).",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_passes_its_own_validator() {
        for key in broker_keys() {
            if let Some(default) = key.default {
                key.validate(default)
                    .unwrap_or_else(|e| panic!("{}: {e}", key.name));
            }
        }
    }

    #[test]
    fn bad_values_name_the_key_and_what_it_allows() {
        let error = broker_key("group.max.size")
            .unwrap()
            .validate("abc")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`group.max.size` = `abc`: expected a 32-bit integer at least 1"
        );
        let error = broker_key("num.partitions")
            .unwrap()
            .validate("0")
            .unwrap_err();
        assert!(error.to_string().contains("at least 1"), "{error}");
        let error = broker_key("compression.type")
            .unwrap()
            .validate("brotli")
            .unwrap_err();
        assert!(error.to_string().contains("zstd"), "{error}");
        let error = broker_key("auto.create.topics.enable")
            .unwrap()
            .validate("yes")
            .unwrap_err();
        assert!(error.to_string().contains("true or false"), "{error}");
        assert!(
            broker_key("log.cleanup.policy")
                .unwrap()
                .validate("compact,delete")
                .is_ok()
        );
        assert!(
            broker_key("log.cleanup.policy")
                .unwrap()
                .validate("compact,shred")
                .is_err()
        );
    }
}
