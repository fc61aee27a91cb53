//! Secrets at rest, end to end against the compiled components: what identifies a browser or
//! signs a webhook never reaches the sqlite file in the clear, a rotated keyring still opens old
//! records, the re-encrypt route moves every record to the new key, and a key dropped too early
//! is a 503 naming the variable.

use aurras_e2e::{paseo_transfers_source, Answer, App, ADMIN_TOKEN, ENCRYPTION_KEYS};
use serde_json::{json, Value};

const KEYS_VAR: &str = "SPIN_VARIABLE_ENCRYPTION_KEYS";
/// A second key (32 bytes, base64), for the rotation.
const NEW_KEY: &str = "t2:cm90YXRlZC1hdXJyYXMtdGVzdC1rZXktMzItYnl0ZXM=";
const P256DH: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
const ENDPOINT: &str = "https://push.example.net/send/dGhpcy1icm93c2VyLW9ubHk";
const HOOK_URL: &str = "https://hooks.example.com/in/k3y-in-the-path";

async fn call(
    app: &App,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    app.call(method, path, token, body).await.expect("call")
}

/// The store's files as raw bytes (free pages and a WAL included), then every row as text.
fn dump(app: &App) -> String {
    let file = app.store_file();
    let mut text = String::new();
    for suffix in ["", "-wal", "-journal"] {
        let path = format!("{}{suffix}", file.display());
        if let Ok(bytes) = std::fs::read(&path) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    let conn = rusqlite::Connection::open(app.store_file()).expect("sqlite");
    let mut rows = conn
        .prepare("SELECT key, value FROM spin_key_value")
        .expect("query");
    let all: Vec<String> = rows
        .query_map([], |r| {
            let key: String = r.get(0)?;
            let value: Vec<u8> = r.get(1)?;
            Ok(format!("{key} {}", String::from_utf8_lossy(&value)))
        })
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    text + &all.join("\n")
}

/// The key ids the trigger records are sealed with.
fn sealing_keys(app: &App) -> Vec<String> {
    let conn = rusqlite::Connection::open(app.store_file()).expect("sqlite");
    let mut rows = conn
        .prepare("SELECT value FROM spin_key_value WHERE key LIKE 'trigger/%' ORDER BY key")
        .expect("query");
    rows.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .expect("rows")
        .map(|v| {
            let record: Value = serde_json::from_slice(&v.expect("row")).expect("json");
            record["action"]["sealed"]["kid"]
                .as_str()
                .unwrap_or("clear")
                .to_owned()
        })
        .collect()
}

/// Creates a trigger anonymously; the 201 answer.
async fn create_trigger(app: &App, body: Value) -> Answer {
    let a = call(app, "POST", "/api/triggers", None, Some(&body)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    a
}

/// Restarts the app with `keys` as its keyring and reads the trigger as its owner.
async fn read_with_keys(app: &mut App, keys: String, id: &str, token: &str) -> Answer {
    app.restart_with(|o| {
        o.variables.insert(KEYS_VAR.into(), keys);
    })
    .await
    .expect("restart");
    call(
        app,
        "GET",
        &format!("/api/triggers/{id}"),
        Some(token),
        None,
    )
    .await
}

fn assert_nothing_secret_in(dump: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!dump.contains(secret), "{secret:?} is in the store file");
    }
}

