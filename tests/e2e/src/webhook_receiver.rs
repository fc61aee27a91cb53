//! A local webhook receiver for the end-to-end tests: one HTTPS path per hook, each verifying the
//! Standard Webhooks signature with its own secret, as a careful customer's endpoint would.
//! A refused delivery is answered 400/401/415 and recorded with its reason.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use aurras_domain::signature::{SigningKey, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use http::HeaderMap;
use serde_json::Value;

use crate::https::{Answer, Attempt, Refusal, Rejection, Request, Server, DEFAULT_BACKLOG};
use crate::tls::TestCa;

/// A hook: where the app should post.
#[derive(Debug, Clone)]
pub struct Hook {
    id: String,
    url: String,
}

impl Hook {
    /// `https://localhost:<port>/hook/<id>`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A delivery that passed the signature check.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The body.
    pub body: Value,
    /// All request headers.
    pub headers: HeaderMap,
    /// `webhook-id` (the same on every retry of one message).
    pub id: String,
    /// When it arrived.
    pub at: Instant,
}

fn check(key: &Option<SigningKey>, req: &Request) -> Result<Delivery, Refusal> {
    let Some(key) = key else {
        return Err(Refusal::new(401, "the hook has no secret yet (set_secret)"));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    key.verify(
        req.header(ID_HEADER),
        req.header(TIMESTAMP_HEADER),
        req.header(SIGNATURE_HEADER),
        &req.body,
        now,
    )
    .map_err(|e| Refusal::new(401, format!("signature: {e}")))?;
    match req.header("content-type") {
        Some(ct) if ct.to_ascii_lowercase().starts_with("application/json") => {}
        other => {
            return Err(Refusal::new(
                415,
                format!("Content-Type is {other:?}, not application/json"),
            ))
        }
    }
    let body = serde_json::from_slice(&req.body)
        .map_err(|e| Refusal::new(400, format!("the body is not JSON: {e}")))?;
    Ok(Delivery {
        body,
        headers: req.headers.clone(),
        id: req.header(ID_HEADER).unwrap_or_default().to_owned(),
        at: Instant::now(),
    })
}

/// The receiver; stops on drop.
pub struct WebhookReceiver {
    server: Server<Option<SigningKey>, Delivery>,
}

impl WebhookReceiver {
    /// Serves HTTPS with `ca`'s certificate on a free loopback port.
    pub async fn start(ca: &TestCa) -> Result<Self> {
        Self::start_with_backlog(ca, DEFAULT_BACKLOG).await
    }

    /// Serves as [`WebhookReceiver::start`] does, accepting at most `backlog` pending connections
    /// (a small service's accept queue).
    pub async fn start_with_backlog(ca: &TestCa, backlog: u32) -> Result<Self> {
        Ok(Self {
            server: Server::start_with_backlog(ca, "hook", 200, check, None, backlog).await?,
        })
    }

    /// `https://localhost:<port>`.
    pub fn origin(&self) -> String {
        self.server.origin()
    }

    /// A new hook verifying with `secret` (`whsec_<base64>`).
    pub fn hook(&self, secret: &str) -> Result<Hook> {
        let key = SigningKey::from_secret(secret)?;
        let (id, url) = self.server.add(Some(key));
        Ok(Hook { id, url })
    }

    /// A new hook whose secret is not known yet: the app makes the secret when the webhook is
    /// registered, so the URL has to exist first. Deliveries are refused (401) until
    /// [`WebhookReceiver::set_secret`].
    pub fn pending_hook(&self) -> Hook {
        let (id, url) = self.server.add(None);
        Hook { id, url }
    }

    /// Verifies `hook`'s deliveries with `secret` from now on.
    pub fn set_secret(&self, hook: &Hook, secret: &str) -> Result<()> {
        let key = SigningKey::from_secret(secret)?;
        self.server.set_context(&hook.id, Some(key));
        Ok(())
    }

    /// Answers the next valid deliveries with `statuses`, in order, then 200 again.
    pub fn script(&self, hook: &Hook, statuses: impl IntoIterator<Item = u16>) {
        self.server.script(&hook.id, statuses);
    }

    /// Answers `status` to every delivery from now on (410 for a hook that was removed).
    pub fn always(&self, hook: &Hook, status: u16) {
        self.server.always(&hook.id, Answer::Status(status));
    }

    /// Takes the next deliveries and never answers.
    pub fn hang(&self, hook: &Hook) {
        self.server.always(&hook.id, Answer::Hang);
    }

    /// Deliveries accepted (answered 2xx), in order of arrival.
    pub fn received(&self, hook: &Hook) -> Vec<Delivery> {
        self.server.received(&hook.id)
    }

    /// Every validly signed delivery, with what it was answered (retries show here).
    pub fn attempts(&self, hook: &Hook) -> Vec<Attempt> {
        self.server.attempts(&hook.id)
    }

    /// Every refused request, with the reason.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.server.rejections()
    }

    /// Waits until `n` deliveries were accepted or `timeout` passed; returns what arrived.
    pub async fn wait_for(&self, hook: &Hook, n: usize, timeout: Duration) -> Vec<Delivery> {
        self.server.wait_for(&hook.id, n, timeout).await
    }
}
