//! The whole loop to chat and phone channels, real parts throughout: a signed transfer on
//! chopsticks (the real Paseo runtime) → `aurras-ingestor ingest` → tansu → `relay` → the
//! compiled `dispatch` under the test host → the local Telegram Bot API, Discord and Slack
//! webhooks, ntfy server, Matrix homeserver and mail API, each checking what a person reads: the
//! amount in PAS, the sender, the block's link.

mod common;

use std::time::Duration;

use aurras_e2e::channels::Channels;
use aurras_e2e::processes::{Broker, LocalChain};
use aurras_e2e::world::Settings;
use common::{head, ingest, relay, transfer, BOB};
use serde_json::json;

const PAS: u128 = 10_000_000_000;
const WAIT: Duration = Duration::from_secs(90);

fn shows_the_transfer(platform: &str, text: &str) {
    for part in [
        "12.5 PAS",
        "5Grw…utQY",
        "https://explorer.test/paseo/block/",
    ] {
        assert!(text.contains(part), "{platform} shows {part:?}: {text:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_finalized_transfer_reaches_every_chat_phone_and_mail_channel() {
    let chain = LocalChain::start().expect("chain");
    let broker = Broker::start().expect("broker");
    let c = Channels::start(Settings {
        rpc: chain.url.clone(),
        ..Settings::default()
    })
    .await
    .expect("channels");
    let person = c.p.telegram.person("Bob");
    let discord = c.p.discord.webhook();
    let slack = c.p.slack.webhook();
    let bob_matrix = c.p.matrix.user("bob");
    let room = c.p.matrix_room("bob-payments", &bob_matrix);
    let mailbox = "bob@example.com";
    let bob_in = Some(json!({"balance": {"account": BOB, "direction": "in"}}));
    for action in [
        json!({"telegram": {"chat_id": person.id}}),
        json!({"discord": {"url": discord.url}}),
        json!({"slack": {"url": slack.url}}),
        json!({"ntfy": {"topic": "bob_payments"}}),
        json!({"matrix": {"room": room.room_id}}),
        json!({"email": {"address": mailbox}}),
    ] {
        c.w.trigger(bob_in.clone(), action.clone(), json!({}))
            .await
            .unwrap_or_else(|e| panic!("{action}: {e}"));
    }
    c.confirm_email(mailbox)
        .await
        .expect("the address confirmed");
    let app = c.w.app.url();
    let state = tempfile::tempdir().expect("tempdir");
    let _ingest = ingest(
        &app,
        &broker.addr,
        Some(head(&chain.url).await + 1),
        &state.path().join("cursor"),
    );
    let _relay = relay(&app, &broker.addr, "channels-test", Duration::from_secs(6));

    transfer(&chain.url, &[125 * PAS / 10]).await;
    // Every platform has its message, or the time is up and the asserts below say which not.
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline
        && (c.p.telegram.sent_to(person).is_empty()
            || c.p.discord.posted(&discord).is_empty()
            || c.p.slack.posted(&slack).is_empty()
            || c.p.ntfy.published("bob_payments").is_empty()
            || c.p.matrix.messages(&room).is_empty()
            || c.p.mail.sent_to(mailbox).len() < 2)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let telegram = c.p.telegram.sent_to(person);
    assert_eq!(
        telegram.len(),
        1,
        "{:?}",
        c.p.telegram.server().rejections()
    );
    shows_the_transfer("Telegram", &telegram[0].shown.text);
    let posted = c.p.discord.posted(&discord);
    assert_eq!(posted.len(), 1, "{:?}", c.p.discord.server().rejections());
    shows_the_transfer("Discord", &posted[0].readable);
    let posted = c.p.slack.posted(&slack);
    assert_eq!(posted.len(), 1, "{:?}", c.p.slack.server().rejections());
    shows_the_transfer("Slack", &posted[0].readable);
    let published = c.p.ntfy.published("bob_payments");
    assert_eq!(published.len(), 1, "{:?}", c.p.ntfy.server().rejections());
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
    let messages = c.p.matrix.messages(&room);
    assert_eq!(messages.len(), 1, "{:?}", c.p.matrix.server().rejections());
    shows_the_transfer("Matrix", &messages[0].body);
    let mails = c.p.mail.sent_to(mailbox);
    assert_eq!(
        mails.len(),
        2,
        "the confirmation, then the transfer: {mails:?}"
    );
    assert!(
        mails[1].subject.contains("12.5 PAS"),
        "{:?}",
        mails[1].subject
    );
    shows_the_transfer("email", mails[1].text.as_deref().unwrap_or_default());
}
