//! The real parts the chain tests need, started per test and stopped on drop: chopsticks running
//! the Paseo runtime, and a tansu broker.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::repo_root;

/// A free TCP port on loopback.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(
    port: u16,
    child: &mut Child,
    what: &str,
    log: &PathBuf,
    timeout: Duration,
) -> Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while started.elapsed() < timeout {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "{what} exited with {status}; its log: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!(
        "{what} did not listen on {port} within {timeout:?}; its log is {}",
        log.display()
    )
}

/// A child process killed on drop.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chopsticks on a real runtime from its genesis chain spec (Paseo's, or an Asset Hub's), with
/// Alice and Bob funded.
pub struct LocalChain {
    _child: Guard,
    /// `ws://127.0.0.1:<port>`.
    pub url: String,
    _dir: tempfile::TempDir,
}

/// Paseo's genesis chain spec (fetched through cargo by `scripts/fetch-paseo-spec`).
pub fn paseo_spec() -> Result<PathBuf> {
    let spec = repo_root().join("target/chain-specs/paseo.json");
    if !spec.is_file() {
        let status = Command::new(repo_root().join("scripts/fetch-paseo-spec")).status()?;
        anyhow::ensure!(status.success(), "scripts/fetch-paseo-spec failed");
    }
    Ok(spec)
}

/// An Asset Hub's genesis chain spec (fetched through cargo by `scripts/fetch-asset-hub-spec`).
pub fn asset_hub_spec() -> Result<PathBuf> {
    let spec = repo_root().join("target/chain-specs/asset-hub.json");
    if !spec.is_file() {
        let status = Command::new(repo_root().join("scripts/fetch-asset-hub-spec")).status()?;
        anyhow::ensure!(status.success(), "scripts/fetch-asset-hub-spec failed");
    }
    Ok(spec)
}

impl LocalChain {
    /// Starts chopsticks on Paseo on a free port and waits until it serves RPC.
    pub fn start() -> Result<Self> {
        Self::start_with(&[])
    }

    /// Starts chopsticks on an Asset Hub runtime (Assets, ForeignAssets, Proxy, Multisig).
    pub fn asset_hub() -> Result<Self> {
        Self::launch(&asset_hub_spec()?, "asset-hub.yml", &[])
    }

    /// Like [`LocalChain::start`], with more chopsticks flags (`--build-block-mode Batch`).
    pub fn start_with(extra: &[&str]) -> Result<Self> {
        Self::launch(&paseo_spec()?, "paseo.yml", extra)
    }

    fn launch(spec: &std::path::Path, config: &str, extra: &[&str]) -> Result<Self> {
        let chain_dir = repo_root().join("tests/chain");
        let bin = chain_dir.join("node_modules/@acala-network/chopsticks/chopsticks.cjs");
        anyhow::ensure!(
            bin.is_file(),
            "{} is missing: run `npm ci` in tests/chain",
            bin.display()
        );
        let port = free_port()?;
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("chopsticks.log");
        let child = Command::new("node")
            .arg(&bin)
            .arg("--config")
            .arg(chain_dir.join(config))
            .arg("--chain-spec")
            .arg(spec)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--db")
            .arg(dir.path().join("db.sqlite"))
            .args(extra)
            .current_dir(dir.path())
            .stdout(std::fs::File::create(&log)?)
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start chopsticks (is node installed?)")?;
        let mut guard = Guard(child);
        wait_for_port(
            port,
            &mut guard.0,
            "chopsticks",
            &log,
            Duration::from_secs(120),
        )?;
        ensure_first_block(port)?;
        Ok(Self {
            _child: guard,
            url: format!("ws://127.0.0.1:{port}"),
            _dir: dir,
        })
    }
}

