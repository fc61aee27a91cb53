//! Outbound HTTP for fan-out: many requests in flight at once, each with time-outs, so one
//! endpoint that hangs or crawls never delays anyone else's notification, and a bounded number
//! in flight to each host, so a burst never overflows a small receiver.
//!
//! Written on the wasi:http interface directly rather than `spin_sdk::http::send`, which sets no
//! `request-options` (so no time-outs) and sends one request per `await`. Here every request is
//! started first, then `wasi:io/poll` waits on all of them and on a deadline together.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use wasi::clocks::monotonic_clock;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::poll;

/// One request to send: the domain's request (a POST, or a PUT).
pub use aurras_domain::dispatch::HttpRequest as Outgoing;

/// How long to wait.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For the TCP and TLS connection.
    pub connect: Duration,
    /// From the request sent to the first byte of the answer.
    pub first_byte: Duration,
    /// For the whole fan-out: requests still unanswered then count as timed out, and requests
    /// still waiting their turn as not sent. Keep it under the relay's `--request-timeout-secs`
    /// (30 s by default) and under `claim_lease`.
    pub overall: Duration,
    /// At most this many requests in flight to one host.
    pub per_host: usize,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(10),
            overall: Duration::from_secs(20),
            per_host: DEFAULT_PER_HOST,
        }
    }
}

/// Requests in flight to one host by default: a handful of connections, as browsers and
/// webhook senders keep per host, which even a receiver with a small accept queue takes.
pub const DEFAULT_PER_HOST: usize = 8;

pub use aurras_domain::answer::Answer;
use aurras_domain::answer::{parse_retry_after, Response, MAX_BODY};

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn describe(e: &ErrorCode) -> String {
    match e {
        ErrorCode::DnsTimeout | ErrorCode::DnsError(_) => "the host name does not resolve".into(),
        ErrorCode::DestinationNotFound => "the host name does not resolve".into(),
        ErrorCode::DestinationUnavailable | ErrorCode::ConnectionRefused => {
            "the connection was refused".into()
        }
        ErrorCode::DestinationIpProhibited | ErrorCode::DestinationIpUnroutable => {
            "the destination address is blocked".into()
        }
        ErrorCode::ConnectionTimeout => "timed out connecting".into(),
        ErrorCode::ConnectionReadTimeout => "timed out waiting for the answer".into(),
        ErrorCode::TlsCertificateError | ErrorCode::TlsAlertReceived(_) => {
            "the TLS certificate was not accepted".into()
        }
        ErrorCode::HttpRequestDenied => {
            "the runtime denied the request (allowed_outbound_hosts)".into()
        }
        other => format!("{other:?}"),
    }
}

/// Starts one request; its response future, or why it could not start.
fn start(req: &Outgoing, timeouts: &Timeouts) -> Result<FutureIncomingResponse, String> {
    let url = url_parts(&req.url)?;
    let pairs: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .chain(std::iter::once((
            "content-length".to_owned(),
            req.body.len().to_string().into_bytes(),
        )))
        .collect();
    let headers = Fields::from_list(&pairs).map_err(|e| format!("bad header: {e:?}"))?;
    let request = OutgoingRequest::new(headers);
    let method = match req.method.as_str() {
        "PUT" => Method::Put,
        // The API's one look-up before a create (Matrix's whoami, to name the bot).
        "GET" => Method::Get,
        _ => Method::Post,
    };
    let setup = [
        request.set_method(&method),
        request.set_scheme(Some(&url.scheme)),
        request.set_authority(Some(&url.authority)),
        request.set_path_with_query(Some(&url.path)),
    ];
    if setup.iter().any(Result::is_err) {
        // Errors land in the stored delivery state: name the host, never the path (a push
        // endpoint's path identifies the browser; a webhook's often carries a token).
        return Err(format!("{} cannot be requested", url.authority));
    }
    let body = request
        .body()
        .map_err(|()| "the request body is unavailable".to_owned())?;
    let options = RequestOptions::new();
    // Hosts may not support every option; the overall deadline still bounds the wait.
    let _ = options.set_connect_timeout(Some(nanos(timeouts.connect)));
    let _ = options.set_first_byte_timeout(Some(nanos(timeouts.first_byte)));
    let _ = options.set_between_bytes_timeout(Some(nanos(timeouts.first_byte)));
    let future = outgoing_handler::handle(request, Some(options)).map_err(|e| describe(&e))?;
    write_body(body, &req.body)?;
    Ok(future)
}

