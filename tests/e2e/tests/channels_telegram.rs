//! Telegram by deep link, through the compiled components: a trigger created as
//! `{"telegram": {}}` answers `https://t.me/<bot>?start=<code>`; the operator registers the
//! app's webhook with the Bot API (the local server of `aurras_e2e::platforms::telegram`); the
//! person's `/start <code>` arrives there as Telegram pushes it, links the chat and is answered
//! in it; the next transfer reaches that chat. Forged updates, reused and unknown codes, and
//! events before the link change nothing.

use aurras_e2e::platforms::telegram::{Bot, Chat, TelegramBotApi};
use aurras_e2e::world::{batch, runtime_config, transfer, Settings, World, ALICE, BOB};
use aurras_e2e::ADMIN_TOKEN;
use serde_json::{json, Value};

const PAS: u128 = 10_000_000_000;
/// What the chat must show of a 3 PAS transfer from Alice to Bob in block 7.
const SHOWN: [&str; 3] = ["3 PAS", "5Grw…utQY", "https://explorer.test/paseo/block/7"];

struct Linking {
    w: World,
    telegram: TelegramBotApi,
    bot: Bot,
    _rc: tempfile::TempDir,
}

/// A world whose app trusts the local Bot API (on `localhost`, from the world's test CA) and
/// points `telegram_*` at it, with its webhook registered through the operator route.
async fn linking() -> Linking {
    let w = World::start(Settings::default()).await.expect("world");
    let telegram = TelegramBotApi::start(&w.ca).await.expect("telegram");
    let bot = telegram.bot("aurras_test_bot");
    // The app under the test host serves plain HTTP; Telegram itself takes https:// only.
    telegram.accept_plain_http_webhooks();
    let rc = tempfile::tempdir().expect("tempdir");
    let rc_path = rc.path().join("runtime-config.toml");
    std::fs::write(&rc_path, runtime_config(&w.ca, &["localhost", "127.0.0.1"]))
        .expect("runtime config");
    let mut w = w;
    let vars = [
        ("TELEGRAM_API", telegram.base_url()),
        ("TELEGRAM_BOT_TOKEN", bot.token.clone()),
        ("TELEGRAM_BOT_NAME", bot.username.clone()),
    ];
    w.app
        .restart_with(|o| {
            o.runtime_config = Some(rc_path.clone());
            for (name, value) in vars {
                o.variables.insert(format!("SPIN_VARIABLE_{name}"), value);
            }
        })
        .await
        .expect("restart");
    let url = format!("{}/api/telegram/update", w.app.url());
    let body = json!({"url": url});
    let anonymous = w
        .app
        .call("POST", "/api/operator/telegram/webhook", None, Some(&body))
        .await
        .expect("call");
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert!(telegram.webhook(&bot).is_none());
    let set = w
        .app
        .call(
            "POST",
            "/api/operator/telegram/webhook",
            Some(ADMIN_TOKEN),
            Some(&body),
        )
        .await
        .expect("call");
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["description"], "Webhook was set");
    let (registered, secret) = telegram.webhook(&bot).expect("setWebhook reached Telegram");
    assert_eq!(registered, url);
    assert!(secret.is_some_and(|s| s.len() >= 32), "a secret token");
    Linking {
        w,
        telegram,
        bot,
        _rc: rc,
    }
}

fn bob_in() -> Option<Value> {
    Some(json!({"balance": {"account": BOB, "direction": "in"}}))
}

/// The code of a create answer's deep link, checked to be the bot's.
fn code_of(created: &Value, bot: &Bot) -> String {
    let link = created["link"].as_str().expect("the answer has the link");
    assert_eq!(
        created["action"]["telegram"]["link"], link,
        "the view shows it too"
    );
    let code = link
        .strip_prefix(&format!("https://t.me/{}?start=", bot.username))
        .unwrap_or_else(|| panic!("a deep link to the bot: {link}"));
    assert!(
        (1..=64).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "a start parameter Telegram takes: {code}"
    );
    code.to_owned()
}

fn texts(telegram: &TelegramBotApi, chat: Chat) -> Vec<String> {
    telegram
        .sent_to(chat)
        .into_iter()
        .map(|m| m.shown.text)
        .collect()
}