/// As `aurras-ingestor up` does for its dev chain (see `ensure_first_block` there): chopsticks'
/// build of block 1 at start sometimes fails, and polkadot.js transfers on a chain left at
/// block 0 are refused (`badProof`). Waits for block 1, building it with `dev_newBlock` if it does
/// not come. On a thread of its own, since callers may be inside a runtime.
fn ensure_first_block(port: u16) -> Result<()> {
    let url = format!("http://127.0.0.1:{port}");
    std::thread::spawn(move || -> Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let http = reqwest::Client::new();
            let call = |method: &str| {
                http.post(&url)
                    .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}))
                    .send()
            };
            // chopsticks sometimes resets a connection while it is still starting: retried.
            let mut last_error = None;
            for attempt in 0..60 {
                match call("chain_getHeader").await {
                    Ok(answer) => match answer.json::<serde_json::Value>().await {
                        Ok(header) if block_number(&header).is_some_and(|n| n >= 1) => {
                            return Ok(())
                        }
                        Ok(_) => {}
                        Err(e) => last_error = Some(e),
                    },
                    Err(e) => last_error = Some(e),
                }
                if attempt >= 10 {
                    if let Err(e) = call("dev_newBlock").await {
                        last_error = Some(e);
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            bail!("chopsticks on port {port} did not build its first block (last error: {last_error:?})")
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the first-block check panicked"))?
}

/// The `number` of a `chain_getHeader` answer.
fn block_number(header: &serde_json::Value) -> Option<u64> {
    let hex = header["result"]["number"].as_str()?;
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok()
}

/// A tansu broker (sqlite storage on disk, unless started with another).
pub struct Broker {
    _child: Guard,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

fn tansu_binary() -> PathBuf {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|h| h.join("bin/tansu"));
    match cargo_bin {
        Some(p) if p.is_file() => p,
        _ => PathBuf::from("tansu"),
    }
}

impl Broker {
    /// Starts a broker on a free port.
    pub fn start() -> Result<Self> {
        Self::start_on(free_port()?, tempfile::tempdir()?)
    }

    /// Stops the broker, keeping its data directory; [`Broker::start_on`] brings it back.
    pub fn stop(self) -> (u16, tempfile::TempDir) {
        let port = self
            .addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        drop(self._child);
        (port, self._dir)
    }

    /// Starts a broker on `port` with its data in `dir` (to restart one where clients expect it).
    pub fn start_on(port: u16, dir: tempfile::TempDir) -> Result<Self> {
        // sqlite on disk, so a restarted broker still has what it acknowledged (relative to the
        // broker's working directory, which is `dir`).
        Self::start_with(port, dir, "sqlite://tansu.db")
    }

    /// Starts a broker on a free port that keeps everything in memory (`memory://tansu/`): what
    /// the ingest bench compares with sqlite storage, to show what the storage costs.
    pub fn start_in_memory() -> Result<Self> {
        Self::start_with(free_port()?, tempfile::tempdir()?, "memory://tansu/")
    }

    fn start_with(port: u16, dir: tempfile::TempDir, storage: &str) -> Result<Self> {
        let log = dir.path().join("tansu.log");
        let child = Command::new(tansu_binary())
            .arg("broker")
            .arg("--listener-url")
            .arg(format!("tcp://127.0.0.1:{port}"))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{port}"))
            .arg("--storage-engine")
            .arg(storage)
            .current_dir(dir.path())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::create(dir.path().join("tansu.err"))?)
            .spawn()
            .context(
                "cannot start tansu (cargo install tansu --locked --features dynostore,libsql)",
            )?;
        let mut guard = Guard(child);
        wait_for_port(port, &mut guard.0, "tansu", &log, Duration::from_secs(30))?;
        Ok(Self {
            _child: guard,
            addr: format!("127.0.0.1:{port}"),
            _dir: dir,
        })
    }
}

/// A Redis server (Debian's `redis-server`) on a free port, its data in a temporary directory.
pub struct RedisServer {
    _child: Guard,
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one and waits until it accepts connections.
    pub fn start() -> Result<Self> {
        let port = free_port()?;
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("redis.log");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::fs::File::create(&log)?)
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start redis-server (apt-get install redis-server)")?;
        let mut guard = Guard(child);
        wait_for_port(
            port,
            &mut guard.0,
            "redis-server",
            &log,
            Duration::from_secs(30),
        )?;
        Ok(Self {
            _child: guard,
            url: format!("redis://127.0.0.1:{port}"),
            _dir: dir,
        })
    }
}
