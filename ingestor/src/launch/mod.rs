//! `aurras-ingestor up`: the whole pipeline on one machine, behind the README's `scripts/up`. It
//! starts a local broker (unless `--brokers` names one), optionally the local dev chain, the app
//! (`spin up`, or the test host where Spin is not installed) and the worker, prints where
//! everything is, and on Ctrl-C stops them all, leaving none behind.
//!
//! State lives under `--state-dir`: `broker/` (tansu's sqlite), `cursors/`, `dev-chain/`
//! (chopsticks' working directory, new at every start) and `logs/`.

mod children;
mod private;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::json;
use tokio::process::Command;
use tokio::sync::watch;

use crate::pipeline::requested;
use crate::Failure;
use children::Children;
use private::PrivateDestinations;

/// The dev chain's source: a fixed chain name the printed commands and docs can rely on.
pub const DEV_CHAIN: &str = "dev";
/// The worker's cursors, under the state directory.
const CURSORS: &str = "cursors";
/// Bob, the dev chain's funded second account: where the printed test transfer goes.
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

/// Run the app, a broker, the worker and optionally a local chain; Ctrl-C stops them all.
#[derive(Args)]
pub struct UpArgs {
    /// Where the app listens.
    #[arg(long, default_value = "127.0.0.1:3000", env = "AURRAS_LISTEN")]
    listen: SocketAddr,
    /// The app's manifest.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// The app's runtime configuration: its key-value store (sqlite or Redis), `[[client_tls]]`
    /// to trust a private CA, `block_networks`. Default: `runtime-config.toml`, which blocks
    /// private networks; `runtime-config.dev.toml` with --allow-private-destinations.
    #[arg(long, env = "AURRAS_RUNTIME_CONFIG_FILE")]
    runtime_config_file: Option<PathBuf>,
    /// Local development only: let deliveries reach loopback and private networks (a webhook
    /// receiver on this machine). Sets the app's `allow_private_destinations` and, unless
    /// --runtime-config-file names one, runs it with `runtime-config.dev.toml` (no
    /// `block_networks`). Implied by --dev-chain.
    #[arg(long)]
    allow_private_destinations: bool,
    /// Where the broker's data, the cursors, the dev chain and the logs live.
    #[arg(long, default_value = ".spin", env = "AURRAS_STATE_DIR")]
    state_dir: PathBuf,
    /// Kafka-compatible brokers to use instead of starting a local one, `host:port,…`.
    #[arg(long, env = "AURRAS_BROKERS")]
    brokers: Option<String>,
    /// The local broker's port.
    #[arg(long, default_value_t = 9092, env = "AURRAS_BROKER_PORT")]
    broker_port: u16,
    /// The broker program (tansu) when no `--brokers` is given.
    #[arg(long, default_value = "tansu", env = "AURRAS_TANSU")]
    tansu: PathBuf,
    /// Also run a local chain (chopsticks on Paseo's genesis, Alice and Bob funded) and register
    /// it as the source `dev`.
    #[arg(long)]
    dev_chain: bool,
    /// The dev chain's port.
    #[arg(long, default_value_t = 9944, env = "AURRAS_DEV_CHAIN_PORT")]
    dev_chain_port: u16,
    /// Where chopsticks is installed (`npm ci`) with the dev chain's config.
    #[arg(long, default_value = "tests/chain", hide = true)]
    dev_chain_dir: PathBuf,
    /// Paseo's genesis chain spec (`scripts/fetch-paseo-spec`).
    #[arg(long, default_value = "target/chain-specs/paseo.json", hide = true)]
    dev_chain_spec: PathBuf,
    /// What serves the app: `spin`, or `aurras-testhost`. Default: `spin` when it is on the PATH,
    /// else the `aurras-testhost` beside this program.
    #[arg(long, env = "AURRAS_APP_HOST")]
    app_host: Option<PathBuf>,
    /// How often the worker re-reads the registered sources, in seconds.
    #[arg(long, default_value_t = 2, env = "AURRAS_API_POLL_SECS")]
    api_poll_secs: u64,
}

/// The secrets the worker shares with the app, read from the app's own variables.
struct Secrets {
    admin_token: String,
    relay_secret: String,
}