#[tokio::test]
async fn a_dump_reveals_no_secret_and_rotation_keeps_every_record_readable() {
    let mut app = App::start().await.expect("app starts");
    let a = call(
        &app,
        "POST",
        "/api/sources",
        Some(ADMIN_TOKEN),
        Some(&paseo_transfers_source()),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let source = a.body["id"].as_str().expect("id").to_owned();

    let hook = create_trigger(
        &app,
        json!({"source": source, "event": "Balances.Transfer",
               "action": {"webhook": {"url": HOOK_URL}}}),
    )
    .await;
    let hook_secret = hook.body["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    let push = create_trigger(
        &app,
        json!({"source": source, "event": "Balances.Transfer",
               "filter": {"balance": {"account": "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"}},
               "action": {"web_push": {"endpoint": ENDPOINT, "keys": {"p256dh": P256DH, "auth": AUTH}}}}),
    )
    .await;
    let (push_id, push_token) = (
        push.body["id"].as_str().expect("id").to_owned(),
        push.body["token"].as_str().expect("token").to_owned(),
    );
    let hook_secret_bytes = hook_secret.trim_start_matches("whsec_");
    let secrets = [
        &*hook_secret,
        hook_secret_bytes,
        HOOK_URL,
        "k3y-in-the-path",
        ENDPOINT,
        "dGhpcy1icm93c2VyLW9ubHk",
        P256DH,
        AUTH,
        &push_token,
    ];

    let stored = dump(&app);
    assert!(stored.contains(&push_id), "the dump is of this app's store");
    assert_nothing_secret_in(&stored, &secrets);
    assert_eq!(sealing_keys(&app), ["t1", "t1"]);

    // Rotation: the new key first, the old one after it. Old records still open.
    let rotated = format!("{NEW_KEY},{ENCRYPTION_KEYS}");
    let read = read_with_keys(&mut app, rotated, &push_id, &push_token).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["action"]["web_push"]["endpoint"], ENDPOINT);
    assert_eq!(read.body["action"]["web_push"]["keys"]["auth"], AUTH);

    // Re-encrypt, one record per call, until `next` is null.
    let mut after: Option<String> = None;
    let (mut calls, mut resealed) = (0, 0);
    loop {
        let query = after
            .as_ref()
            .map(|a| format!("&after={a}"))
            .unwrap_or_default();
        let a = call(
            &app,
            "POST",
            &format!("/api/maintenance/reencrypt?limit=1{query}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["key"], "t2");
        calls += 1;
        resealed += a.body["resealed"].as_u64().expect("resealed");
        match a.body["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
        assert!(calls < 10, "no end: {}", a.body);
    }
    assert_eq!(
        (resealed, sealing_keys(&app)),
        (2, vec!["t2".to_owned(), "t2".to_owned()])
    );
    let again = call(
        &app,
        "POST",
        "/api/maintenance/reencrypt",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(
        (
            again.body["examined"].as_u64(),
            again.body["resealed"].as_u64()
        ),
        (Some(2), Some(0))
    );
    let anonymous = call(&app, "POST", "/api/maintenance/reencrypt", None, None).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let bad = call(
        &app,
        "POST",
        "/api/maintenance/reencrypt?limit=0",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(
        (bad.status, bad.body["error"]["field"].as_str()),
        (422, Some("limit"))
    );
    assert_nothing_secret_in(&dump(&app), &secrets);

    // The old key can go now.
    let read = read_with_keys(&mut app, NEW_KEY.into(), &push_id, &push_token).await;
    assert_eq!(
        read.body["action"]["web_push"]["endpoint"], ENDPOINT,
        "{}",
        read.body
    );

    // Dropping the key records are sealed with is an operator's mistake the answer names.
    let read = read_with_keys(&mut app, ENCRYPTION_KEYS.into(), &push_id, &push_token).await;
    assert_eq!(read.status, 503, "{}", read.body);
    let message = read.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("encryption_keys") && message.contains("\"t2\""),
        "{message}"
    );
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn the_app_does_not_start_without_a_keyring() {
    let err = App::start_with(|o| {
        o.variables.remove(KEYS_VAR);
    })
    .await
    .err()
    .expect("no keyring, no app");
    assert!(format!("{err:#}").contains("encryption_keys"), "{err:#}");
}

#[tokio::test]
async fn a_malformed_keyring_is_a_503_naming_the_variable_and_not_the_key() {
    let app = App::start_with(|o| {
        o.variables.insert(KEYS_VAR.into(), "t1:c2hvcnQ=".into());
    })
    .await
    .expect("app starts");
    let a = call(&app, "GET", "/api/sources", None, None).await;
    assert_eq!(a.status, 503, "{}", a.body);
    let message = a.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("encryption_keys") && !message.contains("c2hvcnQ"),
        "{message}"
    );
    app.stop().await.expect("stop");
}
