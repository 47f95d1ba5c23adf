//! The broker's configuration: every key by Kafka's name with its default, and the resolved,
//! typed `BrokerConfig` built from them once at start (defaults < file < environment < flags;
//! the CLI merges the sources, this module validates the result).
//!
//! Topic-level keys (`retention.ms`, `segment.bytes`, ...) live in `topic_config.rs`; their
//! broker-wide defaults (`log.retention.ms`, `log.segment.bytes`, ...) are here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a configuration could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown configuration key `{key}`")]
    UnknownKey { key: String },
    #[error("`{key}` = `{value}`: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
}

/// One configuration key: Kafka's name, the default as Kafka writes it (`None` = null), and a
/// line of documentation.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    pub name: &'static str,
    pub default: Option<&'static str>,
    pub doc: &'static str,
}

const fn key(name: &'static str, default: Option<&'static str>, doc: &'static str) -> ConfigKey {
    ConfigKey { name, default, doc }
}

/// Every broker key this build understands, with its default.
pub const BROKER_KEYS: &[ConfigKey] = &[
    key("node.id", Some("1"), "This node's id in the cluster."),
    key("broker.id", None, "Alias of node.id (ZooKeeper-era name)."),
    key(
        "process.roles",
        Some("broker,controller"),
        "The roles of this node: broker, controller, or both.",
    ),
    key(
        "listeners",
        Some("PLAINTEXT://127.0.0.1:9092"),
        "Where the broker listens (name://host:port, comma separated).",
    ),
    key(
        "advertised.listeners",
        None,
        "Addresses given to clients; defaults to listeners.",
    ),
    key(
        "controller.quorum.voters",
        None,
        "The metadata quorum: id@host:port,...",
    ),
    key(
        "controller.listener.names",
        Some("CONTROLLER"),
        "Listener names used by the controller.",
    ),
    key("broker.rack", None, "The rack of this broker."),
    key(
        "log.dirs",
        Some("./data"),
        "Directory holding the partition logs and metadata.",
    ),
    key("log.dir", None, "Alias of log.dirs when that is unset."),
    key(
        "num.partitions",
        Some("1"),
        "Partitions of an auto-created topic or of CreateTopics with -1.",
    ),
    key(
        "default.replication.factor",
        Some("1"),
        "Replication factor of auto-created topics.",
    ),
    key(
        "auto.create.topics.enable",
        Some("true"),
        "Create a topic when a client asks Metadata for an unknown one.",
    ),
    key("delete.topic.enable", Some("true"), "Allow DeleteTopics."),
    key(
        "min.insync.replicas",
        Some("1"),
        "Default minimum in-sync replicas for acks=all.",
    ),
    key(
        "log.retention.ms",
        None,
        "Default retention time; overrides log.retention.minutes/hours.",
    ),
    key(
        "log.retention.minutes",
        None,
        "Default retention time in minutes.",
    ),
    key(
        "log.retention.hours",
        Some("168"),
        "Default retention time in hours.",
    ),
    key(
        "log.retention.bytes",
        Some("-1"),
        "Default retention size per partition; -1 = unlimited.",
    ),
    key(
        "log.retention.check.interval.ms",
        Some("300000"),
        "How often retention runs.",
    ),
    key(
        "log.segment.bytes",
        Some("1073741824"),
        "Default segment size.",
    ),
    key(
        "log.roll.ms",
        None,
        "Default time before a segment rolls; overrides log.roll.hours.",
    ),
    key(
        "log.roll.hours",
        Some("168"),
        "Default time before a segment rolls, in hours.",
    ),
    key(
        "log.index.interval.bytes",
        Some("4096"),
        "Bytes between two index entries.",
    ),
    key(
        "log.cleanup.policy",
        Some("delete"),
        "Default cleanup policy: delete or compact.",
    ),
    key(
        "log.message.timestamp.type",
        Some("CreateTime"),
        "CreateTime or LogAppendTime.",
    ),
    key(
        "log.flush.interval.messages",
        Some("9223372036854775807"),
        "Flush after this many appended messages.",
    ),
    key(
        "log.flush.interval.ms",
        None,
        "Flush when the oldest unflushed append is this old.",
    ),
    key(
        "log.flush.scheduler.interval.ms",
        Some("9223372036854775807"),
        "How often the flusher checks log.flush.interval.ms.",
    ),
    key(
        "log.flush.on.ack",
        Some("false"),
        "Runnel: fsync (group-committed) before acknowledging a produce request.",
    ),
    key(
        "message.max.bytes",
        Some("1048588"),
        "Largest record batch the broker accepts.",
    ),
    key(
        "socket.request.max.bytes",
        Some("104857600"),
        "Largest request frame; larger frames close the connection.",
    ),
    key(
        "max.connections",
        Some("10000"),
        "Most client connections open at once.",
    ),
    key(
        "connections.max.idle.ms",
        Some("600000"),
        "Close connections idle this long.",
    ),
    key(
        "queued.max.requests",
        Some("500"),
        "Requests read ahead per connection, bounded (Runnel applies it per connection).",
    ),
    key(
        "offsets.topic.num.partitions",
        Some("50"),
        "Partitions of __consumer_offsets.",
    ),
    key(
        "offsets.topic.replication.factor",
        Some("3"),
        "Replication factor of __consumer_offsets (capped by live brokers).",
    ),
    key(
        "offsets.retention.minutes",
        Some("10080"),
        "How long committed offsets of empty groups are kept.",
    ),
    key(
        "group.initial.rebalance.delay.ms",
        Some("3000"),
        "Delay of a new group's first rebalance.",
    ),
    key(
        "group.min.session.timeout.ms",
        Some("6000"),
        "Smallest session timeout a member may ask for.",
    ),
    key(
        "group.max.session.timeout.ms",
        Some("1800000"),
        "Largest session timeout a member may ask for.",
    ),
    key(
        "group.max.size",
        Some("1000"),
        "Members one consumer group may have (Kafka: unbounded; Runnel bounds it).",
    ),
    key(
        "group.consumer.heartbeat.interval.ms",
        Some("5000"),
        "How often KIP-848 consumer group members heartbeat.",
    ),
    key(
        "group.consumer.session.timeout.ms",
        Some("45000"),
        "How long a KIP-848 consumer group member lives without heartbeats.",
    ),
    key(
        "offsets.retention.check.interval.ms",
        Some("600000"),
        "How often expired committed offsets and empty groups are purged.",
    ),
    key(
        "offset.metadata.max.bytes",
        Some("4096"),
        "Longest metadata string an offset commit may carry.",
    ),
    key(
        "transaction.state.log.num.partitions",
        Some("50"),
        "Partitions of __transaction_state.",
    ),
    key(
        "unclean.leader.election.enable",
        Some("false"),
        "Elect an out-of-sync replica when no in-sync one is left.",
    ),
    key(
        "replica.lag.time.max.ms",
        Some("30000"),
        "A follower behind this long leaves the ISR.",
    ),
    key(
        "broker.session.timeout.ms",
        Some("9000"),
        "A broker missing heartbeats this long is fenced.",
    ),
    key(
        "auto.leader.rebalance.enable",
        Some("true"),
        "Move leadership back to preferred replicas.",
    ),
    key(
        "leader.imbalance.check.interval.seconds",
        Some("300"),
        "How often the active controller moves leadership back to preferred replicas.",
    ),
    key(
        "broker.heartbeat.interval.ms",
        Some("2000"),
        "How often a broker tells the active controller it is alive.",
    ),
    key(
        "inter.broker.listener.name",
        None,
        "The listener followers fetch from; defaults to the first non-controller listener.",
    ),
    key(
        "replica.fetch.wait.max.ms",
        Some("500"),
        "Longest a follower's fetch waits at the leader for new data.",
    ),
    key(
        "replica.fetch.max.bytes",
        Some("1048576"),
        "Bytes a follower asks per partition and fetch.",
    ),
    key(
        "controller.quorum.election.timeout.ms",
        Some("1000"),
        "How long a controller waits for the active one before calling an election.",
    ),
    key(
        "metadata.log.dir",
        None,
        "Directory of the metadata log; defaults to the first of log.dirs.",
    ),
    key(
        "compression.type",
        Some("producer"),
        "Default compression of topics (producer keeps the producer's).",
    ),
];

