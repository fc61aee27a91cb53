//! The compiled `dispatch` component under the test host, fed signed batches as the relay sends
//! them, delivering to a local HTTPS push service (which verifies VAPID and decrypts with the
//! subscription's private key) and a local webhook receiver (which verifies signatures), both
//! trusted through Spin's `[[client_tls]]`. Every delivery is counted: exactly once is checked,
//! not assumed.

use std::time::Duration;

use aurras_e2e::world::{batch, now_secs, transfer, Settings, World, ALICE, BOB};
use aurras_e2e::RELAY_SECRET;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

const PAS: u128 = 10_000_000_000;
const WAIT: Duration = Duration::from_secs(10);

async fn world() -> World {
    World::start(Settings::default()).await.expect("world")
}

#[tokio::test]
async fn a_transfer_becomes_one_decrypted_notification_and_signed_webhooks() {
    let w = world().await;
    let phone = w.push.subscribe();
    let push = w.push_trigger(&phone, "1").await.expect("push trigger");
    let outgoing_only = w.push.subscribe();
    w.trigger(
        Some(json!({"balance": {"account": BOB, "direction": "out"}})),
        json!({"web_push": outgoing_only.to_json()}),
        json!({}),
    )
    .await
    .expect("bob out");
    let json_hook = w.hooks.pending_hook();
    let json_trigger = w
        .trigger(
            None,
            json!({"webhook": {"url": json_hook.url()}}),
            json!({"isJSONData": true}),
        )
        .await
        .expect("json hook");
    w.hooks
        .set_secret(&json_hook, json_trigger["secret"].as_str().expect("secret"))
        .expect("secret");
    let binary_hook = w.hooks.pending_hook();
    let binary_trigger = w
        .trigger(
            Some(json!({"all": [{"field": "amount", "op": "gte", "value": "1"}]})),
            json!({"webhook": {"url": binary_hook.url()}}),
            json!({"isBinaryValue": true, "isBinaryKey": true}),
        )
        .await
        .expect("binary hook");
    w.hooks
        .set_secret(
            &binary_hook,
            binary_trigger["secret"].as_str().expect("secret"),
        )
        .expect("secret");

    let event = transfer(1234, 2, ALICE, BOB, 125 * PAS / 10);
    let small = transfer(1235, 0, ALICE, BOB, PAS / 10);
    let answer = w
        .dispatch(&batch(&[&event, &small]))
        .await
        .expect("dispatch");
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["records"][0]["outcome"], "accepted");
    assert_eq!(answer.body["retries"], json!([]));

    let got = w.push.wait_for(&phone, 1, WAIT).await;
    assert_eq!(got.len(), 1, "rejections: {:?}", w.push.rejections());
    let note = got[0].json().expect("payload");
    assert_eq!(note["title"], "Received 12.5 PAS");
    assert_eq!(
        note["body"],
        "Received 12.5 PAS from 5Grw…utQY at block #1234 on paseo"
    );
    assert_eq!(note["url"], "https://explorer.test/paseo/block/1234");
    assert_eq!(note["data"]["trigger"], push["id"]);
    assert_eq!(got[0].ttl, 86400);
    assert_eq!(got[0].urgency.as_deref(), Some("normal"));
    assert!(got[0].topic.as_deref().is_some_and(|t| t.len() == 32));
    assert_eq!(got[0].vapid_public_key, w.vapid.public_key());
    assert_eq!(got[0].jwt_claims["sub"], "mailto:ops@aurras.test");
    assert!(
        w.push.received(&outgoing_only).is_empty(),
        "Bob did not send"
    );

    // The two events' webhooks are sent concurrently: find the first event's by offset.
    let by_offset = |deliveries: &[aurras_e2e::webhook_receiver::Delivery]| {
        deliveries
            .iter()
            .find(|d| d.body["messages"][0]["offset"] == 0)
            .map(|d| d.body["messages"][0].clone())
            .expect("the first event's delivery")
    };
    let json_msgs = w.hooks.wait_for(&json_hook, 2, WAIT).await;
    assert_eq!(json_msgs.len(), 2);
    let m = &by_offset(&json_msgs);
    assert_eq!(m["topic"], "paseo.Balances.Transfer");
    assert_eq!(m["offset"], 0);
    assert_eq!(
        m["value"]["id"],
        Value::String(event.id.clone()),
        "isJSONData: an object"
    );
    assert_eq!(m["value"]["fields"]["amount"], "125000000000");
    assert_eq!(m["key"], Value::String(event.key().to_owned()));
    let bin = w.hooks.wait_for(&binary_hook, 2, WAIT).await;
    let m = &by_offset(&bin);
    let value = STANDARD
        .decode(m["value"].as_str().expect("base64"))
        .expect("b64");
    assert_eq!(
        serde_json::from_slice::<Value>(&value).expect("json")["id"],
        Value::String(event.id.clone())
    );
    let key = STANDARD
        .decode(m["key"].as_str().expect("base64"))
        .expect("b64");
    assert_eq!(key, event.key().as_bytes());

    // The relay redelivers the same batch (it died before committing): nobody hears twice.
    let again = w
        .dispatch(&batch(&[&event, &small]))
        .await
        .expect("redelivery");
    assert_eq!(again.status, 200);
    World::settle().await;
    assert_eq!(w.push.attempts(&phone).len(), 1);
    assert_eq!(w.hooks.attempts(&json_hook).len(), 2);
    assert_eq!(w.hooks.attempts(&binary_hook).len(), 2);
    assert!(w.push.rejections().is_empty() && w.hooks.rejections().is_empty());

    let read = w.read(&push).await.expect("read");
    assert_eq!(read["delivery"]["delivered"], 1);
    assert_eq!(read["delivery"]["last_attempt"]["status"], 201);
}

