//! Posting batches to the app's `dispatch` component, signed the Standard Webhooks way, and
//! sorting the answer into "taken" (a parsed `200`) or a failure worth retrying.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use aurras_domain::signature::SigningKey;

use super::metrics::RelayMetrics;
use super::wire::Answer;

/// Why an attempt did not hand the batch over; every case is retried.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The app refused the signature.
    #[error("the app refused the relay's signature (401): does --relay-secret match the app's relay_secret? {0}")]
    Unauthorized(String),
    /// Any other status.
    #[error("the app answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The app cannot take this request as it is (400, 413, 422): retrying it unchanged would
    /// hold its partition forever, so the relay splits it.
    #[error("the app refused the batch ({status}): {body}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// A `200` whose body does not follow the contract.
    #[error("the app's 200 answer does not follow the contract: {0}")]
    Malformed(String),
    /// No answer at all (refused connection, time-out, reset).
    #[error("no answer from the app: {0}")]
    Unreachable(String),
}

impl PostError {
    /// A short name for the kind of failure, so repeated failures of one kind are logged once.
    pub fn kind(&self) -> String {
        match self {
            PostError::Unauthorized(_) => "401".to_owned(),
            PostError::Status { status, .. } | PostError::Refused { status, .. } => {
                status.to_string()
            }
            PostError::Malformed(_) => "malformed".to_owned(),
            PostError::Unreachable(_) => "unreachable".to_owned(),
        }
    }
}

/// The `dispatch` endpoint and the key that signs for it.
pub struct DispatchClient {
    url: String,
    key: SigningKey,
    http: reqwest::Client,
    metrics: Arc<RelayMetrics>,
}

/// At most this much of an error body goes to the log.
const BODY_EXCERPT: usize = 300;

impl DispatchClient {
    /// A client posting to `<app>/dispatch`; each attempt gives up after `timeout`. How long
    /// each answered request took, and where the app says it went (its `Server-Timing`), go to
    /// `metrics`.
    pub fn new(
        app: &str,
        key: SigningKey,
        timeout: Duration,
        metrics: Arc<RelayMetrics>,
    ) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            url: format!("{}/dispatch", app.trim_end_matches('/')),
            key,
            http,
            metrics,
        })
    }

    /// One attempt at batch `id`: signed with this moment's timestamp.
    pub async fn post(&self, id: &str, body: &[u8]) -> Result<Answer, PostError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let signed = self.key.sign(id, now, body);
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in signed.pairs() {
            request = request.header(name, value);
        }
        let sent = Instant::now();
        let response = request
            .send()
            .await
            .map_err(|e| PostError::Unreachable(format!("{e:#}")))?;
        let status = response.status().as_u16();
        let timing = response
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| PostError::Unreachable(format!("reading the answer: {e:#}")))?;
        self.metrics
            .dispatch_answered(sent.elapsed(), timing.as_deref());
        match status {
            200 => Answer::parse(&bytes).map_err(|e| PostError::Malformed(format!("{e:#}"))),
            401 => Err(PostError::Unauthorized(excerpt(&bytes))),
            400 | 413 | 422 => Err(PostError::Refused {
                status,
                body: excerpt(&bytes),
            }),
            status => Err(PostError::Status {
                status,
                body: excerpt(&bytes),
            }),
        }
    }
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut cut: String = text.chars().take(BODY_EXCERPT).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}
