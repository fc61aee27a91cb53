//! Where deliveries may go, and what a test fire may tell, against the compiled components:
//!
//! - a webhook host NAME that resolves to loopback (the test host's `resolve` override standing in
//!   for an attacker's DNS) is never connected to under the shipped `runtime-config.toml`, by a
//!   test fire or by dispatch; the development config does connect (so the check is real);
//! - test fires are rate-limited per trigger and per client address (429, `Retry-After`);
//! - a failed test fire says what a person can act on, the same words whether the connection was
//!   refused or TLS failed, and the status class when the server answered;
//! - a URL with user info is refused at create and patch, naming the field.
//!
//! Needs `scripts/build-components`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aurras_e2e::world::{batch, transfer, Settings, World, ALICE, BOB};
use aurras_e2e::{repo_root, Answer};
use serde_json::{json, Value};

/// The name the attacker's DNS points at 127.0.0.1.
const EVIL: &str = "hooks.attacker.example";
/// Why the tests that need [`EVIL`] cannot run under real Spin.
const NEEDS_RESOLVE: &str = "hooks.attacker.example must resolve to 127.0.0.1, which only the \
    test host's `resolve` option does (Spin asks the system's DNS)";
const PAS: u128 = 10_000_000_000;

/// Counts TCP connections to a loopback port, dropping each at once.
struct Listener {
    port: u16,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(tcp);
            }
        });
        Self {
            port,
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A copy of one of the repository's runtime configs, its store moved to `store` (the file's
/// path is relative to the file: the repository's `.spin/` stays untouched). Nothing else changes.
fn copied_config(name: &str, store: &std::path::Path) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(repo_root().join(name)).expect("runtime config");
    let shipped_store = "\".spin/sqlite_key_value.db\"";
    assert!(text.contains(shipped_store), "{name} moved its store");
    let text = text.replace(shipped_store, &format!("{:?}", store.display().to_string()));
    let path = dir.path().join("runtime-config.toml");
    std::fs::write(&path, text).expect("write");
    (dir, path)
}

/// A World whose app runs with the repository's `config`, the shipped default for
/// `allow_private_destinations`, and `EVIL` resolving to 127.0.0.1.
async fn world_with(config: &str, extra: &[(&str, &str)]) -> (World, tempfile::TempDir) {
    let mut w = World::start(Settings {
        allow_private: false,
        ..Settings::default()
    })
    .await
    .expect("world");
    let (dir, path) = copied_config(config, &w.app.store_file());
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (format!("SPIN_VARIABLE_{}", k.to_uppercase()), v.to_string()))
        .collect();
    w.app
        .restart_with(|o| {
            o.runtime_config = Some(path);
            o.variables
                .remove("SPIN_VARIABLE_ALLOW_PRIVATE_DESTINATIONS");
            o.variables.extend(extra);
            o.resolve
                .insert(EVIL.into(), "127.0.0.1".parse().expect("ip"));
        })
        .await
        .expect("restart");
    (w, dir)
}

async fn webhook_to(w: &World, url: &str) -> Value {
    w.trigger(
        Some(json!({"balance": {"account": BOB, "direction": "in", "min": "1"}})),
        json!({"webhook": {"url": url}}),
        json!({}),
    )
    .await
    .expect("a name is accepted at create")
}

