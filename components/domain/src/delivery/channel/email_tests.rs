use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::action::{Action, ActionSpec};
use crate::answer::Response;
use crate::notification::{Notification, NotificationData};
use crate::vault::TEST_KEYRING;

fn platforms(provider: &str) -> Platforms {
    let provider = provider.to_owned();
    Platforms::from_variables(move |name| match name {
        "mail_provider" => Some(provider.clone()),
        "mail_api_token" => Some("tok_1".into()),
        "mail_from" => Some("Aurras <notify@example.org>".into()),
        "public_url" => Some("https://aurras.example/".into()),
        _ => None,
    })
}

fn note() -> Notification {
    Notification {
        title: "Received 3 PAS".into(),
        body: "From 5Grw…utQY <&> at block #7".into(),
        url: Some("https://explorer.test/paseo/block/7".into()),
        tag: "0x01".into(),
        data: NotificationData {
            event_id: "0x01".into(),
            trigger: "trg_1".into(),
            chain: "paseo".into(),
            block: 7,
            event: "Balances.Transfer".into(),
            test: false,
        },
    }
}

fn confirmed() -> Email {
    let mut e = Email::new("Person@Example.COM");
    e.confirmed = true;
    e.unsubscribe = Some(unsubscribe_token(&TEST_KEYRING, "trg_1").expect("token"));
    e
}

fn answer(status: u16, body: &str) -> Answer {
    Answer::Response(Response {
        status,
        retry_after: None,
        body: body.as_bytes().to_vec(),
    })
}

fn body(r: &HttpRequest) -> Value {
    serde_json::from_slice(&r.body).expect("json")
}

fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn email_needs_every_variable_and_a_known_provider() {
    assert!(platforms("resend").mail.is_some());
    let p = platforms("postmark");
    let mail = p.mail.expect("on");
    assert_eq!(mail.api, "https://api.postmarkapp.com");
    assert_eq!(mail.public_url, "https://aurras.example");
    for off in ["", "sendgrid"] {
        assert!(platforms(off).mail.is_none(), "{off:?}");
    }
    assert!(Platforms::default().mail.is_none());
    let spec: ActionSpec =
        serde_json::from_value(json!({"email": {"address": "p@example.com"}})).expect("shape");
    let err = spec
        .admit(&Platforms::default(), false)
        .expect_err("disabled");
    assert_eq!(err.field.as_deref(), Some("action.email"));
    assert!(err.message.contains("not enabled on this server"), "{err}");
    spec.admit(&platforms("resend"), false).expect("enabled");
}

#[test]
fn addresses_are_one_plain_mailbox() {
    for ok in [
        "p@example.com",
        "first.last+tag@mail.example.co.uk",
        "x@a-b.io",
    ] {
        assert!(is_address(ok), "{ok}");
    }
    for bad in [
        "",
        "p",
        "p@localhost",
        "a@b.com,c@d.com",
        "Name <p@example.com>",
        "p @example.com",
        "p@@example.com",
        ".p@example.com",
        "p@-x.com",
        "p\n@example.com",
    ] {
        assert!(!is_address(bad), "{bad:?}");
        let spec: ActionSpec =
            serde_json::from_value(json!({"email": {"address": bad}})).expect("shape");
        let err = spec.admit(&platforms("resend"), false).expect_err(bad);
        assert_eq!(err.field.as_deref(), Some("action.email.address"));
    }
    let unknown: Result<ActionSpec, _> =
        serde_json::from_value(json!({"email": {"address": "p@example.com", "confirmed": true}}));
    assert!(unknown.is_err(), "a client cannot confirm its own address");
}

#[test]
fn the_same_address_keeps_its_confirmation_and_another_starts_over() {
    let spec = |a: &str| -> ActionSpec {
        serde_json::from_value(json!({"email": {"address": a}})).expect("shape")
    };
    let fresh = spec("P@Example.com")
        .validate(None, || unreachable!())
        .expect("ok");
    assert!(matches!(&fresh, Action::Email(e) if e.address == "P@example.com" && !e.confirmed));
    assert_eq!(
        fresh.view(),
        json!({"email": {"address": "P…@example.com", "confirmed": false}})
    );
    let old = Action::Email(confirmed());
    let kept = spec("Person@example.com")
        .validate(Some(&old), || unreachable!())
        .expect("ok");
    assert_eq!(kept, old);
    let moved = spec("other@example.com")
        .validate(Some(&old), || unreachable!())
        .expect("ok");
    assert!(matches!(&moved, Action::Email(e) if !e.confirmed && e.unsubscribe.is_none()));
}

#[test]
fn unsubscribe_tokens_verify_under_any_key_and_only_for_their_trigger() {
    use crate::vault::Keyring;
    let k1 = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let k2 = "k2:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let old = Keyring::parse(k1).expect("ring");
    let token = unsubscribe_token(&old, "trg_abc").expect("token");
    assert_eq!(
        unsubscribed_trigger(&old, &token).as_deref(),
        Some("trg_abc")
    );
    let forged = token.replace("trg_abc", "trg_abd");
    assert_eq!(unsubscribed_trigger(&old, &forged), None);
    assert_eq!(unsubscribed_trigger(&old, "trg_abc.00"), None);
    assert_eq!(unsubscribed_trigger(&old, "junk"), None);
    let rotated = Keyring::parse(&format!("{k2},{k1}")).expect("ring");
    assert_eq!(
        unsubscribed_trigger(&rotated, &token).as_deref(),
        Some("trg_abc")
    );
    assert_eq!(
        unsubscribed_trigger(&Keyring::parse(k2).expect("ring"), &token),
        None
    );
}

