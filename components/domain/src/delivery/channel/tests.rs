use std::time::Duration;

use serde_json::{json, Value};

use super::telegram::{ChatId, Telegram};
use super::*;
use crate::action::{Action, ActionSpec};
use crate::answer::Response;
use crate::notification::NotificationData;

fn platforms() -> Platforms {
    Platforms::from_variables(|name| match name {
        "telegram_bot_token" => Some("123:abc".into()),
        "telegram_api" => Some("https://tg.example/".into()),
        _ => None,
    })
}

fn spec(v: Value) -> ActionSpec {
    serde_json::from_value(v).expect("shape")
}

fn field_of(v: Value, platforms: &Platforms) -> Option<String> {
    spec(v.clone())
        .admit(platforms, false)
        .err()
        .and_then(|e| e.field)
}

fn note(url: Option<&str>) -> Notification {
    Notification {
        title: "Received 12.5 PAS".into(),
        body: "From 5Grw…utQY at block #1234 on paseo <&>".into(),
        url: url.map(str::to_owned),
        tag: "0x01".into(),
        data: NotificationData {
            event_id: "0x01".into(),
            trigger: "trg_1".into(),
            chain: "paseo".into(),
            block: 1234,
            event: "Balances.Transfer".into(),
            test: false,
        },
    }
}

fn answer(status: u16, retry_after: Option<u64>, body: &str) -> Answer {
    Answer::Response(Response {
        status,
        retry_after: retry_after.map(Duration::from_secs),
        body: body.as_bytes().to_vec(),
    })
}

fn body(request: &HttpRequest) -> Value {
    serde_json::from_slice(&request.body).expect("json body")
}

#[test]
fn defaults_enable_the_platforms_that_need_no_operator_secret() {
    let p = Platforms::default();
    assert_eq!(p.discord_hosts, ["discord.com", "discordapp.com"]);
    assert_eq!(p.slack_hosts, ["hooks.slack.com"]);
    assert_eq!(p.ntfy_server.as_deref(), Some("https://ntfy.sh"));
    assert_eq!(p.telegram_bot_token, None);
    let off = Platforms::from_variables(|n| (n != "telegram_api").then(String::new));
    assert!(off.discord_hosts.is_empty() && off.slack_hosts.is_empty());
    assert_eq!(off.ntfy_server, None);
    assert_eq!(platforms().telegram_api, "https://tg.example");
}

#[test]
fn channels_are_admitted_only_where_enabled_and_on_their_platform() {
    let p = platforms();
    let ok = [
        json!({"discord": {"url": "https://discord.com/api/webhooks/1/tok"}}),
        json!({"discord": {"url": "https://canary.discord.com/api/v10/webhooks/1/tok"}}),
        json!({"slack": {"url": "https://hooks.slack.com/services/T1/B2/x3"}}),
        json!({"ntfy": {"topic": "aurras_alerts-1"}}),
        json!({"ntfy": {"server": "https://ntfy.example.com", "topic": "t", "token": "tk_abc"}}),
        json!({"telegram": {"chat_id": -1001234567890_i64}}),
        json!({"telegram": {"chat_id": "@aurras_news"}}),
    ];
    for v in ok {
        assert_eq!(field_of(v.clone(), &p), None, "{v}");
    }
    let refused = [
        (
            json!({"discord": {"url": "https://evil.example/api/webhooks/1/t"}}),
            "action.discord.url",
        ),
        (
            json!({"discord": {"url": "https://discord.com/channels/1/2"}}),
            "action.discord.url",
        ),
        (
            json!({"discord": {"url": "http://discord.com/api/webhooks/1/t"}}),
            "action.discord.url",
        ),
        (
            json!({"slack": {"url": "https://hooks.slack.com.evil.example/services/a/b/c"}}),
            "action.slack.url",
        ),
        (
            json!({"slack": {"url": "https://hooks.slack.com/workflows/1"}}),
            "action.slack.url",
        ),
        (json!({"ntfy": {"topic": "has space"}}), "action.ntfy.topic"),
        (
            json!({"ntfy": {"server": "https://ntfy.example.com/path", "topic": "t"}}),
            "action.ntfy.server",
        ),
        (
            json!({"ntfy": {"server": "https://127.0.0.1", "topic": "t"}}),
            "action.ntfy.server",
        ),
        (
            json!({"ntfy": {"topic": "t", "token": ""}}),
            "action.ntfy.token",
        ),
        (json!({"telegram": {}}), "action.telegram.chat_id"),
        (
            json!({"telegram": {"chat_id": "@no"}}),
            "action.telegram.chat_id",
        ),
        (
            json!({"telegram": {"chat_id": 0}}),
            "action.telegram.chat_id",
        ),
    ];
    for (v, field) in refused {
        assert_eq!(field_of(v.clone(), &p).as_deref(), Some(field), "{v}");
    }
    let none = Platforms::from_variables(|_| Some(String::new()));
    for (v, field) in [
        (json!({"telegram": {"chat_id": 5}}), "action.telegram"),
        (
            json!({"discord": {"url": "https://discord.com/api/webhooks/1/t"}}),
            "action.discord.url",
        ),
        (
            json!({"slack": {"url": "https://hooks.slack.com/services/a/b/c"}}),
            "action.slack.url",
        ),
        (json!({"ntfy": {"topic": "t"}}), "action.ntfy.server"),
    ] {
        let err = spec(v.clone()).admit(&none, false).expect_err("disabled");
        assert_eq!(err.field.as_deref(), Some(field), "{v}");
        assert!(
            err.to_string().contains("not enabled on this server"),
            "{err}"
        );
    }
}