fn secret(variable: &str) -> Result<String, Failure> {
    std::env::var(variable)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Failure::Config(anyhow!(
                "{variable} is not set: the app and the worker share it (scripts/up generates it into .spin/)"
            ))
        })
}

/// Runs everything until `shutdown`, then stops it all.
pub async fn run(args: UpArgs, shutdown: watch::Receiver<bool>) -> Result<(), Failure> {
    let secrets = Secrets {
        admin_token: secret("SPIN_VARIABLE_ADMIN_TOKEN")?,
        relay_secret: secret("SPIN_VARIABLE_RELAY_SECRET")?,
    };
    // The app would refuse the worker's operator calls with this token: say so before starting.
    if let Some(why) = aurras_domain::operator::admin_token_weakness(&secrets.admin_token) {
        return Err(Failure::Config(anyhow!(
            "SPIN_VARIABLE_ADMIN_TOKEN: {why} (scripts/up generates one into .spin/)"
        )));
    }
    let app_host = app_host(args.app_host.clone()).map_err(Failure::Config)?;
    let logs = args.state_dir.join("logs");
    std::fs::create_dir_all(&logs)
        .map_err(|e| Failure::Config(anyhow!("--state-dir {}: {e}", args.state_dir.display())))?;
    let mut children = Children::new(logs.clone());

    let started = tokio::select! {
        started = start(&args, &secrets, &app_host, &mut children) => started,
        _ = requested(shutdown.clone()) => Ok(()),
    };
    let outcome = match started {
        Err(e) => Err(Failure::Runtime(e)),
        Ok(()) if *shutdown.borrow() => Ok(()),
        Ok(()) => {
            println!("Logs in {}. Ctrl-C stops everything.", logs.display());
            tokio::select! {
                _ = requested(shutdown) => Ok(()),
                exited = children.any_exit() => Err(Failure::Runtime(anyhow!("{exited}; stopping everything"))),
            }
        }
    };
    children.stop_all().await;
    outcome
}

/// Starts the broker, the dev chain, the app and the worker, in that order.
async fn start(
    args: &UpArgs,
    secrets: &Secrets,
    app_host: &Path,
    children: &mut Children,
) -> Result<()> {
    let brokers = match &args.brokers {
        Some(brokers) => brokers.clone(),
        None => start_broker(args, children).await?,
    };
    let dev_rpc = if args.dev_chain {
        Some(start_dev_chain(args, children).await?)
    } else {
        None
    };

    let app = format!("http://{}", args.listen);
    ensure_free(args.listen, "--listen (AURRAS_LISTEN)")?;
    let private = PrivateDestinations {
        allowed: args.allow_private_destinations || args.dev_chain,
        by: if args.allow_private_destinations {
            "--allow-private-destinations"
        } else {
            "--dev-chain"
        },
    };
    let mut command = Command::new(app_host);
    command
        .arg("up")
        .arg("--from")
        .arg(&args.manifest)
        .arg("--listen")
        .arg(args.listen.to_string())
        .arg("--runtime-config-file")
        .arg(private.runtime_config(args.runtime_config_file.as_deref()));
    if private.allowed {
        command.env("SPIN_VARIABLE_ALLOW_PRIVATE_DESTINATIONS", "true");
        println!("{}", private.notice(args.runtime_config_file.as_deref()));
    }
    children.spawn_logged("app", command)?;
    children
        .wait_for_http(&format!("{app}/api/health"), Duration::from_secs(300))
        .await?;

    if let Some(rpc) = &dev_rpc {
        register_dev_chain(&app, &secrets.admin_token, rpc).await?;
    }

    let mut worker = Command::new(std::env::current_exe().context("cannot find this program")?);
    worker
        .arg("worker")
        .args(["--api", &app, "--app", &app, "--brokers", &brokers])
        .arg("--state-dir")
        .arg(args.state_dir.join(CURSORS))
        .args(["--api-poll-secs", &args.api_poll_secs.to_string()])
        .env("AURRAS_ADMIN_TOKEN", &secrets.admin_token)
        .env("AURRAS_RELAY_SECRET", &secrets.relay_secret);
    if dev_rpc.is_some() {
        worker.args(["--from-first-block", DEV_CHAIN]);
    }
    children.spawn_inherited("worker", worker)?;

    println!("Aurras is up:");
    println!("  the page      {app}/");
    println!("  the API       {app}/api (docs/openapi.json)");
    println!("  the broker    {brokers}");
    if let Some(rpc) = &dev_rpc {
        println!("  the dev chain {rpc}, registered as the source `{DEV_CHAIN}`");
        println!("Send a test transfer of 1.5 PAS from Alice to Bob:");
        println!(
            "  node {} {rpc} {BOB} 1.5",
            args.dev_chain_dir.join("transfer.mjs").display()
        );
    }
    Ok(())
}