#[tokio::test]
async fn failures_are_retried_gone_subscriptions_deactivate_and_schedules_end() {
    let w = world().await;
    let flaky = w.push.subscribe();
    w.push.script(&flaky, [500]);
    let flaky_trigger = w.push_trigger(&flaky, "1").await.expect("trigger");
    let gone = w.push.subscribe();
    w.push.gone(&gone);
    let gone_trigger = w.push_trigger(&gone, "1").await.expect("trigger");
    let down = w.hooks.pending_hook();
    let down_trigger = w
        .trigger(None, json!({"webhook": {"url": down.url()}}), json!({}))
        .await
        .expect("hook");
    w.hooks
        .set_secret(&down, down_trigger["secret"].as_str().expect("secret"))
        .expect("secret");
    w.hooks.always(&down, 503);

    let first = transfer(10, 0, ALICE, BOB, 2 * PAS);
    let answer = w.dispatch(&batch(&[&first])).await.expect("dispatch");
    assert_eq!(answer.status, 200);
    // Where the request's time went, for the relay's metrics (W3C Server-Timing).
    let timing = answer
        .header("server-timing")
        .unwrap_or_default()
        .to_owned();
    for stage in [
        "lookup;dur=",
        "claim;dur=",
        "build;dur=",
        "wait;dur=",
        "record;dur=",
        "total;dur=",
    ] {
        assert!(timing.contains(stage), "{stage} in {timing:?}");
    }
    let retries = answer.body["retries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        retries.len(),
        2,
        "the flaky push and the webhook: {retries:?}"
    );
    assert!(retries.iter().all(|r| r["attempt"] == 1));

    // 410: deactivated with the reason, and never called again.
    let read = w.read(&gone_trigger).await.expect("read");
    assert_eq!(read["status"]["active"], false);
    assert!(read["status"]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("410")));

    // The retries come back when due, as the relay posts them.
    let due: Vec<Value> = retries
        .iter()
        .map(|r| json!({"attempt": r["attempt"], "item": r["item"]}))
        .collect();
    let second = w.dispatch(&json!({"retries": due})).await.expect("retry");
    assert_eq!(second.status, 200);
    assert_eq!(
        w.push.received(&flaky).len(),
        1,
        "500 then 201: delivered once"
    );
    let next = second.body["retries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(next.len(), 1, "the webhook still fails: {next:?}");
    assert_eq!(next[0]["attempt"], 2);

    let last: Vec<Value> = next
        .iter()
        .map(|r| json!({"attempt": r["attempt"], "item": r["item"]}))
        .collect();
    let third = w
        .dispatch(&json!({"retries": last}))
        .await
        .expect("last retry");
    assert_eq!(
        third.body["retries"],
        json!([]),
        "the schedule has two steps"
    );
    let read = w.read(&down_trigger).await.expect("read");
    assert_eq!(read["status"]["active"], false);
    assert!(read["status"]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("gave up after 3 attempts")));
    assert_eq!(read["delivery"]["consecutive_failures"], 3);
    assert_eq!(w.hooks.attempts(&down).len(), 3);

    // A later event reaches neither deactivated trigger.
    let later = transfer(11, 0, ALICE, BOB, 2 * PAS);
    w.dispatch(&batch(&[&later])).await.expect("dispatch");
    World::settle().await;
    assert_eq!(w.push.attempts(&gone).len(), 1);
    assert_eq!(w.hooks.attempts(&down).len(), 3);
    assert_eq!(w.push.received(&flaky).len(), 2);
    let read = w.read(&flaky_trigger).await.expect("read");
    assert_eq!(read["delivery"]["delivered"], 2);
}

