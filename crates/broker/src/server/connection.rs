//! One client connection: the TLS handshake on an SSL listener and SASL authentication on a
//! SASL one (`sasl.rs`), then reads size-prefixed frames (refusing any larger than
//! `socket.request.max.bytes`, or `sasl.server.max.receive.size` before authentication, before
//! buffering it), decodes and handles requests one at a time in arrival order, as Kafka does,
//! and queues responses to a writer task so the next request's handling overlaps the previous
//! response's write. Idle connections are closed. In a cluster, a connection is served only
//! once the broker has caught up with the metadata.
//!
//! Errors end only this connection: a failed handshake or authentication, a frame that is too
//! large or malformed, an API or version we do not serve (except ApiVersions, answered with
//! UNSUPPORTED_VERSION per KIP-511).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use protocol::frame::{RequestPrefix, peek_request_prefix};
use protocol::{ApiKey, DecodeError, FrameChunk, RequestBody, ResponseBody};
use security::KafkaPrincipal;
use security::sasl::Mechanism;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::listener::ServedListener;
use super::sasl::{SaslState, Verdict};
use super::writer::ResponseWriter;
use crate::broker::Broker;
use crate::handlers::{self, RequestContext, api_versions};

/// Bound on a TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection ends.
#[derive(Debug, thiserror::Error)]
enum ConnectionEnd {
    #[error("peer closed the connection")]
    Closed,
    #[error("idle for {0:?}")]
    Idle(Duration),
    #[error("shutting down")]
    Shutdown,
    #[error("frame of {size} bytes is larger than the limit {max}")]
    FrameTooLarge { size: i64, max: usize },
    #[error(
        "request (api key {api_key}, version {api_version}, correlation id {correlation_id}) refused: {reason}"
    )]
    BadRequest {
        api_key: i16,
        api_version: i16,
        correlation_id: i32,
        reason: String,
    },
    #[error("authentication failed: {0}")]
    Authentication(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Who the connection is and where it came in.
struct Session {
    listener: Arc<ServedListener>,
    principal: Arc<KafkaPrincipal>,
    /// Present on SASL listeners while authenticating (first or again).
    sasl: Option<SaslState>,
    /// The mechanism of the last completed SASL exchange.
    mechanism: Option<Mechanism>,
    /// When the SASL session ends (`connections.max.reauth.ms`); a request after it closes the
    /// connection, unless it is a SaslHandshake that re-authenticates.
    expires_at: Option<Instant>,
    /// When the last re-authentication began (Kafka allows one a second).
    reauth_started: Option<Instant>,
}

/// Kafka's least time between two re-authentications of a connection.
const REAUTH_INTERVAL_MIN: Duration = Duration::from_secs(1);

/// Takes a new connection on `listener`: the TLS handshake if it has TLS, then [`run`].
pub async fn accept(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<ServedListener>,
    shutdown: watch::Receiver<bool>,
) {
    let _open = crate::metrics::ConnectionGauge::open(&broker.metrics, &listener.name);
    let Some(tls) = &listener.tls else {
        let (reader, writer) = stream.into_split();
        let principal = KafkaPrincipal::anonymous();
        let session = Session::new(listener, principal);
        return run(
            broker,
            reader,
            ResponseWriter::Plain(writer),
            peer,
            session,
            shutdown,
        )
        .await;
    };
    // Boxed: a TLS connection's state is large, and inline it would be paid by plaintext
    // connections' futures too.
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
    Box::pin(accept_tls(
        broker, stream, acceptor, peer, listener, shutdown,
    ))
    .await
}

async fn accept_tls(
    broker: Arc<Broker>,
    stream: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    peer: SocketAddr,
    listener: Arc<ServedListener>,
    shutdown: watch::Receiver<bool>,
) {
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        // A plaintext client, a scanner, an untrusted certificate: this connection only.
        Ok(Err(error)) => {
            tracing::debug!(%peer, listener = %listener.name, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, listener = %listener.name, "TLS handshake timed out");
            return;
        }
    };
    let certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.as_ref());
    let principal = match listener.certificate_principal(certificate) {
        Ok(principal) => principal,
        Err(error) => {
            tracing::info!(%peer, listener = %listener.name, %error, "closing a TLS connection: no principal");
            return;
        }
    };
    let (reader, writer) = tokio::io::split(stream);
    let session = Session::new(listener, principal);
    run(
        broker,
        reader,
        ResponseWriter::Tls(writer),
        peer,
        session,
        shutdown,
    )
    .await
}

