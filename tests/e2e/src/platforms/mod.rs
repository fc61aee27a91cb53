//! Local servers that play the chat and mail platforms the app delivers to: Telegram's Bot API,
//! a Matrix homeserver, Discord and Slack incoming webhooks, ntfy, and two mail APIs (Resend,
//! Postmark). Each is written from the platform's public documentation, not from the app's code,
//! so a mistake in the app (a wrong path, a missing header, a message over a documented limit)
//! fails the test with the answer the real platform would give.
//!
//! # Layout
//! Every server is a [`PlatformServer`] over the crate's HTTPS plumbing (`https::serve`, a
//! certificate from the [`TestCa`]), with a platform state and a handler. The handler checks a
//! [`Call`] and answers one of:
//! - a refusal, recorded in [`PlatformServer::rejections`] with its reason and answered with the
//!   platform's own status and body;
//! - a valid call, recorded in [`PlatformServer::attempts`] with the status it got; accepted
//!   messages are decoded into the platform's record type (what a person would read).
//!
//! A test scripts failures for the next valid calls with [`Fault`] (rate limits, server errors),
//! and platform states (a blocked bot, a deleted webhook) through each server's own methods.

pub mod discord;
pub mod mail;
pub mod matrix;
pub mod ntfy;
pub mod slack;
pub mod telegram;
mod telegram_text;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::Value;

pub use crate::https::Rejection;
use crate::https::{listen, serve, DEFAULT_BACKLOG};
use crate::tls::TestCa;

/// More than any of these platforms takes in one call (Matrix: 65,536-byte events); beyond it the
/// body is not read.
const MAX_BODY: usize = 1024 * 1024;

/// What a test scripts for the next valid calls (after the checks pass), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The platform's rate limit answer (429), asking to wait `retry_after_secs` where the
    /// platform says how long.
    RateLimited {
        /// Seconds to wait, as the platform reports them.
        retry_after_secs: u64,
    },
    /// The platform's answer to its own failure (500).
    ServerError,
}

/// One request as the handlers see it: method, decoded path, query, headers, body.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// The path as sent (percent-encoded).
    pub path: String,
    /// The query's pairs, decoded.
    pub query: Vec<(String, String)>,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Call {
    /// A header as text: UTF-8 bytes are taken as they are (servers written in Go and Python
    /// read raw header bytes), anything else is `None`.
    pub fn header(&self, name: &str) -> Option<String> {
        let value = self.headers.get(name)?;
        std::str::from_utf8(value.as_bytes())
            .ok()
            .map(str::to_owned)
    }

    /// The first query parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The media type of `Content-Type`, lowercase, without parameters.
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }

    /// The path's segments, percent-decoded (`None` when one is not UTF-8).
    pub fn segments(&self) -> Option<Vec<String>> {
        self.path
            .trim_start_matches('/')
            .split('/')
            .map(|s| percent_decode(s, false))
            .collect()
    }
}

/// Decodes `%XX` escapes (and `+` as a space when `plus` is set, as forms encode it).
pub(crate) fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'%' => return None,
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `application/x-www-form-urlencoded` pairs (also the query string's form).
pub(crate) fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect()
}

/// The `http(s)://` links in a text, in order (ends at white space, quotes and brackets).
pub fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest
        .find("http://")
        .into_iter()
        .chain(rest.find("https://"))
        .min()
    {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || "\"'<>|()[]".contains(c))
            .unwrap_or(tail.len());
        found.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    found
}

/// An answer: status, content type, extra headers, body.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            content_type: Some("application/json"),
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// What a handler makes of a call.
pub(crate) enum Outcome {
    /// A valid call, answered with this (a success or a scripted failure).
    Valid(Reply),
    /// A call the platform refuses; `reason` says what was wrong, for the test's failure message.
    Refused { reply: Reply, reason: String },
}

pub(crate) fn refuse(reply: Reply, reason: impl Into<String>) -> Outcome {
    Outcome::Refused {
        reply,
        reason: reason.into(),
    }
}

/// A call that passed the checks, and the status it was answered.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The method.
    pub method: Method,
    /// The path.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

/// A server's records and its platform's state, behind one lock.
pub(crate) struct Shared<S> {
    pub platform: S,
    faults: VecDeque<Fault>,
    attempts: Vec<Exchange>,
    rejections: Vec<Rejection>,
}