#[test]
fn credentials_in_chat_actions_are_masked_in_views() {
    let discord =
        spec(json!({"discord": {"url": "https://discord.com/api/webhooks/1/secrettoken"}}))
            .validate(None, String::new)
            .expect("valid");
    assert_eq!(
        discord.view(),
        json!({"discord": {"url": "https://discord.com/api/webhooks/1/secr…"}})
    );
    let ntfy = spec(json!({"ntfy": {"topic": "t", "token": "tk_secret"}}))
        .validate(None, String::new)
        .expect("valid");
    assert_eq!(ntfy.view()["ntfy"]["token"], "(set)");
    assert!(!ntfy.view().to_string().contains("tk_secret"));
    assert_eq!(ntfy.channel(), "ntfy");
    assert!(matches!(ntfy, Action::Ntfy(_)));
}

#[test]
fn each_platform_gets_the_form_it_shows_best() {
    let p = platforms();
    let n = note(Some("https://explorer.example/paseo/1234"));
    let post = Post {
        note: &n,
        message_id: "msg_1",
        test: true,
    };
    let hook = ChatHook {
        url: "https://discord.com/api/webhooks/1/t".into(),
    };
    let d = body(&discord::request(&hook, &post).expect("discord"));
    assert_eq!(
        d["content"],
        "**Test: Received 12.5 PAS**\nFrom 5Grw…utQY at block #1234 on paseo <&>\nhttps://explorer.example/paseo/1234"
    );
    assert_eq!(d["allowed_mentions"], json!({"parse": []}));

    let s = body(&slack::request(&hook, &post).expect("slack"));
    assert_eq!(
        s["blocks"][0]["text"]["text"],
        "*Test: Received 12.5 PAS*\nFrom 5Grw…utQY at block #1234 on paseo &lt;&amp;&gt;\n<https://explorer.example/paseo/1234|View the block>"
    );

    let t = telegram::request(
        &Telegram {
            chat_id: Some(ChatId::Id(-100)),
            link: None,
        },
        &p,
        &post,
    )
    .expect("telegram");
    assert_eq!(t.url, "https://tg.example/bot123:abc/sendMessage");
    assert_eq!(body(&t)["chat_id"], -100);
    assert!(body(&t).get("parse_mode").is_none(), "plain text");

    let ntfy = ntfy::Ntfy {
        server: None,
        topic: "alerts".into(),
        token: Some("tk_x".into()),
    };
    let r = ntfy::request(&ntfy, &p, &post).expect("ntfy");
    assert_eq!(r.url, "https://ntfy.sh/");
    assert!(r
        .headers
        .contains(&("authorization".into(), "Bearer tk_x".into())));
    let b = body(&r);
    assert_eq!(
        (b["topic"].as_str(), b["click"].as_str()),
        (Some("alerts"), Some("https://explorer.example/paseo/1234"))
    );
}