/// Writes the body into the request. Bodies here are small (a push message is at most 4 KiB), so
/// the host's pipe takes them without waiting for the connection.
fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), String> {
    {
        let stream = body
            .write()
            .map_err(|()| "the request body is unavailable".to_owned())?;
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("writing the request body: {e:?}"))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|e| describe(&e))
}

struct UrlParts {
    scheme: Scheme,
    authority: String,
    path: String,
}

fn url_parts(raw: &str) -> Result<UrlParts, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("the destination is not a URL: {e}"))?;
    let scheme = match url.scheme() {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => return Err(format!("{other}:// URLs cannot be delivered to")),
    };
    let host = url
        .host_str()
        .filter(|_| url.username().is_empty() && url.password().is_none())
        .ok_or_else(|| "the destination URL has no usable host".to_owned())?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    Ok(UrlParts {
        scheme,
        authority,
        path,
    })
}

/// Sends requests as they come: each is queued for its host (`host[:port]`) and started as soon
/// as that host has fewer than `timeouts.per_host` in flight, so a burst to one small receiver
/// queues here instead of overflowing its accept queue, and one slow host never holds back
/// another. The caller keeps working (claiming the next deliveries) while the first ones are on
/// the wire, calling [`Sender::pump`] now and then; [`Sender::finish`] waits for the rest, at most
/// `timeouts.overall` from the first request. Of each answer the status, `Retry-After` and the
/// start of the body are kept (what has arrived with the head: platforms' error objects are
/// small).
pub struct Sender {
    timeouts: Timeouts,
    requests: Vec<Outgoing>,
    answers: Vec<Option<Answer>>,
    hosts: BTreeMap<String, Host>,
    pending: Vec<(usize, String, FutureIncomingResponse)>,
    /// Counts from the first request, so slow starts eat into it too.
    deadline: Option<u64>,
}

impl Sender {
    /// A sender with nothing queued.
    pub fn new(timeouts: Timeouts) -> Self {
        Self {
            timeouts,
            requests: Vec::new(),
            answers: Vec::new(),
            hosts: BTreeMap::new(),
            pending: Vec::new(),
            deadline: None,
        }
    }

    /// Queues `request`, starting it at once when its host has a free slot.
    pub fn send(&mut self, request: Outgoing) {
        self.deadline.get_or_insert_with(|| {
            monotonic_clock::now().saturating_add(nanos(self.timeouts.overall))
        });
        let host = url_parts(&request.url)
            .map(|u| u.authority)
            .unwrap_or_default();
        self.hosts
            .entry(host)
            .or_default()
            .queued
            .push_back(self.requests.len());
        self.requests.push(request);
        self.answers.push(None);
        self.start_queued();
    }

    /// Collects the answers that have arrived and starts queued requests in the freed slots,
    /// without waiting.
    pub fn pump(&mut self) {
        if !self.pending.is_empty() {
            self.collect(0);
            self.start_queued();
        }
    }

