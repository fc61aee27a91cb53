//! The processes `up` starts: each in its own process group, so a Ctrl-C at the terminal reaches
//! only `up`, which then stops them in the reverse order of their start (the worker before the
//! app it posts to, the app before the broker), and so a child's own children (node's workers)
//! stop with it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// How long a child gets to stop after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(15);

/// A started child.
struct Started {
    name: &'static str,
    child: Child,
    /// Its pid, which is also its process group's id (`process_group(0)`). Kept because the
    /// group outlives the child while any member does, and `Child::id` forgets it once reaped.
    group: Option<Pid>,
    log: Option<PathBuf>,
}

/// The children, in the order they were started.
pub struct Children {
    logs: PathBuf,
    started: Vec<Started>,
}

impl Children {
    /// No children yet; their output goes to `<logs>/<name>.log`.
    pub fn new(logs: PathBuf) -> Self {
        Self {
            logs,
            started: Vec::new(),
        }
    }

    /// Where `name`'s output goes.
    pub fn log_of(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }

    /// Starts `command` as `name`, its output appended to its log file.
    pub fn spawn_logged(&mut self, name: &'static str, mut command: Command) -> Result<()> {
        let log = self.log_of(name);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        command.stdout(out.try_clone()?).stderr(out);
        self.spawn(name, command, Some(log))
    }

    /// Starts `command` as `name`, sharing this process's output.
    pub fn spawn_inherited(&mut self, name: &'static str, mut command: Command) -> Result<()> {
        command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        self.spawn(name, command, None)
    }

    fn spawn(
        &mut self,
        name: &'static str,
        mut command: Command,
        log: Option<PathBuf>,
    ) -> Result<()> {
        let program = command
            .as_std()
            .get_program()
            .to_string_lossy()
            .into_owned();
        let child = command
            .stdin(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start the {name} ({program})"))?;
        let group = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw);
        self.started.push(Started {
            name,
            child,
            group,
            log,
        });
        Ok(())
    }

    /// Waits until the last started child accepts TCP connections on `port`, or fails naming it
    /// (with its log's tail) when it exits or `timeout` passes.
    pub async fn wait_for_port(&mut self, port: u16, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            self.check_last(deadline, &format!("listen on port {port}"))?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until `url` answers 200 while the last started child runs.
    pub async fn wait_for_http(&mut self, url: &str, timeout: Duration) -> Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(resp) = http.get(url).send().await {
                if resp.status().is_success() {
                    return Ok(());
                }
            }
            self.check_last(deadline, &format!("answer {url}"))?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn check_last(&mut self, deadline: Instant, what: &str) -> Result<()> {
        let Some(last) = self.started.last_mut() else {
            bail!("nothing was started");
        };
        if let Some(status) = last.child.try_wait()? {
            bail!(
                "the {} exited ({status}) before it could {what}{}",
                last.name,
                tail(last.log.as_deref())
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the {} did not {what} in time{}",
                last.name,
                tail(last.log.as_deref())
            );
        }
        Ok(())
    }

    /// Resolves when any child exits, naming it and its status.
    pub async fn any_exit(&mut self) -> String {
        loop {
            for started in &mut self.started {
                if let Ok(Some(status)) = started.child.try_wait() {
                    return format!(
                        "the {} exited ({status}){}",
                        started.name,
                        tail(started.log.as_deref())
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops every child, last started first: SIGTERM to its group, SIGKILL after the grace.
    pub async fn stop_all(&mut self) {
        while let Some(mut started) = self.started.pop() {
            if let Ok(Some(_)) = started.child.try_wait() {
                signal_group(started.group, Signal::SIGKILL);
                continue;
            }
            signal_group(started.group, Signal::SIGTERM);
            match tokio::time::timeout(GRACE, started.child.wait()).await {
                Ok(_) => tracing::info!("stopped the {}", started.name),
                Err(_) => {
                    tracing::warn!("the {} ignored SIGTERM: killing it", started.name);
                    signal_group(started.group, Signal::SIGKILL);
                    let _ = started.child.wait().await;
                }
            }
            // Whatever the child left behind in its group goes too.
            signal_group(started.group, Signal::SIGKILL);
        }
    }
}

impl Drop for Children {
    /// A failure or panic in `up` must not leave processes behind either.
    fn drop(&mut self) {
        for started in &self.started {
            signal_group(started.group, Signal::SIGKILL);
        }
    }
}

fn signal_group(group: Option<Pid>, signal: Signal) {
    if let Some(group) = group {
        // ESRCH (the group is gone) is the expected answer once everything stopped.
        let _ = killpg(group, signal);
    }
}

/// The last lines of a log, to show with a failure.
fn tail(log: Option<&Path>) -> String {
    let Some(log) = log else {
        return String::new();
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let last = &lines[lines.len().saturating_sub(15)..];
    format!("; the end of {}:\n{}", log.display(), last.join("\n"))
}