#[test]
fn long_messages_are_cut_within_the_platform_limit() {
    let mut n = note(None);
    n.body = "word ".repeat(2000);
    let post = Post {
        note: &n,
        message_id: "m",
        test: false,
    };
    let hook = ChatHook {
        url: "https://discord.com/api/webhooks/1/t".into(),
    };
    let content = body(&discord::request(&hook, &post).expect("discord"))["content"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(content.encode_utf16().count() <= 2000);
    assert!(
        content.ends_with("word…"),
        "cut at a word: {}",
        &content[content.len() - 20..]
    );
}

#[test]
fn answers_are_classified_per_platform() {
    // Rate limits throttle with the wait from the header or the body.
    let d = discord::classify(&answer(
        429,
        None,
        r#"{"message": "You are being rate limited.", "retry_after": 0.5, "global": false}"#,
    ));
    assert_eq!(
        d,
        Outcome::Throttled {
            why: "Discord answered 429 (rate limited)".into(),
            wait: Some(Duration::from_millis(500))
        }
    );
    let t = telegram::classify(&answer(
        429,
        None,
        r#"{"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 3", "parameters": {"retry_after": 3}}"#,
    ));
    assert!(matches!(t, Outcome::Throttled { wait: Some(w), .. } if w == Duration::from_secs(3)));
    assert!(
        matches!(slack::classify(&answer(429, Some(30), "")), Outcome::Throttled { wait: Some(w), .. } if w == Duration::from_secs(30))
    );
    assert!(matches!(
        ntfy::classify(&answer(429, None, "")),
        Outcome::Throttled { wait: None, .. }
    ));

    // Gone: the person's destination no longer exists or no longer takes the bot.
    let gone = [
        discord::classify(&answer(
            404,
            None,
            r#"{"message": "Unknown Webhook", "code": 10015}"#,
        )),
        slack::classify(&answer(404, None, "no_service")),
        slack::classify(&answer(410, None, "channel_is_archived")),
        telegram::classify(&answer(
            403,
            None,
            r#"{"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}"#,
        )),
        telegram::classify(&answer(
            400,
            None,
            r#"{"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}"#,
        )),
        ntfy::classify(&answer(
            403,
            None,
            r#"{"code": 40301, "http": 403, "error": "forbidden"}"#,
        )),
    ];
    for outcome in gone {
        assert!(matches!(outcome, Outcome::Gone(_)), "{outcome:?}");
    }
    // The operator's token: retried until fixed.
    assert!(matches!(
        telegram::classify(&answer(
            401,
            None,
            r#"{"ok": false, "description": "Unauthorized"}"#
        )),
        Outcome::Retry(_)
    ));
    // Our own mistakes fail; 5xx and no answer retry; 2xx is delivered.
    assert!(matches!(
        slack::classify(&answer(400, None, "invalid_payload")),
        Outcome::Failed(_)
    ));
    assert!(matches!(
        discord::classify(&answer(502, None, "")),
        Outcome::Retry(_)
    ));
    assert!(matches!(
        ntfy::classify(&Answer::none("refused")),
        Outcome::Retry(_)
    ));
    assert_eq!(
        discord::classify(&answer(204, None, "")),
        Outcome::Delivered
    );
    assert_eq!(
        telegram::classify(&answer(200, None, r#"{"ok": true}"#)),
        Outcome::Delivered
    );
}

#[test]
fn enabled_lists_the_channels_whose_variables_are_set() {
    assert_eq!(
        Platforms::default().enabled(),
        ["discord", "slack", "ntfy"],
        "defaults: the webhook platforms and ntfy.sh"
    );
    assert_eq!(
        platforms().enabled(),
        ["telegram", "discord", "slack", "ntfy"]
    );
    let all = Platforms::from_variables(|n| match n {
        "telegram_bot_token" => Some("1:a".into()),
        "matrix_homeserver" => Some("https://m.example".into()),
        "matrix_access_token" => Some("tok".into()),
        _ => None,
    });
    assert_eq!(
        all.enabled(),
        ["telegram", "matrix", "discord", "slack", "ntfy"]
    );
    let half_matrix = Platforms::from_variables(|n| {
        (n == "matrix_homeserver").then(|| "https://m.example".into())
    });
    assert!(!half_matrix.enabled().contains(&"matrix"));
    let mail = Platforms::from_variables(|n| match n {
        "mail_provider" => Some("postmark".into()),
        "mail_api_token" => Some("tok".into()),
        "mail_from" => Some("Aurras <n@example.org>".into()),
        "public_url" => Some("https://aurras.example".into()),
        _ => None,
    });
    assert_eq!(mail.enabled(), ["discord", "slack", "ntfy", "email"]);
    let none = Platforms::from_variables(|_| Some(String::new()));
    assert!(none.enabled().is_empty(), "{:?}", none.enabled());
}

#[test]
fn chat_ids_are_integers_as_json_counts_them() {
    let id = |v: Value| serde_json::from_value::<ChatId>(v);
    assert_eq!(id(json!(906.0)).expect("906.0"), ChatId::Id(906));
    assert_eq!(id(json!(-100)).expect("-100"), ChatId::Id(-100));
    assert_eq!(
        id(json!("@news_bot")).expect("name"),
        ChatId::Name("@news_bot".into())
    );
    assert!(id(json!(1.5)).is_err());
    assert!(id(json!(1e30)).is_err());
    assert!(id(json!([1])).is_err());
}
