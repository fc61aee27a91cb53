//! Email through the compiled components, once per mail API (the local Resend and Postmark of
//! `aurras_e2e::platforms::mail`): a trigger created as `{"email": {"address": …}}` gets one
//! confirmation mail and nothing else until its link is opened; then a transfer arrives as one
//! mail with the amount, sender and link, and RFC 8058 unsubscribe headers whose one-click POST
//! pauses the trigger, after which nothing more is sent.

use aurras_e2e::channels::{link_in, PUBLIC_URL};
use aurras_e2e::platforms::mail::MailApi;
use aurras_e2e::world::{batch, runtime_config, transfer, Settings, World, ALICE, BOB};
use serde_json::{json, Value};

const PAS: u128 = 10_000_000_000;
/// What the mail must show of a 3 PAS transfer from Alice to Bob in block 7.
const SHOWN: [&str; 3] = ["3 PAS", "5Grw…utQY", "https://explorer.test/paseo/block/7"];
const TOKEN: &str = "mail_key_123";

#[derive(Clone, Copy, Debug)]
enum Provider {
    Resend,
    Postmark,
}

struct Mailing {
    w: World,
    mail: MailApi,
    _rc: tempfile::TempDir,
}

/// A world whose app trusts the local mail API and sends through it.
async fn mailing(provider: Provider) -> Mailing {
    let mut w = World::start(Settings::default()).await.expect("world");
    let mail = match provider {
        Provider::Resend => MailApi::resend(&w.ca, TOKEN, "example.org").await,
        Provider::Postmark => MailApi::postmark(&w.ca, TOKEN, "example.org").await,
    }
    .expect("mail api");
    let rc = tempfile::tempdir().expect("tempdir");
    let rc_path = rc.path().join("runtime-config.toml");
    std::fs::write(&rc_path, runtime_config(&w.ca, &["localhost", "127.0.0.1"]))
        .expect("runtime config");
    let name = match provider {
        Provider::Resend => "resend",
        Provider::Postmark => "postmark",
    };
    let vars = [
        ("MAIL_PROVIDER", name.to_owned()),
        ("MAIL_API", mail.base_url()),
        ("MAIL_API_TOKEN", TOKEN.to_owned()),
        ("MAIL_FROM", "Aurras <notify@example.org>".to_owned()),
        ("PUBLIC_URL", PUBLIC_URL.to_owned()),
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
    Mailing { w, mail, _rc: rc }
}

fn bob_in() -> Option<Value> {
    Some(json!({"balance": {"account": BOB, "direction": "in"}}))
}

/// A request to the app as a browser or mail client makes it: the status and the body text.
async fn open(w: &World, method: &str, path_and_query: &str) -> (u16, String) {
    let client = reqwest::Client::new();
    let url = format!("{}{path_and_query}", w.app.url());
    let req = match method {
        "POST" => client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click"),
        _ => client.get(url),
    };
    let answer = req.send().await.expect("request");
    let status = answer.status().as_u16();
    (status, answer.text().await.expect("body"))
}

async fn confirm_then_deliver_then_unsubscribe(provider: Provider) {
    let m = mailing(provider).await;
    let address = "bob@example.com";
    let created =
        m.w.trigger(
            bob_in(),
            json!({"email": {"address": address}}),
            json!({"name": "Bob's income"}),
        )
        .await
        .expect("create");
    assert_eq!(
        created["action"]["email"],
        json!({"address": "b…@example.com", "confirmed": false}),
        "{created}"
    );
    let sent = m.mail.sent_to(address);
    assert_eq!(sent.len(), 1, "one confirmation mail: {sent:?}");
    assert_eq!(sent[0].from, "Aurras <notify@example.org>");
    assert!(sent[0]
        .text
        .as_deref()
        .unwrap_or_default()
        .contains("Bob's income"));
    let confirm = link_in(&sent[0], "/api/email/confirm");

    // Before the link is opened, an event sends nothing and is not retried.
    let early = transfer(6, 0, ALICE, BOB, 3 * PAS);
    let answer = m.w.dispatch(&batch(&[&early])).await.expect("dispatch");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["retries"], json!([]), "{}", answer.body);
    assert_eq!(
        m.mail.sent_to(address).len(),
        1,
        "still only the confirmation"
    );

    let (status, page) = open(&m.w, "GET", &confirm).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("confirmed"), "{page}");
    let view = m.w.read(&created).await.expect("read");
    assert_eq!(view["action"]["email"]["confirmed"], true, "{view}");
    let (again, _) = open(&m.w, "GET", &confirm).await;
    assert_eq!(again, 404, "a code works once");

    let event = transfer(7, 0, ALICE, BOB, 3 * PAS);
    let answer = m.w.dispatch(&batch(&[&event])).await.expect("dispatch");
    assert_eq!(answer.body["retries"], json!([]), "{}", answer.body);
    let sent = m.mail.sent_to(address);
    assert_eq!(sent.len(), 2, "the confirmation, then the transfer");
    let mail = &sent[1];
    assert!(mail.subject.contains("3 PAS"), "{:?}", mail.subject);
    let text = mail.text.as_deref().unwrap_or_default();
    for part in SHOWN {
        assert!(text.contains(part), "{part:?} in {text:?}");
    }
    assert!(mail.html.as_deref().is_some_and(|h| h.contains("3 PAS")));
    let unsubscribe = link_in(mail, "/api/email/unsubscribe");
    assert_eq!(
        mail.header("List-Unsubscribe"),
        Some(format!("<{PUBLIC_URL}{unsubscribe}>").as_str())
    );
    assert_eq!(
        mail.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );

    // The page only shows a button; a forged token is refused; the one-click POST pauses.
    let (status, page) = open(&m.w, "GET", &unsubscribe).await;
    assert!(
        status == 200 && page.contains("<form method=\"post\""),
        "{page}"
    );
    assert_eq!(
        m.w.read(&created).await.expect("read")["status"]["active"],
        true
    );
    let forged = format!(
        "{}0",
        unsubscribe.trim_end_matches(|c: char| c.is_ascii_hexdigit())
    );
    assert_eq!(open(&m.w, "POST", &forged).await.0, 404);
    let (status, page) = open(&m.w, "POST", &unsubscribe).await;
    assert_eq!(status, 200, "{page}");
    let view = m.w.read(&created).await.expect("read");
    assert_eq!(view["status"]["active"], false, "{view}");
    assert_eq!(view["status"]["reason"], "unsubscribed", "{view}");

    let later = transfer(8, 0, ALICE, BOB, 3 * PAS);
    m.w.dispatch(&batch(&[&later])).await.expect("dispatch");
    assert_eq!(
        m.mail.sent_to(address).len(),
        2,
        "nothing after unsubscribing"
    );
    assert!(
        m.mail.server().rejections().is_empty(),
        "{:?}",
        m.mail.server().rejections()
    );
}

