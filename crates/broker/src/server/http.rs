//! The HTTP listener: `http.listeners` (default `http://127.0.0.1:9644`; empty: none), serving
//! `/metrics` (Prometheus text format, `metrics::render`) and the web console (`/` and its JSON
//! API under `/v1`, `console`; off by default on a broker with an authorizer,
//! `http.console.enable`).
//!
//! A listener set explicitly must bind or the broker does not start, as for Kafka listeners;
//! the default one is skipped with a warning when its port is taken (several brokers on one
//! machine), so a second local broker still starts. Connections are bounded
//! ([`HTTP_CONNECTIONS_MAX`]); past it new ones wait in the kernel's backlog. Requests are
//! served by axum (hyper, HTTP/1.1).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::error::BrokerError;

/// Most HTTP connections open at once.
pub const HTTP_CONNECTIONS_MAX: usize = 64;
const DEFAULT_LISTENER: &str = "http://127.0.0.1:9644";

/// Binds the configured HTTP listener, if any.
pub async fn bind(config: &BrokerConfig) -> Result<Option<TcpListener>, BrokerError> {
    let explicit = config.value("http.listeners").map(str::trim);
    let text = explicit.unwrap_or(DEFAULT_LISTENER);
    if text.is_empty() {
        return Ok(None);
    }
    let address = parse(text)?;
    match TcpListener::bind(&address).await {
        Ok(listener) => Ok(Some(listener)),
        Err(error) if explicit.is_none() => {
            tracing::warn!(%address, %error, "the default HTTP listener (metrics) is not served; set http.listeners");
            Ok(None)
        }
        Err(error) => Err(BrokerError::Config(format!(
            "binding http.listeners {text}: {error}"
        ))),
    }
}

/// `http://host:port` (one listener) as `host:port`.
fn parse(text: &str) -> Result<String, BrokerError> {
    let invalid = |why: &str| BrokerError::Config(format!("http.listeners={text}: {why}"));
    if text.contains(',') {
        return Err(invalid("one listener is served"));
    }
    let address = text
        .strip_prefix("http://")
        .ok_or_else(|| invalid("give http://HOST:PORT (https is not served)"))?
        .trim_end_matches('/');
    let (host, port) = address.rsplit_once(':').ok_or_else(|| invalid("no port"))?;
    port.parse::<u16>().map_err(|_| invalid("not a port"))?;
    if host.is_empty() {
        return Err(invalid("no host (0.0.0.0 for every interface)"));
    }
    Ok(address.to_string())
}

/// Serves `listener` until `shutdown` turns true.
pub async fn serve(
    broker: Arc<Broker>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut app = Router::new().route("/metrics", get(metrics));
    if console_enabled(&broker) {
        app = app.merge(crate::console::routes(crate::console::admin_enabled(
            &broker,
        )));
    }
    let app = app.with_state(broker);
    let bounded = Bounded {
        listener,
        permits: Arc::new(Semaphore::new(HTTP_CONNECTIONS_MAX)),
    };
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    if let Err(error) = axum::serve(bounded, app).with_graceful_shutdown(stop).await {
        tracing::warn!(%error, "the HTTP listener stopped");
    }
}

/// `http.console.enable`; unset, on unless ACLs are on: the console has no login, and with an
/// authorizer the records it shows would bypass it.
fn console_enabled(broker: &Broker) -> bool {
    match broker.config.value("http.console.enable").map(str::trim) {
        Some(value) => value.eq_ignore_ascii_case("true"),
        None => !broker.authorization_enabled(),
    }
}

async fn metrics(State(broker): State<Arc<Broker>>) -> Response {
    let body = crate::metrics::render(&broker).await;
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// A listener whose connections each hold a permit.
struct Bounded {
    listener: TcpListener,
    permits: Arc<Semaphore>,
}

impl axum::serve::Listener for Bounded {
    type Io = Permitted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok(permit) = self.permits.clone().acquire_owned().await else {
                // The semaphore is never closed; wait forever rather than spin.
                std::future::pending::<()>().await;
                continue;
            };
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    return (
                        Permitted {
                            stream,
                            _permit: permit,
                        },
                        peer,
                    );
                }
                Err(error) => {
                    tracing::debug!(%error, "HTTP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A connection and its permit.
struct Permitted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Permitted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Permitted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_parse_as_http_host_port() {
        assert_eq!(parse("http://127.0.0.1:9644").unwrap(), "127.0.0.1:9644");
        assert_eq!(parse("http://0.0.0.0:80/").unwrap(), "0.0.0.0:80");
        for bad in [
            "127.0.0.1:9644",
            "https://127.0.0.1:1",
            "http://127.0.0.1",
            "http://:1",
            "http://a:1,http://b:2",
            "http://h:99999",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
