//! The README's one command, end to end: `aurras-ingestor up --dev-chain` (what `scripts/up
//! --dev-chain` runs) from a clean state starts the broker, chopsticks, the compiled app under the
//! test host and the worker. A push trigger is created through the API with a subscription of the
//! test's own local push service, the test transfer the command prints is sent as printed, and the
//! notification arrives there, VAPID-verified and decrypted. Ctrl-C (SIGINT) then stops every
//! process it started; a second start on the same state notifies the next transfer once and
//! nobody twice.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aurras_domain::webpush::VapidKey;
use aurras_e2e::processes::paseo_spec;
use aurras_e2e::push_service::{PushService, Subscription};
use aurras_e2e::tls::TestCa;
use aurras_e2e::{repo_root, ADMIN_TOKEN, ENCRYPTION_KEYS, RELAY_SECRET};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const WAIT: Duration = Duration::from_secs(120);

/// Where one `up` runs: its ports, state and configuration, kept across restarts.
struct Setup {
    state: tempfile::TempDir,
    runtime_config: PathBuf,
    vapid_scalar: String,
    app_port: u16,
    broker_port: u16,
    chain_port: u16,
}

/// A running `up`, its stdout lines collected. Dropped, it gets SIGTERM (never SIGKILL first:
/// that would orphan its children).
struct Up {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Setup {
    fn new(push: &PushService, ca: &TestCa) -> Self {
        let state = tempfile::tempdir().expect("tempdir");
        let runtime_config = state.path().join("runtime-config.toml");
        let host = push
            .origin()
            .trim_start_matches("https://")
            .rsplit_once(':')
            .map(|(host, _)| host.to_owned())
            .expect("push origin");
        std::fs::write(
            &runtime_config,
            format!(
                "[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"\n\n\
                 [[client_tls]]\ncomponent_ids = [\"dispatch\"]\nhosts = [{host:?}]\nca_roots_file = {:?}\n",
                ca.ca_file().display().to_string()
            ),
        )
        .expect("runtime config");
        let (_, vapid_scalar) = VapidKey::generate();
        // Held together, so the three ports differ.
        let held: Vec<TcpListener> = (0..3)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("port"))
            .collect();
        let port = |i: usize| held[i].local_addr().expect("addr").port();
        Self {
            state,
            runtime_config,
            vapid_scalar,
            app_port: port(0),
            broker_port: port(1),
            chain_port: port(2),
        }
    }

    fn app(&self) -> String {
        format!("http://127.0.0.1:{}", self.app_port)
    }

    fn start(&self) -> Up {
        // The test host, or `spin` under AURRAS_APP_HOST=spin:… (aurras_e2e::app_host).
        let app_host = aurras_e2e::app_host::up_app_host();
        assert!(
            app_host.is_file(),
            "{} is missing: cargo build -p aurras-testhost",
            app_host.display()
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
            .arg("up")
            .arg("--dev-chain")
            .arg("--state-dir")
            .arg(self.state.path().join("state"))
            .args(["--listen", &format!("127.0.0.1:{}", self.app_port)])
            .args(["--broker-port", &self.broker_port.to_string()])
            .args(["--dev-chain-port", &self.chain_port.to_string()])
            .arg("--runtime-config-file")
            .arg(&self.runtime_config)
            .arg("--app-host")
            .arg(&app_host)
            .args(["--api-poll-secs", "1"])
            .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SPIN_VARIABLE_RELAY_SECRET", RELAY_SECRET)
            .env("SPIN_VARIABLE_ENCRYPTION_KEYS", ENCRYPTION_KEYS)
            .env("SPIN_VARIABLE_VAPID_PRIVATE_KEY", &self.vapid_scalar)
            .env("SPIN_VARIABLE_VAPID_SUBJECT", "mailto:ops@aurras.test")
            .env("SPIN_VARIABLE_ALLOW_PRIVATE_DESTINATIONS", "true")
            .env("RUST_LOG", "aurras_ingestor=info,warn")
            .current_dir(repo_root())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("up starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout");
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("up: {line}");
                collected.lock().expect("lock").push(line);
            }
        });
        Up { child, lines }
    }
}

