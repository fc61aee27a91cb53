//! The whole loop to chat and phone channels, real parts throughout: a signed transfer on
//! chopsticks (the real Paseo runtime) → `aurras-ingestor ingest` → tansu → `relay` → the
//! compiled `dispatch` under the test host → the local Telegram Bot API, Discord and Slack
//! webhooks and ntfy server, each checking what a person reads: the amount in PAS, the sender,
//! the block's link.

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
async fn a_finalized_transfer_reaches_every_chat_channel() {
    let chain = LocalChain::start().expect("chain");
    let broker = Broker::start().expect("broker");
    let c = Channels::start(Settings {
        rpc: chain.url.clone(),
        ..Settings::default()
    })
    .await
    .expect("channels");
    let person = c.telegram.person("Bob");
    let discord = c.discord.webhook();
    let slack = c.slack.webhook();
    let bob_in = Some(json!({"balance": {"account": BOB, "direction": "in"}}));
    for action in [
        json!({"telegram": {"chat_id": person.id}}),
        json!({"discord": {"url": discord.url}}),
        json!({"slack": {"url": slack.url}}),
        json!({"ntfy": {"topic": "bob_payments"}}),
    ] {
        c.w.trigger(bob_in.clone(), action.clone(), json!({}))
            .await
            .unwrap_or_else(|e| panic!("{action}: {e}"));
    }
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
        && (c.telegram.sent_to(person).is_empty()
            || c.discord.posted(&discord).is_empty()
            || c.slack.posted(&slack).is_empty()
            || c.ntfy.published("bob_payments").is_empty())
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let telegram = c.telegram.sent_to(person);
    assert_eq!(telegram.len(), 1, "{:?}", c.telegram.server().rejections());
    shows_the_transfer("Telegram", &telegram[0].shown.text);
    let posted = c.discord.posted(&discord);
    assert_eq!(posted.len(), 1, "{:?}", c.discord.server().rejections());
    shows_the_transfer("Discord", &posted[0].readable);
    let posted = c.slack.posted(&slack);
    assert_eq!(posted.len(), 1, "{:?}", c.slack.server().rejections());
    shows_the_transfer("Slack", &posted[0].readable);
    let published = c.ntfy.published("bob_payments");
    assert_eq!(published.len(), 1, "{:?}", c.ntfy.server().rejections());
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
}
