//! Sending one outbound HTTP request the way Spin 3's outbound HTTP factor does: resolve, drop
//! blocked destinations, connect under `connect_timeout`, TLS with the component's config for the
//! host, then HTTP/1.1; the whole exchange up to the response head under `first_byte_timeout` and
//! each body frame under `between_bytes_timeout`, mapping failures to Spin's `error-code`s.
//! Connections are kept for reuse across requests and instances, as Spin does since 3.4 (its
//! hyper-util pooling client, spinframework/spin#3229 and #3240): a connection goes back to the
//! pool once its response has been read to the end, and is reused while it is fresh.
//!
//! Based on `wasmtime_wasi_http::default_send_request`, which cannot take a root store, a
//! resolver check or a pool.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::Scheme;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use crate::blocked_networks::BlockedNetworks;

/// Spin's (and wasmtime's) timeout when the guest sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The resolved timeouts of one request.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

impl Timeouts {
    fn from_options(options: Option<RequestOptions>) -> Self {
        let pick = |f: fn(&RequestOptions) -> Option<Duration>| {
            options.as_ref().and_then(f).unwrap_or(DEFAULT_TIMEOUT)
        };
        Self {
            connect: pick(|o| o.connect_timeout),
            first_byte: pick(|o| o.first_byte_timeout),
            between_bytes: pick(|o| o.between_bytes_timeout),
        }
    }
}

/// How long an idle connection is reused: under the 5 s keep-alive many servers (Node.js among
/// them) close idle connections after, so a reused connection is rarely one the server is closing.
const IDLE_REUSE: Duration = Duration::from_secs(4);
/// Idle connections kept per destination.
const MAX_IDLE_PER_DESTINATION: usize = 64;

/// Where a pooled connection goes: scheme, authority, and the TLS config it was made with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Destination {
    tls: bool,
    authority: String,
    config: usize,
}

/// Each destination's idle connections, with when they became idle.
type IdleConnections = HashMap<Destination, Vec<(SendRequest<WasiBody>, Instant)>>;

/// Idle HTTP/1.1 connections by destination, shared by a component's instances.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<IdleConnections>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, IdleConnections> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh idle connection to `to` that can take a request now.
    fn take(&self, to: &Destination) -> Option<SendRequest<WasiBody>> {
        let mut idle = self.lock();
        let list = idle.get_mut(to)?;
        while let Some((sender, since)) = list.pop() {
            if since.elapsed() < IDLE_REUSE && sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    fn put(&self, to: Destination, sender: SendRequest<WasiBody>) {
        let mut idle = self.lock();
        let list = idle.entry(to).or_default();
        list.retain(|(s, since)| since.elapsed() < IDLE_REUSE && !s.is_closed());
        if list.len() < MAX_IDLE_PER_DESTINATION {
            list.push((sender, Instant::now()));
        }
    }
}

/// Where and how a request goes, decided by the caller from the component's config.
pub(crate) struct Route {
    /// Connections kept for reuse.
    pub pool: Arc<Pool>,
    /// The app's blocked networks.
    pub blocked: BlockedNetworks,
    /// Test-only resolver overrides: host name → address.
    pub resolve: Arc<BTreeMap<String, IpAddr>>,
    /// The TLS config for the request's host (used for `https` only).
    pub tls: Arc<rustls::ClientConfig>,
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// The response, and a future that finishes the connection's I/O after the head arrived.
pub(crate) type Sent = (
    Response<BetweenBytes>,
    Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>,
);

/// Sends `request` and waits for the response head, on a pooled connection when a fresh one to
/// the same destination is idle, else on a new one.
pub(crate) async fn send(
    mut request: Request<WasiBody>,
    options: Option<RequestOptions>,
    route: Route,
) -> Result<Sent, Error> {
    let timeouts = Timeouts::from_options(options);
    let uri = request.uri().clone();
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?.clone();
    let use_tls = uri.scheme() == Some(&Scheme::HTTPS);
    let port = authority
        .port_u16()
        .unwrap_or(if use_tls { 443 } else { 80 });
    // The server sees the origin form; scheme and authority are only for proxies.
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let destination = Destination {
        tls: use_tls,
        authority: authority.to_string(),
        config: Arc::as_ptr(&route.tls) as usize,
    };

    // Spin bounds everything up to the response head, connecting included, by the first-byte
    // timeout; the TCP connect alone by the connect timeout.
    let pool = route.pool.clone();
    let exchange = async move {
        let mut sender = match route.pool.take(&destination) {
            Some(sender) => sender,
            None => open(authority.host(), port, use_tls, &route, timeouts.connect).await?,
        };
        let head = sender.send_request(request).await.map_err(Error::Hyper)?;
        // Back to the pool once the connection can carry another request: its response read to
        // the end (a response dropped unread closes it instead).
        tokio::spawn(async move {
            if sender.ready().await.is_ok() {
                pool.put(destination, sender);
            }
        });
        Ok::<_, Error>(head)
    };
    let head = tokio::time::timeout(timeouts.first_byte, exchange)
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let response = head.map(|incoming| BetweenBytes::new(incoming, timeouts.between_bytes));
    // The connection is driven by its own task (it outlives this request in the pool).
    let io: Pin<Box<dyn Future<Output = Result<(), Error>> + Send>> = Box::pin(async { Ok(()) });
    Ok((response, io))
}

/// A new connection: TCP, TLS when asked, the HTTP/1.1 handshake, and a task driving it.
async fn open(
    host: &str,
    port: u16,
    use_tls: bool,
    route: &Route,
    connect_timeout: Duration,
) -> Result<SendRequest<WasiBody>, Error> {
    let tcp = connect(host, port, route, connect_timeout).await?;
    let stream: Box<dyn Stream> = if use_tls {
        Box::new(tls_handshake(tcp, host, route.tls.clone()).await?)
    } else {
        Box::new(tcp)
    };
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(Error::Hyper)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("outbound connection ended: {e}");
        }
    });
    Ok(sender)
}

