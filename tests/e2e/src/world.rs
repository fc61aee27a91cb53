//! Everything a delivery test needs around the app: a test CA, the local push service and webhook
//! receiver it signs, the app trusting that CA through Spin's runtime-config `[[client_tls]]` (as a
//! deployment trusts a private CA), a VAPID key, a registered source, and signed batches for
//! `POST /dispatch`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use aurras_domain::dispatch::{encode_bytes, Record};
use aurras_domain::envelope::{event_id, BlockRef, Envelope, ENVELOPE_VERSION};
use aurras_domain::names::ChainName;
use aurras_domain::signature::SigningKey;
use aurras_domain::ss58::AccountId;
use aurras_domain::webpush::VapidKey;
use serde_json::{json, Value};

use crate::push_service::{PushService, Subscription};
use crate::tls::TestCa;
use crate::webhook_receiver::{Hook, WebhookReceiver};
use crate::{Answer, App, ADMIN_TOKEN, RELAY_SECRET};

/// Alice, a dev account (SS58, prefix 42).
pub const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
/// Bob, a dev account.
pub const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
/// Balances.Transfer's topic on the test chain.
pub const TOPIC: &str = "paseo.Balances.Transfer";

/// The app and its peers.
pub struct World {
    /// The test CA the peers' certificates come from.
    pub ca: TestCa,
    /// The local push service.
    pub push: PushService,
    /// The local webhook receiver.
    pub hooks: WebhookReceiver,
    /// The app.
    pub app: App,
    /// The VAPID key the app signs with.
    pub vapid: VapidKey,
    /// The id of the registered `paseo` source.
    pub source: String,
    _config: tempfile::TempDir,
}

/// How the app is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `retry_schedule`.
    pub retry_schedule: String,
    /// `allow_private_destinations`.
    pub allow_private: bool,
    /// RPC URL of the registered source.
    pub rpc: String,
    /// The webhook receiver's accept queue.
    pub hook_backlog: u32,
    /// The manifest served; `None`: the repository's `spin.toml` (another one: the components
    /// built from another commit, for before/after measurements).
    pub manifest: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            retry_schedule: "100ms,200ms".into(),
            allow_private: true,
            rpc: "ws://127.0.0.1:9944".into(),
            hook_backlog: crate::DEFAULT_BACKLOG,
            manifest: None,
        }
    }
}

/// The runtime config trusting `ca` for calls from the app's components to `hosts` (Spin matches
/// `[[client_tls]] hosts` by host name, whatever the port).
pub fn runtime_config<S: AsRef<str>>(ca: &TestCa, hosts: &[S]) -> String {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("{:?}", h.as_ref())).collect();
    format!(
        "[[client_tls]]\ncomponent_ids = [\"api\", \"dispatch\"]\nhosts = [{}]\nca_roots_file = {:?}\n",
        hosts.join(", "),
        ca.ca_file().display().to_string()
    )
}

fn host_of(origin: &str) -> String {
    let authority = origin.trim_start_matches("https://").trim_end_matches('/');
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
        .to_owned()
}

impl World {
    /// Starts everything with `settings`.
    pub async fn start(settings: Settings) -> Result<Self> {
        let ca = TestCa::new()?;
        let push = PushService::start(&ca).await?;
        let hooks = WebhookReceiver::start_with_backlog(&ca, settings.hook_backlog).await?;
        let config = tempfile::tempdir()?;
        let rc_path = config.path().join("runtime-config.toml");
        // Spin matches `[[client_tls]] hosts` by host name, whatever the port.
        let hosts = [host_of(&push.origin()), host_of(&hooks.origin())];
        std::fs::write(&rc_path, runtime_config(&ca, &hosts))?;
        let (vapid, scalar) = VapidKey::generate();
        let app = App::start_with(|o| {
            if let Some(manifest) = &settings.manifest {
                o.manifest.clone_from(manifest);
            }
            o.runtime_config = Some(rc_path.clone());
            let vars = [
                ("VAPID_PRIVATE_KEY", scalar.clone()),
                ("VAPID_SUBJECT", "mailto:ops@aurras.test".to_owned()),
                (
                    "ALLOW_PRIVATE_DESTINATIONS",
                    settings.allow_private.to_string(),
                ),
                ("RETRY_SCHEDULE", settings.retry_schedule.clone()),
                (
                    "EXPLORER_URL",
                    "https://explorer.test/{chain}/block/{block}".to_owned(),
                ),
            ];
            for (name, value) in vars {
                o.variables.insert(format!("SPIN_VARIABLE_{name}"), value);
            }
        })
        .await?;
        let created = app
            .call(
                "POST",
                "/api/sources",
                Some(ADMIN_TOKEN),
                Some(&json!({"chain": "paseo", "rpc": [settings.rpc], "events": ["Balances.Transfer"],
                             "token": {"symbol": "PAS", "decimals": 10}})),
            )
            .await?;
        anyhow::ensure!(created.status == 201, "source: {created:?}");
        let source = created.body["id"].as_str().context("source id")?.to_owned();
        Ok(Self {
            ca,
            push,
            hooks,
            app,
            vapid,
            source,
            _config: config,
        })
    }