impl Session {
    fn new(listener: Arc<ServedListener>, principal: KafkaPrincipal) -> Self {
        Self {
            sasl: listener.sasl.as_ref().map(|_| SaslState::Handshake),
            mechanism: None,
            expires_at: None,
            reauth_started: None,
            listener,
            principal: Arc::new(principal),
        }
    }

    /// On an authenticated SASL connection whose session has a lifetime: a SaslHandshake
    /// begins re-authentication (at most one a second); any other request after the session
    /// ended closes the connection unanswered, as Kafka's `SocketServer` does.
    fn check_expiry(&mut self, frame: &Bytes) -> Result<(), ConnectionEnd> {
        let Some(expires_at) = self.expires_at else {
            return Ok(());
        };
        if self.sasl.is_some() {
            return Ok(());
        }
        let handshake =
            peek_request_prefix(frame).is_some_and(|p| p.api_key == ApiKey::SaslHandshake as i16);
        let now = Instant::now();
        if handshake
            && self
                .reauth_started
                .is_none_or(|t| now.duration_since(t) >= REAUTH_INTERVAL_MIN)
        {
            self.reauth_started = Some(now);
            self.sasl = Some(SaslState::Handshake);
            return Ok(());
        }
        if now > expires_at {
            return Err(ConnectionEnd::Authentication(
                "the SASL session expired without re-authentication".into(),
            ));
        }
        Ok(())
    }

    /// The frame size allowed now.
    fn frame_bytes_max(&self, broker: &Broker) -> usize {
        match (&self.sasl, &self.listener.sasl) {
            (Some(_), Some(settings)) => settings.receive_bytes_max,
            _ => broker.config.request_bytes_max,
        }
    }
}

