//! The page in a real browser: Debian's Chromium driven by playwright-core
//! (`tests/browser/page.test.mjs`, under `node --test`), against the compiled components under the
//! test host, with the local push service as the browsers' push service.
//!
//! Chromium cannot reach a real push service from here, so the page's `pushManager.subscribe`
//! answers subscriptions this harness made at the local push service; everything after that is
//! real: the trigger the page creates, the encrypted push the app sends (decrypted by the push
//! service), and the service worker showing it (delivered through the DevTools protocol).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use aurras_domain::signature::SigningKey;
use aurras_e2e::channels::{MAIL_API_KEY, MAIL_FROM, PUBLIC_URL};
use aurras_e2e::platforms::mail::MailApi;
use aurras_e2e::platforms::matrix::MatrixHomeserver;
use aurras_e2e::platforms::telegram::TelegramBotApi;
use aurras_e2e::world::{batch, now_secs, transfer, Settings, World, ALICE};
use aurras_e2e::{repo_root, ADMIN_TOKEN, RELAY_SECRET};
use serde_json::json;

/// An account only the subscription-renewal story uses, so its transfer reaches no other trigger.
const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";

fn chromium() -> Result<PathBuf> {
    let path = std::env::var_os("AURRAS_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    ensure!(
        path.exists(),
        "{} is missing: the browser tests need Chromium (scripts/setup-test-deps installs Debian's)",
        path.display()
    );
    Ok(path)
}

/// Paseo's chain spec, for the operator's upload (scripts/fetch-paseo-spec puts it there).
fn paseo_spec() -> Result<PathBuf> {
    let path = repo_root().join("target/chain-specs/paseo.json");
    ensure!(
        path.exists(),
        "{} is missing: run scripts/fetch-paseo-spec",
        path.display()
    );
    Ok(path)
}

fn browser_tests() -> Result<PathBuf> {
    let dir = repo_root().join("tests/browser");
    ensure!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run scripts/setup-test-deps (npm ci in tests/browser)"
    );
    Ok(dir)
}

/// The address the page's email test gives.
const MAIL_TO: &str = "dana@example.com";

