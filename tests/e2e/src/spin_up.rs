//! The `spin up` command line for the tests' app, the Spin counterpart of `aurras-testhost up`:
//! the same manifest, runtime config, state directory and `SPIN_VARIABLE_*` variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use aurras_testhost::AppOptions;

/// How long a `spin up` may take to answer: the first start compiles every component with
/// Cranelift (later starts load them from wasmtime's cache under `~/.cache/wasmtime`).
pub(crate) const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(300);

/// Where the tests keep each `spin up`'s output: the state directory goes away with its test,
/// and a difference from the test host is investigated from these.
pub(crate) fn log_dir() -> PathBuf {
    crate::app_process::target_dir().join("spin-logs")
}

/// A new log file's path for a `spin up` on `addr`.
pub(crate) fn log_file(addr: SocketAddr) -> Result<PathBuf> {
    let dir = log_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    Ok(dir.join(format!("spin-up-{}-{millis}.log", addr.port())))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// `spin up` serving `options` on `addr`, its output to `log`. Refuses what only the test host
/// provides, naming it, so such a test fails loudly rather than testing something else.
pub(crate) fn command(
    spin: &Path,
    options: &AppOptions,
    addr: SocketAddr,
    log: &Path,
) -> Result<Command> {
    anyhow::ensure!(
        options.resolve.is_empty(),
        "AppOptions::resolve ({:?}) is a test host option Spin has no counterpart for: \
         this test cannot run under Spin (skip it with aurras_e2e::app_host::skip_under_spin)",
        options.resolve.keys().collect::<Vec<_>>()
    );
    let out =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = out.try_clone()?;
    // Spin reads a `.env` file from its working directory into the variables: run it where
    // there is none (the state directory, else one of this run's beside its log), not in the
    // repository.
    let state = options.state_dir.as_deref().map(absolute).transpose()?;
    let cwd = match &state {
        Some(state) => state.clone(),
        None => {
            let own = log.with_extension("d");
            std::fs::create_dir_all(&own)
                .with_context(|| format!("cannot create {}", own.display()))?;
            own
        }
    };
    let mut command = Command::new(spin);
    // `spin up`'s own options come first: it hands everything from the first option it does not
    // know (`--listen`) on to the trigger, which would refuse `--temp`.
    command
        .arg("up")
        // `spin up` writes the locked app into a `spinup-*` directory under /tmp that only a
        // clean exit removes; the tests end Spin with SIGKILL, so it goes beside the state.
        .arg("--temp")
        .arg(cwd.join("spin-up"))
        .arg("--from")
        .arg(absolute(&options.manifest)?)
        .arg("--listen")
        .arg(addr.to_string())
        .envs(&options.variables)
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    if let Some(rc) = &options.runtime_config {
        command.arg("--runtime-config-file").arg(absolute(rc)?);
    }
    if let Some(state) = &state {
        command.arg("--state-dir").arg(state);
    }
    Ok(command)
}

/// The last `lines` lines of `log`, for an error message.
pub(crate) fn tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