async fn run<R: AsyncRead + Unpin>(
    broker: Arc<Broker>,
    mut reader: R,
    mut write_half: ResponseWriter,
    peer: SocketAddr,
    mut session: Session,
    mut shutdown: watch::Receiver<bool>,
) {
    let (responses, mut queue) =
        mpsc::channel::<Vec<FrameChunk>>(broker.config.queued_requests_max);
    let writer = tokio::spawn(async move {
        while let Some(chunks) = queue.recv().await {
            if let Err(error) = write_half.write_chunks(&chunks).await {
                tracing::debug!(%peer, %error, "write failed");
                return;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), write_half.shutdown()).await;
    });
    let idle = Duration::from_millis(broker.config.connection_idle_ms_max.max(1));
    // A cluster broker answers nothing before it has caught up with the metadata once (Kafka
    // opens its listeners only then): clients time out here and try another broker; the
    // connection is closed after the idle timeout.
    if let Some(cluster) = broker.cluster.get() {
        let waited = tokio::time::timeout(idle, cluster.serving.wait_caught_up_once(&mut shutdown));
        if waited.await.is_err() || *shutdown.borrow() {
            tracing::debug!(%peer, "closing a connection: not caught up with the metadata yet");
            drop(responses);
            let _ = writer.await;
            return;
        }
    }
    let end = loop {
        let max = session.frame_bytes_max(&broker);
        let frame = tokio::select! {
            frame = read_frame(&mut reader, max, idle) => frame,
            _ = shutdown.changed() => Err(ConnectionEnd::Shutdown),
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(end) => break end,
        };
        if let Err(end) = session.check_expiry(&frame) {
            break end;
        }
        let answer =
            if session.sasl.is_some() && !is_api_versions_before_handshake(&session, &frame) {
                authenticate(&broker, &mut session, frame).map(|chunks| Handled {
                    chunks,
                    mute: Duration::ZERO,
                })
            } else {
                // Boxed: the handling future holds the largest handler's state, and kept inline it
                // would sit in every connection's task, idle ones included (it was most of an idle
                // connection's ~11 KiB). One allocation per request instead.
                Box::pin(handle_frame(&broker, peer, &session, frame))
                    .await
                    .map_err(Failure::End)
            };
        match answer {
            Ok(handled) => {
                if let Some(chunks) = handled.chunks
                    && responses.send(chunks).await.is_err()
                {
                    break ConnectionEnd::Closed;
                }
                // KIP-219: the throttled answer goes out now; the next request is read only
                // once the throttle has passed (Kafka mutes the channel).
                if !handled.mute.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(handled.mute) => {}
                        _ = shutdown.changed() => break ConnectionEnd::Shutdown,
                    }
                }
            }
            Err(Failure::End(end)) => break end,
            Err(Failure::Answered(chunks, reason)) => {
                // Kafka's failed-authentication delay, then the answer, then the close.
                if let Some(settings) = &session.listener.sasl {
                    tokio::time::sleep(settings.failed_authentication_delay).await;
                }
                let _ = responses.send(chunks).await;
                break ConnectionEnd::Authentication(reason);
            }
        }
        if *shutdown.borrow() {
            break ConnectionEnd::Shutdown;
        }
    };
    match &end {
        ConnectionEnd::Closed | ConnectionEnd::Shutdown | ConnectionEnd::Idle(_) => {
            tracing::debug!(%peer, reason = %end, "connection ended")
        }
        _ => {
            tracing::info!(%peer, listener = %session.listener.name, reason = %end, "closing connection")
        }
    }
    drop(responses);
    // Let the writer send what was queued (bounded by the socket), then close.
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

/// How handling a frame can fail.
enum Failure {
    /// End the connection now.
    End(ConnectionEnd),
    /// Send this answer after the failed-authentication delay, then end the connection.
    Answered(Vec<FrameChunk>, String),
}

/// ApiVersions is served as usual before a SASL handshake.
fn is_api_versions_before_handshake(session: &Session, frame: &Bytes) -> bool {
    matches!(session.sasl, Some(SaslState::Handshake))
        && peek_request_prefix(frame).is_some_and(|p| p.api_key == ApiKey::ApiVersions as i16)
}

/// A frame of a SASL connection that has not authenticated yet.
fn authenticate(
    broker: &Arc<Broker>,
    session: &mut Session,
    frame: Bytes,
) -> Result<Option<Vec<FrameChunk>>, Failure> {
    let (Some(state), Some(settings)) = (session.sasl.as_mut(), session.listener.sasl.as_ref())
    else {
        return Ok(None);
    };
    let original = session.mechanism.map(|mechanism| super::sasl::Original {
        mechanism,
        principal: &session.principal,
    });
    let verdict = super::sasl::step(broker, settings, state, frame, original);
    match verdict {
        Verdict::Answer(chunks) => Ok(Some(chunks)),
        Verdict::Authenticated(chunks, principal, mechanism, lifetime_ms) => {
            session.principal = Arc::new(principal);
            session.mechanism = Some(mechanism);
            session.sasl = None;
            session.expires_at = lifetime_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
            Ok(Some(chunks))
        }
        Verdict::Fail(chunks, reason) => Err(Failure::Answered(chunks, reason)),
        Verdict::Close(reason) => Err(Failure::End(ConnectionEnd::Authentication(reason))),
    }
}

