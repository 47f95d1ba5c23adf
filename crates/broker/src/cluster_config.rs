//! The settings of a node in a replicated cluster, resolved from the broker configuration with
//! Kafka's names: `node.id`, `process.roles`, `controller.quorum.voters`,
//! `controller.listener.names`, `inter.broker.listener.name`, the session, heartbeat, fetch and
//! lag timeouts.
//!
//! A node is part of a replicated cluster when `controller.quorum.voters` is set; without it
//! Runnel runs as a single node that keeps its topics in its own log directory. A clustered node
//! is a broker, a controller (a voter, which must be in `controller.quorum.voters`), or both.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::{BrokerConfig, ConfigError, Listener};

/// What a clustered node needs beyond the broker configuration.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Where the controllers are first looked for, id → `host:port`: `controller.quorum.voters`,
    /// or on a dynamic quorum the `controller.quorum.bootstrap.servers` under
    /// [`controller::bootstrap_id`]s.
    pub voters: BTreeMap<u64, String>,
    /// `controller.quorum.bootstrap.servers` (KIP-853): set, the quorum is dynamic (its voters
    /// change with AddRaftVoter and RemoveRaftVoter); empty on a static quorum.
    pub bootstrap_servers: Vec<String>,
    /// This node runs a broker (`process.roles` has `broker`).
    pub broker: bool,
    /// The listener this node's controller serves on (named in `controller.listener.names`);
    /// `None` for a broker-only node, which is not a voter.
    pub controller_listener: Option<Listener>,
    /// The listener name other brokers' followers connect to.
    pub inter_broker_listener_name: String,
    /// Mutual TLS between controllers and brokers when the controller listener is SSL.
    pub controller_tls: Option<controller::ControllerTls>,
    /// How this broker connects to the others' inter-broker listener (TLS, SASL).
    pub peer_security: crate::cluster::client::PeerSecurity,
    pub metadata_dir: PathBuf,
    pub broker_session_timeout_ms: i64,
    pub broker_heartbeat_interval_ms: u64,
    pub replica_lag_time_max_ms: i64,
    pub replica_fetch_wait_max_ms: i32,
    pub replica_fetch_max_bytes: i32,
    pub election_timeout_ms: u64,
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`.
    pub rebalance_interval_ms: u64,
}

fn invalid(key: &str, value: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// The controller listener's security, by its protocol in `listener.security.protocol.map`:
/// PLAINTEXT, or SSL, which is always mutual TLS here (the listener's `ssl.*` stores; a node
/// without a certificate the trust store accepts cannot reach the quorum). SASL on the
/// controller listener is not served.
fn controller_tls(
    config: &BrokerConfig,
    name: &str,
) -> Result<Option<controller::ControllerTls>, ConfigError> {
    use security::SecurityProtocol;
    use security::tls::{ClientAuth, ClientTls, ServerTls, TlsSettings};
    use std::sync::Arc;
    // A controller listener the map does not name stays PLAINTEXT, as it always was here.
    let map = config.value("listener.security.protocol.map").unwrap_or("");
    let named = map.split(',').any(|entry| {
        entry
            .split_once(':')
            .is_some_and(|(listener, _)| listener.trim().eq_ignore_ascii_case(name))
    });
    if !named {
        return Ok(None);
    }
    let protocol = crate::server::listener::security_protocol(config, name)?;
    let get = |key: &str| config.listener_value(name, key).map(str::to_string);
    let security_error = |error: security::SecurityError| match error {
        security::SecurityError::Config { key, reason } => invalid(&key, "", reason),
        other => invalid(&format!("listener {name}"), "", other),
    };
    match protocol {
        SecurityProtocol::Plaintext => Ok(None),
        SecurityProtocol::Ssl => {
            let mut settings = TlsSettings::from_config(&get).map_err(security_error)?;
            settings.client_auth = ClientAuth::Required;
            Ok(Some(controller::ControllerTls {
                server: Arc::new(ServerTls::new(settings.clone()).map_err(security_error)?),
                client: Arc::new(ClientTls::client(settings).map_err(security_error)?),
            }))
        }
        other => Err(invalid(
            "listener.security.protocol.map",
            config.value("listener.security.protocol.map").unwrap_or(""),
            format!(
                "the controller listener {name} is {other}; it serves PLAINTEXT or SSL (mutual TLS)"
            ),
        )),
    }
}

/// Parses `controller.quorum.voters` (`1@host:port,2@host:port`).
pub fn parse_voters(text: &str) -> Result<BTreeMap<u64, String>, ConfigError> {
    const KEY: &str = "controller.quorum.voters";
    let mut voters = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, address) = part
            .split_once('@')
            .ok_or_else(|| invalid(KEY, part, "expected id@host:port"))?;
        let id: u64 = id.parse().map_err(|e| invalid(KEY, part, e))?;
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| invalid(KEY, part, "expected a port"))?;
        port.parse::<u16>().map_err(|e| invalid(KEY, part, e))?;
        if host.is_empty() {
            return Err(invalid(KEY, part, "expected a host"));
        }
        if voters.insert(id, address.to_string()).is_some() {
            return Err(invalid(KEY, part, "the id appears twice"));
        }
    }
    Ok(voters)
}

/// Parses `controller.quorum.bootstrap.servers` (`host:port,host:port`).
pub fn parse_bootstrap_servers(text: &str) -> Result<Vec<String>, ConfigError> {
    const KEY: &str = "controller.quorum.bootstrap.servers";
    let mut servers = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (host, port) = part
            .rsplit_once(':')
            .ok_or_else(|| invalid(KEY, part, "expected host:port"))?;
        port.parse::<u16>().map_err(|e| invalid(KEY, part, e))?;
        if host.is_empty() {
            return Err(invalid(KEY, part, "expected a host"));
        }
        if servers.len() >= 64 {
            return Err(invalid(KEY, text, "at most 64 bootstrap servers"));
        }
        servers.push(part.to_string());
    }
    Ok(servers)
}

impl BrokerConfig {
    /// Whether this node is part of a replicated cluster (`controller.quorum.voters` or
    /// `controller.quorum.bootstrap.servers` is set).
    pub fn is_clustered(&self) -> bool {
        let set = |key: &str| self.value(key).is_some_and(|v| !v.trim().is_empty());
        set("controller.quorum.voters") || set("controller.quorum.bootstrap.servers")
    }

    /// The cluster settings, or `None` for a single node.
    pub fn cluster(&self) -> Result<Option<ClusterConfig>, ConfigError> {
        if !self.is_clustered() {
            return Ok(None);
        }
        let mut voters = parse_voters(self.value("controller.quorum.voters").unwrap_or(""))?;
        let bootstrap_servers = parse_bootstrap_servers(
            self.value("controller.quorum.bootstrap.servers")
                .unwrap_or(""),
        )?;
        let dynamic = !bootstrap_servers.is_empty();
        if dynamic && !voters.is_empty() {
            return Err(invalid(
                "controller.quorum.bootstrap.servers",
                self.value("controller.quorum.bootstrap.servers")
                    .unwrap_or(""),
                "set either controller.quorum.voters (a static quorum) or \
                 controller.quorum.bootstrap.servers (a dynamic one), not both",
            ));
        }
        if dynamic {
            voters = bootstrap_servers
                .iter()
                .enumerate()
                .map(|(i, server)| (controller::bootstrap_id(i), server.clone()))
                .collect();
        }
        let roles = &self.process_roles;
        let broker = roles.iter().any(|r| r == "broker");
        let controller = roles.iter().any(|r| r == "controller");
        if !broker && !controller {
            return Err(invalid(
                "process.roles",
                &roles.join(","),
                "a clustered node is a broker, a controller, or both",
            ));
        }
        let id = u64::try_from(self.node_id)
            .map_err(|e| invalid("node.id", &self.node_id.to_string(), e))?;
        if !dynamic && controller != voters.contains_key(&id) {
            let reason = if controller {
                format!("node.id {id} has the controller role but is not one of the voters")
            } else {
                format!("node.id {id} is a voter but process.roles has no controller")
            };
            return Err(invalid(
                "controller.quorum.voters",
                self.value("controller.quorum.voters").unwrap_or(""),
                reason,
            ));
        }
        let controller_names: Vec<&str> = self
            .value("controller.listener.names")
            .unwrap_or("CONTROLLER")
            .split(',')
            .map(str::trim)
            .collect();
        let controller_listener = self
            .listeners
            .iter()
            .find(|l| controller_names.contains(&l.name.as_str()))
            .cloned();
        if controller && controller_listener.is_none() {
            return Err(invalid(
                "listeners",
                "",
                format!(
                    "a controller needs a listener named in controller.listener.names ({})",
                    controller_names.join(",")
                ),
            ));
        }
        let controller_tls = controller_tls(self, controller_names[0])?;
        let inter_broker_listener_name = match self.value("inter.broker.listener.name") {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => self.client_listener().name.clone(),
        };
        let peer_security = if broker {
            crate::cluster::peer_security::from_config(self, &inter_broker_listener_name)?
        } else {
            Default::default()
        };
        let parse_i64 = |key: &str| -> Result<i64, ConfigError> {
            let value = self.value(key).unwrap_or("");
            value.parse::<i64>().map_err(|e| invalid(key, value, e))
        };
        let positive = |key: &str| -> Result<i64, ConfigError> {
            let value = parse_i64(key)?;
            if value < 1 {
                return Err(invalid(key, &value.to_string(), "must be at least 1"));
            }
            Ok(value)
        };
        let metadata_dir = match self.value("metadata.log.dir") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => self.log_dir.join("__cluster_metadata"),
        };
        Ok(Some(ClusterConfig {
            voters,
            bootstrap_servers,
            broker,
            controller_listener,
            inter_broker_listener_name,
            controller_tls,
            peer_security,
            metadata_dir,
            broker_session_timeout_ms: positive("broker.session.timeout.ms")?,
            broker_heartbeat_interval_ms: positive("broker.heartbeat.interval.ms")? as u64,
            replica_lag_time_max_ms: positive("replica.lag.time.max.ms")?,
            replica_fetch_wait_max_ms: positive("replica.fetch.wait.max.ms")?.min(60_000) as i32,
            replica_fetch_max_bytes: positive("replica.fetch.max.bytes")?.min(i64::from(i32::MAX))
                as i32,
            election_timeout_ms: positive("controller.quorum.election.timeout.ms")? as u64,
            rebalance_interval_ms: positive("leader.imbalance.check.interval.seconds")?
                .saturating_mul(1000) as u64,
            auto_leader_rebalance: self
                .value("auto.leader.rebalance.enable")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BrokerConfig {
        let explicit = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BrokerConfig::from_properties(&explicit).unwrap()
    }

    #[test]
    fn no_voters_means_a_single_node() {
        assert!(config(&[]).cluster().unwrap().is_none());
    }

    #[test]
    fn a_combined_node_resolves_its_controller_listener_and_voters() {
        let c = config(&[
            ("node.id", "2"),
            (
                "controller.quorum.voters",
                "1@127.0.0.1:9093,2@127.0.0.2:9093,3@127.0.0.3:9093",
            ),
            (
                "listeners",
                "PLAINTEXT://127.0.0.2:9092,CONTROLLER://127.0.0.2:9093",
            ),
        ]);
        let cluster = c.cluster().unwrap().unwrap();
        assert_eq!(cluster.voters.len(), 3);
        assert_eq!(cluster.voters[&2], "127.0.0.2:9093");
        assert_eq!(cluster.controller_listener.unwrap().port, 9093);
        assert!(cluster.broker);
        assert_eq!(cluster.inter_broker_listener_name, "PLAINTEXT");
        assert_eq!(c.client_listener().port, 9092);
    }

    #[test]
    fn bad_voters_and_missing_listeners_are_refused() {
        assert!(parse_voters("1@h").is_err());
        assert!(parse_voters("x@h:1").is_err());
        assert!(parse_voters("1@h:1,1@h:2").is_err());
        let c = config(&[("controller.quorum.voters", "1@127.0.0.1:9093")]);
        assert!(c.cluster().is_err(), "no CONTROLLER listener");
        let c = config(&[
            ("node.id", "4"),
            ("controller.quorum.voters", "1@127.0.0.1:9093"),
            ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
        ]);
        assert!(c.cluster().is_err(), "a controller that is not a voter");
        let c = config(&[
            ("node.id", "4"),
            ("process.roles", "broker"),
            ("controller.quorum.voters", "1@127.0.0.1:9093"),
            ("listeners", "PLAINTEXT://:9092"),
        ]);
        let cluster = c.cluster().unwrap().unwrap();
        assert!(
            cluster.broker && cluster.controller_listener.is_none(),
            "a broker-only node"
        );
        let c = config(&[
            ("node.id", "1"),
            ("process.roles", "broker"),
            ("controller.quorum.voters", "1@127.0.0.1:9093"),
        ]);
        assert!(c.cluster().is_err(), "a voter without the controller role");
    }
}
