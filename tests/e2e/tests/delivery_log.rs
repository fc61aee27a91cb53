//! A trigger's delivery log through the compiled components: each event's latest attempt with
//! its block and outcome, and a delivery no retry will repeat (the webhook answered 410 Gone)
//! sent again at its owner's request once the destination is back, under the same
//! `webhook-id`, the log's line then saying it was delivered.

use aurras_domain::dispatch::message_id;
use aurras_e2e::world::{batch, transfer, Settings, World, ALICE, BOB};
use serde_json::json;

const PAS: u128 = 10_000_000_000;

#[tokio::test]
async fn a_gone_delivery_is_logged_and_sent_again_on_request() {
    let w = World::start(Settings::default()).await.expect("world");
    let (hook, created) = w.webhook_on(BOB).await.expect("trigger");
    let id = created["id"].as_str().expect("id").to_owned();
    let token = created["token"].as_str().expect("token").to_owned();
    w.hooks.script(&hook, [410]);

    let event = transfer(7, 0, ALICE, BOB, 3 * PAS);
    let answer = w.dispatch(&batch(&[&event])).await.expect("dispatch");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let read = w.read(&created).await.expect("read");
    assert_eq!(read["status"]["active"], false, "gone pauses the trigger");
    let line = &read["delivery"]["log"][0];
    assert_eq!(
        (
            &line["event_id"],
            &line["block"],
            &line["outcome"],
            &line["resendable"]
        ),
        (&json!(event.id), &json!(7), &json!("gone"), &json!(true)),
        "{read}"
    );
    assert!(
        line.get("record").is_none(),
        "the kept record is not shown: {line}"
    );

    // The person fixed the destination and resumes; then asks for the missed one again.
    let resumed = w
        .app
        .call(
            "PATCH",
            &format!("/api/triggers/{id}"),
            Some(&token),
            Some(&json!({"active": true})),
        )
        .await
        .expect("resume");
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    let path = format!("/api/triggers/{id}/deliveries/{}/resend", event.id);
    let nobody = w
        .app
        .call("POST", &path, Some("atk_wrong"), None)
        .await
        .expect("call");
    assert_eq!(nobody.status, 401, "only its owner: {}", nobody.body);
    let sent = w
        .app
        .call("POST", &path, Some(&token), None)
        .await
        .expect("resend");
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(sent.body["outcome"], "delivered", "{}", sent.body);
    let received = w.hooks.received(&hook);
    assert_eq!(
        received.len(),
        1,
        "the 410 was not a delivery; the copy sent again is"
    );
    assert_eq!(
        received[0].id,
        message_id(&event.id, &id),
        "the same webhook-id"
    );
    assert_eq!(received[0].body["messages"][0]["value"]["id"], event.id);

    let read = w.read(&created).await.expect("read");
    let line = &read["delivery"]["log"][0];
    assert_eq!(
        (&line["outcome"], &line["resendable"], &line["block"]),
        (&json!("delivered"), &json!(false), &json!(7)),
        "{read}"
    );
    assert_eq!(
        read["delivery"]["log"].as_array().map(Vec::len),
        Some(1),
        "one line per event"
    );
    // Delivered now: nothing left to send again.
    let again = w
        .app
        .call("POST", &path, Some(&token), None)
        .await
        .expect("again");
    assert_eq!(again.status, 404, "{}", again.body);
    assert_eq!(again.body["error"]["field"], "event_id");
}
