//! `reencrypt`: after a key rotation, moves every trigger record to the current key by calling
//! `POST /api/maintenance/reencrypt` page by page until the app says every record was looked at.

use anyhow::anyhow;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::sources::{ApiClient, TokenRefused};
use crate::Failure;

/// Re-encrypt every trigger record under the app's current key (after putting a new key first in
/// `encryption_keys`); safe to repeat, and records changed meanwhile are never overwritten.
#[derive(Args)]
pub struct ReencryptArgs {
    /// The management API.
    #[arg(long, env = "AURRAS_API")]
    api: String,
    /// The operator token for `--api`.
    #[arg(long, env = "AURRAS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// Records the app handles per call, 1 to 1000.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(1..=1000))]
    batch: u16,
}

/// One page's answer.
#[derive(Deserialize)]
struct Page {
    examined: u64,
    resealed: u64,
    next: Option<String>,
    key: String,
}

/// `aurras-ingestor reencrypt`.
pub async fn reencrypt(args: ReencryptArgs) -> Result<(), Failure> {
    let api = ApiClient::new(&args.api, &args.admin_token);
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let (mut examined, mut resealed) = (0u64, 0u64);
    let mut after: Option<String> = None;
    let key = loop {
        let page = page(&api, args.batch, after.as_deref()).await?;
        examined += page.examined;
        resealed += page.resealed;
        bar.set_message(format!(
            "{examined} trigger records examined, {resealed} re-sealed"
        ));
        bar.tick();
        match page.next {
            Some(next) => after = Some(next),
            None => break page.key,
        }
    };
    bar.finish_and_clear();
    println!("{examined} trigger records examined, {resealed} re-sealed; every record is under key {key}");
    Ok(())
}

async fn page(api: &ApiClient, batch: u16, after: Option<&str>) -> Result<Page, Failure> {
    let mut path = format!("/api/maintenance/reencrypt?limit={batch}");
    if let Some(after) = after {
        path.push_str(&format!("&after={after}"));
    }
    let resp = api
        .request(Method::POST, &path)
        .send()
        .await
        .map_err(|e| Failure::Runtime(anyhow!("--api: cannot reach {}: {e}", api.base())))?;
    match resp.status() {
        StatusCode::OK => resp
            .json()
            .await
            .map_err(|e| Failure::Runtime(anyhow!("--api: unexpected answer: {e}"))),
        StatusCode::UNAUTHORIZED => Err(Failure::Config(TokenRefused(api.base().into()).into())),
        status => Err(Failure::Runtime(anyhow!(
            "the API answered {status}: {}",
            resp.text().await.unwrap_or_default()
        ))),
    }
}