/// Resolves `host` (through the test-only overrides first), drops blocked addresses and connects
/// to the first that answers.
async fn connect(
    host: &str,
    port: u16,
    route: &Route,
    timeout: Duration,
) -> Result<TcpStream, Error> {
    let unavailable = || Error::DnsError {
        rcode: Some("address not available".into()),
        info_code: Some(0),
    };
    let name = host_without_brackets(host);
    let mut addrs: Vec<SocketAddr> = match route.resolve.get(&name.to_ascii_lowercase()) {
        Some(ip) => vec![SocketAddr::new(*ip, port)],
        None => tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| {
                tracing::debug!(host, port, "cannot resolve: {e}");
                unavailable()
            })?
            .collect(),
    };
    let blocked = &route.blocked;
    if !addrs.is_empty() && blocked.remove_blocked(&mut addrs) > 0 && addrs.is_empty() {
        tracing::error!(
            host,
            port,
            "all destination IP(s) prohibited by runtime config [outbound_networking] block_networks"
        );
        return Err(Error::DestinationIpProhibited);
    }
    match tokio::time::timeout(timeout, TcpStream::connect(&*addrs)).await {
        Err(_) => Err(Error::ConnectionTimeout),
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::AddrNotAvailable => Err(unavailable()),
        Ok(Err(e)) => {
            tracing::debug!(host, port, "cannot connect: {e}");
            Err(Error::ConnectionRefused)
        }
    }
}

async fn tls_handshake(
    tcp: TcpStream,
    host: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    let name = rustls::pki_types::ServerName::try_from(host_without_brackets(host))
        .map_err(|e| {
            tracing::warn!(host, "not a TLS server name: {e}");
            Error::DnsError {
                rcode: Some("invalid dns name".into()),
                info_code: Some(0),
            }
        })?
        .to_owned();
    // Spin offers h2 too; this host speaks HTTP/1.1 only, so it must not let the server pick h2.
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| {
            // Spin reports every handshake failure, certificate ones included, this way.
            tracing::warn!(host, "tls protocol error: {e}");
            Error::TlsProtocolError
        })
}

fn host_without_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// A response body that fails with `connection-read-timeout` when the next frame takes longer
/// than `between_bytes_timeout`.
pub(crate) struct BetweenBytes {
    incoming: hyper::body::Incoming,
    timeout: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl BetweenBytes {
    fn new(incoming: hyper::body::Incoming, timeout: Duration) -> Self {
        Self {
            incoming,
            timeout,
            sleep: None,
        }
    }
}

impl Body for BetweenBytes {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(frame) => {
                self.sleep = None;
                Poll::Ready(frame.map(|f| {
                    f.map_err(|e| {
                        if e.is_timeout() {
                            Error::HttpResponseTimeout
                        } else {
                            Error::Hyper(e)
                        }
                    })
                }))
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(sleep.as_mut().poll(cx));
                self.sleep = None;
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
