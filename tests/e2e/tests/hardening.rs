//! Defects a hostile reading of the API found, each shown fixed against the compiled components
//! under the test host: placeholder operator tokens, bodies read whole before their limit,
//! a webhook secret never shown, and a store that only grows (see `store_size.rs`).

use std::time::Duration;

use aurras_e2e::{App, ADMIN_TOKEN};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
// RFC 8291 Appendix A's user agent keys.
const P256DH: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

fn push_action() -> Value {
    json!({"web_push": {"endpoint": "https://push.example.net/send/abc",
                        "keys": {"p256dh": P256DH, "auth": AUTH}}})
}

fn hook_action(url: &str) -> Value {
    json!({"webhook": {"url": url}})
}

// ----- 10: placeholder operator tokens -----

#[tokio::test]
async fn a_placeholder_or_short_admin_token_opens_nothing_and_says_why() {
    let mut app = App::start().await.expect("app starts");
    let sid = app.register_paseo().await.expect("source");
    let a = app
        .call(
            "POST",
            "/api/triggers",
            None,
            Some(&json!({"source": sid, "event": "Balances.Transfer",
                         "action": hook_action("https://hooks.example.com/in")})),
        )
        .await
        .expect("call");
    assert_eq!(a.status, 201, "{}", a.body);
    let (id, token) = (
        a.body["id"].as_str().expect("id").to_owned(),
        a.body["token"].as_str().expect("token").to_owned(),
    );

    for weak in ["change-me", "admin", "a-short-token-of-29-characters"] {
        app.restart_with(|o| {
            o.variables
                .insert("SPIN_VARIABLE_ADMIN_TOKEN".into(), weak.into());
        })
        .await
        .expect("restart");
        for (method, path, token) in [
            ("GET", "/api/sources".to_owned(), Some(weak)),
            ("POST", "/api/sources".to_owned(), Some(weak)),
            ("DELETE", format!("/api/sources/{sid}"), None),
            ("GET", format!("/api/triggers/{id}"), Some(weak)),
        ] {
            let a = app
                .call(method, &path, token, Some(&json!({})))
                .await
                .expect("call");
            assert_eq!(a.status, 503, "{weak} {method} {path}: {}", a.body);
            assert_eq!(a.body["error"]["code"], "not_configured");
            let message = a.body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("admin_token"), "{message}");
            assert!(
                weak.len() < 10 || !message.contains(weak),
                "the reason echoes the token: {message}"
            );
        }
        // The public and trigger owners are not affected.
        let a = app
            .call("GET", "/api/sources", None, None)
            .await
            .expect("call");
        assert_eq!(a.status, 200, "{}", a.body);
        let a = app
            .call("GET", &format!("/api/triggers/{id}"), Some(&token), None)
            .await
            .expect("call");
        assert_eq!(a.status, 200, "{}", a.body);
    }

    // A strong token opens operator access again.
    app.restart_with(|o| {
        o.variables
            .insert("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into());
    })
    .await
    .expect("restart");
    let a = app
        .call("GET", "/api/sources", Some(ADMIN_TOKEN), None)
        .await
        .expect("call");
    assert_eq!(a.status, 200, "{}", a.body);
    app.stop().await.expect("stop");
}

// ----- 11: bodies within their limit -----