async fn fire(w: &World, trigger: &Value) -> Answer {
    w.fire_test(trigger).await.expect("test fire")
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_not_connected_to_under_the_shipped_config() {
    if aurras_e2e::app_host::skip_under_spin(NEEDS_RESOLVE) {
        return;
    }
    let target = Listener::start().await;
    let url = format!("https://{EVIL}:{}/in", target.port);

    let (w, _config) = world_with("runtime-config.toml", &[]).await;
    let trigger = webhook_to(&w, &url).await;
    let fired = fire(&w, &trigger).await;
    assert_eq!(fired.status, 200, "{}", fired.body);
    assert_eq!(fired.body["class"], "could_not_connect", "{}", fired.body);
    // And through dispatch, for a real event.
    let answer = w
        .dispatch(&batch(&[&transfer(7, 0, ALICE, BOB, 2 * PAS)]))
        .await
        .expect("dispatch");
    assert_eq!(answer.status, 200, "{}", answer.body);
    World::settle().await;
    assert_eq!(
        target.accepted(),
        0,
        "the app connected to loopback by name"
    );
    // It was attempted, and failed without a connection.
    let delivery = w.read(&trigger).await.expect("read")["delivery"].clone();
    assert_eq!(delivery["consecutive_failures"], 1, "{delivery}");
    assert_eq!(delivery["delivered"], 0, "{delivery}");

    // The development config lets it through: the name does reach the listener.
    let (dev, _config) = world_with("runtime-config.dev.toml", &[]).await;
    let trigger = webhook_to(&dev, &url).await;
    let fired = fire(&dev, &trigger).await;
    assert_eq!(fired.body["class"], "could_not_connect", "{}", fired.body);
    assert!(target.accepted() >= 1, "the dev config should connect");
}

#[tokio::test]
async fn test_fires_are_rate_limited_per_trigger_and_per_client() {
    if aurras_e2e::app_host::skip_under_spin(NEEDS_RESOLVE) {
        return;
    }
    let target = Listener::start().await;
    let url = format!("https://{EVIL}:{}/in", target.port);
    let (w, _config) = world_with(
        "runtime-config.toml",
        &[
            ("test_rate_limit", "2/60s"),
            ("test_client_rate_limit", "3/60s"),
        ],
    )
    .await;
    let first = webhook_to(&w, &url).await;
    let second = webhook_to(&w, &url).await;
    for _ in 0..2 {
        assert_eq!(fire(&w, &first).await.status, 200);
    }
    let refused = fire(&w, &first).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "rate_limited");
    let retry: u64 = refused
        .header("retry-after")
        .and_then(|s| s.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    // The same address, another trigger: its third fire in the window is its last.
    assert_eq!(fire(&w, &second).await.status, 429, "client window");
    assert_eq!(target.accepted(), 0);
}

#[tokio::test]
async fn failed_test_fires_say_what_to_fix_not_how_the_connection_failed() {
    if aurras_e2e::app_host::skip_under_spin(NEEDS_RESOLVE) {
        return;
    }
    // Under the development config the name reaches loopback, where the test controls the
    // failure: a closed port (refused) and a listener that drops the connection (TLS fails).
    let (w, _config) = world_with("runtime-config.dev.toml", &[]).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dropping = Listener::start().await;
    let refused = fire(
        &w,
        &webhook_to(&w, &format!("https://{EVIL}:{closed}/in")).await,
    )
    .await;
    let tls = fire(
        &w,
        &webhook_to(&w, &format!("https://{EVIL}:{}/in", dropping.port)).await,
    )
    .await;
    assert!(dropping.accepted() >= 1, "the TLS case connected");
    assert_eq!(refused.status, 200, "{}", refused.body);
    assert_eq!(
        refused.body["class"], "could_not_connect",
        "{}",
        refused.body
    );
    assert_eq!(refused.body, tls.body, "refused and TLS failure read alike");
    let text = refused.body.to_string().to_lowercase();
    for word in ["refused", "tls", "timed out", "certificate", "blocked"] {
        assert!(!text.contains(word), "{word}: {text}");
    }

    // A server that answers (the default test world trusts the receiver): its status and class.
    let trusted = World::start(Settings::default()).await.expect("world");
    let hook = trusted.hooks.pending_hook();
    let trigger = webhook_to(&trusted, hook.url()).await;
    let secret = trigger["secret"].as_str().expect("secret");
    trusted.hooks.set_secret(&hook, secret).expect("secret");
    trusted.hooks.always(&hook, 503);
    let answered = fire(&trusted, &trigger).await;
    assert_eq!(answered.body["status"], 503, "{}", answered.body);
    assert_eq!(answered.body["class"], "server_error", "{}", answered.body);
    assert!(
        answered.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("5xx")),
        "{}",
        answered.body
    );
}

#[tokio::test]
async fn urls_with_user_info_are_refused_at_create_and_patch_naming_the_field() {
    let w = World::start(Settings::default()).await.expect("world");
    let body = json!({"source": w.source, "event": "Balances.Transfer",
                      "action": {"webhook": {"url": "https://user:hunter2@hooks.example.com/in"}}});
    let refused = w
        .app
        .call("POST", "/api/triggers", None, Some(&body))
        .await
        .expect("create");
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.body["error"]["field"], "action.webhook.url");
    assert!(
        !refused.body.to_string().contains("hunter2"),
        "{}",
        refused.body
    );

    let trigger = webhook_to(&w, "https://hooks.example.com/in").await;
    let id = trigger["id"].as_str().expect("id");
    let patched = w
        .app
        .call(
            "PATCH",
            &format!("/api/triggers/{id}"),
            trigger["token"].as_str(),
            Some(&json!({"action": {"webhook": {"url": "https://a:hunter2@hooks.example.com/"}}})),
        )
        .await
        .expect("patch");
    assert_eq!(patched.status, 422, "{}", patched.body);
    assert_eq!(patched.body["error"]["field"], "action.webhook.url");
}