async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
    idle: Duration,
) -> Result<Bytes, ConnectionEnd> {
    let mut size = [0u8; 4];
    match tokio::time::timeout(idle, reader.read_exact(&mut size)).await {
        Err(_) => return Err(ConnectionEnd::Idle(idle)),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(ConnectionEnd::Closed);
        }
        Ok(Err(e)) => return Err(e.into()),
        Ok(Ok(_)) => {}
    }
    let size = i32::from_be_bytes(size) as i64;
    if size < 0 || size as usize > max {
        return Err(ConnectionEnd::FrameTooLarge { size, max });
    }
    let size = size as usize;
    // Reserved, not zeroed: nothing is written (or made resident) until bytes arrive.
    let mut payload = BytesMut::with_capacity(size);
    let read = async {
        while payload.len() < size {
            let left = (size - payload.len()) as u64;
            if (&mut *reader).take(left).read_buf(&mut payload).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
        }
        Ok(())
    };
    // A slow sender gets the idle time for the whole frame, so a byte-a-minute peer is reaped.
    match tokio::time::timeout(idle, read).await {
        Err(_) => Err(ConnectionEnd::Idle(idle)),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ConnectionEnd::Closed),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(())) => Ok(payload.freeze()),
    }
}

fn refuse(prefix: &RequestPrefix, reason: impl ToString) -> ConnectionEnd {
    ConnectionEnd::BadRequest {
        api_key: prefix.api_key,
        api_version: prefix.api_version,
        correlation_id: prefix.correlation_id,
        reason: reason.to_string(),
    }
}

/// Decodes and handles one request; `Ok(None)` when no response is due (acks=0).
async fn handle_frame(
    broker: &Arc<Broker>,
    peer: SocketAddr,
    session: &Session,
    frame: Bytes,
) -> Result<Handled, ConnectionEnd> {
    let read_at = Instant::now();
    let Some(prefix) = peek_request_prefix(&frame) else {
        return Err(ConnectionEnd::BadRequest {
            api_key: -1,
            api_version: -1,
            correlation_id: -1,
            reason: format!(
                "frame of {} bytes is shorter than a request header",
                frame.len()
            ),
        });
    };
    let served = ApiKey::from_i16(prefix.api_key).and_then(handlers::served_versions);
    let Some((api_key, (min, max))) = ApiKey::from_i16(prefix.api_key).zip(served) else {
        return Err(refuse(&prefix, "API not served"));
    };
    if prefix.api_version < min || prefix.api_version > max {
        if api_key == ApiKey::ApiVersions {
            let body = api_versions::unsupported_version_response();
            return encode(prefix.correlation_id, 0, &body, &prefix).map(|chunks| Handled {
                chunks: Some(chunks),
                mute: Duration::ZERO,
            });
        }
        return Err(refuse(
            &prefix,
            format!("version not served (we serve {min}..={max})"),
        ));
    }
    let request_bytes = frame.len();
    let request = protocol::decode_request(frame).map_err(|e: DecodeError| refuse(&prefix, e))?;
    let context = RequestContext {
        header: request.header,
        api_version: prefix.api_version,
        peer,
        principal: session.principal.clone(),
        listener: session.listener.name.clone(),
        request_bytes,
        throttle_ms: AtomicU64::new(0),
    };
    // One line per request at debug level under its own target (`RUNNEL_LOG=runnel::requests=debug`),
    // for operators and for the compat suites that check the versions clients negotiate.
    tracing::debug!(
        target: "runnel::requests",
        %peer,
        api = %api_key.name(),
        version = prefix.api_version,
        correlation_id = prefix.correlation_id,
        client_id = context.client_id(),
        "request"
    );
    // Kafka exempts the brokers' own requests from the request-time quota.
    let exempt = match &request.body {
        RequestBody::Fetch(fetch) => fetch.replica_id >= 0 || fetch.replica_state.replica_id >= 0,
        RequestBody::WriteTxnMarkers(_) | RequestBody::ApiVersions(_) => true,
        _ => false,
    };
    let handling = std::pin::pin!(handlers::handle(broker, &context, request.body));
    let (answer, busy) = Timed::new(handling).await;
    let mut answer =
        answer.map_err(|api_key| refuse(&prefix, format!("{api_key:?} has no handler")))?;
    // request_percentage: the time this request kept a thread busy (acks=0 is not counted).
    if let Some(body) = answer.as_mut().filter(|_| !exempt) {
        let throttle = broker
            .client_quotas
            .record_request_time(&broker.metadata, &context, busy);
        if throttle > 0 {
            context.throttle(throttle);
            let total = context.throttle_ms.load(Ordering::Relaxed);
            body.set_throttle_time_ms(i32::try_from(total).unwrap_or(i32::MAX));
        }
    }
    let mute = Duration::from_millis(context.throttle_ms.load(Ordering::Relaxed));
    broker
        .metrics
        .requests
        .record(prefix.api_key, read_at.elapsed());
    let chunks = match answer {
        Some(body) => Some(encode(
            prefix.correlation_id,
            prefix.api_version,
            &body,
            &prefix,
        )?),
        None => None,
    };
    Ok(Handled { chunks, mute })
}