/// Sends `head` (request line and headers), then `body` bytes, never finishing the body, and
/// reads the answer's status line while the body is still unfinished.
async fn status_before_the_body_ends(app: &App, head: &str, body: Vec<u8>) -> String {
    let addr = app.url().trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(head.as_bytes()).await.expect("head");
    // Written on its own task: once the app stops reading, the writes may block for good.
    let upload = tokio::spawn(async move {
        let _ = writer.write_all(&body).await;
        // Keep the connection open, the body unfinished.
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(writer);
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            let n = reader.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    upload.abort();
    assert!(
        read.is_ok(),
        "no answer within 20 s while the body was unfinished: the app waits for the whole body"
    );
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_owned()
}

fn chunked(total: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let chunk = vec![b' '; 16 * 1024];
    let mut sent = 0;
    while sent < total {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(&chunk);
        out.extend_from_slice(b"\r\n");
        sent += chunk.len();
    }
    out
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413_before_the_upload_ends() {
    let app = App::start().await.expect("app starts");
    let limit = aurras_domain::api::MAX_TRIGGER_BODY;

    // Chunked, no Content-Length: refused once the limit is passed, the rest never read.
    let head = "POST /api/triggers HTTP/1.1\r\nHost: app\r\ncontent-type: application/json\r\n\
                transfer-encoding: chunked\r\n\r\n";
    let status = status_before_the_body_ends(&app, head, chunked(limit + 32 * 1024)).await;
    assert!(status.contains(" 413"), "{status}");

    // A Content-Length past the limit: refused at once, with a kilobyte of a terabyte sent.
    let head =
        "PUT /api/triggers/trg_x HTTP/1.1\r\nHost: app\r\ncontent-type: application/json\r\n\
                authorization: Bearer whatever\r\ncontent-length: 1000000000000\r\n\r\n";
    let status = status_before_the_body_ends(&app, head, vec![b' '; 1024]).await;
    assert!(status.contains(" 413"), "{status}");

    // /dispatch: 413 before the signature is checked over a body it never reads.
    let head = "POST /dispatch HTTP/1.1\r\nHost: app\r\ncontent-type: application/json\r\n\
                content-length: 17000000\r\n\r\n";
    let status = status_before_the_body_ends(&app, head, vec![b' '; 1024]).await;
    assert!(status.contains(" 413"), "{status}");
    let status = status_before_the_body_ends(
        &app,
        "POST /dispatch HTTP/1.1\r\nHost: app\r\ntransfer-encoding: chunked\r\n\r\n",
        chunked(16 * 1024 * 1024 + 64 * 1024),
    )
    .await;
    assert!(status.contains(" 413"), "{status}");

    // The answer is the JSON error; a body within the limit is still read whole.
    let a = app
        .call_raw(
            "POST",
            "/api/triggers",
            None,
            "application/json",
            vec![b' '; limit + 1],
        )
        .await
        .expect("call");
    assert_eq!(a.status, 413, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "payload_too_large");
    let a = app
        .call_raw(
            "POST",
            "/api/triggers",
            None,
            "application/json",
            vec![b' '; limit],
        )
        .await
        .expect("call");
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "invalid_json");
    app.stop().await.expect("stop");
}

// ----- 12: a push trigger switched to a webhook -----

#[tokio::test]
async fn a_push_trigger_switched_to_a_webhook_shows_its_secret_once() {
    let app = App::start().await.expect("app starts");
    let sid = app.register_paseo().await.expect("source");
    let body = json!({"source": sid, "event": "Balances.Transfer",
                      "filter": {"balance": {"account": BOB}}, "action": push_action()});
    let a = app
        .call("POST", "/api/triggers", None, Some(&body))
        .await
        .expect("call");
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(a.body.get("secret").is_none(), "{}", a.body);
    let (id, token) = (
        a.body["id"].as_str().expect("id").to_owned(),
        a.body["token"].as_str().expect("token").to_owned(),
    );
    let path = format!("/api/triggers/{id}");

    let a = app
        .call(
            "PATCH",
            &path,
            Some(&token),
            Some(&json!({"action": hook_action("https://hooks.example.com/a")})),
        )
        .await
        .expect("call");
    assert_eq!(a.status, 200, "{}", a.body);
    let secret = a.body["secret"].as_str().unwrap_or_default().to_owned();
    assert!(secret.starts_with("whsec_"), "{}", a.body);
    assert!(a.body["action"]["webhook"].get("secret").is_none());

    // Shown once: neither a read nor a change that keeps the webhook shows it again.
    let a = app
        .call("GET", &path, Some(&token), None)
        .await
        .expect("call");
    assert!(!a.body.to_string().contains(&secret), "{}", a.body);
    let a = app
        .call(
            "PATCH",
            &path,
            Some(&token),
            Some(&json!({"action": hook_action("https://hooks.example.com/b")})),
        )
        .await
        .expect("call");
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.get("secret").is_none(), "{}", a.body);

    // PUT to push and back to a webhook: a new secret, shown in that answer.
    let mut put = body.clone();
    let a = app
        .call("PUT", &path, Some(&token), Some(&put))
        .await
        .expect("call");
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.get("secret").is_none(), "{}", a.body);
    put["action"] = hook_action("https://hooks.example.com/c");
    let a = app
        .call("PUT", &path, Some(&token), Some(&put))
        .await
        .expect("call");
    assert_eq!(a.status, 200, "{}", a.body);
    let newer = a.body["secret"].as_str().unwrap_or_default();
    assert!(newer.starts_with("whsec_") && newer != secret, "{}", a.body);
    app.stop().await.expect("stop");
}
