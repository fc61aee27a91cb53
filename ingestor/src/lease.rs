//! One ingestor per chain across hosts: the chain's lease at the management API
//! (`PUT /api/sources/{id}/lease`, rules in `aurras_domain::lease`).
//!
//! An ingestor stands by until the lease is free, then holds it by renewing it every third of
//! its time to live, reporting how far it got. It produces a block only while its own deadline
//! lies ahead: the time the granting request was *sent* plus the time to live, less a tenth for
//! the block in flight and for clocks that run at slightly different rates. The app hands the
//! lease to another ingestor only after the time to live has passed on its clock, which is
//! later. So an ingestor that was stopped (SIGSTOP, a frozen VM) and wakes up after losing the
//! lease produces nothing more, and one that lost the API stops at its deadline.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use aurras_domain::lease::Progress;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::pipeline::sleep_or_shutdown;
use crate::sources::{ApiClient, TokenRefused};

/// `--lease-ttl-secs`, shared by `ingest` and `worker`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LeaseArg {
    /// With `--api`: produce a chain's events only while holding its lease there, so a second
    /// ingestor of the chain (on any host) stands by until this one stops or lapses. The lease
    /// lasts this many seconds and is renewed every third of them; 0 turns leasing off.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(0..=600), env = "AURRAS_LEASE_TTL_SECS")]
    pub lease_ttl_secs: u64,
}

impl LeaseArg {
    /// The lease on source `source_id`'s chain at `api`, unless leasing is off.
    pub fn config(&self, api: &ApiClient, source_id: &str) -> Option<LeaseConfig> {
        (self.lease_ttl_secs > 0).then(|| LeaseConfig {
            api: api.clone(),
            source_id: source_id.to_owned(),
            ttl: Duration::from_secs(self.lease_ttl_secs),
        })
    }
}

/// What is needed to hold a chain's lease.
#[derive(Clone)]
pub struct LeaseConfig {
    /// The management API.
    pub api: ApiClient,
    /// The source whose chain is leased.
    pub source_id: String,
    /// The lease's time to live.
    pub ttl: Duration,
}

/// The API's answer to a request for the lease.
#[derive(Debug)]
enum Answer {
    /// Granted (or renewed), with the progress last reported by any holder.
    Granted(Option<Progress>),
    /// Held by another ingestor for about this long.
    Held { by: String, retry_after: Duration },
}

#[derive(Deserialize)]
struct LeaseView {
    progress: Option<Progress>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
}

/// A chain's lease as `GET /api/sources/{id}/lease` shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct LeaseState {
    /// Who holds it (`None`: nobody).
    pub holder: Option<String>,
    /// The last progress reported.
    pub progress: Option<Progress>,
}

/// The lease on source `source_id`'s chain (for `status`).
pub async fn state(api: &ApiClient, source_id: &str) -> Result<LeaseState> {
    let path = format!("/api/sources/{source_id}/lease");
    let resp = api
        .request(Method::GET, &path)
        .send()
        .await
        .with_context(|| format!("--api: cannot reach {}", api.base()))?;
    match resp.status() {
        StatusCode::OK => resp.json().await.context("--api: unexpected lease"),
        StatusCode::UNAUTHORIZED => Err(TokenRefused(api.base().into()).into()),
        status => bail!("--api: GET {path} answered {status}"),
    }
}

/// A holder name unique to this process: `host:pid:start-time`.
pub fn holder_name() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| {
            h.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .take(64)
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{host}:{}:{started:x}", std::process::id())
}

/// A lease held: the deadline to produce by and the progress to report, shared between the
/// pipeline and the task renewing it.
#[derive(Clone)]
pub struct Lease {
    inner: Arc<Mutex<Held>>,
}

struct Held {
    deadline: Instant,
    progress: Option<Progress>,
    /// Set once the API answered that another ingestor holds it.
    lost_to: Option<String>,
}

impl Lease {
    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this ingestor may produce now.
    pub fn valid(&self) -> bool {
        let held = self.held();
        held.lost_to.is_none() && Instant::now() < held.deadline
    }

    /// Why it may not, for the log.
    pub fn why_lost(&self) -> String {
        match &self.held().lost_to {
            Some(by) => format!("the lease went to {by}"),
            None => "the lease lapsed before it could be renewed".into(),
        }
    }

    /// Records how far this ingestor got; the next renewal reports it.
    pub fn report(&self, progress: Progress) {
        self.held().progress = Some(progress);
    }

    /// The progress the lease carried when it was granted (or last reported).
    pub fn progress(&self) -> Option<Progress> {
        self.held().progress.clone()
    }
}

/// The lease on one chain, as this process asks for it.
#[derive(Clone)]
pub struct Leaser {
    config: LeaseConfig,
    holder: String,
}

impl Leaser {
    /// Asks as `holder`.
    pub fn new(config: LeaseConfig, holder: String) -> Self {
        Self { config, holder }
    }