#[tokio::test]
async fn a_hanging_endpoint_delays_nobody_else() {
    let mut w = world().await;
    // Two deliveries in flight per host: the third to the same receiver waits its turn.
    w.app
        .restart_with(|o| {
            o.variables
                .insert("SPIN_VARIABLE_MAX_IN_FLIGHT_PER_HOST".into(), "2".into());
        })
        .await
        .expect("restart");
    let mut stuck_triggers = Vec::new();
    for _ in 0..3 {
        let stuck = w.hooks.pending_hook();
        let created = w
            .trigger(None, json!({"webhook": {"url": stuck.url()}}), json!({}))
            .await
            .expect("hook");
        w.hooks
            .set_secret(&stuck, created["secret"].as_str().expect("secret"))
            .expect("secret");
        w.hooks.hang(&stuck);
        stuck_triggers.push((stuck, created));
    }
    let phone = w.push.subscribe();
    w.push_trigger(&phone, "1").await.expect("push");

    let event = transfer(20, 0, ALICE, BOB, 3 * PAS);
    let body = batch(&[&event]);
    let posting = {
        let url = w.app.url();
        let body = body.clone();
        tokio::spawn(async move { post_as_relay(&url, &body).await })
    };
    let got = w.push.wait_for(&phone, 1, WAIT).await;
    assert_eq!(
        got.len(),
        1,
        "the notification went out while the webhooks hung"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reached: usize = stuck_triggers
        .iter()
        .map(|(hook, _)| w.hooks.attempts(hook).len())
        .sum();
    assert_eq!(reached, 2, "at most two deliveries in flight to one host");
    assert!(
        !posting.is_finished(),
        "the hanging webhooks are still being waited for"
    );
    let answer = posting.await.expect("join");
    let retried: std::collections::BTreeSet<&str> = answer["retries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["item"]["trigger"].as_str())
        .collect();
    let stuck_ids: std::collections::BTreeSet<&str> = stuck_triggers
        .iter()
        .filter_map(|(_, t)| t["id"].as_str())
        .collect();
    assert_eq!(
        retried, stuck_ids,
        "the two that timed out and the one never sent are all retried: {answer}"
    );
}

#[tokio::test]
async fn a_host_that_asks_to_slow_down_gets_nothing_more_from_the_burst() {
    let mut w = world().await;
    w.app
        .restart_with(|o| {
            o.variables
                .insert("SPIN_VARIABLE_MAX_IN_FLIGHT_PER_HOST".into(), "1".into());
        })
        .await
        .expect("restart");
    let mut hooks = Vec::new();
    for _ in 0..3 {
        let hook = w.hooks.pending_hook();
        let created = w
            .trigger(None, json!({"webhook": {"url": hook.url()}}), json!({}))
            .await
            .expect("hook");
        w.hooks
            .set_secret(&hook, created["secret"].as_str().expect("secret"))
            .expect("secret");
        // Whichever goes first is told to slow down.
        w.hooks.script(&hook, [429]);
        hooks.push((hook, created));
    }
    let event = transfer(21, 0, ALICE, BOB, 3 * PAS);
    let answer = post_as_relay(&w.app.url(), &batch(&[&event])).await;
    let reached: usize = hooks
        .iter()
        .map(|(hook, _)| w.hooks.attempts(hook).len())
        .sum();
    assert_eq!(reached, 1, "nothing more after the 429");
    let retried = answer["retries"].as_array().cloned().unwrap_or_default();
    assert_eq!(retried.len(), 3, "the 429 and the two never sent: {answer}");
    // Throttled, not failed: all go back on the schedule's first step and none counts as a
    // failure of its destination.
    assert!(
        retried.iter().all(|r| r["attempt"] == 1),
        "first step: {answer}"
    );
    for (_, created) in &hooks {
        let id = created["id"].as_str().expect("id");
        let token = created["token"].as_str().expect("token");
        let read = w
            .app
            .call("GET", &format!("/api/triggers/{id}"), Some(token), None)
            .await
            .expect("read");
        assert_eq!(
            read.body["delivery"]["consecutive_failures"], 0,
            "{}",
            read.body
        );
        assert_eq!(
            read.body["delivery"]["last_attempt"]["outcome"], "throttled",
            "{}",
            read.body
        );
    }
}

async fn post_as_relay(app: &str, batch: &Value) -> Value {
    let body = serde_json::to_vec(batch).expect("json");
    let key = aurras_domain::signature::SigningKey::from_secret(RELAY_SECRET).expect("secret");
    let signed = key.sign("rly_hang", now_secs(), &body);
    let mut req = reqwest::Client::new()
        .post(format!("{app}/dispatch"))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in signed.pairs() {
        req = req.header(name, value);
    }
    req.send().await.expect("send").json().await.expect("json")
}

#[tokio::test]
async fn bad_signatures_and_poisoned_records_change_nothing_else() {
    let w = world().await;
    let phone = w.push.subscribe();
    w.push_trigger(&phone, "1").await.expect("push");
    let event = transfer(30, 0, ALICE, BOB, 5 * PAS);
    let body = batch(&[&event]);

    let wrong = w
        .post_signed(
            &body,
            "whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==",
            now_secs(),
        )
        .await
        .expect("post");
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["error"]["code"], "unauthorized");
    let stale = w
        .post_signed(&body, RELAY_SECRET, now_secs() - 600)
        .await
        .expect("post");
    assert_eq!(stale.status, 401);
    World::settle().await;
    assert!(w.push.attempts(&phone).is_empty(), "401 sends nothing");

    let mut poisoned = batch(&[&event]);
    let junk = json!({"topic": "paseo.Balances.Transfer", "partition": 0, "offset": 99,
                      "key": null, "value": STANDARD.encode(b"not json")});
    poisoned["records"]
        .as_array_mut()
        .expect("records")
        .insert(0, junk);
    let answer = w.dispatch(&poisoned).await.expect("dispatch");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["records"][0]["outcome"], "rejected");
    assert!(answer.body["records"][0]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("not an event envelope")));
    assert_eq!(answer.body["records"][1]["outcome"], "accepted");
    assert_eq!(w.push.wait_for(&phone, 1, WAIT).await.len(), 1);

    let malformed = w.dispatch(&json!({"records": "nope"})).await.expect("post");
    assert_eq!(malformed.status, 400);
}