    /// Creates a trigger on Balances.Transfer with `filter` and `action` (plus `extra` fields);
    /// the answer (with `id`, `token` and, for webhooks, `secret`).
    pub async fn trigger(
        &self,
        filter: Option<Value>,
        action: Value,
        extra: Value,
    ) -> Result<Value> {
        let mut body =
            json!({"source": self.source, "event": "Balances.Transfer", "action": action});
        if let Some(f) = filter {
            body["filter"] = f;
        }
        if let Some(extra) = extra.as_object() {
            for (k, v) in extra {
                body[k] = v.clone();
            }
        }
        let created = self
            .app
            .call("POST", "/api/triggers", None, Some(&body))
            .await?;
        anyhow::ensure!(created.status == 201, "trigger: {created:?}");
        Ok(created.body)
    }

    /// A webhook trigger on `account`'s incoming transfers (`isJSONData`), posting to a new hook
    /// on the receiver, which verifies with the secret the answer carries; the hook and the answer.
    pub async fn webhook_on(&self, account: &str) -> Result<(Hook, Value)> {
        let hook = self.hooks.pending_hook();
        let created = self
            .trigger(
                Some(json!({"balance": {"account": account, "direction": "in"}})),
                json!({"webhook": {"url": hook.url()}}),
                json!({"isJSONData": true}),
            )
            .await?;
        let secret = created["secret"].as_str().context("the webhook's secret")?;
        self.hooks.set_secret(&hook, secret)?;
        Ok((hook, created))
    }

    /// `POST /api/triggers/{id}/test` of a created trigger, with its token.
    pub async fn fire_test(&self, created: &Value) -> Result<Answer> {
        let id = created["id"].as_str().context("the trigger's id")?;
        self.app
            .call(
                "POST",
                &format!("/api/triggers/{id}/test"),
                created["token"].as_str(),
                None,
            )
            .await
    }

    /// A push trigger for `subscription`: Bob receiving at least `min` PAS.
    pub async fn push_trigger(&self, subscription: &Subscription, min: &str) -> Result<Value> {
        self.trigger(
            Some(json!({"balance": {"account": BOB, "direction": "in", "min": min}})),
            json!({"web_push": subscription.to_json()}),
            json!({}),
        )
        .await
    }

    /// `GET /api/triggers/{id}` with the trigger's token.
    pub async fn read(&self, created: &Value) -> Result<Value> {
        let id = created["id"].as_str().context("id")?;
        let answer = self
            .app
            .call(
                "GET",
                &format!("/api/triggers/{id}"),
                created["token"].as_str(),
                None,
            )
            .await?;
        anyhow::ensure!(answer.status == 200, "read: {answer:?}");
        Ok(answer.body)
    }

    /// Posts a batch to `/dispatch`, signed with `secret` at `unix_secs`.
    pub async fn post_signed(&self, batch: &Value, secret: &str, unix_secs: u64) -> Result<Answer> {
        let body = serde_json::to_vec(batch)?;
        let key = SigningKey::from_secret(secret)?;
        let signed = key.sign(&format!("rly_test_{unix_secs}"), unix_secs, &body);
        let mut req = reqwest::Client::new()
            .post(format!("{}/dispatch", self.app.url()))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in signed.pairs() {
            req = req.header(name, value);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        };
        Ok(Answer {
            status,
            body,
            headers,
        })
    }

    /// Posts a batch to `/dispatch` as the relay does.
    pub async fn dispatch(&self, batch: &Value) -> Result<Answer> {
        self.post_signed(batch, RELAY_SECRET, now_secs()).await
    }

    /// Waits until the app's answers settle (deliveries are synchronous in `/dispatch`; this is
    /// for peers that record slightly after answering).
    pub async fn settle() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn hex_of(address: &str) -> String {
    AccountId::from_ss58(address)
        .map(|(id, _)| id.to_hex())
        .unwrap_or_default()
}

/// A Balances.Transfer envelope as the ingestor writes it, in block `block` at `index`.
pub fn transfer(block: u64, index: u32, from: &str, to: &str, amount: u128) -> Envelope {
    let genesis = [7u8; 32];
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&block.to_be_bytes());
    Envelope {
        id: event_id(&genesis, &hash, index),
        version: ENVELOPE_VERSION,
        chain: ChainName::parse("paseo").unwrap_or_else(|_| unreachable!("a valid name")),
        genesis_hash: format!("0x{}", hex::encode(genesis)),
        block: BlockRef {
            number: block,
            hash: format!("0x{}", hex::encode(hash)),
        },
        event_index: index,
        extrinsic_index: Some(1),
        phase: "apply_extrinsic".into(),
        pallet: "Balances".into(),
        event: "Transfer".into(),
        spec_version: 1_001_002,
        fields: json!({"from": from, "to": to, "amount": amount.to_string()})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        accounts: vec![hex_of(from), hex_of(to)],
        asset: None,
        track: None,
    }
}

/// The broker record carrying `envelope` at `offset`.
pub fn record(envelope: &Envelope, offset: i64) -> Record {
    Record {
        topic: TOPIC.into(),
        partition: 0,
        offset,
        key: Some(encode_bytes(envelope.key().as_bytes())),
        value: encode_bytes(&serde_json::to_vec(envelope).unwrap_or_default()),
        timestamp: None,
    }
}

/// `{"records": [...]}` for these envelopes, at offsets from 0.
pub fn batch(envelopes: &[&Envelope]) -> Value {
    let records: Vec<Record> = envelopes
        .iter()
        .enumerate()
        .map(|(i, e)| record(e, i64::try_from(i).unwrap_or_default()))
        .collect();
    json!({ "records": records })
}
