//! The HTTPS server under the push service and the webhook receiver: routes `/<prefix>/<id>`, each
//! with its own context (keys or a secret), a check that turns a request into what was received
//! or a refusal, and scripted answers (statuses in order, 410 for good, or no answer at all).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::tls::TestCa;

/// More than any push service or webhook receiver takes; beyond it the body is not even read.
const MAX_BODY: usize = 64 * 1024;

/// The accept queue `TcpListener::bind` gives a listener: connections the kernel completes before
/// the server accepts them.
pub const DEFAULT_BACKLOG: u32 = 1024;

/// A request as the checks see it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Request {
    /// A header as text; `None` when absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why a request was refused: the status a real server would answer, and the reason, recorded so
/// a test can fail with it.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The status answered.
    pub status: u16,
    /// What was wrong.
    pub reason: String,
}

impl Refusal {
    pub(crate) fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }
}

/// A refused request (or a failed TLS handshake: status 0, path empty).
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The request path.
    pub path: String,
    /// The status answered (0: no HTTP exchange happened).
    pub status: u16,
    /// What was wrong.
    pub reason: String,
    /// When.
    pub at: Instant,
}

/// One request that passed the checks, and what the script made of it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    /// The status answered; `None` when the script said to hang.
    pub status: Option<u16>,
    /// When it arrived.
    pub at: Instant,
}

/// What to answer to a request that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Status(u16),
    Hang,
}

struct Route<C, T> {
    context: C,
    script: VecDeque<Answer>,
    then: Answer,
    received: Vec<T>,
    attempts: Vec<Attempt>,
}

struct State<C, T> {
    routes: HashMap<String, Route<C, T>>,
    rejections: Vec<Rejection>,
}

/// The check of one request against its route's context.
pub(crate) type Check<C, T> = fn(&C, &Request) -> Result<T, Refusal>;

/// How a received item is shown to `GET /<prefix>/<id>` (the push service's mailbox: RFC 8030
/// user agents fetch their messages from the subscription resource); `None`: GET is refused.
pub(crate) type Show<T> = Option<fn(&T) -> serde_json::Value>;

/// A running server; stopped (with every connection, hanging ones included) on drop.
pub(crate) struct Server<C, T> {
    state: Arc<Mutex<State<C, T>>>,
    prefix: &'static str,
    port: u16,
    success: u16,
    accept: tokio::task::JoinHandle<()>,
}

impl<C, T> Drop for Server<C, T> {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn lock<C, T>(state: &Mutex<State<C, T>>) -> MutexGuard<'_, State<C, T>> {
    // A check that panicked leaves the records as they were: still worth reading.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn random_id() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("system randomness is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl<C: Send + 'static, T: Clone + Send + 'static> Server<C, T> {
    /// Listens on 127.0.0.1:0; requests to `/<prefix>/<id>` are checked with `check` and, when
    /// they pass and the script says nothing else, answered `success`.
    pub(crate) async fn start(
        ca: &TestCa,
        prefix: &'static str,
        success: u16,
        check: Check<C, T>,
        show: Show<T>,
    ) -> Result<Self> {
        Self::start_with_backlog(ca, prefix, success, check, show, DEFAULT_BACKLOG).await
    }

    /// [`Server::start`] with an accept queue of `backlog` connections (the kernel caps it at
    /// `net.core.somaxconn`): a small one is a receiver that cannot keep up with a burst.
    pub(crate) async fn start_with_backlog(
        ca: &TestCa,
        prefix: &'static str,
        success: u16,
        check: Check<C, T>,
        show: Show<T>,
        backlog: u32,
    ) -> Result<Self> {
        let (listener, port) = listen(backlog)?;
        let state = Arc::new(Mutex::new(State {
            routes: HashMap::new(),
            rejections: Vec::new(),
        }));
        let on_tls_error = {
            let state = Arc::clone(&state);
            move |reason: String| {
                lock(&state).rejections.push(Rejection {
                    path: String::new(),
                    status: 0,
                    reason,
                    at: Instant::now(),
                });
            }
        };
        let handler = {
            let state = Arc::clone(&state);
            move |req| {
                let state = Arc::clone(&state);
                async move { handle(req, &state, prefix, check, show).await }
            }
        };
        let accept = serve(listener, ca, on_tls_error, handler);
        Ok(Self {
            state,
            prefix,
            port,
            success,
            accept,
        })
    }

