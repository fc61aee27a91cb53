//! Chat and phone channels through the compiled components: triggers made through the API for
//! Telegram, Discord, Slack and ntfy, a signed batch posted to `/dispatch` as the relay does, and
//! local HTTPS servers that play each platform from its documentation
//! (`aurras_e2e::platforms`), which refuse any call the real platform would refuse. Each checks
//! what a person reads: the amount with its token, the sender, the link to the block.

use std::time::Duration;

use aurras_e2e::channels::Channels;
use aurras_e2e::platforms::Fault;
use aurras_e2e::world::{batch, transfer, Settings, World, ALICE, BOB};
use serde_json::{json, Value};

const PAS: u128 = 10_000_000_000;
/// What every channel must show of a 3 PAS transfer from Alice to Bob in block 7.
const AMOUNT: &str = "3 PAS";
const SENDER: &str = "5Grw…utQY";
const LINK: &str = "https://explorer.test/paseo/block/7";

async fn channels() -> Channels {
    Channels::start(Settings::default())
        .await
        .expect("channels")
}

fn bob_in() -> Option<Value> {
    Some(json!({"balance": {"account": BOB, "direction": "in"}}))
}

fn shows_the_transfer(platform: &str, text: &str) {
    for part in [AMOUNT, SENDER, LINK] {
        assert!(text.contains(part), "{platform} shows {part:?}: {text:?}");
    }
}

#[tokio::test]
async fn a_transfer_reaches_telegram_discord_slack_and_ntfy() {
    let c = channels().await;
    let person = c.p.telegram.person("Bob");
    let discord = c.p.discord.webhook();
    let slack = c.p.slack.webhook();
    for action in [
        json!({"telegram": {"chat_id": person.id}}),
        json!({"discord": {"url": discord.url}}),
        json!({"slack": {"url": slack.url}}),
        json!({"ntfy": {"topic": "bob_payments"}}),
    ] {
        c.w.trigger(bob_in(), action.clone(), json!({}))
            .await
            .unwrap_or_else(|e| panic!("{action}: {e}"));
    }
    let event = transfer(7, 0, ALICE, BOB, 3 * PAS);
    let answer = c.w.dispatch(&batch(&[&event])).await.expect("dispatch");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["retries"], json!([]), "all delivered");

    let sent = c.p.telegram.sent_to(person);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].bot_token, c.p.bot.token);
    shows_the_transfer("Telegram", &sent[0].shown.text);
    let posted = c.p.discord.posted(&discord);
    assert_eq!(posted.len(), 1);
    shows_the_transfer("Discord", &posted[0].readable);
    assert_eq!(posted[0].body["allowed_mentions"], json!({"parse": []}));
    let posted = c.p.slack.posted(&slack);
    assert_eq!(posted.len(), 1);
    shows_the_transfer("Slack", &posted[0].readable);
    assert!(
        posted[0].links.iter().any(|l| l == LINK),
        "{:?}",
        posted[0].links
    );
    let published = c.p.ntfy.published("bob_payments");
    assert_eq!(published.len(), 1);
    let note = &published[0];
    shows_the_transfer(
        "ntfy",
        &format!(
            "{} {} {}",
            note.title.as_deref().unwrap_or_default(),
            note.message,
            note.click.as_deref().unwrap_or_default()
        ),
    );
    assert_eq!(note.click.as_deref(), Some(LINK));
    for refused in [
        c.p.telegram.server().rejections(),
        c.p.discord.server().rejections(),
        c.p.slack.server().rejections(),
        c.p.ntfy.server().rejections(),
    ] {
        assert!(refused.is_empty(), "{refused:?}");
    }
}

#[tokio::test]
async fn rate_limits_throttle_and_gone_destinations_pause_their_trigger() {
    let c = channels().await;
    let discord = c.p.discord.webhook();
    let limited =
        c.w.trigger(
            bob_in(),
            json!({"discord": {"url": discord.url}}),
            json!({}),
        )
        .await
        .expect("discord");
    let person = c.p.telegram.person("Bob");
    let blocked =
        c.w.trigger(
            bob_in(),
            json!({"telegram": {"chat_id": person.id}}),
            json!({}),
        )
        .await
        .expect("telegram");
    c.p.discord.server().fail_next(
        1,
        Fault::RateLimited {
            retry_after_secs: 2,
        },
    );
    c.p.telegram.block(person);

    let event = transfer(7, 0, ALICE, BOB, 3 * PAS);
    let answer = c.w.dispatch(&batch(&[&event])).await.expect("dispatch");
    let retries = answer.body["retries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(retries.len(), 1, "only the throttled one: {}", answer.body);
    assert_eq!(retries[0]["item"]["trigger"], limited["id"]);
    let state = c.w.read(&limited).await.expect("read");
    assert_eq!(state["delivery"]["last_attempt"]["outcome"], "throttled");
    assert_eq!(state["delivery"]["consecutive_failures"], 0);
    let paused = c.w.read(&blocked).await.expect("read");
    assert_eq!(paused["status"]["active"], false, "{paused}");
    assert!(
        paused["status"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("blocked")),
        "{paused}"
    );

    // The retry, when due, is sent once and delivered.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let due = json!({"retries": [{"attempt": retries[0]["attempt"], "item": retries[0]["item"]}]});
    let answer = c.w.dispatch(&due).await.expect("retry");
    assert_eq!(answer.body["retries"], json!([]), "{}", answer.body);
    assert_eq!(c.p.discord.posted(&discord).len(), 1);
    c.p.discord.delete(&discord);
    let later = transfer(8, 0, ALICE, BOB, 3 * PAS);
    c.w.dispatch(&batch(&[&later])).await.expect("dispatch");
    let gone = c.w.read(&limited).await.expect("read");
    assert_eq!(gone["status"]["active"], false, "a deleted webhook: {gone}");
}

/// Creating a trigger with `action` is refused with 422 naming `field`.
async fn refuse(w: &World, action: Value, field: &str) -> aurras_e2e::Answer {
    let body = json!({"source": w.source, "event": "Balances.Transfer", "action": action});
    let a = w
        .app
        .call("POST", "/api/triggers", None, Some(&body))
        .await
        .expect("call");
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["error"]["field"], field, "{}", a.body);
    a
}

