//! The local platform servers (`aurras_e2e::platforms`) against calls written from each
//! platform's documentation: each takes the documented call, records what a person would read,
//! and refuses wrong calls with the platform's own status and body, recording why.

use std::sync::{Arc, Mutex};

use aurras_e2e::platforms::discord::DiscordWebhooks;
use aurras_e2e::platforms::mail::MailApi;
use aurras_e2e::platforms::matrix::MatrixHomeserver;
use aurras_e2e::platforms::ntfy::NtfyServer;
use aurras_e2e::platforms::slack::SlackWebhooks;
use aurras_e2e::platforms::telegram::TelegramBotApi;
use aurras_e2e::platforms::Fault;
use aurras_e2e::tls::TestCa;
use serde_json::{json, Value};

/// An answer: status, headers, body as text and (when it parses) as JSON.
struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    json: Value,
}

async fn send(req: reqwest::RequestBuilder) -> Got {
    let resp = req.send().await.expect("the server answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Got {
        status,
        headers,
        text,
        json,
    }
}

fn setup() -> (TestCa, reqwest::Client) {
    let ca = TestCa::new().expect("test CA");
    let client = ca.client().expect("client");
    (ca, client)
}

#[tokio::test]
async fn telegram_sends_messages_and_refuses_like_the_bot_api() {
    let (ca, client) = setup();
    let api = TelegramBotApi::start(&ca).await.expect("start");
    let bot = api.bot("aurras_bot");
    let alice = api.person("Alice");
    let url = |method: &str| format!("{}/bot{}/{method}", api.base_url(), bot.token);

    let body = json!({"chat_id": alice.id, "parse_mode": "MarkdownV2",
                      "text": "*12 PAS* from [Bob](https://explorer.example/tx/1)\\."});
    let got = send(client.post(url("sendMessage")).json(&body)).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json["ok"], true);
    assert_eq!(got.json["result"]["chat"]["id"], alice.id);
    let sent = api.sent_to(alice);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].shown.text, "12 PAS from Bob.");
    assert_eq!(
        sent[0].shown.links,
        vec!["https://explorer.example/tx/1".to_owned()]
    );
    // A form body and a method name in another case are the same call.
    let form = [("chat_id", alice.id.to_string()), ("text", "plain".into())];
    assert_eq!(
        send(client.post(url("SENDMESSAGE")).form(&form))
            .await
            .status,
        200
    );

    let cases = [
        (url("sendMessage"), json!({"chat_id": alice.id, "text": "x".repeat(4097)}), 400, "Bad Request: message is too long"),
        (url("sendMessage"), json!({"chat_id": alice.id, "text": "12.5 PAS", "parse_mode": "MarkdownV2"}), 400, "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"),
        (url("sendMessage"), json!({"chat_id": alice.id}), 400, "Bad Request: message text is empty"),
        (url("sendMessage"), json!({"chat_id": 42, "text": "hi"}), 400, "Bad Request: chat not found"),
        (format!("{}/bot{}x/sendMessage", api.base_url(), bot.token), json!({"chat_id": alice.id, "text": "hi"}), 401, "Unauthorized"),
        (format!("{}/sendMessage", api.base_url()), json!({"chat_id": alice.id, "text": "hi"}), 404, "Not Found"),
        (url("sendMesage"), json!({"chat_id": alice.id, "text": "hi"}), 404, "Not Found"),
    ];
    for (url, body, status, description) in cases {
        let got = send(client.post(&url).json(&body)).await;
        assert_eq!(
            (got.status, got.json["ok"].clone()),
            (status, json!(false)),
            "{url}: {}",
            got.text
        );
        assert_eq!(got.json["error_code"], status);
        assert_eq!(got.json["description"], description);
    }
    assert_eq!(
        send(client.put(url("sendMessage")).json(&body))
            .await
            .status,
        405
    );
    assert_eq!(api.server().rejections().len(), 8);
    assert_eq!(api.sent().len(), 2, "nothing refused was sent");

    api.server().fail_next(
        2,
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    );
    for _ in 0..2 {
        let got = send(client.post(url("sendMessage")).json(&body)).await;
        assert_eq!(got.status, 429);
        assert_eq!(got.json["parameters"]["retry_after"], 1);
        assert_eq!(got.json["description"], "Too Many Requests: retry after 1");
    }
    assert_eq!(
        send(client.post(url("sendMessage")).json(&body))
            .await
            .status,
        200
    );

    api.block(alice);
    let got = send(client.post(url("sendMessage")).json(&body)).await;
    assert_eq!(
        got.json,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
    );
    assert_eq!(got.status, 403);
    assert_eq!(api.sent().len(), 3);
}