async fn start_broker(args: &UpArgs, children: &mut Children) -> Result<String> {
    let dir = args.state_dir.join("broker");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    ensure_free(
        loopback(args.broker_port),
        "--broker-port (AURRAS_BROKER_PORT)",
    )?;
    let listener = format!("tcp://127.0.0.1:{}", args.broker_port);
    let mut command = Command::new(program(&args.tansu));
    command
        .arg("broker")
        .args(["--listener-url", &listener])
        .args(["--advertised-listener-url", &listener])
        // Relative to the working directory: the sqlite URL takes no absolute path portably.
        .args(["--storage-engine", "sqlite://tansu.db"])
        .current_dir(&dir);
    children.spawn_logged("broker", command)?;
    children
        .wait_for_port(args.broker_port, Duration::from_secs(60))
        .await?;
    Ok(format!("127.0.0.1:{}", args.broker_port))
}

/// chopsticks on Paseo's genesis with Alice and Bob funded, new at every start: chopsticks 1.5
/// cannot resume a chain built from a genesis spec (the resumed chain reports another genesis
/// hash than its runtime signs with, and refuses every transfer). The dev chain's cursor goes
/// with it, or the new chain's first blocks would be skipped; relay offsets stay, so nothing
/// already delivered is delivered again.
async fn start_dev_chain(args: &UpArgs, children: &mut Children) -> Result<String> {
    let chopsticks = args
        .dev_chain_dir
        .join("node_modules/@acala-network/chopsticks/chopsticks.cjs");
    if !chopsticks.is_file() {
        bail!(
            "--dev-chain: {} is missing: run `npm ci --prefix {}`",
            chopsticks.display(),
            args.dev_chain_dir.display()
        );
    }
    if !args.dev_chain_spec.is_file() {
        bail!(
            "--dev-chain: {} is missing: run scripts/fetch-paseo-spec",
            args.dev_chain_spec.display()
        );
    }
    ensure_free(
        loopback(args.dev_chain_port),
        "--dev-chain-port (AURRAS_DEV_CHAIN_PORT)",
    )?;
    let dir = args.state_dir.join("dev-chain");
    for stale in [dir.clone(), cursor_of(args, DEV_CHAIN)] {
        match std::fs::metadata(&stale) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&stale),
            Ok(_) => std::fs::remove_file(&stale),
            Err(_) => Ok(()),
        }
        .with_context(|| format!("cannot remove {}", stale.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let mut command = Command::new("node");
    command
        .arg(absolute(&chopsticks)?)
        .arg("--config")
        .arg(absolute(&args.dev_chain_dir.join("paseo.yml"))?)
        .arg("--chain-spec")
        .arg(absolute(&args.dev_chain_spec)?)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &args.dev_chain_port.to_string(),
        ])
        // Blocks and storage in a file rather than in memory, for a long-running dev chain.
        .args(["--db", "db.sqlite"])
        .current_dir(&dir);
    children.spawn_logged("dev-chain", command)?;
    children
        .wait_for_port(args.dev_chain_port, Duration::from_secs(180))
        .await?;
    ensure_first_block(args.dev_chain_port).await?;
    Ok(format!("ws://127.0.0.1:{}", args.dev_chain_port))
}