#[tokio::test]
async fn channels_are_refused_where_not_enabled_or_off_platform() {
    let mut c = channels().await;
    refuse(
        &c.w,
        json!({"discord": {"url": "https://example.com/api/webhooks/1/t"}}),
        "action.discord.url",
    )
    .await;
    // No chat is a deep link here (the bot has a name: channels_telegram.rs); a bad one is not.
    refuse(
        &c.w,
        json!({"telegram": {"chat_id": "@no"}}),
        "action.telegram.chat_id",
    )
    .await;
    refuse(
        &c.w,
        json!({"ntfy": {"topic": "no spaces"}}),
        "action.ntfy.topic",
    )
    .await;

    // An operator who turns a channel off.
    c.w.app
        .restart_with(|o| {
            o.variables
                .insert("SPIN_VARIABLE_TELEGRAM_BOT_TOKEN".into(), String::new());
        })
        .await
        .expect("restart");
    let a = refuse(
        &c.w,
        json!({"telegram": {"chat_id": 42}}),
        "action.telegram",
    )
    .await;
    assert!(
        a.body.to_string().contains("not enabled on this server"),
        "{}",
        a.body
    );

    // A test fire shows the channel's answer.
    let slack = c.p.slack.webhook();
    let created =
        c.w.trigger(bob_in(), json!({"slack": {"url": slack.url}}), json!({}))
            .await
            .expect("slack");
    let fired = c.w.fire_test(&created).await.expect("test");
    assert_eq!(fired.body["outcome"], "delivered", "{}", fired.body);
    let posted = c.p.slack.posted(&slack);
    assert_eq!(posted.len(), 1);
    assert!(
        posted[0].readable.contains("Test:"),
        "{}",
        posted[0].readable
    );
    let view = c.w.read(&created).await.expect("read");
    assert!(
        !view["action"]["slack"]["url"]
            .as_str()
            .unwrap_or_default()
            .contains(&slack.path[slack.path.len() - 6..]),
        "the webhook's secret path is masked: {view}"
    );
}

#[tokio::test]
async fn a_person_shapes_the_message_with_a_template() {
    let c = channels().await;
    let discord = c.p.discord.webhook();
    let message = json!({
        "title": "+{{ amount(fields.amount) }}",
        "body": "{{ short(fields.from) }} paid you in block {{ block }} on {{ chain }}"
    });
    let created =
        c.w.trigger(
            bob_in(),
            json!({"discord": {"url": discord.url}}),
            json!({"message": message}),
        )
        .await
        .expect("templated trigger");
    assert_eq!(c.w.read(&created).await.expect("read")["message"], message);
    let event = transfer(7, 0, ALICE, BOB, 3 * PAS);
    c.w.dispatch(&batch(&[&event])).await.expect("dispatch");
    let posted = c.p.discord.posted(&discord);
    assert_eq!(posted.len(), 1);
    let read = &posted[0].readable;
    assert!(read.contains("**+3 PAS**"), "the title, in bold: {read}");
    assert!(
        read.contains("5Grw…utQY paid you in block 7 on paseo"),
        "{read}"
    );
    // A test fire shows what a person will read.
    let fired = c.w.fire_test(&created).await.expect("test");
    assert_eq!(fired.body["outcome"], "delivered", "{}", fired.body);
    assert!(
        fired.body["message"]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with('+') && t.ends_with("PAS")),
        "{}",
        fired.body
    );

    // A template that renders for the sample but not for this event (a division by zero for
    // exactly 3 PAS): the default text goes out and the delivery state says why.
    let fragile =
        c.w.trigger(
            bob_in(),
            json!({"discord": {"url": discord.url}}),
            json!({"message": {"body": "{{ 100 // (fields.amount|int - 30000000000) }}"}}),
        )
        .await
        .expect("fragile template");
    let again = transfer(8, 0, ALICE, BOB, 3 * PAS);
    c.w.dispatch(&batch(&[&again])).await.expect("dispatch");
    let posted = c.p.discord.posted(&discord);
    assert!(
        posted
            .iter()
            .any(|p| p.readable.contains("Received 3 PAS from 5Grw…utQY")),
        "the default text went out: {posted:?}"
    );
    let state = c.w.read(&fragile).await.expect("read");
    let why = state["delivery"]["last_attempt"]["template_error"]
        .as_str()
        .unwrap_or_default();
    assert!(why.starts_with("message.body: line 1"), "{state}");

    // A mistake is a 422 naming the template and where, and stores nothing.
    let body = json!({"source": c.w.source, "event": "Balances.Transfer",
                      "action": {"discord": {"url": discord.url}},
                      "message": {"body": "line one\n{{ amout(fields.amount) }}"}});
    let refused =
        c.w.app
            .call("POST", "/api/triggers", None, Some(&body))
            .await
            .expect("call");
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.body["error"]["field"], "message.body");
    let why = refused.body["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("line 2"), "{why}");
}