#[tokio::test]
async fn a_tap_links_the_chat_and_the_next_transfer_arrives_there() {
    let l = linking().await;
    let created =
        l.w.trigger(
            bob_in(),
            json!({"telegram": {}}),
            json!({"name": "Bob's income"}),
        )
        .await
        .expect("create");
    let code = code_of(&created, &l.bot);
    let view = l.w.read(&created).await.expect("read");
    assert_eq!(view["action"]["telegram"]["linked"], false, "{view}");

    // An event before the link is skipped, neither failed nor retried.
    let early = transfer(6, 0, ALICE, BOB, 3 * PAS);
    let answer = l.w.dispatch(&batch(&[&early])).await.expect("dispatch");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["retries"], json!([]), "{}", answer.body);
    let view = l.w.read(&created).await.expect("read");
    assert_eq!(view["status"]["active"], true, "{view}");
    assert!(
        view["delivery"]["last_attempt"].is_null(),
        "nothing attempted: {view}"
    );
    assert!(l.telegram.sent().is_empty());

    let person = l.telegram.person("Bob");
    let status = l
        .telegram
        .push_start(&l.bot, person, &code)
        .await
        .expect("push");
    assert_eq!(status, 200);
    let said = texts(&l.telegram, person);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("Connected") && said[0].contains("Bob's income"),
        "{said:?}"
    );
    let view = l.w.read(&created).await.expect("read");
    assert_eq!(view["action"]["telegram"]["linked"], true, "{view}");
    assert!(view["action"]["telegram"].get("link").is_none(), "{view}");

    let event = transfer(7, 0, ALICE, BOB, 3 * PAS);
    let answer = l.w.dispatch(&batch(&[&event])).await.expect("dispatch");
    assert_eq!(answer.body["retries"], json!([]), "{}", answer.body);
    let sent = l.telegram.sent_to(person);
    assert_eq!(sent.len(), 2, "connected, then the transfer");
    assert_eq!(sent[1].bot_token, l.bot.token);
    for part in SHOWN {
        assert!(
            sent[1].shown.text.contains(part),
            "{part:?} in {:?}",
            sent[1].shown.text
        );
    }
    assert!(
        l.telegram.server().rejections().is_empty(),
        "{:?}",
        l.telegram.server().rejections()
    );
}

#[tokio::test]
async fn forged_reused_and_unknown_codes_link_nothing() {
    let l = linking().await;
    let created =
        l.w.trigger(bob_in(), json!({"telegram": {}}), json!({}))
            .await
            .expect("create");
    let code = code_of(&created, &l.bot);
    let url = format!("{}/api/telegram/update", l.w.app.url());
    let mallory = l.telegram.person("Mallory");
    let forged = l
        .telegram
        .message_update(mallory, &format!("/start {code}"));
    for secret in [None, Some("wrong"), Some("0".repeat(64).as_str())] {
        let status = l
            .telegram
            .push_update_to(&url, secret, &forged)
            .await
            .expect("push");
        assert_eq!(status, 401, "secret {secret:?}");
    }
    assert!(texts(&l.telegram, mallory).is_empty());

    // An unknown code: the person is told, nothing changes, and the answer is the same 200.
    let status = l
        .telegram
        .push_start(&l.bot, mallory, "not_a_code_we_made")
        .await
        .expect("push");
    assert_eq!(status, 200);
    let said = texts(&l.telegram, mallory);
    assert!(
        said.len() == 1 && said[0].contains("unknown or has expired"),
        "{said:?}"
    );
    // Other updates are taken and ignored.
    let chatter = l.telegram.message_update(mallory, "hello");
    assert_eq!(
        l.telegram
            .push_update(&l.bot, &chatter)
            .await
            .expect("push"),
        200
    );
    assert_eq!(texts(&l.telegram, mallory).len(), 1);

    let bob = l.telegram.person("Bob");
    assert_eq!(
        l.telegram
            .push_start(&l.bot, bob, &code)
            .await
            .expect("push"),
        200
    );
    // Used once: Mallory presenting it afterwards links nothing.
    assert_eq!(
        l.telegram
            .push_start(&l.bot, mallory, &code)
            .await
            .expect("push"),
        200
    );
    assert!(texts(&l.telegram, mallory)[1].contains("unknown or has expired"));
    let event = transfer(7, 0, ALICE, BOB, 3 * PAS);
    l.w.dispatch(&batch(&[&event])).await.expect("dispatch");
    assert_eq!(
        texts(&l.telegram, bob).len(),
        2,
        "connected, then the transfer"
    );
    assert_eq!(texts(&l.telegram, mallory).len(), 2, "nothing for Mallory");
}