/// A plain HTTP endpoint recording what is posted to it (the app's inbound route).
async fn inbound() -> (String, Arc<Mutex<Vec<(Option<String>, Value)>>>) {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://127.0.0.1:{}/api/telegram/webhook",
        listener.local_addr().expect("addr").port()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let record = Arc::clone(&record);
                    async move {
                        use http_body_util::BodyExt;
                        let secret = req
                            .headers()
                            .get("x-telegram-bot-api-secret-token")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let body = req.into_body().collect().await?.to_bytes();
                        let update = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        record.lock().expect("lock").push((secret, update));
                        Ok::<_, hyper::Error>(hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::new(),
                        )))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(tcp);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn telegram_pushes_start_updates_to_the_webhook_with_its_secret() {
    let (ca, client) = setup();
    let api = TelegramBotApi::start(&ca).await.expect("start");
    let bot = api.bot("aurras_bot");
    let bob = api.person("Bob");
    let (hook, seen) = inbound().await;
    let set = format!("{}/bot{}/setWebhook", api.base_url(), bot.token);

    let got = send(
        client
            .post(&set)
            .json(&json!({"url": hook, "secret_token": "s3cr3t_-x"})),
    )
    .await;
    assert_eq!(
        got.json["description"],
        "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
    );
    api.accept_plain_http_webhooks();
    let got = send(
        client
            .post(&set)
            .json(&json!({"url": hook, "secret_token": "not allowed!"})),
    )
    .await;
    assert_eq!(got.status, 400, "{}", got.text);
    let got = send(
        client
            .post(&set)
            .json(&json!({"url": hook, "secret_token": "s3cr3t_-x"})),
    )
    .await;
    assert_eq!(
        got.json,
        json!({"ok": true, "result": true, "description": "Webhook was set"})
    );

    assert_eq!(api.push_start(&bot, bob, "c0de").await.expect("push"), 200);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    let (secret, update) = &seen[0];
    assert_eq!(secret.as_deref(), Some("s3cr3t_-x"));
    assert_eq!(update["message"]["text"], "/start c0de");
    assert_eq!(update["message"]["chat"]["id"], bob.id);
    assert_eq!(update["message"]["from"]["id"], bob.id);
    assert_eq!(
        update["message"]["entities"],
        json!([{"offset": 0, "length": 6, "type": "bot_command"}])
    );
    assert!(update["update_id"].as_i64().is_some());
}

