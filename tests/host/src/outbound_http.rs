//! Sending one outbound HTTP request the way Spin 3's outbound HTTP factor does: resolve, drop
//! blocked destinations, connect under `connect_timeout`, TLS with the component's config for the
//! host, then HTTP/1.1; the whole exchange up to the response head under `first_byte_timeout` and
//! each body frame under `between_bytes_timeout`, mapping failures to Spin's `error-code`s.
//!
//! Based on `wasmtime_wasi_http::default_send_request`, which cannot take a root store or a
//! resolver check.

use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::net::{IpAddr, SocketAddr};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions};

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

/// Where and how a request goes, decided by the caller from the component's config.
pub(crate) struct Route {
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

/// Sends `request` and waits for the response head.
pub(crate) async fn send<B>(
    mut request: Request<B>,
    options: Option<RequestOptions>,
    route: Route,
) -> Result<Sent, Error>
where
    B: Body<Data = Bytes, Error = Error> + Send + 'static,
{
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

    // Spin bounds everything up to the response head, connecting included, by the first-byte
    // timeout; the TCP connect alone by the connect timeout.
    let exchange = async move {
        let tcp = connect(authority.host(), port, &route, timeouts.connect).await?;
        let stream: Box<dyn Stream> = if use_tls {
            Box::new(tls_handshake(tcp, authority.host(), route.tls).await?)
        } else {
            Box::new(tcp)
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(Error::Hyper)?;
        let mut conn = Some(conn);
        let mut response = pin!(sender.send_request(request));
        // The connection must be driven while the response head is awaited.
        let head = poll_fn(|cx| {
            if let Poll::Ready(result) = response.as_mut().poll(cx) {
                return Poll::Ready(result.map_err(Error::Hyper));
            }
            let Some(io) = conn.as_mut() else {
                return Poll::Pending;
            };
            let result = ready!(Pin::new(io).poll(cx));
            conn = None;
            match result {
                Ok(()) => response.as_mut().poll(cx).map_err(Error::Hyper),
                Err(e) => Poll::Ready(Err(Error::Hyper(e))),
            }
        })
        .await?;
        let io: Pin<Box<dyn Future<Output = Result<(), Error>> + Send>> = Box::pin(async move {
            match conn {
                Some(conn) => conn.await.map_err(|e| {
                    if e.is_timeout() {
                        Error::HttpResponseTimeout
                    } else {
                        Error::Hyper(e)
                    }
                }),
                None => Ok(()),
            }
        });
        Ok::<_, Error>((head, io))
    };
    let (head, io) = tokio::time::timeout(timeouts.first_byte, exchange)
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let response = head.map(|incoming| BetweenBytes::new(incoming, timeouts.between_bytes));
    Ok((response, io))
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
