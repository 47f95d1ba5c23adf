//! Requests from this broker to another one outside replication: the transaction
//! coordinator's WriteTxnMarkers to partition leaders, and a partition leader's
//! AddPartitionsToTxn (verify or add, KIP-890) to a transaction coordinator.
//!
//! A few idle connections per peer are kept for reuse ([`CONNECTIONS_PER_PEER`]); a call takes
//! one (or connects), and puts it back only after a complete round trip, so a connection with
//! a request in flight or a broken one is never reused. Every call is bounded by its timeout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use protocol::{RequestBody, ResponseBody};

use super::Cluster;
use super::client::{BrokerConnection, ClientError};
use crate::replica::BrokerId;

/// Idle connections kept per peer.
const CONNECTIONS_PER_PEER: usize = 4;
/// Bound on connecting to a peer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a call to a peer failed; callers retry after a pause.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("broker {0} has no known endpoint")]
    NoEndpoint(BrokerId),
    /// A caller's routing bug: this broker would refuse its own request as not from a peer.
    #[error("broker {0} is this broker")]
    ToSelf(BrokerId),
    #[error("broker {peer}: {source}")]
    Client {
        peer: BrokerId,
        #[source]
        source: ClientError,
    },
}

/// Idle connections to other brokers, by broker id.
#[derive(Default)]
pub struct Peers {
    idle: Mutex<HashMap<BrokerId, Vec<BrokerConnection>>>,
}

impl Peers {
    /// Sends `body` at `version` to broker `peer` and returns its response, within `timeout`.
    pub async fn send(
        &self,
        cluster: &Cluster,
        peer: BrokerId,
        version: i16,
        body: RequestBody,
        timeout: Duration,
    ) -> Result<ResponseBody, PeerError> {
        if peer == cluster.local_id {
            return Err(PeerError::ToSelf(peer));
        }
        let reused = self
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&peer)
            .and_then(Vec::pop);
        let mut connection = match reused {
            Some(connection) => connection,
            None => {
                let address = cluster.endpoint(peer).ok_or(PeerError::NoEndpoint(peer))?;
                let client_id = peer_client_id(cluster.local_id, peer);
                BrokerConnection::connect(
                    &address,
                    client_id,
                    CONNECT_TIMEOUT,
                    &cluster.config.peer_security,
                )
                .await
                .map_err(|source| PeerError::Client { peer, source })?
            }
        };
        let response = connection
            .send(version, body, timeout)
            .await
            .map_err(|source| PeerError::Client { peer, source })?;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let kept = idle.entry(peer).or_default();
        if kept.len() < CONNECTIONS_PER_PEER {
            kept.push(connection);
        }
        Ok(response)
    }
}

/// The client id of this broker's connections to `peer`.
fn peer_client_id(local: BrokerId, peer: BrokerId) -> String {
    format!("broker-{local}-peer-{peer}")
}

/// Whether a request with `client_id` came from another registered broker of `cluster` over a
/// [`Peers`] connection (always false on a single node: there is no other broker).
pub fn from_peer(cluster: Option<&Cluster>, client_id: &str) -> bool {
    let Some(cluster) = cluster else {
        return false;
    };
    let Some((sender, receiver)) = client_id
        .strip_prefix("broker-")
        .and_then(|rest| rest.split_once("-peer-"))
    else {
        return false;
    };
    let (Ok(sender), Ok(receiver)) = (sender.parse::<BrokerId>(), receiver.parse::<BrokerId>())
    else {
        return false;
    };
    receiver == cluster.local_id
        && sender != cluster.local_id
        && cluster.image().brokers.contains_key(&sender)
}