    /// Waits for every answer (at most until the deadline); they come back in the order the
    /// requests were sent.
    pub fn finish(mut self) -> Vec<Answer> {
        let deadline = self.deadline.unwrap_or(0);
        loop {
            self.start_queued();
            let now = monotonic_clock::now();
            if self.pending.is_empty() || now >= deadline {
                break;
            }
            self.collect(deadline - now);
        }
        for (name, host) in &self.hosts {
            for &i in &host.queued {
                self.answers[i] = Some(Answer::none(format!(
                    "not sent: {} deliveries to {name} were still waiting their turn when the time ran out",
                    host.queued.len()
                )));
            }
        }
        self.answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Answer::none("timed out waiting for the answer")))
            .collect()
    }

    fn start_queued(&mut self) {
        let per_host = self.timeouts.per_host.max(1);
        for (name, host) in &mut self.hosts {
            while host.in_flight < per_host {
                let Some(i) = host.queued.pop_front() else {
                    break;
                };
                match start(&self.requests[i], &self.timeouts) {
                    Ok(future) => {
                        host.in_flight += 1;
                        self.pending.push((i, name.clone(), future));
                    }
                    Err(e) => self.answers[i] = Some(Answer::NoAnswer(e)),
                }
            }
        }
    }

    /// Waits up to `wait_ns` for answers and records those that arrived.
    fn collect(&mut self, wait_ns: u64) {
        let timer = monotonic_clock::subscribe_duration(wait_ns);
        let pollables: Vec<_> = self.pending.iter().map(|(_, _, f)| f.subscribe()).collect();
        let mut waiting: Vec<&wasi::io::poll::Pollable> = pollables.iter().collect();
        waiting.push(&timer);
        let ready = poll::poll(&waiting);
        drop(waiting);
        drop(pollables);
        let pending = std::mem::take(&mut self.pending);
        for (n, (i, host, future)) in pending.into_iter().enumerate() {
            let is_ready = ready
                .iter()
                .any(|r| usize::try_from(*r).is_ok_and(|r| r == n));
            let answer = match is_ready.then(|| future.get()).flatten() {
                Some(Ok(Ok(response))) => Answer::Response(read(response)),
                Some(Ok(Err(e))) => Answer::NoAnswer(describe(&e)),
                Some(Err(())) => Answer::none("the answer was already taken"),
                None => {
                    self.pending.push((i, host, future));
                    continue;
                }
            };
            if let Some(h) = self.hosts.get_mut(&host) {
                h.in_flight -= 1;
                // A host that asks to slow down gets nothing more from this fan-out: what is
                // still queued for it waits as long as the host asked, then goes out again.
                if let Some(status @ (429 | 503)) = answer.status() {
                    for queued in h.queued.drain(..) {
                        self.answers[queued] = Some(Answer::Held {
                            why: format!(
                                "not sent: {host} answered {status} to another delivery (slow down)"
                            ),
                            retry_after: answer.retry_after(),
                        });
                    }
                }
            }
            self.answers[i] = Some(answer);
        }
    }
}

/// The answer's status, `Retry-After` and what has already arrived of its body (at most
/// [`MAX_BODY`] kept). Reading the body also lets the host give the connection to the next
/// request (a body dropped unread closes it). Never waits: a body still on its way is dropped,
/// and only that connection is lost.
fn read(response: IncomingResponse) -> Response {
    let status = response.status();
    // The headers handle is a child of the response: dropped before the body is taken.
    let retry_after = {
        let headers = response.headers();
        let values = headers.get(&"retry-after".to_owned());
        values
            .first()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()))
    };
    let mut kept = Vec::new();
    if let Ok(body) = response.consume() {
        if let Ok(stream) = body.stream() {
            // Answers to deliveries are small; past a few reads this is not one worth keeping.
            for _ in 0..16 {
                match stream.read(64 * 1024) {
                    Ok(bytes) if !bytes.is_empty() => {
                        let room = MAX_BODY.saturating_sub(kept.len());
                        kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
                    }
                    _ => break,
                }
            }
            drop(stream);
        }
        drop(IncomingBody::finish(body));
    }
    Response {
        status,
        retry_after,
        body: kept,
    }
}

/// One destination host's share of a fan-out.
#[derive(Debug, Default)]
struct Host {
    /// Requests not started yet, in order.
    queued: VecDeque<usize>,
    /// Requests started and not answered.
    in_flight: usize,
}