#[tokio::test]
async fn matrix_sends_once_per_transaction_and_refuses_like_a_homeserver() {
    let (ca, client) = setup();
    let hs = MatrixHomeserver::start(&ca).await.expect("start");
    let bot = hs.user("aurras");
    let room = hs.room(Some("alerts"), &[&bot]);
    let enc = |s: &str| {
        s.replace('!', "%21")
            .replace('#', "%23")
            .replace(':', "%3A")
    };
    let send_url = |txn: &str| {
        format!(
            "{}/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
            hs.base_url(),
            enc(&room.room_id)
        )
    };
    let msg =
        json!({"msgtype": "m.notice", "body": "12 PAS from Bob https://explorer.example/tx/1"});

    let first = send(
        client
            .put(send_url("t1"))
            .bearer_auth(&bot.access_token)
            .json(&msg),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let event_id = first.json["event_id"]
        .as_str()
        .expect("event_id")
        .to_owned();
    assert!(event_id.starts_with('$'));
    let again = send(
        client
            .put(send_url("t1"))
            .bearer_auth(&bot.access_token)
            .json(&msg),
    )
    .await;
    assert_eq!(
        again.json["event_id"],
        event_id.as_str(),
        "same txnId, same event"
    );
    let other = send(
        client
            .put(send_url("t2"))
            .bearer_auth(&bot.access_token)
            .json(&msg),
    )
    .await;
    assert_ne!(other.json["event_id"], event_id.as_str());
    let messages = hs.messages(&room);
    assert_eq!(messages.len(), 2, "the repeat posted nothing");
    assert_eq!(
        messages[0].body,
        "12 PAS from Bob https://explorer.example/tx/1"
    );
    assert_eq!(
        messages[0].links,
        vec!["https://explorer.example/tx/1".to_owned()]
    );

    let no_token = send(client.put(send_url("t3")).json(&msg)).await;
    assert_eq!(
        (no_token.status, no_token.json["errcode"].clone()),
        (401, json!("M_MISSING_TOKEN"))
    );
    let bad_token = send(
        client
            .put(send_url("t3"))
            .bearer_auth("syt_wrong")
            .json(&msg),
    )
    .await;
    assert_eq!(
        (bad_token.status, bad_token.json["errcode"].clone()),
        (401, json!("M_UNKNOWN_TOKEN"))
    );
    let post = send(
        client
            .post(send_url("t3"))
            .bearer_auth(&bot.access_token)
            .json(&msg),
    )
    .await;
    assert_eq!(
        (post.status, post.json["errcode"].clone()),
        (405, json!("M_UNRECOGNIZED"))
    );
    let r0 = send(
        client
            .put(send_url("t3").replace("/v3/", "/r1/"))
            .bearer_auth(&bot.access_token)
            .json(&msg),
    )
    .await;
    assert_eq!(
        (r0.status, r0.json["errcode"].clone()),
        (404, json!("M_UNRECOGNIZED"))
    );
    let shapeless = send(
        client
            .put(send_url("t3"))
            .bearer_auth(&bot.access_token)
            .json(&json!({"text": "hi"})),
    )
    .await;
    assert_eq!(
        (shapeless.status, shapeless.json["errcode"].clone()),
        (400, json!("M_BAD_JSON"))
    );
    let huge = json!({"msgtype": "m.text", "body": "x".repeat(70_000)});
    let too_large = send(
        client
            .put(send_url("t4"))
            .bearer_auth(&bot.access_token)
            .json(&huge),
    )
    .await;
    assert_eq!(
        (too_large.status, too_large.json["errcode"].clone()),
        (413, json!("M_TOO_LARGE"))
    );

    hs.server().fail_next(
        1,
        Fault::RateLimited {
            retry_after_secs: 2,
        },
    );
    let limited = send(
        client
            .put(send_url("t5"))
            .bearer_auth(&bot.access_token)
            .json(&msg),
    )
    .await;
    assert_eq!(
        (limited.status, limited.json["errcode"].clone()),
        (429, json!("M_LIMIT_EXCEEDED"))
    );
    assert_eq!(limited.json["retry_after_ms"], 2000);
    assert_eq!(limited.headers["retry-after"], "2");
    assert_eq!(hs.messages(&room).len(), 2);

    hs.kick(&room, &bot);
    let kicked = send(
        client
            .put(send_url("t6"))
            .bearer_auth(&bot.access_token)
            .json(&msg),
    )
    .await;
    assert_eq!(
        (kicked.status, kicked.json["errcode"].clone()),
        (403, json!("M_FORBIDDEN"))
    );
    let join = format!(
        "{}/_matrix/client/v3/join/{}",
        hs.base_url(),
        enc("#alerts:localhost")
    );
    let joined = send(
        client
            .post(&join)
            .bearer_auth(&bot.access_token)
            .json(&json!({})),
    )
    .await;
    assert_eq!(joined.json, json!({"room_id": room.room_id}));
    assert!(hs.is_member(&room, &bot));

    let private = hs.private_room(None, &[]);
    let join = format!(
        "{}/_matrix/client/v3/join/{}",
        hs.base_url(),
        enc(&private.room_id)
    );
    let refused = send(
        client
            .post(&join)
            .bearer_auth(&bot.access_token)
            .json(&json!({})),
    )
    .await;
    assert_eq!(
        (refused.status, refused.json["errcode"].clone()),
        (403, json!("M_FORBIDDEN"))
    );
    hs.invite(&private, &bot);
    assert_eq!(
        send(client.post(&join).bearer_auth(&bot.access_token))
            .await
            .status,
        200
    );
    assert_eq!(hs.server().rejections().len(), 6);
}

#[tokio::test]
async fn discord_posts_within_limits_and_refuses_like_discord() {
    let (ca, client) = setup();
    let discord = DiscordWebhooks::start(&ca).await.expect("start");
    let hook = discord.webhook();
    let embed = json!({"title": "Transfer", "description": "12 PAS from Bob", "url": "https://explorer.example/tx/1",
                       "fields": [{"name": "Block", "value": "42"}]});

    let got = send(
        client
            .post(&hook.url)
            .json(&json!({"content": "New transfer", "embeds": [embed]})),
    )
    .await;
    assert_eq!((got.status, got.text.as_str()), (204, ""));
    let got = send(
        client
            .post(format!("{}?wait=true", hook.url))
            .json(&json!({"content": "waited"})),
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json["content"], "waited");
    let posted = discord.posted(&hook);
    assert_eq!(posted.len(), 2);
    assert_eq!(
        posted[0].readable,
        "New transfer\nTransfer\n12 PAS from Bob\nBlock\n42"
    );
    assert_eq!(
        posted[0].links,
        vec!["https://explorer.example/tx/1".to_owned()]
    );

    let long = send(
        client
            .post(&hook.url)
            .json(&json!({"content": "x".repeat(2001)})),
    )
    .await;
    assert_eq!(
        (long.status, long.json["code"].clone()),
        (400, json!(50035))
    );
    assert_eq!(
        long.json["errors"]["content"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    let title = send(
        client
            .post(&hook.url)
            .json(&json!({"embeds": [{"title": "t".repeat(257)}]})),
    )
    .await;
    assert!(
        title.json["errors"]["embeds"]["0"]["title"]["_errors"].is_array(),
        "{}",
        title.text
    );
    let empty = send(client.post(&hook.url).json(&json!({"content": ""}))).await;
    assert_eq!(
        empty.json,
        json!({"message": "Cannot send an empty message", "code": 50006})
    );
    let token = send(
        client
            .post(format!("{}x", hook.url))
            .json(&json!({"content": "hi"})),
    )
    .await;
    assert_eq!(
        (token.status, token.json["code"].clone()),
        (401, json!(50027))
    );
    let method = send(client.patch(&hook.url).json(&json!({"content": "hi"}))).await;
    assert_eq!(method.status, 405);
    let bad_path = send(
        client
            .post(format!("{}/api/hooks/1/2", discord.base_url()))
            .json(&json!({"content": "hi"})),
    )
    .await;
    assert_eq!(bad_path.status, 404);
    assert_eq!(discord.server().rejections().len(), 6);

    discord.server().fail_next(
        1,
        Fault::RateLimited {
            retry_after_secs: 3,
        },
    );
    let limited = send(client.post(&hook.url).json(&json!({"content": "hi"}))).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json["retry_after"], 3.0);
    assert_eq!(limited.headers["retry-after"], "3");

    discord.delete(&hook);
    let gone = send(client.post(&hook.url).json(&json!({"content": "hi"}))).await;
    assert_eq!(
        (gone.status, gone.json.clone()),
        (404, json!({"message": "Unknown Webhook", "code": 10015}))
    );
    assert_eq!(discord.posted(&hook).len(), 2);
}

#[tokio::test]
async fn slack_posts_and_answers_in_text_like_slack() {
    let (ca, client) = setup();
    let slack = SlackWebhooks::start(&ca).await.expect("start");
    let hook = slack.webhook();
    let body = json!({"text": "12 PAS from Bob <https://explorer.example/tx/1|tx>"});
    let got = send(client.post(&hook.url).json(&body)).await;
    assert_eq!((got.status, got.text.as_str()), (200, "ok"));
    let blocks = json!({"text": "fallback", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Transfer"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*12 PAS* from Bob"}}]});
    assert_eq!(send(client.post(&hook.url).json(&blocks)).await.text, "ok");
    let posted = slack.posted(&hook);
    assert_eq!(
        posted[0].links,
        vec!["https://explorer.example/tx/1".to_owned()]
    );
    assert_eq!(posted[1].readable, "Transfer\n*12 PAS* from Bob");

    let header = json!({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}}]});
    for (req, status, text) in [
        (
            client.post(&hook.url).json(&json!({"text": ""})),
            400,
            "no_text",
        ),
        (
            client
                .post(&hook.url)
                .body("text=hi")
                .header("content-type", "text/plain"),
            400,
            "invalid_payload",
        ),
        (client.post(&hook.url).json(&header), 400, "invalid_blocks"),
        (
            client.post(format!("{}x", hook.url)).json(&body),
            404,
            "no_service",
        ),
        (client.get(&hook.url), 405, "invalid_method"),
    ] {
        let got = send(req).await;
        assert_eq!((got.status, got.text.as_str()), (status, text));
    }
    assert_eq!(slack.server().rejections().len(), 5);

    slack.server().fail_next(
        1,
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    );
    let limited = send(client.post(&hook.url).json(&body)).await;
    assert_eq!(
        (limited.status, &limited.headers["retry-after"]),
        (
            429,
            &"1".parse::<reqwest::header::HeaderValue>().expect("value")
        )
    );
    slack.archive(&hook);
    let archived = send(client.post(&hook.url).json(&body)).await;
    assert_eq!(
        (archived.status, archived.text.as_str()),
        (410, "channel_is_archived")
    );
    assert_eq!(slack.posted(&hook).len(), 2);
}

