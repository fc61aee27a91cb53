//! `aurras-ingestor recipes --chain C`: publish, in one step, every event of the recipes the
//! chain's runtime can serve. The API cannot know which pallets a runtime has; the ingestor reads
//! them from the chain's metadata, adds the recipes' events it finds to the source's events (what
//! was published stays), and says for each recipe which events now serve it, or which pallet the
//! chain lacks (on Polkadot and Kusama, staking and governance move to the Asset Hubs). It also
//! stores the runtime's referendum tracks and the chain's assets (id, symbol, decimals) with the
//! source, so people can follow tracks by name and pick assets by symbol.

use std::collections::BTreeSet;

use anyhow::{anyhow, Context};
use aurras_domain::names::ChainName;
use aurras_domain::recipe::RECIPES;
use clap::Args;
use reqwest::Method;
use serde::Serialize;

use crate::chain::{Chain, RpcBackendArg};
use crate::sources::ApiClient;
use crate::Failure;

/// Publish the events of every recipe the chain's runtime serves.
#[derive(Args)]
pub struct RecipesArgs {
    /// The management API, where the chain's source is registered.
    #[arg(long, env = "AURRAS_API")]
    api: String,
    /// The operator token for `--api`.
    #[arg(long, env = "AURRAS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// The chain whose source publishes the recipes' events.
    #[arg(long)]
    chain: String,
    #[command(flatten)]
    backend: RpcBackendArg,
    /// Say what would be published, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One recipe on the chain.
#[derive(Debug, Serialize)]
struct Served {
    recipe: &'static str,
    /// The recipe's events the runtime has (and the source now publishes).
    events: Vec<&'static str>,
    /// The pallets of the recipe's events the runtime lacks, when it has none of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    missing: Vec<&'static str>,
}

/// What the command did.
#[derive(Debug, Serialize)]
struct Report {
    chain: String,
    source: String,
    spec_version: u32,
    /// Events the source did not publish before.
    added: Vec<String>,
    /// The runtime's referendum tracks, `(id, name)`, now stored with the source.
    tracks: Vec<(u16, String)>,
    /// The chain's assets with metadata, now stored with the source.
    assets: usize,
    recipes: Vec<Served>,
    dry_run: bool,
}

/// `aurras-ingestor recipes`.
pub async fn recipes(args: RecipesArgs) -> Result<(), Failure> {
    let api = ApiClient::new(&args.api, &args.admin_token);
    let source = api.source(&args.chain).await.map_err(Failure::Config)?;
    let name =
        ChainName::parse(&source.chain).map_err(|m| Failure::Config(anyhow!("--chain: {m}")))?;
    let endpoint = api
        .endpoint(&source, args.backend.rpc_backend)
        .await
        .map_err(Failure::Config)?;
    let chain = Chain::connect(name, &endpoint, source.ss58_prefix)
        .await
        .map_err(Failure::Unreachable)?;
    let head = chain.finalized_head().await.map_err(Failure::Unreachable)?;
    let at = chain.at(head).await.map_err(Failure::Unreachable)?;
    let known: BTreeSet<String> = Chain::known_events(&at).into_iter().collect();

    let recipes: Vec<Served> = RECIPES
        .iter()
        .map(|r| {
            let events: Vec<&'static str> = r
                .events
                .iter()
                .copied()
                .filter(|e| known.contains(*e))
                .collect();
            let mut missing: Vec<&'static str> = Vec::new();
            if events.is_empty() {
                for pallet in r
                    .events
                    .iter()
                    .filter_map(|e| e.split_once('.').map(|(p, _)| p))
                {
                    if !missing.contains(&pallet) {
                        missing.push(pallet);
                    }
                }
            }
            Served {
                recipe: r.id,
                events,
                missing,
            }
        })
        .collect();
    let mut events: BTreeSet<String> = source.events.clone();
    let added: Vec<String> = recipes
        .iter()
        .flat_map(|r| r.events.iter())
        .filter(|e| events.insert((**e).to_owned()))
        .map(|e| (*e).to_owned())
        .collect();
    let tracks: Vec<(u16, String)> = crate::enrich::referenda::track_names(&at)
        .into_iter()
        .collect();
    let assets = crate::enrich::assets::all(&at)
        .await
        .map_err(Failure::Unreachable)?;
    if !args.dry_run {
        publish(&api, &source.id, &events, &tracks, &assets).await?;
    }
    let report = Report {
        chain: source.chain,
        source: source.id,
        spec_version: at.spec_version(),
        added,
        tracks,
        assets: assets.len(),
        recipes,
        dry_run: args.dry_run,
    };
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::Runtime(anyhow!("cannot write JSON: {e}")))?;
        println!("{text}");
    } else {
        print_table(&report);
    }
    Ok(())
}

/// `PATCH /api/sources/{id}` with the events and the tracks.
async fn publish(
    api: &ApiClient,
    id: &str,
    events: &BTreeSet<String>,
    tracks: &[(u16, String)],
    assets: &[(u32, aurras_domain::source::TokenInfo)],
) -> Result<(), Failure> {
    let path = format!("/api/sources/{id}");
    let tracks: Vec<serde_json::Value> = tracks
        .iter()
        .map(|(id, name)| serde_json::json!({"id": id, "name": name}))
        .collect();
    let mut body = serde_json::json!({ "events": events, "tracks": tracks });
    if !assets.is_empty() {
        body["assets"] = assets
            .iter()
            .map(
                |(id, t)| serde_json::json!({"id": id, "symbol": t.symbol, "decimals": t.decimals}),
            )
            .collect();
    }
    let answer = api
        .request(Method::PATCH, &path)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("--api: cannot reach {}", api.base()))
        .map_err(Failure::Unreachable)?;
    let status = answer.status();
    if !status.is_success() {
        let body = answer.text().await.unwrap_or_default();
        return Err(Failure::Config(anyhow!(
            "--api: PATCH {path} answered {status}: {body}"
        )));
    }
    Ok(())
}

fn print_table(report: &Report) {
    let verb = if report.dry_run {
        "would publish"
    } else {
        "published"
    };
    println!(
        "{} (source {}, runtime spec {}): {verb} {} more event{}",
        report.chain,
        report.source,
        report.spec_version,
        report.added.len(),
        if report.added.len() == 1 { "" } else { "s" }
    );
    if !report.tracks.is_empty() {
        let names: Vec<String> = report
            .tracks
            .iter()
            .map(|(id, name)| format!("{name} ({id})"))
            .collect();
        println!("  referendum tracks: {}", names.join(", "));
    }
    if report.assets > 0 {
        println!("  assets with metadata: {}", report.assets);
    }
    for r in &report.recipes {
        if r.events.is_empty() {
            println!(
                "  {:<20} not served: the runtime has no {}",
                r.recipe,
                r.missing.join(" or ")
            );
        } else {
            println!("  {:<20} {}", r.recipe, r.events.join(", "));
        }
    }
}