/// A listener: its name (PLAINTEXT, CONTROLLER, ...) and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl Listener {
    pub fn socket_addr(&self) -> Result<SocketAddr, ConfigError> {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            self.host.as_str()
        };
        let host = if host == "localhost" {
            "127.0.0.1"
        } else {
            host
        };
        format!("{host}:{}", self.port)
            .parse()
            .map_err(|e| invalid("listeners", &format!("{}:{}", self.host, self.port), e))
    }
}

/// The resolved broker configuration. Built once; everything in it is valid.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub node_id: i32,
    pub process_roles: Vec<String>,
    pub listeners: Vec<Listener>,
    pub advertised_listeners: Vec<Listener>,
    pub broker_rack: Option<String>,
    pub log_dir: PathBuf,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics: bool,
    pub delete_topic_enable: bool,
    pub retention_check_interval_ms: u64,
    pub message_max_bytes: i32,
    pub request_bytes_max: usize,
    pub connections_max: usize,
    pub connection_idle_ms_max: u64,
    pub queued_requests_max: usize,
    pub offsets_topic_partitions: i32,
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    /// Every key with its effective value (defaults included), for DescribeConfigs and the
    /// topic-config defaults.
    pub values: BTreeMap<String, Option<String>>,
    /// The keys set explicitly (file, environment, flags), for DescribeConfigs' source field.
    pub explicit: BTreeMap<String, String>,
}

