//! A small async Kafka client on Runnel's generated codec (`protocol`): bootstrap and Metadata,
//! one connection per broker, requests routed to partition leaders and group coordinators, the
//! newest API version both sides serve (ApiVersions), and on top of that the admin calls
//! (`admin`), a producer with Kafka's murmur2 partitioner (`producer`, `partitioner`), a fetch
//! path that decodes record batches (`fetch`), and a consumer that reads partitions directly or
//! as a member of a KIP-848 consumer group (`consumer`, `group`).
//!
//! It is the `runnel` command-line client's library and speaks to Runnel and Apache Kafka alike.
//! Dependencies point one way: `protocol` <- `client` <- `cli`; this crate never names the
//! broker.
//!
//! `Client`'s calls run one at a time (`&mut self`, one request in flight per connection): this is
//! a tool's client. For throughput (`runnel bench`), `pipeline` keeps several requests in flight
//! on connections of its own, with the caller building the requests.
//!
//! Security is a Kafka client's: TLS and SASL PLAIN/SCRAM from the properties a Kafka tool's
//! `--command-config` file holds (`ClientConfig::security`, read by `security::client`).
//!
//! Not here: OAUTHBEARER, idempotent or transactional producing, the classic group protocol
//! (JoinGroup/SyncGroup with a client-side assignor; KIP-848 needs none).

mod connection;
mod error;
mod metadata;
mod versions;

pub mod admin;
pub mod consumer;
pub mod fetch;
pub mod group;
pub mod member;
pub mod partitioner;
pub mod pipeline;
pub mod producer;

use std::collections::BTreeMap;
use std::time::Duration;

use protocol::{ApiKey, RequestBody, ResponseBody};
pub use security::client::ClientSecurity;

use connection::Connection;
pub use connection::FinalizedFeature;
pub use error::ClientError;
pub use metadata::{BrokerAddress, ClusterMetadata, PartitionMetadata, TopicMetadata};

/// Where to connect and how long to wait.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of one or more brokers; the first that answers is used.
    pub bootstrap_servers: Vec<String>,
    /// Sent in every request header (quotas and broker logs name clients by it).
    pub client_id: String,
    /// Bound on connecting and on each request's round trip (a fetch adds its long poll).
    pub request_timeout: Duration,
    /// TLS and SASL, as `security.protocol` and the `ssl.*`/`sasl.*` properties say.
    pub security: ClientSecurity,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            bootstrap_servers: vec!["127.0.0.1:9092".into()],
            client_id: "runnel-cli".into(),
            request_timeout: Duration::from_secs(30),
            security: ClientSecurity::default(),
        }
    }
}

/// Which connection a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Any broker (metadata, admin requests the broker forwards to the controller).
    Any,
    /// A given node: a partition's leader, a group's coordinator.
    Node(i32),
}

/// A client of one cluster: the broker address book learnt from Metadata (and
/// FindCoordinator), and at most one open connection per broker plus the bootstrap one.
pub struct Client {
    config: ClientConfig,
    /// Node id -> `host:port`.
    brokers: BTreeMap<i32, String>,
    connections: BTreeMap<i32, Connection>,
    /// The connection to the bootstrap server that answered, used for `Target::Any` (its node
    /// id is not known; it may duplicate one in `connections`).
    bootstrap: Option<Connection>,
}