impl Up {
    /// Waits for the printed test-transfer command; returns it, split into words.
    async fn transfer_command(&mut self) -> Vec<String> {
        let started = Instant::now();
        loop {
            let printed = self.lines.lock().expect("lock").clone();
            if let Some(i) = printed
                .iter()
                .position(|l| l.starts_with("Send a test transfer"))
            {
                if let Some(command) = printed.get(i + 1) {
                    return command.split_whitespace().map(str::to_owned).collect();
                }
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("up exited ({status}) before it was ready: {printed:?}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "up is not ready: {printed:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Every process `up` started, and theirs.
    fn descendants(&self) -> Vec<i32> {
        let mut family = vec![self.child.id() as i32];
        loop {
            let before = family.len();
            for (pid, ppid) in processes() {
                if family.contains(&ppid) && !family.contains(&pid) {
                    family.push(pid);
                }
            }
            if family.len() == before {
                return family[1..].to_vec();
            }
        }
    }

    /// Ctrl-C, and the exit status.
    async fn interrupt(mut self) -> ExitStatus {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT).expect("SIGINT");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "up did not stop on Ctrl-C"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(30) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// (pid, parent pid) of every process, from /proc.
fn processes() -> Vec<(i32, i32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}

/// Whether `pid` still runs (a zombie does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after = &stat[stat.rfind(')')? + 2..];
            after.split_whitespace().next().map(|s| s != "Z")
        })
        .unwrap_or(false)
}

/// Runs the printed command as a newcomer would, from the repository.
fn run_printed(command: &[String], amount: &str, logs: &Path) {
    let (program, args) = command.split_first().expect("a command");
    let mut args = args.to_vec();
    if let Some(last) = args.last_mut() {
        *last = amount.to_owned();
    }
    let out = Command::new(program)
        .args(&args)
        .current_dir(repo_root())
        .output()
        .expect("the printed command runs");
    assert!(
        out.status.success(),
        "{command:?}: {}{}\nthe dev chain's log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(logs.join("dev-chain.log")).unwrap_or_default()
    );
}

async fn push_trigger(app: &str, phone: &Subscription) -> Value {
    let http = reqwest::Client::new();
    let sources: Value = http
        .get(format!("{app}/api/sources"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("sources")
        .json()
        .await
        .expect("json");
    let dev = sources["sources"]
        .as_array()
        .and_then(|list| list.iter().find(|s| s["chain"] == "dev"))
        .unwrap_or_else(|| panic!("up registered the dev chain: {sources}"));
    let created = http
        .post(format!("{app}/api/triggers"))
        .json(&json!({
            "source": dev["id"],
            "event": "Balances.Transfer",
            "filter": {"balance": {"account": BOB, "direction": "in", "min": "1"}},
            "action": {"web_push": phone.to_json()},
        }))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    created.json().await.expect("json")
}

fn assert_stopped(family: &[i32]) {
    assert!(
        family.len() >= 4,
        "broker, chain, app and worker ran: {family:?}"
    );
    let left: Vec<i32> = family.iter().copied().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still running after Ctrl-C: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_command_delivers_a_transfer_to_a_browser_and_ctrl_c_leaves_nothing_behind() {
    paseo_spec().expect("Paseo's chain spec");
    let ca = TestCa::new().expect("ca");
    let push = PushService::start(&ca).await.expect("push service");
    let setup = Setup::new(&push, &ca);
    assert!(!Path::new(&setup.state.path().join("state")).exists());

    let mut up = setup.start();
    let command = up.transfer_command().await;
    assert_eq!(command[0], "node", "{command:?}");
    let phone = push.subscribe();
    push_trigger(&setup.app(), &phone).await;
    run_printed(&command, "1.5", &setup.state.path().join("state/logs"));
    let got = push.wait_for(&phone, 1, WAIT).await;
    assert_eq!(got.len(), 1, "rejections: {:?}", push.rejections());
    let body = got[0].json().expect("decrypted payload")["body"]
        .as_str()
        .expect("body")
        .to_owned();
    assert!(
        body.starts_with("Received 1.5 PAS from 5Grw…utQY at block #"),
        "{body}"
    );
    assert!(body.ends_with(" on dev"), "{body}");

    let family = up.descendants();
    let status = up.interrupt().await;
    assert!(status.success(), "up exited with {status}");
    assert_stopped(&family);

    // Started again on the same state: the delivered transfer stays delivered, the next arrives.
    let mut up = setup.start();
    let command = up.transfer_command().await;
    run_printed(&command, "2", &setup.state.path().join("state/logs"));
    let got = push.wait_for(&phone, 2, WAIT).await;
    assert_eq!(got.len(), 2, "rejections: {:?}", push.rejections());
    let body = got[1].json().expect("decrypted payload")["body"].to_string();
    assert!(body.contains("Received 2 PAS"), "{body}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        push.attempts(&phone).len(),
        2,
        "each transfer notified once"
    );
    assert!(push.rejections().is_empty(), "{:?}", push.rejections());

    let family = up.descendants();
    let status = up.interrupt().await;
    assert!(status.success(), "up exited with {status}");
    assert_stopped(&family);
}