#[tokio::test(flavor = "multi_thread")]
async fn the_page_in_a_real_browser() -> Result<()> {
    let chromium = chromium()?;
    let dir = browser_tests()?;
    let mut world = World::start(Settings::default()).await?;
    // Telegram, Matrix and mail enabled against the local platforms.
    let telegram = TelegramBotApi::start(&world.ca).await?;
    let bot = telegram.bot("aurras_page_bot");
    telegram.accept_plain_http_webhooks();
    let chat = telegram.person("Dana");
    let homeserver = MatrixHomeserver::start(&world.ca).await?;
    let matrix_bot = homeserver.user("aurras");
    let dana = homeserver.user("dana");
    let room = homeserver.private_room(Some("dana-payments"), &[&dana]);
    homeserver.invite(&room, &matrix_bot);
    let mail = MailApi::resend(&world.ca, MAIL_API_KEY, "example.org").await?;
    let rc = tempfile::tempdir()?;
    let rc_path = rc.path().join("runtime-config.toml");
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    for origin in [world.push.origin(), world.hooks.origin()] {
        let authority = origin.trim_start_matches("https://").trim_end_matches('/');
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .to_owned();
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    std::fs::write(
        &rc_path,
        aurras_e2e::world::runtime_config(&world.ca, &hosts),
    )?;
    let vars = [
        ("TELEGRAM_API", telegram.base_url()),
        ("TELEGRAM_BOT_TOKEN", bot.token.clone()),
        ("TELEGRAM_BOT_NAME", bot.username.clone()),
        ("MATRIX_HOMESERVER", homeserver.base_url()),
        ("MATRIX_ACCESS_TOKEN", matrix_bot.access_token.clone()),
        ("MAIL_PROVIDER", "resend".to_owned()),
        ("MAIL_API", mail.base_url()),
        ("MAIL_API_TOKEN", MAIL_API_KEY.to_owned()),
        ("MAIL_FROM", MAIL_FROM.to_owned()),
        ("PUBLIC_URL", PUBLIC_URL.to_owned()),
    ];
    world
        .app
        .restart_with(|o| {
            o.runtime_config = Some(rc_path.clone());
            for (name, value) in vars {
                o.variables.insert(format!("SPIN_VARIABLE_{name}"), value);
            }
        })
        .await?;
    // The source publishes what the staking, governance and account recipes watch, so the page
    // offers them for it.
    let events = json!({"events": ["Balances.Transfer", "Staking.Rewarded", "NominationPools.PaidOut",
        "Staking.Slashed", "Staking.Chilled", "Staking.Kicked", "Referenda.Submitted",
        "Proxy.ProxyAdded", "Proxy.PureCreated", "Multisig.NewMultisig"]});
    let patched = world
        .app
        .call(
            "PATCH",
            &format!("/api/sources/{}", world.source),
            Some(ADMIN_TOKEN),
            Some(&events),
        )
        .await?;
    ensure!(patched.status == 200, "source events: {}", patched.body);
    let set = world
        .app
        .call(
            "POST",
            "/api/operator/telegram/webhook",
            Some(ADMIN_TOKEN),
            Some(&json!({"url": format!("{}/api/telegram/update", world.app.url())})),
        )
        .await?;
    ensure!(set.status == 200, "setWebhook: {}", set.body);
    let (_, secret) = telegram
        .webhook(&bot)
        .context("setWebhook reached the local Bot API")?;
    let secret = secret.context("the webhook has a secret token")?;
    let key = world.vapid.public_key();
    let subscription = world.push.subscribe_with_key(&key)?;
    let expired = world.push.subscribe_with_key(&key)?;
    world.push.gone(&expired);

    // The relay's batch that finds the expired subscription: a transfer to Charlie, signed now
    // (the dispatch accepts signatures up to five minutes old).
    let event = transfer(1_000, 2, ALICE, CHARLIE, 25_000_000_000);
    let body = serde_json::to_string(&batch(&[&event]))?;
    let signed =
        SigningKey::from_secret(RELAY_SECRET)?.sign("rly_browser_1", now_secs(), body.as_bytes());
    let headers: serde_json::Map<String, serde_json::Value> = signed
        .pairs()
        .into_iter()
        .map(|(name, value)| (name.to_string(), json!(value)))
        .collect();

    let artifacts = repo_root().join("test-artifacts/browser");
    std::fs::create_dir_all(&artifacts)?;
    let status = tokio::process::Command::new("node")
        .args(["--test", "--test-concurrency=1", "page.test.mjs"])
        .current_dir(&dir)
        .env("AURRAS_URL", world.app.url())
        .env("AURRAS_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("AURRAS_SOURCE", &world.source)
        .env("AURRAS_VAPID_PUBLIC_KEY", &key)
        .env("AURRAS_SUBSCRIPTION", subscription.to_json().to_string())
        .env("AURRAS_EXPIRED_SUBSCRIPTION", expired.to_json().to_string())
        .env("AURRAS_RENEW_ACCOUNT", CHARLIE)
        .env("AURRAS_RENEW_BATCH", &body)
        .env(
            "AURRAS_RENEW_HEADERS",
            serde_json::Value::Object(headers).to_string(),
        )
        .env("AURRAS_PASEO_SPEC", paseo_spec()?)
        .env("AURRAS_CHROMIUM", &chromium)
        .env("AURRAS_TELEGRAM_BOT", &bot.username)
        .env("AURRAS_TELEGRAM_SECRET", &secret)
        .env("AURRAS_TELEGRAM_CHAT", chat.id.to_string())
        .env(
            "AURRAS_MATRIX_ROOM",
            room.alias.as_deref().context("alias")?,
        )
        .env("AURRAS_MATRIX_ROOM_ID", &room.room_id)
        .env("AURRAS_MAIL_TO", MAIL_TO)
        .env("AURRAS_ARTIFACTS", &artifacts)
        // The push service's certificate comes from the test CA: node's fetch trusts it so the
        // test can read the messages it decrypted.
        .env("NODE_EXTRA_CA_CERTS", world.ca.ca_file())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .context("node (20 or later) runs the browser tests")?;
    ensure!(
        status.success(),
        "the browser tests failed ({status}); see the output above"
    );

    // What the page's "Send a test notification" made reach the push service, decrypted.
    let received = world
        .push
        .wait_for(&subscription, 1, Duration::from_secs(1))
        .await;
    let note = received
        .first()
        .context("no push reached the subscription")?
        .json()?;
    ensure!(
        note["data"]["test"] == true,
        "not the test notification: {note}"
    );
    ensure!(
        world.push.received(&expired).is_empty(),
        "the expired subscription took a message"
    );
    // The room the page named was joined; the address it gave got its confirmation, only that.
    ensure!(
        homeserver.is_member(&room, &matrix_bot),
        "the bot did not join the room the page named"
    );
    let mailed = mail.sent_to(MAIL_TO);
    ensure!(
        mailed.len() == 1
            && mailed[0]
                .links
                .iter()
                .any(|l| l.starts_with(&format!("{PUBLIC_URL}/api/email/confirm?"))),
        "one confirmation mail to the address the page gave: {mailed:?}"
    );
    // The chat the page linked was told so by the bot.
    let said = telegram.sent_to(chat);
    ensure!(
        said.first()
            .is_some_and(|m| m.raw_text.starts_with("Connected")),
        "the bot did not answer the linked chat: {said:?}"
    );
    Ok(())
}