impl<S> Shared<S> {
    /// The next scripted fault, if any (called once a call passed the checks).
    pub fn take_fault(&mut self) -> Option<Fault> {
        self.faults.pop_front()
    }
}

pub(crate) type Handler<S> = fn(&mut Shared<S>, &Call) -> Outcome;

/// A running platform server; stopped with its connections on drop.
pub struct PlatformServer<S> {
    shared: Arc<Mutex<Shared<S>>>,
    port: u16,
    accept: tokio::task::JoinHandle<()>,
}

impl<S> Drop for PlatformServer<S> {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn lock<S>(shared: &Mutex<Shared<S>>) -> MutexGuard<'_, Shared<S>> {
    // A handler that panicked leaves the records as they were: still worth reading.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<S: Send + 'static> PlatformServer<S> {
    pub(crate) async fn start(ca: &TestCa, platform: S, handler: Handler<S>) -> Result<Self> {
        let (listener, port) = listen(DEFAULT_BACKLOG)?;
        let shared = Arc::new(Mutex::new(Shared {
            platform,
            faults: VecDeque::new(),
            attempts: Vec::new(),
            rejections: Vec::new(),
        }));
        let on_tls_error = {
            let shared = Arc::clone(&shared);
            move |reason: String| {
                lock(&shared).rejections.push(Rejection {
                    path: String::new(),
                    status: 0,
                    reason,
                    at: Instant::now(),
                });
            }
        };
        let answer = {
            let shared = Arc::clone(&shared);
            move |req| {
                let shared = Arc::clone(&shared);
                async move { handle(req, &shared, handler).await }
            }
        };
        let accept = serve(listener, ca, on_tls_error, answer);
        Ok(Self {
            shared,
            port,
            accept,
        })
    }

    /// `https://localhost:<port>`: where the app's platform URL variable points.
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// Runs `f` on the platform's state.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut lock(&self.shared).platform)
    }

    /// Answers the next `n` valid calls with `fault`, after any fault already scripted.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        lock(&self.shared)
            .faults
            .extend(std::iter::repeat_n(fault, n));
    }

    /// Every call that passed the checks, with its answer (retries show here).
    pub fn attempts(&self) -> Vec<Exchange> {
        lock(&self.shared).attempts.clone()
    }

    /// Every refused call, with the reason.
    pub fn rejections(&self) -> Vec<Rejection> {
        lock(&self.shared).rejections.clone()
    }

    /// Waits until `ready` holds for the state or `timeout` passed; whether it held.
    pub async fn wait_until(&self, timeout: Duration, ready: impl Fn(&S) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if ready(&lock(&self.shared).platform) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn handle<S>(
    req: hyper::Request<hyper::body::Incoming>,
    shared: &Mutex<Shared<S>>,
    handler: Handler<S>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let reason = format!("cannot read the body: {e}");
            lock(shared).rejections.push(Rejection {
                path,
                status: 413,
                reason: reason.clone(),
                at: Instant::now(),
            });
            return respond(Reply::text(413, &reason));
        }
    };
    let call = Call {
        method: parts.method,
        path: path.clone(),
        query: form_pairs(parts.uri.query().unwrap_or_default()),
        headers: parts.headers,
        body,
    };
    let mut guard = lock(shared);
    let reply = match handler(&mut guard, &call) {
        Outcome::Valid(reply) => {
            guard.attempts.push(Exchange {
                method: call.method.clone(),
                path,
                status: reply.status,
                at: Instant::now(),
            });
            reply
        }
        Outcome::Refused { reply, reason } => {
            guard.rejections.push(Rejection {
                path,
                status: reply.status,
                reason,
                at: Instant::now(),
            });
            reply
        }
    };
    drop(guard);
    respond(reply)
}

fn respond(reply: Reply) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    if let Some(ct) = reply.content_type {
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(ct),
        );
    }
    for (name, value) in reply.headers {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.append(name, value);
        }
    }
    resp
}

/// A random token of `n` characters from `alphabet`.
pub(crate) fn random_token(n: usize, alphabet: &[u8]) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("system randomness is available");
    bytes
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect()
}

pub(crate) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A random version-4 UUID, as the mail APIs make message ids.
pub(crate) fn uuid() -> String {
    let h = random_token(32, b"0123456789abcdef");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}
