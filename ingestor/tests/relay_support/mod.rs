//! The fake app (the app's side of docs/delivery.md, verifying every signature), broker helpers
//! and the relay process, for tests/relay.rs.

use std::collections::BTreeSet;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aurras_domain::signature::{SigningKey, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use serde_json::{json, Value};

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const OTHER_SECRET: &str = "whsec_c2VjcmV0";
pub const ADMIN: &str = "operator-token";
pub const TOPIC: &str = "paseo.Balances.Transfer";
pub const DEAD_LETTER: &str = "aurras.dead-letter";
pub const WAIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The app's side of the contract.

/// One signed request that reached the fake app, and what it answered.
#[derive(Debug, Clone)]
pub struct Post {
    pub id: String,
    pub body: Value,
    pub status: u16,
    pub at_ms: u64,
}

/// Answers a verified request: (status, body).
pub type Script = Box<dyn Fn(&Value) -> (u16, Value) + Send + Sync>;

struct Shared {
    key: SigningKey,
    posts: Mutex<Vec<Post>>,
    refused: Mutex<usize>,
    script: Mutex<Script>,
    sources: Mutex<Value>,
}

/// The app: `POST /dispatch` answers per the script, `GET /api/sources` serves the sources.
pub struct FakeApp {
    pub url: String,
    shared: Arc<Shared>,
}

impl FakeApp {
    pub async fn start(script: Script) -> Self {
        let shared = Arc::new(Shared {
            key: SigningKey::from_secret(SECRET).expect("secret"),
            posts: Mutex::new(Vec::new()),
            refused: Mutex::new(0),
            script: Mutex::new(script),
            sources: Mutex::new(json!([])),
        });
        let router = Router::new()
            .route("/dispatch", post(dispatch))
            .route("/api/sources", get(sources))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, shared }
    }

    pub fn answer_with(&self, script: Script) {
        *self.shared.script.lock().expect("lock") = script;
    }

    pub fn set_sources(&self, sources: Value) {
        *self.shared.sources.lock().expect("lock") = sources;
    }

    pub fn posts(&self) -> Vec<Post> {
        self.shared.posts.lock().expect("lock").clone()
    }

    pub fn refused(&self) -> usize {
        *self.shared.refused.lock().expect("lock")
    }

    /// Every record the app answered 200 for, in arrival order, from post `from` on.
    pub fn taken(&self, from: usize) -> Vec<Value> {
        self.posts()
            .into_iter()
            .skip(from)
            .filter(|p| p.status == 200)
            .flat_map(|p| p.body["records"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let verified = shared.key.verify(
        header(ID_HEADER),
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &body,
        now_ms() / 1000,
    );
    if let Err(e) = verified {
        *shared.refused.lock().expect("lock") += 1;
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": e.to_string()})),
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "not JSON"})));
    };
    let (status, answer) = (shared.script.lock().expect("lock"))(&request);
    shared.posts.lock().expect("lock").push(Post {
        id: header(ID_HEADER).unwrap_or_default().to_owned(),
        body: request,
        status,
        at_ms: now_ms(),
    });
    (StatusCode::from_u16(status).expect("status"), Json(answer))
}

async fn sources(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(ADMIN) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "token"})));
    }
    let sources = shared.sources.lock().expect("lock").clone();
    (StatusCode::OK, Json(json!({ "sources": sources })))
}

/// Every record accepted, no retries.
pub fn accept_all(request: &Value) -> Value {
    let records: Vec<Value> = request["records"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            json!({"topic": r["topic"], "partition": r["partition"], "offset": r["offset"],
                   "outcome": "accepted"})
        })
        .collect();
    json!({"records": records, "retries": []})
}

pub fn accepting() -> Script {
    Box::new(|r| (200, accept_all(r)))
}

pub fn offsets(records: &[Value], partition: i64) -> Vec<i64> {
    records
        .iter()
        .filter(|r| r["partition"] == partition)
        .map(|r| r["offset"].as_i64().expect("offset"))
        .collect()
}

pub fn decode(field: &Value) -> Vec<u8> {
    STANDARD
        .decode(field.as_str().expect("base64 text"))
        .expect("base64")
}

// ---------------------------------------------------------------------------------------------
// The broker side.

pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin");
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

pub fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .create()
        .expect("producer")
}

/// Produces `value` with `key` to `topic`'s `partition`; returns its offset.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    partition: i32,
    key: &str,
    value: &[u8],
) -> i64 {
    producer
        .send(
            FutureRecord::to(topic)
                .partition(partition)
                .key(key)
                .payload(value),
            Duration::from_secs(10),
        )
        .await
        .expect("produced")
        .offset
}

pub fn envelope(n: u64) -> Vec<u8> {
    format!(r#"{{"id":"0x{n:064x}","n":{n}}}"#).into_bytes()
}

/// Reads `topic` from the beginning until `want` records arrived (or the deadline).
pub fn consume(brokers: &str, topic: &str, want: usize) -> Vec<OwnedMessage> {
    crate::common::read_topic(brokers, topic, want, WAIT)
}

pub fn header(m: &OwnedMessage, name: &str) -> Option<String> {
    let headers = m.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

pub fn topics_on(brokers: &str) -> BTreeSet<String> {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("client");
    client
        .fetch_metadata(None, Duration::from_secs(5))
        .map(|m| m.topics().iter().map(|t| t.name().to_owned()).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The relay process.

/// The relay process, killed when the test ends however it ends.
pub struct Relay(pub Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Relay {
    pub fn start(brokers: &str, app: &str, extra: &[&str]) -> Self {
        Relay(
            Command::new(env!("CARGO_BIN_EXE_aurras-ingestor"))
                .arg("relay")
                .args(["--brokers", brokers, "--app", app, "--group", "test-relay"])
                .args(["--linger-ms", "20", "--api-poll-secs", "1"])
                .args([
                    "--session-timeout-ms",
                    "6000",
                    "--request-timeout-secs",
                    "5",
                ])
                .args(extra)
                .env("RUST_LOG", "aurras_ingestor=debug,warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("relay starts"),
        )
    }

    pub fn with_topic(brokers: &str, app: &str, secret: &str, extra: &[&str]) -> Self {
        let mut args = vec!["--relay-secret", secret, "--topics", TOPIC];
        args.extend_from_slice(extra);
        Self::start(brokers, app, &args)
    }

    /// SIGTERM, then the exit status.
    pub async fn terminate(mut self) -> ExitStatus {
        let pid = self.0.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().expect("wait") {
                return status;
            }
            assert!(started.elapsed() < WAIT, "the relay did not stop");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < WAIT, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