/// chopsticks builds block 1 of a genesis chain while it starts, but that build sometimes fails
/// (`Timestamp slot must match CurrentSlot`: about one start in six here) and the port opens
/// anyway; a chain left at block 0 refuses the printed polkadot.js transfer with `badProof`.
/// Waits a moment for block 1, then builds it with chopsticks' `dev_newBlock`.
async fn ensure_first_block(port: u16) -> Result<()> {
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let call = |method: &'static str| {
        http.post(&url)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}))
            .send()
    };
    // chopsticks sometimes resets a connection while it is still starting: retried like an answer
    // of block 0, and named if it never stops.
    let mut last_error = None;
    for attempt in 0..60 {
        match call("chain_getHeader").await {
            Ok(answer) => match answer.json::<serde_json::Value>().await {
                Ok(header) if block_number(&header).is_some_and(|n| n >= 1) => return Ok(()),
                Ok(_) => {}
                Err(e) => last_error = Some(e),
            },
            Err(e) => last_error = Some(e),
        }
        if attempt >= 10 {
            tracing::info!("the dev chain is still at its genesis; building block 1");
            if let Err(e) = call("dev_newBlock").await {
                last_error = Some(e);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if let Some(e) = last_error {
        return Err(e).context(format!(
            "--dev-chain: chopsticks on port {port} did not build its first block"
        ));
    }
    bail!("--dev-chain: chopsticks on port {port} did not build its first block")
}

/// The `number` of a `chain_getHeader` answer.
fn block_number(header: &serde_json::Value) -> Option<u64> {
    let hex = header["result"]["number"].as_str()?;
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok()
}

/// Registers the dev chain as the source `dev`, or points the registered one at this start's
/// port (`AURRAS_DEV_CHAIN_PORT` may have changed since).
async fn register_dev_chain(app: &str, token: &str, rpc: &str) -> Result<()> {
    let http = reqwest::Client::new();
    let sources: serde_json::Value = http
        .get(format!("{app}/api/sources"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()
        .context("listing the sources")?
        .json()
        .await?;
    let registered = sources["sources"]
        .as_array()
        .and_then(|list| list.iter().find(|s| s["chain"] == DEV_CHAIN));
    let request = match registered {
        Some(source) if source["rpc"] == json!([rpc]) => return Ok(()),
        Some(source) => {
            let id = source["id"].as_str().context("a source without an id")?;
            http.patch(format!("{app}/api/sources/{id}"))
                .json(&json!({"rpc": [rpc]}))
        }
        None => http.post(format!("{app}/api/sources")).json(&json!({
            "chain": DEV_CHAIN,
            "rpc": [rpc],
            "events": ["Balances.Transfer"],
            "token": {"symbol": "PAS", "decimals": 10},
        })),
    };
    let resp = request.bearer_auth(token).send().await?;
    if !resp.status().is_success() {
        bail!(
            "registering the dev chain answered {}: {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// Refuses a port something already listens on: waiting for the child to listen would
/// otherwise find the other program and take it for ours.
fn ensure_free(addr: SocketAddr, flag: &str) -> Result<()> {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) => bail!(
            "{flag}: {addr} is in use ({e}); stop what listens there or choose another address"
        ),
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Where the worker keeps `chain`'s cursor.
fn cursor_of(args: &UpArgs, chain: &str) -> PathBuf {
    args.state_dir.join(CURSORS).join(format!("{chain}.cursor"))
}

/// `spin` when installed, else the test host built beside this program.
fn app_host(chosen: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(host) = chosen {
        return Ok(host);
    }
    if which("spin").is_some() {
        return Ok(PathBuf::from("spin"));
    }
    let exe = std::env::current_exe().context("cannot find this program")?;
    let beside = exe.with_file_name("aurras-testhost");
    if beside.is_file() {
        return Ok(beside);
    }
    bail!(
        "--app-host: neither `spin` on the PATH nor {} (cargo build --release -p aurras-testhost)",
        beside.display()
    )
}

/// `name` on the PATH, else cargo's bin directory (where `cargo install` puts tansu).
fn program(name: &Path) -> PathBuf {
    if name.components().count() > 1 || which(&name.to_string_lossy()).is_some() {
        return name.to_path_buf();
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    match cargo_home.map(|home| home.join("bin").join(name)) {
        Some(installed) if installed.is_file() => installed,
        _ => name.to_path_buf(),
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}