    /// This process's holder name.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Waits until the lease is this process's (`None` on shutdown), then keeps renewing it in
    /// the background until `shutdown` or until it is lost.
    pub async fn acquire(&self, shutdown: &mut watch::Receiver<bool>) -> Result<Option<Lease>> {
        let mut announced = None::<String>;
        let mut failures = 0u32;
        loop {
            let sent = Instant::now();
            match self.ask(None).await {
                Ok(Answer::Granted(progress)) => {
                    tracing::info!(holder = %self.holder, "holding the chain's ingestion lease");
                    let lease = Lease {
                        inner: Arc::new(Mutex::new(Held {
                            deadline: self.deadline(sent),
                            progress,
                            lost_to: None,
                        })),
                    };
                    tokio::spawn(self.renew(Arc::downgrade(&lease.inner), shutdown.clone()));
                    return Ok(Some(lease));
                }
                Ok(Answer::Held { by, retry_after }) => {
                    if announced.as_deref() != Some(&by) {
                        tracing::info!(
                            holder = %by,
                            "standing by: another ingestor holds this chain's lease"
                        );
                        announced = Some(by);
                    }
                    let pause = retry_after.clamp(Duration::from_millis(200), self.config.ttl / 3);
                    if sleep_or_shutdown(pause, shutdown).await {
                        return Ok(None);
                    }
                }
                Err(e) if e.is::<TokenRefused>() => return Err(e),
                Err(e) => {
                    failures += 1;
                    tracing::warn!("{e:#}; asking again");
                    if sleep_or_shutdown(crate::pipeline::backoff(failures), shutdown).await {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Lets go of the lease (on a clean stop: a time to live of 0), reporting the progress of
    /// the run that held it last, so another ingestor takes over at once from there.
    pub async fn release(&self, progress: Option<Progress>) {
        match self.ask_for(Duration::ZERO, progress).await {
            Ok(Answer::Granted(_)) => tracing::info!("released the chain's ingestion lease"),
            Ok(Answer::Held { by, .. }) => {
                tracing::info!(holder = %by, "the chain's ingestion lease was already another's");
            }
            Err(e) => tracing::warn!("releasing the chain's ingestion lease: {e:#}"),
        }
    }

    fn deadline(&self, sent: Instant) -> Instant {
        sent + self.config.ttl - self.config.ttl / 10
    }

    /// Renews every third of the time to live until shutdown, loss, or the pipeline dropping
    /// the lease; a failed renewal is tried again at the next tick, and the deadline passes on
    /// its own if none succeeds.
    fn renew(
        &self,
        lease: Weak<Mutex<Held>>,
        mut shutdown: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let this = self.clone();
        async move {
            loop {
                if sleep_or_shutdown(this.config.ttl / 3, &mut shutdown).await {
                    return;
                }
                let Some(inner) = lease.upgrade() else {
                    return;
                };
                let lease = Lease { inner };
                let sent = Instant::now();
                match this.ask(lease.progress()).await {
                    Ok(Answer::Granted(_)) => lease.held().deadline = this.deadline(sent),
                    Ok(Answer::Held { by, .. }) => {
                        tracing::warn!(holder = %by, "lost the chain's ingestion lease");
                        lease.held().lost_to = Some(by);
                        return;
                    }
                    Err(e) => tracing::warn!("renewing the chain's ingestion lease: {e:#}"),
                }
            }
        }
    }

    async fn ask(&self, progress: Option<Progress>) -> Result<Answer> {
        self.ask_for(self.config.ttl, progress).await
    }

    async fn ask_for(&self, ttl: Duration, progress: Option<Progress>) -> Result<Answer> {
        let path = format!("/api/sources/{}/lease", self.config.source_id);
        let body = json!({
            "holder": self.holder,
            "ttl_ms": u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            "progress": progress,
        });
        let resp = self
            .config
            .api
            .request(Method::PUT, &path)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("--api: cannot reach {}", self.config.api.base()))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        match status {
            StatusCode::OK => {
                let view: LeaseView = resp.json().await.context("--api: unexpected lease")?;
                Ok(Answer::Granted(view.progress))
            }
            StatusCode::CONFLICT => {
                let body: ErrorBody = resp.json().await.context("--api: unexpected refusal")?;
                Ok(Answer::Held {
                    by: holder_in(&body.error.message),
                    retry_after: retry_after.unwrap_or(self.config.ttl / 3),
                })
            }
            StatusCode::UNAUTHORIZED => Err(TokenRefused(self.config.api.base().into()).into()),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Err(anyhow!(
                "--api: the API at {} has no source {} or no leases (answered {status}); \
                 upgrade it, or run with --lease-ttl-secs 0",
                self.config.api.base(),
                self.config.source_id
            )),
            _ => bail!(
                "--api: PUT {path} answered {status}: {}",
                resp.text().await.unwrap_or_default()
            ),
        }
    }
}

/// The holder named in a refusal ("… is being ingested by <holder>; …"), or the whole message.
fn holder_in(message: &str) -> String {
    message
        .split_once("ingested by ")
        .and_then(|(_, rest)| rest.split(';').next())
        .unwrap_or(message)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_names_are_valid_and_the_refusal_names_the_holder() {
        let name = holder_name();
        assert!(aurras_domain::lease::check_holder(&name).is_ok(), "{name}");
        assert_eq!(
            holder_in("paseo is being ingested by h:1:ab; its lease lapses in 9 ms unless renewed"),
            "h:1:ab"
        );
        assert_eq!(holder_in("odd"), "odd");
    }
}
