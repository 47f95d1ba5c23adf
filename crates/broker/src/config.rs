//! The broker's configuration: every key by Kafka's name with its default, and the resolved,
//! typed `BrokerConfig` built from them once at start (defaults < file < environment < flags;
//! the CLI merges the sources, this module validates the result).
//!
//! Topic-level keys (`retention.ms`, `segment.bytes`, ...) live in `topic_config.rs`; their
//! broker-wide defaults (`log.retention.ms`, `log.segment.bytes`, ...) are here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

pub use crate::config_keys::{ConfigKey, broker_keys};

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
    /// `replica.selector.class` is the RackAwareReplicaSelector: consumers with a `client.rack`
    /// are sent to an in-sync replica in their rack (KIP-392, `replica_selector.rs`).
    pub rack_aware_reads: bool,
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
        for key in broker_keys() {
            out.push_str(&format!("# {} ({})\n", key.doc, key.describe_type()));
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
        let mut values: BTreeMap<String, Option<String>> = broker_keys()
            .map(|key| (key.name.to_string(), key.default.map(str::to_string)))
            .collect();
        for (name, value) in explicit {
            let key = crate::config_keys::broker_key(name)
                .or_else(|| crate::config_keys::listener_override(name));
            let Some(key) = key else {
                return Err(ConfigError::UnknownKey { key: name.clone() });
            };
            let value = value.trim();
            key.validate(value)?;
            values.insert(name.clone(), Some(value.to_string()));
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
            rack_aware_reads: get("replica.selector.class").as_deref()
                == Some(crate::replica_selector::RACK_AWARE_SELECTOR),
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

    /// A key's value for one listener: `listener.name.<listener, lower case>.<key>` when set,
    /// else the key's own value.
    pub fn listener_value(&self, listener: &str, key: &str) -> Option<&str> {
        let prefixed = format!("listener.name.{}.{key}", listener.to_ascii_lowercase());
        self.value(&prefixed).or_else(|| self.value(key))
    }

    /// The listeners that serve the Kafka protocol (all but the controller listeners).
    pub fn broker_listeners(&self) -> Vec<&Listener> {
        let controller_names = self.value("controller.listener.names").unwrap_or("");
        let listeners: Vec<&Listener> = self
            .listeners
            .iter()
            .filter(|l| !controller_names.split(',').any(|n| n.trim() == l.name))
            .collect();
        if listeners.is_empty() {
            vec![&self.listeners[0]]
        } else {
            listeners
        }
    }

    /// The address advertised for listener `name` (the first advertised one if it has none).
    pub fn advertised_listener(&self, name: &str) -> &Listener {
        self.advertised_listeners
            .iter()
            .find(|l| l.name == name)
            .unwrap_or(&self.advertised_listeners[0])
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

    /// A bad value of a key the broker reads later (the group coordinator's `group.max.size`)
    /// stops the start instead of falling back to the default.
    #[test]
    fn a_bad_value_of_any_key_stops_the_start() {
        let error = BrokerConfig::from_properties(&props(&[("group.max.size", "abc")]))
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "`group.max.size` = `abc`: expected a 32-bit integer at least 1"
        );
        for (key, value) in [
            ("offsets.retention.minutes", "0"),
            ("auto.leader.rebalance.enable", "maybe"),
            ("log.message.timestamp.type", "WallClock"),
            ("process.roles", "broker,janitor"),
        ] {
            let refused = BrokerConfig::from_properties(&props(&[(key, value)]));
            assert!(
                matches!(&refused, Err(ConfigError::InvalidValue { key: k, .. }) if k == key),
                "{key}={value}: {refused:?}"
            );
        }
    }

    #[test]
    fn print_default_config_lists_every_key() {
        let text = BrokerConfig::default_properties();
        for key in broker_keys() {
            assert!(text.contains(key.name), "{}", key.name);
        }
    }
}
