//! The app served by the `aurras-testhost` binary in a process of its own, for tests that kill
//! the host with SIGKILL mid-request (an in-process host can only be stopped politely).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aurras_testhost::AppOptions;

use crate::repo_root;

/// A running `aurras-testhost up`; killed with SIGKILL when dropped.
pub struct AppProcess {
    child: Child,
}

fn testhost_binary() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
        // The profile this crate was built in: a release bench runs the release host.
        .join(if cfg!(debug_assertions) {
            "debug/aurras-testhost"
        } else {
            "release/aurras-testhost"
        })
}

impl AppProcess {
    /// Serves the app of `options` on `addr` (variables go in as `SPIN_VARIABLE_*`), once it
    /// answers `/api/health`.
    pub async fn start(options: &AppOptions, addr: SocketAddr) -> Result<Self> {
        let binary = testhost_binary();
        anyhow::ensure!(
            binary.is_file(),
            "{} is missing: cargo build -p aurras-testhost (--release for a bench)",
            binary.display()
        );
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
        let child = command.spawn().context("starting aurras-testhost")?;
        let mut process = Self { child };
        let health = format!("http://{addr}/api/health");
        let started = Instant::now();
        loop {
            if reqwest::get(&health)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(process);
            }
            if let Some(status) = process.child.try_wait()? {
                bail!("aurras-testhost exited with {status} before serving");
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("aurras-testhost did not answer {health} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process id (for its CPU time and memory in /proc).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no request in flight finishes, nothing is flushed or recorded.
    pub fn kill(mut self) -> Result<()> {
        self.child.kill().context("kill -9")?;
        self.child.wait().context("reaping the host")?;
        Ok(())
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