fn invalid(key: &str, value: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Parses `name://host:port,...`.
pub fn parse_listeners(key: &str, text: &str) -> Result<Vec<Listener>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, address) = part
                .split_once("://")
                .ok_or_else(|| invalid(key, part, "expected NAME://host:port"))?;
            let (host, port) = address
                .rsplit_once(':')
                .ok_or_else(|| invalid(key, part, "expected a port"))?;
            let port = port.parse::<u16>().map_err(|e| invalid(key, part, e))?;
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            Ok(Listener {
                name: name.to_string(),
                host,
                port,
            })
        })
        .collect()
}

impl BrokerConfig {
    /// Every key with its default, as `--print-default-config` shows it.
    pub fn default_properties() -> String {
        let mut out = String::new();
        for key in BROKER_KEYS {
            out.push_str(&format!("# {}\n", key.doc));
            match key.default {
                Some(value) => out.push_str(&format!("{}={}\n", key.name, value)),
                None => out.push_str(&format!("#{}=\n", key.name)),
            }
        }
        out
    }

    /// Resolves explicitly set properties over the defaults. Unknown keys are refused, except
    /// the topic-level defaults Kafka also accepts at broker level.
    pub fn from_properties(explicit: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut values: BTreeMap<String, Option<String>> = BROKER_KEYS
            .iter()
            .map(|key| (key.name.to_string(), key.default.map(str::to_string)))
            .collect();
        for (name, value) in explicit {
            if !values.contains_key(name) {
                return Err(ConfigError::UnknownKey { key: name.clone() });
            }
            values.insert(name.clone(), Some(value.trim().to_string()));
        }
        let get = |name: &str| values.get(name).cloned().flatten();
        fn parse<T: std::str::FromStr>(name: &str, value: Option<String>) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            let value = value.ok_or_else(|| invalid(name, "", "a value is required"))?;
            value.parse::<T>().map_err(|e| invalid(name, &value, e))
        }
        let node_id: i32 = match get("broker.id") {
            Some(id) if !explicit.contains_key("node.id") => parse("broker.id", Some(id))?,
            _ => parse("node.id", get("node.id"))?,
        };
        let process_roles: Vec<String> = get("process.roles")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        for role in &process_roles {
            if role != "broker" && role != "controller" {
                return Err(invalid(
                    "process.roles",
                    role,
                    "expected broker and/or controller",
                ));
            }
        }
        let listeners = parse_listeners("listeners", &get("listeners").unwrap_or_default())?;
        if listeners.is_empty() {
            return Err(invalid(
                "listeners",
                "",
                "at least one listener is required",
            ));
        }
        let advertised_listeners = match get("advertised.listeners") {
            Some(text) if !text.is_empty() => parse_listeners("advertised.listeners", &text)?,
            _ => listeners
                .iter()
                .map(|l| Listener {
                    host: if l.host.is_empty() || l.host == "0.0.0.0" {
                        "127.0.0.1".to_string()
                    } else {
                        l.host.clone()
                    },
                    ..l.clone()
                })
                .collect(),
        };
        let log_dir = match (explicit.get("log.dirs"), get("log.dir")) {
            (None, Some(dir)) => dir,
            _ => get("log.dirs").unwrap_or_else(|| "./data".into()),
        };
        let log_dir = PathBuf::from(log_dir.split(',').next().unwrap_or("./data").trim());
        let num_partitions: i32 = parse("num.partitions", get("num.partitions"))?;
        if num_partitions < 1 {
            return Err(invalid(
                "num.partitions",
                &num_partitions.to_string(),
                "must be at least 1",
            ));
        }
        let message_max_bytes: i32 = parse("message.max.bytes", get("message.max.bytes"))?;
        let request_bytes_max: i64 =
            parse("socket.request.max.bytes", get("socket.request.max.bytes"))?;
        if request_bytes_max < 1024 || request_bytes_max > i32::MAX as i64 {
            return Err(invalid(
                "socket.request.max.bytes",
                &request_bytes_max.to_string(),
                "must be between 1024 and 2147483647",
            ));
        }
        let connections_max: i64 = parse("max.connections", get("max.connections"))?;
        let queued: i64 = parse("queued.max.requests", get("queued.max.requests"))?;
        let config = BrokerConfig {
            node_id,
            process_roles,
            listeners,
            advertised_listeners,
            broker_rack: get("broker.rack").filter(|r| !r.is_empty()),
            log_dir,
            num_partitions,
            default_replication_factor: parse(
                "default.replication.factor",
                get("default.replication.factor"),
            )?,
            auto_create_topics: parse(
                "auto.create.topics.enable",
                get("auto.create.topics.enable"),
            )?,
            delete_topic_enable: parse("delete.topic.enable", get("delete.topic.enable"))?,
            retention_check_interval_ms: parse(
                "log.retention.check.interval.ms",
                get("log.retention.check.interval.ms"),
            )?,
            message_max_bytes,
            request_bytes_max: request_bytes_max as usize,
            connections_max: connections_max.clamp(1, 1_000_000) as usize,
            connection_idle_ms_max: parse(
                "connections.max.idle.ms",
                get("connections.max.idle.ms"),
            )?,
            queued_requests_max: queued.clamp(1, 10_000) as usize,
            offsets_topic_partitions: parse(
                "offsets.topic.num.partitions",
                get("offsets.topic.num.partitions"),
            )?,
            group_initial_rebalance_delay_ms: parse(
                "group.initial.rebalance.delay.ms",
                get("group.initial.rebalance.delay.ms"),
            )?,
            group_min_session_timeout_ms: parse(
                "group.min.session.timeout.ms",
                get("group.min.session.timeout.ms"),
            )?,
            group_max_session_timeout_ms: parse(
                "group.max.session.timeout.ms",
                get("group.max.session.timeout.ms"),
            )?,
            values,
            explicit: explicit.clone(),
        };
        Ok(config)
    }

    /// The effective value of a key (`None` for null or unknown).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(|v| v.as_deref())
    }

    /// The listener clients connect to: the first one not named as a controller listener.
    pub fn client_listener(&self) -> &Listener {
        let controller_names = self.value("controller.listener.names").unwrap_or("");
        self.listeners
            .iter()
            .find(|l| !controller_names.split(',').any(|n| n.trim() == l.name))
            .unwrap_or(&self.listeners[0])
    }

    /// The address advertised for the client listener.
    pub fn advertised_client_listener(&self) -> &Listener {
        let name = &self.client_listener().name;
        self.advertised_listeners
            .iter()
            .find(|l| &l.name == name)
            .unwrap_or(&self.advertised_listeners[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_resolve_to_a_single_local_node() {
        let config = BrokerConfig::from_properties(&BTreeMap::new()).unwrap();
        assert_eq!(config.node_id, 1);
        assert_eq!(config.client_listener().port, 9092);
        assert_eq!(config.advertised_client_listener().host, "127.0.0.1");
        assert_eq!(config.log_dir, PathBuf::from("./data"));
        assert!(config.auto_create_topics);
        assert_eq!(config.request_bytes_max, 104_857_600);
    }

    #[test]
    fn explicit_values_override_and_unknown_keys_are_refused() {
        let config = BrokerConfig::from_properties(&props(&[
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:9093",
            ),
            ("num.partitions", "4"),
            ("log.dirs", "/tmp/x,/tmp/y"),
        ]))
        .unwrap();
        assert_eq!(config.num_partitions, 4);
        assert_eq!(config.listeners.len(), 2);
        assert_eq!(config.client_listener().name, "PLAINTEXT");
        assert_eq!(config.log_dir, PathBuf::from("/tmp/x"));
        assert!(matches!(
            BrokerConfig::from_properties(&props(&[("no.such.key", "1")])),
            Err(ConfigError::UnknownKey { .. })
        ));
        assert!(matches!(
            BrokerConfig::from_properties(&props(&[("num.partitions", "zero")])),
            Err(ConfigError::InvalidValue { .. })
        ));
    }

    #[test]
    fn print_default_config_lists_every_key() {
        let text = BrokerConfig::default_properties();
        for key in BROKER_KEYS {
            assert!(text.contains(key.name), "{}", key.name);
        }
    }
}