#[test]
fn resend_mail_has_subject_parts_and_one_click_unsubscribe() {
    let p = platforms("resend");
    let post = Post {
        note: &note(),
        message_id: "msg_1",
        test: false,
    };
    let r = request(&confirmed(), &p, &post).expect("request");
    assert_eq!(r.url, "https://api.resend.com/emails");
    assert_eq!(header(&r, "authorization"), Some("Bearer tok_1"));
    assert_eq!(header(&r, "idempotency-key"), Some("msg_1"));
    let b = body(&r);
    assert_eq!(b["to"], json!(["Person@example.com"]));
    assert_eq!(b["from"], "Aurras <notify@example.org>");
    assert_eq!(b["subject"], "Received 3 PAS");
    let token = confirmed().unsubscribe.expect("token");
    let link = format!("https://aurras.example/api/email/unsubscribe?token={token}");
    assert_eq!(b["headers"]["List-Unsubscribe"], format!("<{link}>"));
    assert_eq!(
        b["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    let text = b["text"].as_str().expect("text");
    for part in [
        "From 5Grw…utQY <&> at block #7",
        "https://explorer.test/paseo/block/7",
        &link,
    ] {
        assert!(text.contains(part), "{part:?} in {text:?}");
    }
    let html = b["html"].as_str().expect("html");
    assert!(
        html.contains("&lt;&amp;&gt;") && !html.contains("<&>"),
        "{html}"
    );
}

#[test]
fn postmark_mail_and_nothing_for_an_unconfirmed_address() {
    let p = platforms("postmark");
    let post = Post {
        note: &note(),
        message_id: "msg_1",
        test: true,
    };
    let r = request(&confirmed(), &p, &post).expect("request");
    assert_eq!(r.url, "https://api.postmarkapp.com/email");
    assert_eq!(header(&r, "x-postmark-server-token"), Some("tok_1"));
    let b = body(&r);
    assert_eq!(b["To"], "Person@example.com");
    assert_eq!(b["Subject"], "Test: Received 3 PAS");
    assert_eq!(
        b["Headers"][1],
        json!({"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"})
    );
    let err = request(&Email::new("p@example.com"), &p, &post).expect_err("unconfirmed");
    assert!(err.contains("not confirmed"), "{err}");
    let err = request(&confirmed(), &Platforms::default(), &post).expect_err("off");
    assert!(err.contains("not enabled"), "{err}");
}

#[test]
fn the_confirmation_mail_carries_the_link() {
    let p = platforms("resend");
    let config = p.mail.as_ref().expect("on");
    let mail = confirmation(config, "p@example.com", "abc_1", "Bob's <income>");
    let link = "https://aurras.example/api/email/confirm?code=abc_1";
    assert!(mail.text.contains(link), "{}", mail.text);
    assert!(mail.html.contains(link) && mail.html.contains("Bob&#39;s &lt;income&gt;"));
    let r = send(config, &mail).expect("request");
    assert_eq!(header(&r, "idempotency-key"), None);
}

#[test]
fn answers_are_classified_by_who_must_act() {
    assert_eq!(classify(&answer(200, r#"{"id":"x"}"#)), Outcome::Delivered);
    assert!(matches!(
        classify(&answer(429, "{}")),
        Outcome::Throttled { .. }
    ));
    assert!(matches!(classify(&answer(503, "")), Outcome::Retry(_)));
    // The operator's token or domain: fixing it delivers.
    for (s, b) in [
        (
            401,
            r#"{"statusCode":401,"name":"missing_api_key","message":"Missing API key"}"#,
        ),
        (
            403,
            r#"{"statusCode":403,"name":"validation_error","message":"domain is not verified"}"#,
        ),
        (401, r#"{"ErrorCode":10,"Message":"Bad token"}"#),
        (
            422,
            r#"{"ErrorCode":400,"Message":"not a Sender Signature"}"#,
        ),
    ] {
        assert!(
            matches!(classify(&answer(s, b)), Outcome::Retry(_)),
            "{s} {b}"
        );
    }
    // This address: gone, with the reason.
    for (s, b) in [
        (422, r#"{"ErrorCode":406,"Message":"inactive recipient"}"#),
        (422, r#"{"ErrorCode":300,"Message":"Invalid 'To' address"}"#),
        (
            422,
            r#"{"statusCode":422,"name":"validation_error","message":"Invalid `to` field."}"#,
        ),
    ] {
        match classify(&answer(s, b)) {
            Outcome::Gone(why) => assert!(why.contains(&s.to_string()), "{why}"),
            other => panic!("{s} {b}: {other:?}"),
        }
    }
    assert!(matches!(
        classify(&answer(422, r#"{"ErrorCode":1235,"Message":"stream"}"#)),
        Outcome::Failed(_)
    ));
    let _ = Duration::ZERO;
}
