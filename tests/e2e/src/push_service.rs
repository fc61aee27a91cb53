//! A local Web Push service (RFC 8030) for the end-to-end tests. It makes browser-like
//! subscriptions and checks every message the way Mozilla autopush or FCM would: headers, VAPID
//! (RFC 8292) and size; then it decrypts the payload as the browser would (RFC 8291), so a test
//! sees exactly what a service worker would get. A refused message is answered 400/401/403/413
//! like a real service and recorded with its reason. `GET <endpoint>` answers the messages accepted
//! so far, decrypted, for a browser test to hand to its service worker.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::SecretKey;
use serde_json::{json, Value};

use crate::https::{Answer, Attempt, Refusal, Rejection, Request, Server};
use crate::push_crypto::{b64url, decrypt_push, verify_vapid};
use crate::tls::TestCa;

/// The largest body push services take (autopush and FCM: 4096 bytes of encrypted payload).
pub const MAX_BODY: usize = 4096;
/// The longest `Topic` RFC 8030 allows.
pub const MAX_TOPIC: usize = 32;
const URGENCIES: [&str; 4] = ["very-low", "low", "normal", "high"];

/// A browser's push subscription: its keys stay here, its public parts go to the app.
#[derive(Clone)]
pub struct Subscription {
    id: String,
    endpoint: String,
    secret: SecretKey,
    auth: [u8; 16],
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Subscription({})", self.endpoint)
    }
}

impl Subscription {
    /// The push endpoint, `https://localhost:<port>/push/<id>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `keys.p256dh`: base64url (unpadded) of the 65-byte uncompressed public key.
    pub fn p256dh(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secret.public_key().to_encoded_point(false).as_bytes())
    }

    /// `keys.auth`: base64url (unpadded) of the 16-byte auth secret.
    pub fn auth(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.auth)
    }

    /// What `PushSubscription.toJSON()` gives in a browser.
    pub fn to_json(&self) -> Value {
        json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {"p256dh": self.p256dh(), "auth": self.auth()},
        })
    }
}

/// A message the service accepted, decrypted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The payload as the service worker gets it.
    pub plaintext: Vec<u8>,
    /// `TTL`, seconds.
    pub ttl: u64,
    /// `Urgency`, when sent.
    pub urgency: Option<String>,
    /// `Topic`, when sent.
    pub topic: Option<String>,
    /// The VAPID key (`k`), base64url as sent.
    pub vapid_public_key: String,
    /// The VAPID token's claims.
    pub jwt_claims: Value,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// What `GET <endpoint>` shows of it: the payload as the service worker gets it, and the
    /// headers the app sent.
    fn to_json(&self) -> Value {
        json!({
            "data": String::from_utf8_lossy(&self.plaintext),
            "ttl": self.ttl,
            "urgency": self.urgency,
            "topic": self.topic,
        })
    }

    /// The payload as JSON (what the app sends), or why it is not.
    pub fn json(&self) -> Result<Value> {
        Ok(serde_json::from_slice(&self.plaintext)?)
    }
}