#[tokio::test]
async fn ntfy_publishes_with_headers_or_json_and_refuses_like_ntfy() {
    let (ca, client) = setup();
    let ntfy = NtfyServer::start(&ca).await.expect("start");
    let token = ntfy.token();
    ntfy.protect("alerts", &token);
    let url = format!("{}/alerts", ntfy.base_url());

    let got = send(
        client
            .post(&url)
            .bearer_auth(&token)
            .header("Title", "=?UTF-8?B?VHJhbnNmZXIg4oaS?=")
            .header("Priority", "high")
            .header("Tags", "moneybag,chain")
            .header("Click", "https://explorer.example/tx/1")
            .body("12 PAS from Bob"),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(
        (got.json["event"].clone(), got.json["priority"].clone()),
        (json!("message"), json!(4))
    );
    let got = send(
        client
            .post(ntfy.base_url())
            .bearer_auth(&token)
            .json(&json!({"topic": "alerts", "message": "second", "priority": 5, "tags": ["x"]})),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text);
    let published = ntfy.published("alerts");
    assert_eq!(published.len(), 2);
    assert_eq!(published[0].title.as_deref(), Some("Transfer →"));
    assert_eq!(
        (published[0].priority, published[0].tags.clone()),
        (4, vec!["moneybag".to_owned(), "chain".to_owned()])
    );
    assert_eq!(
        published[0].links,
        vec!["https://explorer.example/tx/1".to_owned()]
    );
    assert_eq!(published[1].priority, 5);

    for (req, status, code) in [
        (client.post(&url).body("hi"), 403, 40301),
        (
            client.post(&url).bearer_auth("tk_unknown").body("hi"),
            401,
            40101,
        ),
        (
            client
                .post(&url)
                .bearer_auth(&token)
                .header("Priority", "6")
                .body("hi"),
            400,
            40007,
        ),
        (
            client
                .post(format!("{}/bad.topic", ntfy.base_url()))
                .body("hi"),
            400,
            40009,
        ),
        (
            client.post(&url).bearer_auth(&token).body("x".repeat(4097)),
            400,
            40014,
        ),
        (client.post(ntfy.base_url()).body("not json"), 400, 40017),
        (client.get(&url), 404, 40401),
    ] {
        let got = send(req).await;
        assert_eq!(
            (
                got.status,
                got.json["code"].clone(),
                got.json["http"].clone()
            ),
            (status, json!(code), json!(status)),
            "{}",
            got.text
        );
    }
    ntfy.server().fail_next(
        1,
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    );
    let limited = send(client.post(&url).bearer_auth(&token).body("hi")).await;
    assert_eq!(
        (limited.status, limited.json["code"].clone()),
        (429, json!(42901))
    );
    assert_eq!(ntfy.published("alerts").len(), 2);
    assert_eq!(ntfy.server().rejections().len(), 7);
}

#[tokio::test]
async fn resend_sends_mail_with_headers_and_refuses_like_resend() {
    let (ca, client) = setup();
    let resend = MailApi::resend(&ca, "re_test_key", "aurras.example")
        .await
        .expect("start");
    let url = format!("{}/emails", resend.base_url());
    let mail = json!({"from": "Aurras <notify@aurras.example>", "to": ["alice@example.com"], "subject": "Confirm",
        "text": "Confirm: https://aurras.example/confirm/abc", "html": "<a href=\"https://aurras.example/confirm/abc\">Confirm</a>",
        "headers": {"List-Unsubscribe": "<https://aurras.example/unsub/abc>"}});
    let got = send(
        client
            .post(&url)
            .bearer_auth("re_test_key")
            .header("Idempotency-Key", "k1")
            .json(&mail),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text);
    let again = send(
        client
            .post(&url)
            .bearer_auth("re_test_key")
            .header("Idempotency-Key", "k1")
            .json(&mail),
    )
    .await;
    assert_eq!(again.json["id"], got.json["id"]);
    let sent = resend.sent_to("alice@example.com");
    assert_eq!(sent.len(), 1, "the repeat sent nothing");
    assert_eq!(
        sent[0].header("list-unsubscribe"),
        Some("<https://aurras.example/unsub/abc>")
    );
    assert_eq!(
        sent[0].links,
        vec!["https://aurras.example/confirm/abc".to_owned()]
    );

    let mut no_subject = mail.clone();
    no_subject
        .as_object_mut()
        .expect("object")
        .remove("subject");
    let mut other_domain = mail.clone();
    other_domain["from"] = json!("notify@elsewhere.example");
    let mut bad_to = mail.clone();
    bad_to["to"] = json!("not an address");
    for (req, status, name) in [
        (client.post(&url).json(&mail), 401, "missing_api_key"),
        (
            client.post(&url).bearer_auth("re_wrong").json(&mail),
            403,
            "invalid_api_key",
        ),
        (
            client
                .post(&url)
                .bearer_auth("re_test_key")
                .json(&no_subject),
            422,
            "missing_required_field",
        ),
        (
            client
                .post(&url)
                .bearer_auth("re_test_key")
                .json(&other_domain),
            403,
            "validation_error",
        ),
        (
            client.post(&url).bearer_auth("re_test_key").json(&bad_to),
            422,
            "validation_error",
        ),
        (
            client
                .post(&url)
                .bearer_auth("re_test_key")
                .header("Idempotency-Key", "k1")
                .json(&bad_to),
            409,
            "invalid_idempotent_request",
        ),
        (
            client.get(&url).bearer_auth("re_test_key"),
            405,
            "method_not_allowed",
        ),
        (
            client
                .post(format!("{}/email", resend.base_url()))
                .bearer_auth("re_test_key")
                .json(&mail),
            404,
            "not_found",
        ),
    ] {
        let got = send(req).await;
        assert_eq!(
            (
                got.status,
                got.json["name"].clone(),
                got.json["statusCode"].clone()
            ),
            (status, json!(name), json!(status)),
            "{}",
            got.text
        );
    }
    resend.server().fail_next(
        1,
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    );
    let limited = send(client.post(&url).bearer_auth("re_test_key").json(&mail)).await;
    assert_eq!(
        (limited.status, limited.json["name"].clone()),
        (429, json!("rate_limit_exceeded"))
    );
    assert_eq!(resend.sent().len(), 1);
}

#[tokio::test]
async fn postmark_sends_mail_with_headers_and_refuses_like_postmark() {
    let (ca, client) = setup();
    let postmark = MailApi::postmark(&ca, "pm-server-token", "aurras.example")
        .await
        .expect("start");
    let url = format!("{}/email", postmark.base_url());
    let mail = json!({"From": "Aurras <notify@aurras.example>", "To": "alice@example.com", "Subject": "Confirm",
        "TextBody": "Confirm: https://aurras.example/confirm/abc", "MessageStream": "outbound",
        "Headers": [{"Name": "List-Unsubscribe", "Value": "<https://aurras.example/unsub/abc>"}]});
    let token = "X-Postmark-Server-Token";
    let got = send(
        client
            .post(&url)
            .header(token, "pm-server-token")
            .json(&mail),
    )
    .await;
    assert_eq!(
        (
            got.status,
            got.json["ErrorCode"].clone(),
            got.json["Message"].clone()
        ),
        (200, json!(0), json!("OK"))
    );
    let sent = postmark.sent_to("alice@example.com");
    assert_eq!(
        sent[0].header("List-Unsubscribe"),
        Some("<https://aurras.example/unsub/abc>")
    );
    assert_eq!(sent[0].subject, "Confirm");

    let mut no_body = mail.clone();
    no_body.as_object_mut().expect("object").remove("TextBody");
    let mut bad_headers = mail.clone();
    bad_headers["Headers"] = json!({"List-Unsubscribe": "<x>"});
    for (req, status, code) in [
        (client.post(&url).json(&mail), 401, 10),
        (
            client.post(&url).header(token, "wrong").json(&mail),
            401,
            10,
        ),
        (
            client
                .post(&url)
                .header(token, "pm-server-token")
                .json(&no_body),
            422,
            300,
        ),
        (
            client
                .post(&url)
                .header(token, "pm-server-token")
                .json(&bad_headers),
            422,
            403,
        ),
        (
            client
                .post(&url)
                .header(token, "pm-server-token")
                .header("content-type", "application/json")
                .body("{"),
            422,
            402,
        ),
    ] {
        let got = send(req).await;
        assert_eq!(
            (got.status, got.json["ErrorCode"].clone()),
            (status, json!(code)),
            "{}",
            got.text
        );
    }
    postmark.deactivate("alice@example.com");
    let inactive = send(
        client
            .post(&url)
            .header(token, "pm-server-token")
            .json(&mail),
    )
    .await;
    assert_eq!(
        (inactive.status, inactive.json["ErrorCode"].clone()),
        (422, json!(406))
    );
    assert_eq!(postmark.sent().len(), 1);
    assert_eq!(postmark.server().rejections().len(), 5);
}