/// A future and the time spent polling it: the CPU time a request's handling took on the
/// runtime's threads (waits, such as a long-polling fetch, are not counted).
struct Timed<F> {
    inner: F,
    busy: Duration,
}

impl<F> Timed<F> {
    fn new(inner: F) -> Self {
        Timed {
            inner,
            busy: Duration::ZERO,
        }
    }
}

impl<F: std::future::Future + Unpin> std::future::Future for Timed<F> {
    type Output = (F::Output, Duration);

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let started = Instant::now();
        let polled = std::pin::Pin::new(&mut self.inner).poll(cx);
        self.busy += started.elapsed();
        polled.map(|output| (output, self.busy))
    }
}

/// A handled request: its answer (none for acks=0) and how long the connection then reads
/// nothing (a quota throttle).
struct Handled {
    chunks: Option<Vec<FrameChunk>>,
    mute: Duration,
}

fn encode(
    correlation_id: i32,
    version: i16,
    body: &ResponseBody,
    prefix: &RequestPrefix,
) -> Result<Vec<FrameChunk>, ConnectionEnd> {
    protocol::encode_response_frame(correlation_id, version, body)
        .map_err(|e| refuse(prefix, format!("encoding the response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: an idle connection costs little memory (issue 9: 10,000 idle connections within
    /// 64 MiB). A connection's task holds its `run` future for its whole life, so everything
    /// inline in that future is paid per connection even while idle; the request handling is
    /// boxed per request. Unboxed it made the future over 8 KiB (11.5 KB of RSS per idle
    /// connection measured); boxed, 3.7 KB. Method: build the future without polling it and
    /// check its size.
    #[tokio::test]
    async fn an_idle_connection_future_stays_small() {
        let dir = tempfile::tempdir().expect("a directory");
        let properties = std::collections::BTreeMap::from([(
            "log.dirs".to_string(),
            dir.path().to_string_lossy().into_owned(),
        )]);
        let config = crate::BrokerConfig::from_properties(&properties).expect("a config");
        let broker = Broker::open(config).expect("the broker opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a listener");
        let stream = TcpStream::connect(listener.local_addr().expect("its address"))
            .await
            .expect("a connection");
        let peer = stream.local_addr().expect("an address");
        let (_shutdown, shutdown_rx) = watch::channel(false);
        let served = ServedListener::from_config(&broker.config, &broker.config.listeners[0])
            .expect("a plaintext listener");
        let connection = accept(broker, stream, peer, Arc::new(served), shutdown_rx);
        let size = std::mem::size_of_val(&connection);
        assert!(size <= 2048, "a connection's future is {size} bytes");
    }
}
