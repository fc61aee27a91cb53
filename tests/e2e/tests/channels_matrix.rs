//! Matrix through the compiled components: the API makes the operator's bot join the room a
//! person names (accepting the invite, resolving the alias), dispatch posts each event there
//! under a transaction id of (event, trigger), and a local homeserver
//! (`aurras_e2e::platforms::matrix`, written from the client-server spec) refuses whatever the
//! real one would and keeps what a person would read.

use std::time::Duration;

use aurras_domain::dispatch::message_id;
use aurras_e2e::platforms::matrix::{MatrixHomeserver, User};
use aurras_e2e::platforms::Fault;
use aurras_e2e::world::{batch, now_secs, runtime_config, transfer, Settings, World, ALICE, BOB};
use serde_json::{json, Value};

const PAS: u128 = 10_000_000_000;
/// What a person must read of a 3 PAS transfer from Alice to Bob in block 7.
const AMOUNT: &str = "3 PAS";
const SENDER: &str = "5Grw…utQY";
const LINK: &str = "https://explorer.test/paseo/block/7";

struct Matrix {
    w: World,
    hs: MatrixHomeserver,
    bot: User,
    person: User,
    _rc: tempfile::TempDir,
}

/// A world whose app trusts the homeserver (on `localhost`, from the world's test CA) and holds
/// the bot account's access token.
async fn matrix() -> Matrix {
    let mut w = World::start(Settings::default()).await.expect("world");
    let hs = MatrixHomeserver::start(&w.ca).await.expect("homeserver");
    let bot = hs.user("aurras");
    let person = hs.user("bob");
    let rc = tempfile::tempdir().expect("tempdir");
    let rc_path = rc.path().join("runtime-config.toml");
    std::fs::write(&rc_path, runtime_config(&w.ca, &["localhost", "127.0.0.1"]))
        .expect("runtime config");
    let vars = [
        ("MATRIX_HOMESERVER", hs.base_url()),
        ("MATRIX_ACCESS_TOKEN", bot.access_token.clone()),
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
    Matrix {
        w,
        hs,
        bot,
        person,
        _rc: rc,
    }
}

fn bob_in() -> Option<Value> {
    Some(json!({"balance": {"account": BOB, "direction": "in"}}))
}

/// `POST /api/triggers` for Bob's incoming transfers to `room`.
async fn create(w: &World, room: &str) -> aurras_e2e::Answer {
    let body = json!({"source": w.source, "event": "Balances.Transfer", "filter": bob_in(),
                      "action": {"matrix": {"room": room}}});
    w.app
        .call("POST", "/api/triggers", None, Some(&body))
        .await
        .expect("call")
}

#[tokio::test]
async fn a_transfer_reaches_the_room_once_with_the_amount_sender_and_link() {
    let m = matrix().await;
    let room = m.hs.private_room(Some("bob-payments"), &[&m.person]);
    m.hs.invite(&room, &m.bot);
    let alias = room.alias.clone().expect("alias");
    let created = create(&m.w, &alias).await;
    assert_eq!(created.status, 201, "{}", created.body);
    // The alias resolved: the room id is stored beside what the person gave.
    assert_eq!(
        created.body["action"],
        json!({"matrix": {"room": alias, "room_id": room.room_id}})
    );
    assert!(m.hs.is_member(&room, &m.bot), "the invite was accepted");

    let event = transfer(7, 0, ALICE, BOB, 3 * PAS);
    let answer = m.w.dispatch(&batch(&[&event])).await.expect("dispatch");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["retries"], json!([]), "{}", answer.body);
    // The same batch again, as a relay that lost the answer sends it: claimed, not re-posted.
    let again = m.w.dispatch(&batch(&[&event])).await.expect("dispatch");
    assert_eq!(again.body["retries"], json!([]), "{}", again.body);

    let messages = m.hs.messages(&room);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert_eq!(message.sender, m.bot.user_id);
    assert_eq!(message.msgtype, "m.text");
    for part in [AMOUNT, SENDER, LINK] {
        assert!(
            message.body.contains(part),
            "{part:?} in {:?}",
            message.body
        );
        let html = message.formatted_body.as_deref().unwrap_or_default();
        assert!(html.contains(part), "{part:?} in {html:?}");
    }
    assert!(
        message.links.iter().any(|l| l == LINK),
        "{:?}",
        message.links
    );
    // The transaction id is the delivery's stable id: a send repeated after a lost answer is
    // the same transaction, which the homeserver answers with the first event and posts nothing.
    let id = created.body["id"].as_str().expect("id");
    assert_eq!(message.txn_id, message_id(&event.id, id));
    let replay =
        m.w.ca
            .client()
            .expect("client")
            .put(format!(
                "{}/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
                m.hs.base_url(),
                room.room_id,
                message.txn_id
            ))
            .bearer_auth(&m.bot.access_token)
            .json(&message.content)
            .send()
            .await
            .expect("replay");
    let replayed: Value = replay.json().await.expect("json");
    assert_eq!(replayed["event_id"], message.event_id.as_str());
    assert_eq!(m.hs.messages(&room).len(), 1);

    let view = m.w.read(&created.body).await.expect("read");
    assert_eq!(view["action"]["matrix"]["room_id"], room.room_id.as_str());
    for shown in [&created.body, &view] {
        assert!(
            !shown.to_string().contains(&m.bot.access_token),
            "the access token is never shown: {shown}"
        );
    }
    let refused = m.hs.server().rejections();
    assert!(refused.is_empty(), "{refused:?}");
}

