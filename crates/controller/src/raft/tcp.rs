//! The controllers' TCP transport on the controller listener (`controller.listener.names`):
//! frames of a 4-byte big-endian length and a JSON [`ControllerRequest`] or
//! [`ControllerReply`]. This is Runnel's own protocol between its controllers and brokers, not
//! KRaft's; Kafka clients never speak to this listener.
//!
//! Bounds: a frame over [`FRAME_BYTES_MAX`] closes the connection before anything is buffered;
//! at most [`CONNECTIONS_MAX`] inbound connections are served at once; every call has a
//! timeout by kind; a sender keeps at most [`IDLE_CONNECTIONS_MAX`] idle connections per target.
//! A malformed frame closes its connection; the node keeps serving.
//!
//! Security: with [`ControllerTls`] (the controller listener mapped to SSL) every connection
//! is mutual TLS: a peer without a certificate the trust store accepts cannot connect, so it
//! cannot vote, register as a broker or read the metadata; outbound connections present this
//! node's certificate. A TLS handshake has [`TLS_HANDSHAKE_TIMEOUT`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use security::tls::{ClientTls, ServerTls};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::network::{RaftRequest, TransportError};
use super::node::ControllerNode;
use super::rpc::{ControllerReply, ControllerRequest};
use super::types::NodeId;
use crate::raft::ControllerTransport;

/// Largest frame either side accepts (a snapshot of the whole image travels in one).
pub const FRAME_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Inbound connections served at once.
pub const CONNECTIONS_MAX: usize = 64;
/// Idle outbound connections kept per target.
const IDLE_CONNECTIONS_MAX: usize = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest a TLS handshake on the controller listener may take.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Mutual TLS between controllers and brokers: the listener's server configuration (client
/// certificates required) and the client configuration with this node's certificate, both
/// reloaded when their files change (each new connection takes them as they are).
#[derive(Clone)]
pub struct ControllerTls {
    pub server: Arc<ServerTls>,
    pub client: Arc<ClientTls>,
}

impl std::fmt::Debug for ControllerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControllerTls(mutual TLS)")
    }
}

/// A connection to or from a peer, plain or TLS.
trait PeerStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> PeerStream for T {}
type Stream = Box<dyn PeerStream>;

/// The name a voter's certificate must carry: the host of its `host:port`.
fn server_name(address: &str) -> Option<ServerName<'static>> {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).ok()
}

fn timeout_for(request: &ControllerRequest) -> Duration {
    match request {
        ControllerRequest::Raft(RaftRequest::InstallSnapshot { .. }) => Duration::from_secs(30),
        ControllerRequest::Raft(_) => Duration::from_secs(3),
        ControllerRequest::Propose(_) => Duration::from_secs(10),
        ControllerRequest::Heartbeat { .. } => Duration::from_secs(5),
        ControllerRequest::FetchImage { .. } => Duration::from_secs(5),
        ControllerRequest::Probe => Duration::from_secs(1),
        ControllerRequest::DescribeQuorum => Duration::from_secs(5),
        ControllerRequest::JoinObserver { .. } => Duration::from_secs(5),
        // Adding waits for the joint and final memberships to commit.
        ControllerRequest::AddVoter { .. } | ControllerRequest::RemoveVoter { .. } => {
            Duration::from_secs(15)
        }
    }
}

/// Sends controller messages over TCP: to the voters of `controller.quorum.voters`, to the
/// `controller.quorum.bootstrap.servers` (under [`bootstrap_id`]s), and to the members a dynamic
/// quorum added since, whose addresses it learns ([`ControllerTransport::learn`]).
pub struct TcpTransport {
    addresses: Mutex<BTreeMap<NodeId, String>>,
    tls: Option<ControllerTls>,
    idle: Mutex<HashMap<NodeId, Vec<Stream>>>,
}

/// Addresses a transport may learn at most (members and bootstrap servers): a bound on what
/// replies can make it remember.
const ADDRESSES_MAX: usize = 4096;

/// The id a bootstrap server is reached under before its node id is known (Kafka gives them
/// negative ids; node ids here are unsigned, so they count down from the top).
pub fn bootstrap_id(index: usize) -> NodeId {
    NodeId::MAX - u64::try_from(index).unwrap_or(0)
}

impl TcpTransport {
    pub fn new(voters: BTreeMap<NodeId, String>, tls: Option<ControllerTls>) -> Self {
        TcpTransport {
            addresses: Mutex::new(voters),
            tls,
            idle: Mutex::new(HashMap::new()),
        }
    }