#[tokio::test]
async fn resend_confirms_delivers_and_unsubscribes() {
    confirm_then_deliver_then_unsubscribe(Provider::Resend).await;
}

#[tokio::test]
async fn postmark_confirms_delivers_and_unsubscribes() {
    confirm_then_deliver_then_unsubscribe(Provider::Postmark).await;
}

#[tokio::test]
async fn an_unconfirmed_address_gets_nothing_but_its_confirmation() {
    let m = mailing(Provider::Resend).await;
    let created =
        m.w.trigger(
            bob_in(),
            json!({"email": {"address": "eve@example.com"}}),
            json!({}),
        )
        .await
        .expect("create");
    let event = transfer(7, 0, ALICE, BOB, 3 * PAS);
    let answer = m.w.dispatch(&batch(&[&event])).await.expect("dispatch");
    assert_eq!(answer.body["retries"], json!([]), "{}", answer.body);
    // A test fire does not mail it either.
    let test = m.w.fire_test(&created).await.expect("test");
    assert_ne!(test.body["outcome"], "delivered", "{}", test.body);
    let sent = m.mail.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].subject, "Confirm your Aurras notifications");
    let view = m.w.read(&created).await.expect("read");
    assert!(view["delivery"]["last_attempt"].is_null(), "{view}");
    // Email off on a server: 422 naming the field.
    let mut off = m;
    off.w
        .app
        .restart_with(|o| {
            o.variables
                .insert("SPIN_VARIABLE_MAIL_PROVIDER".into(), String::new());
        })
        .await
        .expect("restart");
    let body = json!({"source": off.w.source, "event": "Balances.Transfer",
                      "action": {"email": {"address": "eve@example.com"}}});
    let refused = off
        .w
        .app
        .call("POST", "/api/triggers", None, Some(&body))
        .await
        .expect("call");
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.to_string().contains("action.email"),
        "{}",
        refused.body
    );
}