    /// `https://localhost:<port>`.
    pub(crate) fn origin(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// Adds a route; returns its id and URL.
    pub(crate) fn add(&self, context: C) -> (String, String) {
        let id = random_id();
        let url = format!("{}/{}/{id}", self.origin(), self.prefix);
        let route = Route {
            context,
            script: VecDeque::new(),
            then: Answer::Status(self.success),
            received: Vec::new(),
            attempts: Vec::new(),
        };
        lock(&self.state).routes.insert(id.clone(), route);
        (id, url)
    }

    fn with_route<R>(&self, id: &str, f: impl FnOnce(&mut Route<C, T>) -> R) -> R {
        let mut state = lock(&self.state);
        let route = state
            .routes
            .get_mut(id)
            .expect("the route was made by this server");
        f(route)
    }

    /// Replaces a route's context (a secret learnt after its URL was handed out).
    pub(crate) fn set_context(&self, id: &str, context: C) {
        self.with_route(id, |route| route.context = context);
    }

    /// Answers `statuses` to the next requests that pass the checks, then the usual success.
    pub(crate) fn script(&self, id: &str, statuses: impl IntoIterator<Item = u16>) {
        let queued: VecDeque<Answer> = statuses.into_iter().map(Answer::Status).collect();
        self.with_route(id, |route| route.script = queued);
    }

    /// From now on answers `answer` to every request (after the checks).
    pub(crate) fn always(&self, id: &str, answer: Answer) {
        self.with_route(id, |route| {
            route.script.clear();
            route.then = answer;
        });
    }

    /// What arrived and was answered with a 2xx, in order.
    pub(crate) fn received(&self, id: &str) -> Vec<T> {
        self.with_route(id, |route| route.received.clone())
    }

    /// Every request that passed the checks, with what it was answered.
    pub(crate) fn attempts(&self, id: &str) -> Vec<Attempt> {
        self.with_route(id, |route| route.attempts.clone())
    }

    /// Every refused request, on any route (or none).
    pub(crate) fn rejections(&self) -> Vec<Rejection> {
        lock(&self.state).rejections.clone()
    }

    /// Waits until `n` items were received on `id` or `timeout` passed; returns what arrived.
    pub(crate) async fn wait_for(&self, id: &str, n: usize, timeout: Duration) -> Vec<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received(id);
            if received.len() >= n || Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A listener on 127.0.0.1 with a free port and an accept queue of `backlog` connections; the
/// port.
pub(crate) fn listen(backlog: u32) -> Result<(TcpListener, u16)> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let listener = socket.listen(backlog)?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

/// Serves HTTPS with `ca`'s certificate on `listener`, HTTP/1.1, each request answered by
/// `handler`; a failed TLS handshake is reported to `on_tls_error`. Aborting the returned task
/// ends every connection, hanging ones included, because the task owns them.
pub(crate) fn serve<H, F>(
    listener: TcpListener,
    ca: &TestCa,
    on_tls_error: impl Fn(String) + Send + Sync + 'static,
    handler: H,
) -> tokio::task::JoinHandle<()>
where
    H: Fn(hyper::Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = hyper::Response<Full<Bytes>>> + Send + 'static,
{
    let acceptor = TlsAcceptor::from(ca.server_config());
    let on_tls_error = Arc::new(on_tls_error);
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            while connections.try_join_next().is_some() {}
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let on_tls_error = Arc::clone(&on_tls_error);
            let handler = handler.clone();
            connections.spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(tls) => tls,
                    Err(e) => return on_tls_error(format!("TLS handshake failed: {e}")),
                };
                let service = service_fn(move |req| {
                    let answer = handler(req);
                    async move { Ok::<_, hyper::Error>(answer.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    })
}

fn respond(status: u16, body: String) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp
}

async fn handle<C, T>(
    req: hyper::Request<Incoming>,
    state: &Mutex<State<C, T>>,
    prefix: &str,
    check: Check<C, T>,
    show: Show<T>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let refuse = |refusal: Refusal| {
        lock(state).rejections.push(Rejection {
            path: path.clone(),
            status: refusal.status,
            reason: refusal.reason.clone(),
            at: Instant::now(),
        });
        respond(refusal.status, refusal.reason)
    };
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return refuse(Refusal::new(413, format!("cannot read the body: {e}"))),
    };
    let request = Request {
        method: parts.method,
        headers: parts.headers,
        body,
    };
    let id = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(prefix))
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or_default()
        .to_owned();
    let answer = {
        let mut guard = lock(state);
        let Some(route) = guard.routes.get_mut(&id) else {
            drop(guard);
            return refuse(Refusal::new(404, format!("no {prefix} at {path}")));
        };
        if let (&Method::GET, Some(show)) = (&request.method, show) {
            let items: Vec<serde_json::Value> = route.received.iter().map(show).collect();
            drop(guard);
            return respond(200, serde_json::Value::from(items).to_string());
        }
        if request.method != Method::POST {
            drop(guard);
            return refuse(Refusal::new(
                405,
                format!("{} instead of POST", request.method),
            ));
        }
        match check(&route.context, &request) {
            Err(refusal) => {
                drop(guard);
                return refuse(refusal);
            }
            Ok(item) => {
                let answer = route.script.pop_front().unwrap_or(route.then);
                let status = match answer {
                    Answer::Status(status) => Some(status),
                    Answer::Hang => None,
                };
                if status.is_some_and(|s| (200..300).contains(&s)) {
                    route.received.push(item);
                }
                route.attempts.push(Attempt {
                    status,
                    at: Instant::now(),
                });
                answer
            }
        }
    };
    match answer {
        Answer::Status(status) => respond(status, String::new()),
        Answer::Hang => std::future::pending().await,
    }
}