#[tokio::test]
async fn rooms_the_bot_may_not_enter_are_refused_at_create_with_what_to_do() {
    let mut m = matrix().await;
    let closed = m.hs.private_room(Some("closed"), &[&m.person]);
    let a = create(&m.w, &closed.room_id).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["error"]["field"], "action.matrix.room", "{}", a.body);
    let message = a.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("invite {} to the room first", m.bot.user_id)),
        "{message}"
    );
    assert!(!m.hs.is_member(&closed, &m.bot));

    let a = create(&m.w, "#nowhere:localhost").await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["error"]["field"], "action.matrix.room", "{}", a.body);
    let a = create(&m.w, "not-a-room").await;
    assert_eq!(
        (a.status, &a.body["error"]["field"]),
        (422, &json!("action.matrix.room"))
    );

    // A public room needs no invite; moving the trigger to a closed room is refused the same
    // way, and to a room the bot was invited to joins it.
    let open = m.hs.room(None, &[&m.person]);
    let created = create(&m.w, &open.room_id).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("id");
    let token = created.body["token"].as_str();
    let patch = |room: &str| json!({"action": {"matrix": {"room": room}}});
    let path = format!("/api/triggers/{id}");
    let a =
        m.w.app
            .call("PATCH", &path, token, Some(&patch(&closed.room_id)))
            .await
            .expect("patch");
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["error"]["field"], "action.matrix.room");
    // Someone without the trigger's token cannot make the bot join anything.
    m.hs.invite(&closed, &m.bot);
    let a =
        m.w.app
            .call(
                "PATCH",
                &path,
                Some("atk_wrong"),
                Some(&patch(&closed.room_id)),
            )
            .await
            .expect("patch");
    assert!(matches!(a.status, 401 | 404), "{a:?}");
    assert!(!m.hs.is_member(&closed, &m.bot));
    let a =
        m.w.app
            .call("PATCH", &path, token, Some(&patch(&closed.room_id)))
            .await
            .expect("patch");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["action"]["matrix"]["room_id"],
        closed.room_id.as_str()
    );
    assert!(m.hs.is_member(&closed, &m.bot));

    // An operator without Matrix.
    m.w.app
        .restart_with(|o| {
            o.variables
                .insert("SPIN_VARIABLE_MATRIX_ACCESS_TOKEN".into(), String::new());
        })
        .await
        .expect("restart");
    let a = create(&m.w, &open.room_id).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["error"]["field"], "action.matrix", "{}", a.body);
    assert!(
        a.body.to_string().contains("not enabled on this server"),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn a_rate_limit_throttles_and_a_kicked_bot_pauses_the_trigger() {
    let m = matrix().await;
    let room = m.hs.room(Some("alerts"), &[&m.person]);
    let created = create(&m.w, "#alerts:localhost").await;
    assert_eq!(created.status, 201, "{}", created.body);

    m.hs.server().fail_next(
        1,
        Fault::RateLimited {
            retry_after_secs: 2,
        },
    );
    let event = transfer(7, 0, ALICE, BOB, 3 * PAS);
    let answer = m.w.dispatch(&batch(&[&event])).await.expect("dispatch");
    let retries = answer.body["retries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(retries.len(), 1, "{}", answer.body);
    let due_in = retries[0]["due_at_ms"].as_u64().unwrap_or_default() / 1000;
    assert!(
        due_in + 1 >= now_secs() + 2,
        "after the wait asked: {retries:?}"
    );
    let state = m.w.read(&created.body).await.expect("read");
    assert_eq!(state["delivery"]["last_attempt"]["outcome"], "throttled");
    assert_eq!(state["delivery"]["consecutive_failures"], 0);
    assert!(m.hs.messages(&room).is_empty());

    // Due: sent once, delivered.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let due = json!({"retries": [{"attempt": retries[0]["attempt"], "item": retries[0]["item"]}]});
    let answer = m.w.dispatch(&due).await.expect("retry");
    assert_eq!(answer.body["retries"], json!([]), "{}", answer.body);
    assert_eq!(m.hs.messages(&room).len(), 1);

    // Kicked: the homeserver answers M_FORBIDDEN, and the trigger pauses with the reason.
    m.hs.kick(&room, &m.bot);
    let later = transfer(8, 0, ALICE, BOB, 3 * PAS);
    let answer = m.w.dispatch(&batch(&[&later])).await.expect("dispatch");
    assert_eq!(answer.body["retries"], json!([]), "{}", answer.body);
    let paused = m.w.read(&created.body).await.expect("read");
    assert_eq!(paused["status"]["active"], false, "{paused}");
    assert!(
        paused["status"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no longer in the room")),
        "{paused}"
    );
    assert_eq!(m.hs.messages(&room).len(), 1);

    // Invited again, one PATCH rejoins and resumes, and the next event arrives.
    m.hs.invite(&room, &m.bot);
    let id = created.body["id"].as_str().expect("id");
    let a =
        m.w.app
            .call(
                "PATCH",
                &format!("/api/triggers/{id}"),
                created.body["token"].as_str(),
                Some(&json!({"action": {"matrix": {"room": "#alerts:localhost"}}, "active": true})),
            )
            .await
            .expect("patch");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"]["active"], true, "{}", a.body);
    let next = transfer(9, 0, ALICE, BOB, 3 * PAS);
    m.w.dispatch(&batch(&[&next])).await.expect("dispatch");
    assert_eq!(m.hs.messages(&room).len(), 2);
}