    async fn connection(&self, target: NodeId) -> Result<Stream, TransportError> {
        if let Some(stream) = self
            .idle
            .lock()
            .expect("poisoned")
            .get_mut(&target)
            .and_then(Vec::pop)
        {
            return Ok(stream);
        }
        let address = self
            .addresses
            .lock()
            .expect("poisoned")
            .get(&target)
            .cloned()
            .ok_or(TransportError::Unreachable { target })?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address.as_str()))
            .await
            .map_err(|_| TransportError::Unreachable { target })?
            .map_err(|_| TransportError::Unreachable { target })?;
        let _ = stream.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok(Box::new(stream));
        };
        let name = server_name(&address).ok_or(TransportError::Unreachable { target })?;
        let connector = TlsConnector::from(tls.client.config());
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, connector.connect(name, stream)).await {
            Ok(Ok(stream)) => Ok(Box::new(stream)),
            Ok(Err(error)) => {
                tracing::warn!(target_node = target, %error, "controller TLS handshake failed");
                Err(TransportError::Unreachable { target })
            }
            Err(_) => Err(TransportError::Unreachable { target }),
        }
    }

    fn give_back(&self, target: NodeId, stream: Stream) {
        let mut idle = self.idle.lock().expect("poisoned");
        let pool = idle.entry(target).or_default();
        if pool.len() < IDLE_CONNECTIONS_MAX {
            pool.push(stream);
        }
    }
}

impl ControllerTransport for TcpTransport {
    fn learn(&self, target: NodeId, address: &str) {
        let mut addresses = self.addresses.lock().expect("poisoned");
        if addresses.get(&target).is_some_and(|known| known == address) {
            return;
        }
        if addresses.len() >= ADDRESSES_MAX && !addresses.contains_key(&target) {
            return;
        }
        addresses.insert(target, address.to_string());
        drop(addresses);
        // Connections to the old address are stale.
        self.idle.lock().expect("poisoned").remove(&target);
    }

    async fn call(
        &self,
        target: NodeId,
        request: ControllerRequest,
    ) -> Result<ControllerReply, TransportError> {
        let timeout = timeout_for(&request);
        let body = serde_json::to_vec(&request).map_err(|e| TransportError::Remote {
            target,
            message: format!("encoding: {e}"),
        })?;
        let mut stream = self.connection(target).await?;
        let exchanged = tokio::time::timeout(timeout, async {
            write_frame(&mut stream, &body).await?;
            read_frame(&mut stream).await
        })
        .await;
        let reply = match exchanged {
            Ok(Ok(Some(bytes))) => bytes,
            _ => return Err(TransportError::Unreachable { target }),
        };
        let reply: ControllerReply =
            serde_json::from_slice(&reply).map_err(|e| TransportError::Remote {
                target,
                message: format!("decoding: {e}"),
            })?;
        self.give_back(target, stream);
        Ok(reply)
    }
}

async fn write_frame<S: AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    body: &[u8],
) -> std::io::Result<()> {
    if body.len() > FRAME_BYTES_MAX {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "frame too large",
        ));
    }
    let length = u32::try_from(body.len()).expect("bounded above");
    stream.write_all(&length.to_be_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}

/// Reads one frame; `None` at a clean end of stream. Oversized frames are an error.
async fn read_frame<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 4];
    match stream.read_exact(&mut length).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let length = u32::from_be_bytes(length) as usize;
    if length > FRAME_BYTES_MAX {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {length} bytes is over the bound"),
        ));
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await?;
    Ok(Some(body))
}

/// Serves the controller listener until `shutdown` turns true (mutual TLS with `tls`).
pub async fn serve_controller_listener(
    listener: TcpListener,
    node: Arc<ControllerNode>,
    mut shutdown: watch::Receiver<bool>,
    tls: Option<ControllerTls>,
) {
    let server_tls = tls.map(|tls| tls.server);
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let Ok((stream, peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "controller listener: too many connections; closing one");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = node.service().clone();
        let mut shutdown = shutdown.clone();
        // A new connection's handshake takes the stores as they are now (reloaded on change).
        let acceptor = server_tls
            .as_ref()
            .map(|tls| TlsAcceptor::from(tls.config()));
        tokio::spawn(async move {
            let _permit = permit;
            let mut stream: Stream = match acceptor {
                None => Box::new(stream),
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(stream)) => Box::new(stream),
                        Ok(Err(error)) => {
                            tracing::info!(%peer, %error, "controller listener: TLS handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(%peer, "controller listener: TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            loop {
                let frame = tokio::select! {
                    frame = read_frame(&mut stream) => frame,
                    _ = shutdown.wait_for(|stop| *stop) => return,
                };
                let body = match frame {
                    Ok(Some(body)) => body,
                    Ok(None) => return,
                    Err(error) => {
                        tracing::debug!(%peer, %error, "controller listener: closing connection");
                        return;
                    }
                };
                let request: ControllerRequest = match serde_json::from_slice(&body) {
                    Ok(request) => request,
                    Err(error) => {
                        tracing::debug!(%peer, %error, "controller listener: malformed request");
                        return;
                    }
                };
                let reply = service.handle(request).await;
                let Ok(bytes) = serde_json::to_vec(&reply) else {
                    return;
                };
                if write_frame(&mut stream, &bytes).await.is_err() {
                    return;
                }
            }
        });
    }
}
