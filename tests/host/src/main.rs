//! `aurras-testhost up`: serve a Spin app the way `spin up` would, for the features Aurras uses.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand};

use aurras_testhost::{AppOptions, TestHost};

#[derive(Parser)]
#[command(name = "aurras-testhost", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the app described by a spin.toml.
    Up(UpArgs),
}

#[derive(clap::Args)]
struct UpArgs {
    /// The application manifest.
    #[arg(
        short = 'f',
        long = "from",
        default_value = "spin.toml",
        env = "SPIN_MANIFEST"
    )]
    from: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "SPIN_HTTP_LISTEN_ADDR")]
    listen: SocketAddr,
    /// Runtime configuration (key-value stores, `[outbound_networking]`, `[[client_tls]]`).
    #[arg(long = "runtime-config-file", env = "SPIN_RUNTIME_CONFIG_FILE")]
    runtime_config_file: Option<PathBuf>,
    /// Where default stores live (default: `.spin` beside the manifest).
    #[arg(long = "state-dir")]
    state_dir: Option<PathBuf>,
    /// Set an application variable: `--variable name=value` (like SPIN_VARIABLE_NAME=value).
    #[arg(long = "variable", value_name = "NAME=VALUE")]
    variables: Vec<String>,
    /// Test only (Spin has no such option): outbound requests to host NAME connect to IP
    /// instead of what DNS says, like `curl --resolve`; `block_networks` still applies.
    #[arg(long = "resolve", value_name = "NAME=IP")]
    resolve: Vec<String>,
}

fn parse_resolve(pairs: &[String]) -> Result<BTreeMap<String, IpAddr>> {
    pairs
        .iter()
        .map(|pair| {
            let (name, ip) = pair
                .split_once('=')
                .ok_or_else(|| anyhow!("--resolve {pair:?}: write it as name=ip"))?;
            let ip = ip
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|e| anyhow!("--resolve {pair:?}: {e}"))?;
            Ok((name.to_ascii_lowercase(), ip))
        })
        .collect()
}

fn parse_variables(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| anyhow!("--variable {pair:?}: write it as name=value"))?;
            aurras_testhost::variables::check_name(name)
                .map_err(|e| e.context(format!("--variable {pair:?}")))?;
            Ok((aurras_testhost::variables::env_name(name), value.to_owned()))
        })
        .collect()
}

async fn up(args: UpArgs) -> Result<()> {
    let options = AppOptions {
        manifest: args.from,
        runtime_config: args.runtime_config_file,
        state_dir: args.state_dir,
        variables: parse_variables(&args.variables)?,
        resolve: parse_resolve(&args.resolve)?,
    };
    let host = TestHost::start(&options, args.listen).await?;
    for (name, ip) in &options.resolve {
        println!("Test only: outbound requests to {name} go to {ip} (--resolve)");
    }
    for (label, location) in host.stores() {
        println!("Storing {label} key-value data to {location}");
    }
    println!("Serving {}", host.url());
    for (route, component) in host.routes() {
        println!("  {component}: {}{route}", host.url());
    }
    shutdown_signal().await;
    println!("Shutting down");
    host.stop().await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "aurras_testhost=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
