use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::action::{Action, ActionSpec};
use crate::answer::Response;
use crate::dispatch::message_id;
use crate::notification::{Notification, NotificationData};

const TOKEN: &str = "syt_secret_token";

fn platforms() -> Platforms {
    Platforms::from_variables(|name| match name {
        "matrix_homeserver" => Some("https://matrix.example.org/".into()),
        "matrix_access_token" => Some(TOKEN.into()),
        _ => None,
    })
}

fn answer(status: u16, retry_after: Option<u64>, body: &str) -> Answer {
    Answer::Response(Response {
        status,
        retry_after: retry_after.map(Duration::from_secs),
        body: body.as_bytes().to_vec(),
    })
}

fn spec(v: Value) -> ActionSpec {
    serde_json::from_value(v).expect("shape")
}

fn note(url: Option<&str>) -> Notification {
    Notification {
        title: "Received 12.5 PAS".into(),
        body: "From 5Grw…utQY at block #1234 on paseo <&>\n\"quoted\"".into(),
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

fn joined(room: &str) -> Matrix {
    Matrix {
        room: room.into(),
        room_id: Some("!abc:example.org".into()),
    }
}

#[test]
fn matrix_needs_both_variables_and_a_room_id_or_alias() {
    let p = platforms();
    assert_eq!(
        p.matrix_homeserver.as_deref(),
        Some("https://matrix.example.org")
    );
    for room in [
        "!abc:example.org",
        "#alerts:example.org",
        "#alerts:matrix.example.org:8448",
        // Room version 12 ids have no server part.
        "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM",
    ] {
        spec(json!({"matrix": {"room": room}}))
            .admit(&p, false)
            .unwrap_or_else(|e| panic!("{room}: {e}"));
    }
    for room in [
        "",
        "abc:example.org",
        "#alerts",
        "#:example.org",
        "#alerts:",
        "!",
        "!abc def:example.org",
        "#a\u{7}:example.org",
        &format!("#{}:example.org", "a".repeat(250)),
    ] {
        let err = spec(json!({"matrix": {"room": room}}))
            .admit(&p, false)
            .expect_err(room);
        assert_eq!(err.field.as_deref(), Some("action.matrix.room"), "{room}");
    }
    let only_server = Platforms::from_variables(|n| {
        (n == "matrix_homeserver").then(|| "https://matrix.example.org".into())
    });
    for off in [Platforms::default(), only_server] {
        let err = spec(json!({"matrix": {"room": "#alerts:example.org"}}))
            .admit(&off, false)
            .expect_err("not enabled");
        assert_eq!(err.field.as_deref(), Some("action.matrix"));
        assert!(
            err.to_string().contains("not enabled on this server"),
            "{err}"
        );
        assert!(err.to_string().contains("matrix_access_token"), "{err}");
    }
    // Unknown fields are refused; the room must have been joined before it is stored.
    assert!(
        serde_json::from_value::<ActionSpec>(json!({"matrix": {"room": "#a:b", "x": 1}})).is_err()
    );
    let err = spec(json!({"matrix": {"room": "#alerts:example.org"}}))
        .validate(None, String::new)
        .expect_err("not joined");
    assert_eq!(err.field.as_deref(), Some("action.matrix.room"));
}

#[test]
fn the_join_names_the_room_url_encoded_with_the_bots_token() {
    let r = join_request("#alerts:example.org", &platforms()).expect("join");
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.url,
        "https://matrix.example.org/_matrix/client/v3/join/%23alerts:example.org"
    );
    assert!(r
        .headers
        .contains(&("authorization".into(), format!("Bearer {TOKEN}"))));
    assert_eq!(r.body, b"{}");
    // A homeserver under a path prefix keeps it; a slash in a room id cannot leave its segment.
    let prefixed = Platforms::from_variables(|n| match n {
        "matrix_homeserver" => Some("https://example.org/matrix".into()),
        "matrix_access_token" => Some(TOKEN.into()),
        _ => None,
    });
    let r = join_request("!a/b?c:example.org", &prefixed).expect("join");
    assert_eq!(
        r.url,
        "https://example.org/matrix/_matrix/client/v3/join/!a%2Fb%3Fc:example.org"
    );
    let who = whoami_request(&platforms()).expect("whoami");
    assert_eq!(
        (who.method.as_str(), who.url.as_str()),
        (
            "GET",
            "https://matrix.example.org/_matrix/client/v3/account/whoami"
        )
    );
    assert!(join_request("#a:b", &Platforms::default())
        .expect_err("off")
        .contains("not enabled"));
}

#[test]
fn join_answers_become_a_room_id_or_an_error_a_person_can_act_on() {
    let room = "#alerts:example.org";
    assert_eq!(
        classify_join(
            room,
            &answer(200, None, r#"{"room_id": "!abc:example.org"}"#)
        ),
        Joined::Room("!abc:example.org".into())
    );
    // A body cut short: a room id given is the room joined, an alias is not resolved.
    assert_eq!(
        classify_join("!abc:example.org", &answer(200, None, "")),
        Joined::Room("!abc:example.org".into())
    );
    let Joined::Refused(e) = classify_join(room, &answer(200, None, "")) else {
        panic!("an alias without its id")
    };
    assert_eq!(e.status(), 502);

    let forbidden = answer(
        403,
        None,
        r#"{"errcode": "M_FORBIDDEN", "error": "You are not invited to this room."}"#,
    );
    let Joined::NotInvited(detail) = classify_join(room, &forbidden) else {
        panic!("403 is not invited")
    };
    let e = not_invited(room, &detail, Some("@aurras:example.org"));
    assert_eq!(
        (e.status(), e.field.as_deref()),
        (422, Some("action.matrix.room"))
    );
    assert!(
        e.message
            .contains("invite @aurras:example.org to the room first"),
        "{e}"
    );
    assert!(e.message.contains("You are not invited"), "{e}");
    assert!(not_invited(room, &detail, None)
        .message
        .contains("invite the operator's Matrix account"));
    assert_eq!(
        user_id(&answer(200, None, r#"{"user_id": "@aurras:example.org"}"#)).as_deref(),
        Some("@aurras:example.org")
    );
    assert_eq!(user_id(&answer(401, None, r#"{"user_id": "@x:y"}"#)), None);

    let refused = |a: Answer| match classify_join(room, &a) {
        Joined::Refused(e) => e,
        other => panic!("{other:?}"),
    };
    let e = refused(answer(
        404,
        None,
        r#"{"errcode": "M_NOT_FOUND", "error": "Room alias not found"}"#,
    ));
    assert_eq!(
        (e.status(), e.field.as_deref()),
        (422, Some("action.matrix.room"))
    );
    assert!(e.message.contains("check the alias"), "{e}");
    let e = refused(answer(
        401,
        None,
        r#"{"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token passed."}"#,
    ));
    assert_eq!(e.status(), 503);
    assert!(e.message.contains("matrix_access_token"), "{e}");
    assert!(!e.message.contains(TOKEN));
    let e = refused(answer(
        429,
        None,
        r#"{"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 2500}"#,
    ));
    assert_eq!(e.status(), 502);
    assert_eq!(e.headers, vec![("retry-after", "3".to_owned())]);
    let e = refused(Answer::none("the connection was refused"));
    assert_eq!(e.status(), 502);
    assert!(e.message.contains("the connection was refused"), "{e}");
    assert_eq!(refused(answer(500, None, "")).status(), 502);
    let e = refused(answer(
        400,
        None,
        r#"{"errcode": "M_INVALID_PARAM", "error": "bad alias"}"#,
    ));
    assert_eq!(e.field.as_deref(), Some("action.matrix.room"));
}

#[test]
fn a_message_is_put_to_the_joined_room_under_the_deliverys_stable_id() {
    let n = note(Some("https://explorer.example/paseo/1234?a=1&b=2"));
    let id = message_id("0x01", "trg_1");
    let post = Post {
        note: &n,
        message_id: &id,
        test: false,
    };
    let m = joined("#alerts:example.org");
    let r = request(&m, &platforms(), &post).expect("request");
    assert_eq!(r.method, "PUT");
    assert_eq!(
        r.url,
        format!(
            "https://matrix.example.org/_matrix/client/v3/rooms/!abc:example.org/send/m.room.message/{id}"
        )
    );
    assert!(r
        .headers
        .contains(&("authorization".into(), format!("Bearer {TOKEN}"))));
    // The same (event, trigger): the same transaction, so a retry cannot post twice.
    assert_eq!(request(&m, &platforms(), &post).expect("again").url, r.url);
    let body: Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(body["msgtype"], "m.text");
    assert_eq!(body["format"], "org.matrix.custom.html");
    assert_eq!(
        body["body"],
        "Received 12.5 PAS\nFrom 5Grw…utQY at block #1234 on paseo <&>\n\"quoted\"\nhttps://explorer.example/paseo/1234?a=1&b=2"
    );
    assert_eq!(
        body["formatted_body"],
        "<b>Received 12.5 PAS</b><br>From 5Grw…utQY at block #1234 on paseo &lt;&amp;&gt;<br>&quot;quoted&quot;<br>\
         <a href=\"https://explorer.example/paseo/1234?a=1&amp;b=2\">https://explorer.example/paseo/1234?a=1&amp;b=2</a>"
    );
    let test = Post { test: true, ..post };
    let t: Value = serde_json::from_slice(&request(&m, &platforms(), &test).expect("test").body)
        .expect("json");
    assert!(t["body"].as_str().is_some_and(|b| b.starts_with("Test: ")));

    let never = Matrix {
        room: "#alerts:example.org".into(),
        room_id: None,
    };
    assert!(request(&never, &platforms(), &post).is_err());
    assert!(request(&m, &Platforms::default(), &post)
        .expect_err("off")
        .contains("not enabled"));
}

#[test]
fn long_messages_stay_well_within_the_event_limit() {
    let mut n = note(None);
    n.title = "<".repeat(5_000);
    n.body = "& ".repeat(50_000);
    let post = Post {
        note: &n,
        message_id: "msg_1",
        test: false,
    };
    let r = request(&joined("!abc:example.org"), &platforms(), &post).expect("request");
    assert!(r.body.len() < 65_536 - 1_000, "{} bytes", r.body.len());
    let body: Value = serde_json::from_slice(&r.body).expect("json");
    assert!(body["body"].as_str().is_some_and(|b| b.ends_with('…')));
}

#[test]
fn views_show_the_room_and_never_the_token() {
    let a = spec(json!({"matrix": {"room": "#alerts:example.org", "room_id": "!abc:example.org"}}))
        .validate(None, String::new)
        .expect("joined");
    assert_eq!(
        a.view(),
        json!({"matrix": {"room": "#alerts:example.org", "room_id": "!abc:example.org"}})
    );
    assert_eq!(a.channel(), "matrix");
    assert!(matches!(a, Action::Matrix(_)));
    assert!(!a.view().to_string().contains(TOKEN));
}

#[test]
fn send_answers_are_classified() {
    assert_eq!(
        classify(&answer(200, None, r#"{"event_id": "$e"}"#)),
        Outcome::Delivered
    );
    assert_eq!(
        classify(&answer(
            429,
            None,
            r#"{"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests", "retry_after_ms": 2000}"#
        )),
        Outcome::Throttled {
            why: "Matrix answered 429 (rate limited)".into(),
            wait: Some(Duration::from_secs(2)),
        }
    );
    let kicked = classify(&answer(
        403,
        None,
        r#"{"errcode": "M_FORBIDDEN", "error": "User @aurras:example.org not in room !abc:example.org"}"#,
    ));
    assert!(
        matches!(&kicked, Outcome::Gone(why) if why.contains("no longer in the room") && why.contains("not in room")),
        "{kicked:?}"
    );
    for errcode in ["M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"] {
        let body = format!(r#"{{"errcode": "{errcode}", "error": "x"}}"#);
        let outcome = classify(&answer(401, None, &body));
        assert!(
            matches!(&outcome, Outcome::Retry(why) if why.contains("matrix_access_token")),
            "{outcome:?}"
        );
    }
    assert!(matches!(
        classify(&answer(400, None, r#"{"errcode": "M_BAD_JSON"}"#)),
        Outcome::Failed(_)
    ));
    assert!(matches!(
        classify(&answer(502, None, "")),
        Outcome::Retry(_)
    ));
    assert!(matches!(
        classify(&Answer::none("timed out")),
        Outcome::Retry(_)
    ));
}