#[tokio::test]
async fn test_notifications_public_key_and_private_destinations() {
    let w = world().await;
    let key = w
        .app
        .call("GET", "/api/push/public-key", None, None)
        .await
        .expect("key");
    assert_eq!(key.status, 200);
    assert_eq!(key.body["publicKey"], Value::String(w.vapid.public_key()));

    let phone = w.push.subscribe();
    let trigger = w.push_trigger(&phone, "2.5").await.expect("push");
    let id = trigger["id"].as_str().expect("id");
    let fired = w.fire_test(&trigger).await.expect("test");
    assert_eq!(fired.status, 200, "{:?}", fired.body);
    assert_eq!(fired.body["outcome"], "delivered");
    let got = w.push.wait_for(&phone, 1, WAIT).await;
    let note = got[0].json().expect("payload");
    assert_eq!(note["data"]["test"], true);
    assert!(note["title"]
        .as_str()
        .is_some_and(|t| t.starts_with("Test: Received 2.5 PAS")));
    let anonymous = w
        .app
        .call("POST", &format!("/api/triggers/{id}/test"), None, None)
        .await
        .expect("test");
    assert_eq!(anonymous.status, 401);

    w.push.gone(&phone);
    let fired = w.fire_test(&trigger).await.expect("test");
    assert_eq!(fired.body["outcome"], "gone");
    assert_eq!(fired.body["status"], 410);
    assert_eq!(
        w.read(&trigger).await.expect("read")["status"]["active"],
        true,
        "tests change nothing"
    );

    let strict = World::start(Settings {
        allow_private: false,
        ..Settings::default()
    })
    .await
    .expect("strict world");
    let refused = strict
        .app
        .call(
            "POST",
            "/api/triggers",
            None,
            Some(
                &json!({"source": strict.source, "event": "Balances.Transfer",
                         "action": {"webhook": {"url": "https://127.0.0.1:8443/hook"}}}),
            ),
        )
        .await
        .expect("create");
    assert_eq!(refused.status, 422);
    assert_eq!(refused.body["error"]["field"], "action.webhook.url");
}

#[tokio::test]
async fn a_lost_answer_reschedules_its_retries_without_sending_twice() {
    let w = world().await;
    let flaky = w.push.subscribe();
    w.push.script(&flaky, [503]);
    w.push_trigger(&flaky, "1").await.expect("trigger");
    let event = transfer(40, 0, ALICE, BOB, 2 * PAS);

    let first = w.dispatch(&batch(&[&event])).await.expect("dispatch");
    assert_eq!(first.body["retries"].as_array().map(Vec::len), Some(1));
    // The relay never saw that answer and redelivers the batch: the retry is scheduled again,
    // and the push service is not called a second time for attempt 0.
    let again = w.dispatch(&batch(&[&event])).await.expect("redelivery");
    let retries = again.body["retries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(retries.len(), 1, "{:?}", again.body);
    assert_eq!(w.push.attempts(&flaky).len(), 1);

    // Both copies of the retry come back: one delivery.
    let due: Vec<Value> = first.body["retries"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(&retries)
        .map(|r| json!({"attempt": r["attempt"], "item": r["item"]}))
        .collect();
    let answer = w.dispatch(&json!({"retries": due})).await.expect("retries");
    assert_eq!(answer.status, 200);
    assert_eq!(w.push.received(&flaky).len(), 1);
    assert_eq!(w.push.attempts(&flaky).len(), 2);
}
