//! The app served in a process of its own: the `aurras-testhost` binary, or real `spin up` when
//! `AURRAS_APP_HOST=spin:…` (see [`crate::app_host`]). For tests that kill the host with SIGKILL
//! mid-request (an in-process host can only be stopped politely), and for every app under Spin.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aurras_testhost::AppOptions;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::app_host::HostChoice;
use crate::{repo_root, spin_up};

/// A running app host process; killed with SIGKILL (its whole process group, for Spin) when
/// dropped.
pub struct AppProcess {
    child: Child,
    addr: SocketAddr,
    /// `spin up` forks `spin trigger http`, which serves: SIGKILL of `spin up` alone would leave
    /// it holding the port. So Spin runs in a process group of its own (its id is the child's
    /// pid, kept because `Child::id` is meaningless once reaped) and is signalled as a group.
    group: Option<Pid>,
    /// Spin's output.
    log: Option<PathBuf>,
}

/// Cargo's target directory.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The `aurras-testhost` binary of the profile this crate was built in: a release bench runs the
/// release host.
pub(crate) fn testhost_binary() -> PathBuf {
    target_dir().join(if cfg!(debug_assertions) {
        "debug/aurras-testhost"
    } else {
        "release/aurras-testhost"
    })
}

fn free_addr() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

impl AppProcess {
    /// Serves the app of `options` on `addr` (variables go in as `SPIN_VARIABLE_*`) with the host
    /// `AURRAS_APP_HOST` picks, once it answers `/api/health`. Port 0 picks a free port.
    pub async fn start(options: &AppOptions, addr: SocketAddr) -> Result<Self> {
        match HostChoice::from_env()? {
            HostChoice::TestHost => Self::start_testhost(options, addr).await,
            HostChoice::Spin(spin) => {
                if addr.port() != 0 {
                    return Self::start_spin(&spin, options, addr).await;
                }
                // Spin cannot listen on port 0 and say where: a free port is chosen here, and
                // chosen again should another process take it before Spin binds it.
                let mut last = None;
                for _ in 0..3 {
                    match Self::start_spin(&spin, options, free_addr()?).await {
                        Ok(process) => return Ok(process),
                        Err(e) if format!("{e:#}").contains("already in use") => last = Some(e),
                        Err(e) => return Err(e),
                    }
                }
                Err(last.unwrap_or_else(|| anyhow::anyhow!("no free port for spin up")))
            }
        }
    }

    async fn start_testhost(options: &AppOptions, addr: SocketAddr) -> Result<Self> {
        let binary = testhost_binary();
        anyhow::ensure!(
            binary.is_file(),
            "{} is missing: cargo build -p aurras-testhost (--release for a bench)",
            binary.display()
        );
        let addr = if addr.port() == 0 { free_addr()? } else { addr };
        let mut command = Command::new(&binary);
        command
            .arg("up")
            .arg("--from")
            .arg(&options.manifest)
            .arg("--listen")
            .arg(addr.to_string())
            .envs(&options.variables)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(rc) = &options.runtime_config {
            command.arg("--runtime-config-file").arg(rc);
        }
        if let Some(state) = &options.state_dir {
            command.arg("--state-dir").arg(state);
        }
        for (name, ip) in &options.resolve {
            command.arg("--resolve").arg(format!("{name}={ip}"));
        }
        let child = command.spawn().context("starting aurras-testhost")?;
        let process = Self {
            child,
            addr,
            group: None,
            log: None,
        };
        process
            .until_ready("aurras-testhost", Duration::from_secs(30))
            .await
    }

    async fn start_spin(
        spin: &std::path::Path,
        options: &AppOptions,
        addr: SocketAddr,
    ) -> Result<Self> {
        use std::os::unix::process::CommandExt;
        let log = spin_up::log_file(addr)?;
        let mut command = spin_up::command(spin, options, addr, &log)?;
        command.process_group(0);
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", spin.display()))?;
        let group = Pid::from_raw(i32::try_from(child.id()).context("pid out of range")?);
        let process = Self {
            child,
            addr,
            group: Some(group),
            log: Some(log),
        };
        process.until_ready("spin up", spin_up::READY_WITHIN).await
    }

    /// Returns the process once `/api/health` answers with success; an error (and the process
    /// killed) if it exits or does not answer within `timeout`.
    async fn until_ready(mut self, what: &str, timeout: Duration) -> Result<Self> {
        let health = format!("http://{}/api/health", self.addr);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let started = Instant::now();
        loop {
            if client
                .get(&health)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(self);
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{what} exited with {status} before serving{}",
                    self.log_tail()
                );
            }
            if started.elapsed() > timeout {
                bail!(
                    "{what} did not answer {health} within {timeout:?}{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        match &self.log {
            Some(log) => format!(
                "; the end of its output ({}):\n{}",
                log.display(),
                spin_up::tail(log, 30)
            ),
            None => String::new(),
        }
    }

    /// The process id (for its CPU time and memory in /proc). Under Spin this is `spin up`; the
    /// components run in its child `spin trigger http`.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn signal(&mut self, signal: Signal) -> Result<()> {
        match self.group {
            Some(group) => match killpg(group, signal) {
                // The group is gone: nothing left to signal.
                Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
                Err(e) => Err(e).with_context(|| format!("{signal} to process group {group}")),
            },
            None if signal == Signal::SIGKILL => self.child.kill().context("kill -9"),
            None => {
                let pid = Pid::from_raw(i32::try_from(self.child.id()).context("pid")?);
                nix::sys::signal::kill(pid, signal).with_context(|| format!("{signal} to {pid}"))
            }
        }
    }

    /// SIGKILL (to every process of Spin's): no request in flight finishes, nothing is flushed
    /// or recorded. Returns once the address is free to serve again.
    pub fn kill(mut self) -> Result<()> {
        self.signal(Signal::SIGKILL)?;
        self.child.wait().context("reaping the host")?;
        // Dead and reaped: the group id could be reused, so Drop must not signal it again.
        self.group = None;
        let started = Instant::now();
        while !is_free(self.addr) {
            anyhow::ensure!(
                started.elapsed() < FREE_WITHIN,
                "{} is still in use {FREE_WITHIN:?} after the host was killed",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Ctrl-C, as at a terminal (the whole group, for Spin), SIGKILL after 20 s; returns once the
    /// address is free to serve again.
    pub async fn stop(mut self) -> Result<()> {
        self.signal(Signal::SIGINT)?;
        let started = Instant::now();
        while self.child.try_wait()?.is_none() {
            if started.elapsed() > Duration::from_secs(20) {
                self.signal(Signal::SIGKILL)?;
                self.child.wait().context("reaping the host")?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // `spin up` waits for its trigger process, but a straggler must not keep the port: the
        // group is killed if the address is still taken.
        let started = Instant::now();
        let mut killed = false;
        while !is_free(self.addr) {
            if !killed && started.elapsed() > Duration::from_secs(5) {
                self.signal(Signal::SIGKILL)?;
                killed = true;
            }
            anyhow::ensure!(
                started.elapsed() < FREE_WITHIN,
                "{} is still in use {FREE_WITHIN:?} after the host stopped",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.group = None;
        Ok(())
    }
}

/// How long a stopped host's address may stay taken.
const FREE_WITHIN: Duration = Duration::from_secs(15);

/// Whether `addr` can be bound again (the host's listener is closed), so a restart there works.
fn is_free(addr: SocketAddr) -> bool {
    TcpListener::bind(addr).is_ok()
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.signal(Signal::SIGKILL);
        let _ = self.child.wait();
    }
}
