//! Which program serves the app in the tests. By default the project's test host
//! (`aurras-testhost`), in-process; with `AURRAS_APP_HOST=spin:/path/to/spin`, real `spin up` in a
//! process of its own, so the same suites show how the components behave under Spin. Every test
//! that starts the app goes through [`Host::start`] (the in-process kind) or
//! [`crate::app_process::AppProcess::start`] (a process it can SIGKILL); both read the choice here.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use aurras_testhost::{AppOptions, TestHost};

use crate::app_process::AppProcess;

/// The environment variable that picks the app host.
pub const APP_HOST_VAR: &str = "AURRAS_APP_HOST";

/// What serves the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostChoice {
    /// `aurras-testhost` (the default; CI runs this).
    TestHost,
    /// Real Spin: the `spin` binary at this path runs `spin up`.
    Spin(PathBuf),
}

impl HostChoice {
    /// The choice `AURRAS_APP_HOST` makes: unset, empty or `testhost` is the test host;
    /// `spin:<path>` is Spin. Anything else is an error rather than a silent default, so a typo
    /// cannot make a "Spin" run that tested the test host.
    pub fn from_env() -> Result<Self> {
        match std::env::var(APP_HOST_VAR) {
            Ok(value) => Self::parse(&value),
            Err(std::env::VarError::NotPresent) => Ok(Self::TestHost),
            Err(e) => bail!("{APP_HOST_VAR}: {e}"),
        }
    }

    fn parse(value: &str) -> Result<Self> {
        let value = value.trim();
        if value.is_empty() || value == "testhost" {
            return Ok(Self::TestHost);
        }
        let Some(path) = value.strip_prefix("spin:") else {
            bail!("{APP_HOST_VAR}={value:?}: expected `testhost` or `spin:/path/to/spin`");
        };
        anyhow::ensure!(
            !path.is_empty(),
            "{APP_HOST_VAR}=spin: names no binary (spin:/path/to/spin)"
        );
        let path = std::path::absolute(path)
            .with_context(|| format!("{APP_HOST_VAR}: cannot resolve {path}"))?;
        anyhow::ensure!(
            path.is_file(),
            "{APP_HOST_VAR}: {} is not a file (build it with scripts/build-spin)",
            path.display()
        );
        Ok(Self::Spin(path))
    }
}

/// The `spin` binary when the tests run under Spin. Panics on a malformed `AURRAS_APP_HOST`:
/// every caller is a test, and carrying on would test the wrong host.
pub fn spin_binary() -> Option<PathBuf> {
    match HostChoice::from_env() {
        Ok(HostChoice::Spin(path)) => Some(path),
        Ok(HostChoice::TestHost) => None,
        Err(e) => panic!("{e:#}"),
    }
}

/// For a test that cannot run under Spin: under Spin, says which test is skipped and why (on the
/// terminal, past the test harness' capture, so a skip never reads as a pass) and returns true;
/// under the test host returns false and the test runs.
pub fn skip_under_spin(why: &str) -> bool {
    if spin_binary().is_none() {
        return false;
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    // Written to the stream itself: libtest captures only print!/eprint!.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED under Spin ({APP_HOST_VAR}): {test}: {why}"
    );
    true
}

/// The program `aurras-ingestor up --app-host` runs in the tests: `spin`, or the test host's
/// binary of this build profile.
pub fn up_app_host() -> PathBuf {
    spin_binary().unwrap_or_else(crate::app_process::testhost_binary)
}

/// A running app host.
pub enum Host {
    /// The test host, in this process.
    InProcess(TestHost),
    /// `spin up` in a process group of its own.
    Process(AppProcess),
}

impl Host {
    /// Serves the app of `options` on `addr` (port 0: a free port) with the host
    /// `AURRAS_APP_HOST` picks, once it answers.
    pub async fn start(options: &AppOptions, addr: SocketAddr) -> Result<Self> {
        match HostChoice::from_env()? {
            HostChoice::TestHost => Ok(Self::InProcess(TestHost::start(options, addr).await?)),
            HostChoice::Spin(_) => Ok(Self::Process(AppProcess::start(options, addr).await?)),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::InProcess(host) => host.addr(),
            Self::Process(process) => process.addr(),
        }
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Stops it politely (Spin gets Ctrl-C), and returns once its address is free again.
    pub async fn stop(self) -> Result<()> {
        match self {
            Self::InProcess(host) => host.stop().await,
            Self::Process(process) => process.stop().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_host_is_the_default_and_anything_unknown_is_refused() {
        assert_eq!(HostChoice::parse("").expect("empty"), HostChoice::TestHost);
        assert_eq!(
            HostChoice::parse("testhost").expect("named"),
            HostChoice::TestHost
        );
        let typo = HostChoice::parse("spn:/usr/bin/spin").expect_err("a typo");
        assert!(
            format!("{typo:#}").contains("spin:/path/to/spin"),
            "{typo:#}"
        );
        let empty = HostChoice::parse("spin:").expect_err("no path");
        assert!(
            format!("{empty:#}").contains("names no binary"),
            "{empty:#}"
        );
        let missing = HostChoice::parse("spin:/nonexistent/spin").expect_err("no file");
        assert!(format!("{missing:#}").contains("not a file"), "{missing:#}");
    }

    #[test]
    fn spin_names_an_existing_binary_by_its_absolute_path() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let spin = dir.path().join("spin");
        std::fs::write(&spin, b"")?;
        let choice = HostChoice::parse(&format!("spin:{}", spin.display()))?;
        assert_eq!(choice, HostChoice::Spin(spin));
        Ok(())
    }
}