impl Client {
    /// Connects to the first bootstrap server that answers ApiVersions.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        let mut client = Client {
            config,
            brokers: BTreeMap::new(),
            connections: BTreeMap::new(),
            bootstrap: None,
        };
        client.open_bootstrap().await?;
        Ok(client)
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Connects to the first server that answers: the bootstrap servers, then every broker
    /// the cluster has named (so losing the bootstrap server does not lose the cluster).
    async fn open_bootstrap(&mut self) -> Result<(), ClientError> {
        let mut candidates = self.config.bootstrap_servers.clone();
        for address in self.brokers.values() {
            if !candidates.contains(address) {
                candidates.push(address.clone());
            }
        }
        let mut last = String::from("no servers given");
        for address in &candidates {
            let config = &self.config;
            match Connection::open(
                address,
                &config.client_id,
                config.request_timeout,
                &config.security,
            )
            .await
            {
                Ok(connection) => {
                    self.bootstrap = Some(connection);
                    return Ok(());
                }
                Err(error) => last = error.to_string(),
            }
        }
        if candidates.len() == 1 {
            // One server: its own error reads best ("connecting to 127.0.0.1:9092: ...").
            return Err(ClientError::Unreachable(last));
        }
        Err(ClientError::NoBroker {
            servers: candidates.join(","),
            last,
        })
    }

    /// Closes every connection; the next request connects again. For a caller whose request
    /// future was dropped midway (the connection may hold half an answer).
    pub fn disconnect(&mut self) {
        self.connections.clear();
        self.bootstrap = None;
    }

    /// The finalized features the bootstrap broker advertised (ApiVersions v3+), and their
    /// epoch (-1 when it sent none).
    pub async fn finalized_features(
        &mut self,
    ) -> Result<(Vec<FinalizedFeature>, i64), ClientError> {
        let connection = self.connection(Target::Any).await?;
        Ok((
            connection.finalized_features.clone(),
            connection.finalized_features_epoch,
        ))
    }

    /// Whether the broker behind `Target::Any` advertises `api`.
    async fn serves(&mut self, api: ApiKey) -> Result<bool, ClientError> {
        Ok(self.connection(Target::Any).await?.serves(api))
    }

    async fn connection(&mut self, target: Target) -> Result<&mut Connection, ClientError> {
        match target {
            Target::Any => {
                if self.bootstrap.is_none() {
                    if let Some(node) = self.connections.keys().next().copied() {
                        return Ok(self.connections.get_mut(&node).expect("present"));
                    }
                    self.open_bootstrap().await?;
                }
                Ok(self.bootstrap.as_mut().expect("opened"))
            }
            Target::Node(node) => {
                if !self.connections.contains_key(&node) {
                    if !self.brokers.contains_key(&node) {
                        // Boxed: `metadata` sends through `connection` (Target::Any).
                        Box::pin(self.metadata(Some(&[]))).await?;
                    }
                    let address = self.brokers.get(&node).cloned().ok_or_else(|| {
                        ClientError::Invalid(format!("broker {node} is not in the cluster"))
                    })?;
                    let connection = Connection::open(
                        &address,
                        &self.config.client_id,
                        self.config.request_timeout,
                        &self.config.security,
                    )
                    .await?;
                    self.connections.insert(node, connection);
                }
                Ok(self.connections.get_mut(&node).expect("present"))
            }
        }
    }

    fn drop_connection(&mut self, target: Target) {
        match target {
            Target::Any => {
                if self.bootstrap.take().is_none() {
                    // `connection(Any)` lent a node's connection.
                    if let Some(node) = self.connections.keys().next().copied() {
                        self.connections.remove(&node);
                    }
                }
            }
            Target::Node(node) => {
                self.connections.remove(&node);
            }
        }
    }

    /// Sends the request `build` makes for the chosen version of `api` and returns that version
    /// with the answer. A failed round trip closes the connection.
    async fn send(
        &mut self,
        target: Target,
        api: ApiKey,
        extra_wait: Duration,
        build: impl FnOnce(i16) -> RequestBody,
    ) -> Result<(i16, ResponseBody), ClientError> {
        let connection = self.connection(target).await?;
        let version = connection.version(api)?;
        let body = build(version);
        debug_assert_eq!(body.api_key(), api);
        match connection.send(version, body, extra_wait).await {
            Ok(response) => Ok((version, response)),
            Err(error) => {
                self.drop_connection(target);
                Err(error)
            }
        }
    }

    /// As `send`, without reading an answer (Produce with acks=0).
    async fn send_without_response(
        &mut self,
        target: Target,
        api: ApiKey,
        build: impl FnOnce(i16) -> RequestBody,
    ) -> Result<(), ClientError> {
        let connection = self.connection(target).await?;
        let version = connection.version(api)?;
        let body = build(version);
        match connection.send_without_response(version, body).await {
            Ok(()) => Ok(()),
            Err(error) => {
                self.drop_connection(target);
                Err(error)
            }
        }
    }

    /// Records a broker's address (from FindCoordinator); a moved broker's connection closes.
    fn learn_broker(&mut self, node_id: i32, host: &str, port: i32) {
        let address = format_address(host, port);
        if self.brokers.get(&node_id) != Some(&address) {
            self.connections.remove(&node_id);
            self.brokers.insert(node_id, address);
        }
    }
}

/// `host:port`, with brackets around an IPv6 host.
fn format_address(host: &str, port: i32) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Unwraps the response body of the API that was sent (the codec decodes the answer as the
/// request's API, so another variant cannot come back).
macro_rules! expect_response {
    ($body:expr, $variant:ident) => {
        match $body {
            protocol::ResponseBody::$variant(response) => response,
            other => unreachable!(
                "{} answered as {}",
                stringify!($variant),
                other.api_key().name()
            ),
        }
    };
}
pub(crate) use expect_response;

/// Retries of one operation: a pause that doubles from `RETRY_BACKOFF` to
/// `RETRY_BACKOFF_MAX`, until the client's request timeout has passed since the first try. A
/// failover takes the cluster seconds (a broker's session must expire before its partitions
/// move), so the budget is time, not a count.
pub(crate) struct Retry {
    deadline: std::time::Instant,
    backoff: Duration,
}

/// The first pause between retries of a retriable error.
pub(crate) const RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between retries.
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(1);

impl Retry {
    pub(crate) fn new(client: &Client) -> Retry {
        Retry {
            deadline: std::time::Instant::now() + client.config.request_timeout,
            backoff: RETRY_BACKOFF,
        }
    }

    /// Waits before the next try; `false` (at once) when the budget is spent.
    pub(crate) async fn wait(&mut self) -> bool {
        let now = std::time::Instant::now();
        if now >= self.deadline {
            return false;
        }
        tokio::time::sleep(self.backoff.min(self.deadline - now)).await;
        self.backoff = (self.backoff * 2).min(RETRY_BACKOFF_MAX);
        true
    }
}

/// Whether the request failed on the way (the connection is closed; another try reconnects).
pub(crate) fn is_connection_error(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Io { .. }
            | ClientError::Timeout { .. }
            | ClientError::Connect { .. }
            | ClientError::Unreachable(_)
            | ClientError::NoBroker { .. }
    )
}

/// Converts a body type into `RequestBody` (keeps `build` closures short).
pub(crate) fn body(request: impl Into<RequestBody>) -> RequestBody {
    request.into()
}
