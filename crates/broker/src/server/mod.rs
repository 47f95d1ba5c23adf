//! The network server: per listener (`listener.rs`: its security protocol, TLS and SASL
//! settings) an accept loop that takes connections up to `max.connections` (holding then
//! closing those over their address's `connection_creation_rate`, `client_quotas.rs`) and runs
//! one task per connection (`connection.rs`), which reads frames, has them handled in order,
//! and hands responses to a writer (`writer.rs`) that sends record data without copying it.

mod connection;
pub mod http;
mod jwks;
pub mod listener;
mod oauthbearer;
mod sasl;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::broker::Broker;
use listener::ServedListener;

/// Accepts connections on one listener until `shutdown` turns true, then waits (bounded) for
/// open connections to finish the request they are handling. `connections` is shared by all
/// listeners (`max.connections`).
pub async fn serve(
    broker: Arc<Broker>,
    listener: TcpListener,
    served: Arc<ServedListener>,
    connections: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let throttle = broker
                    .client_quotas
                    .connection_throttle_ms(&broker.metadata, peer.ip());
                if throttle > 0 {
                    // connection_creation_rate: held unserved, then closed (Kafka's delayed
                    // close); the permit bounds how many are held.
                    tracing::debug!(%peer, throttle, "connection over its address's creation rate");
                    let mut shutdown = shutdown.clone();
                    tasks.spawn(async move {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(throttle)) => {}
                            _ = shutdown.changed() => {}
                        }
                        drop(stream);
                        drop(permit);
                    });
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let broker = broker.clone();
                let shutdown = shutdown.clone();
                let served = served.clone();
                tasks.spawn(async move {
                    connection::accept(broker, stream, peer, served, shutdown).await;
                    drop(permit);
                });
            }
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10 s of shutdown; closing them");
    }
}