struct Keys {
    origin: String,
    secret: SecretKey,
    auth: [u8; 16],
    /// The `applicationServerKey` the subscription was made with, if any: like a browser's, only
    /// that key may push to it.
    server_key: Option<Vec<u8>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn check(keys: &Keys, req: &Request) -> Result<Received, Refusal> {
    let bad = |reason: String| Refusal::new(400, reason);
    match req.header("content-encoding") {
        Some(enc) if enc.eq_ignore_ascii_case("aes128gcm") => {}
        other => return Err(bad(format!("Content-Encoding is {other:?}, not aes128gcm"))),
    }
    let ttl = req
        .header("ttl")
        .and_then(|t| t.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            bad(format!(
                "TTL is {:?}, not a number of seconds",
                req.header("ttl")
            ))
        })?;
    let urgency = req.header("urgency").map(str::to_owned);
    if let Some(u) = &urgency {
        if !URGENCIES.contains(&u.as_str()) {
            return Err(bad(format!("Urgency {u:?} is not one of {URGENCIES:?}")));
        }
    }
    let topic = req.header("topic").map(str::to_owned);
    if let Some(t) = &topic {
        let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if t.is_empty() || t.len() > MAX_TOPIC || !t.chars().all(alphabet) {
            return Err(bad(format!(
                "Topic {t:?} is not 1 to {MAX_TOPIC} base64url characters"
            )));
        }
    }
    if req.body.len() > MAX_BODY {
        return Err(Refusal::new(
            413,
            format!("the body is {} bytes; at most {MAX_BODY}", req.body.len()),
        ));
    }
    let authorization = req
        .header("authorization")
        .ok_or_else(|| Refusal::new(401, "no Authorization header (VAPID is required)"))?;
    let vapid = verify_vapid(authorization, &keys.origin, now_secs())
        .map_err(|e| Refusal::new(401, format!("VAPID: {}", e.0)))?;
    if let Some(expected) = &keys.server_key {
        if b64url(&vapid.public_key).as_ref() != Some(expected) {
            return Err(Refusal::new(
                403,
                "VAPID key differs from the subscription's applicationServerKey",
            ));
        }
    }
    let plaintext = decrypt_push(&keys.secret, &keys.auth, &req.body)
        .map_err(|e| bad(format!("the browser could not decrypt the payload: {e}")))?;
    Ok(Received {
        plaintext,
        ttl,
        urgency,
        topic,
        vapid_public_key: vapid.public_key,
        jwt_claims: vapid.claims,
        at: Instant::now(),
    })
}

/// The push service; stops on drop.
pub struct PushService {
    server: Server<Keys, Received>,
}

fn random<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("system randomness is available");
    buf
}

impl PushService {
    /// Serves HTTPS with `ca`'s certificate on a free loopback port.
    pub async fn start(ca: &TestCa) -> Result<Self> {
        Ok(Self {
            server: Server::start(ca, "push", 201, check, Some(Received::to_json)).await?,
        })
    }

    /// `https://localhost:<port>`: the `aud` VAPID tokens must claim.
    pub fn origin(&self) -> String {
        self.server.origin()
    }

    fn make(&self, server_key: Option<Vec<u8>>) -> Subscription {
        let secret = loop {
            if let Ok(key) = SecretKey::from_slice(&random::<32>()) {
                break key;
            }
        };
        let auth = random::<16>();
        let keys = Keys {
            origin: self.origin(),
            secret: secret.clone(),
            auth,
            server_key,
        };
        let (id, endpoint) = self.server.add(keys);
        Subscription {
            id,
            endpoint,
            secret,
            auth,
        }
    }

    /// A new subscription that takes messages signed by any VAPID key.
    pub fn subscribe(&self) -> Subscription {
        self.make(None)
    }

    /// A new subscription made with `applicationServerKey` (base64url of the public key), as
    /// a page calling `pushManager.subscribe` would: messages signed with another key get 403.
    pub fn subscribe_with_key(&self, application_server_key: &str) -> Result<Subscription> {
        let key = b64url(application_server_key)
            .ok_or_else(|| anyhow::anyhow!("the applicationServerKey is not base64url"))?;
        Ok(self.make(Some(key)))
    }

    /// Answers the next valid messages with `statuses`, in order, then 201 again.
    pub fn script(&self, sub: &Subscription, statuses: impl IntoIterator<Item = u16>) {
        self.server.script(&sub.id, statuses);
    }

    /// The subscription has expired: 410 from now on.
    pub fn gone(&self, sub: &Subscription) {
        self.server.always(&sub.id, Answer::Status(410));
    }

    /// Takes the next messages and never answers.
    pub fn hang(&self, sub: &Subscription) {
        self.server.always(&sub.id, Answer::Hang);
    }

    /// Messages accepted (answered 2xx), in order of arrival.
    pub fn received(&self, sub: &Subscription) -> Vec<Received> {
        self.server.received(&sub.id)
    }

    /// Every valid message, with what it was answered (retries show here).
    pub fn attempts(&self, sub: &Subscription) -> Vec<Attempt> {
        self.server.attempts(&sub.id)
    }

    /// Every refused request, with the reason.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.server.rejections()
    }

    /// Waits until `n` messages were accepted or `timeout` passed; returns what arrived.
    pub async fn wait_for(&self, sub: &Subscription, n: usize, timeout: Duration) -> Vec<Received> {
        self.server.wait_for(&sub.id, n, timeout).await
    }
}
