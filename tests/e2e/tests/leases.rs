//! The chains' ingestion leases over HTTP (`/api/sources/{id}/lease`), against the compiled `api`
//! component: one holder at a time, a refusal that says who holds it and for how long, bad input
//! named by field without losing the lease, and a release (`ttl_ms: 0`) that keeps the progress.

use aurras_e2e::{Answer, App, ADMIN_TOKEN};
use serde_json::{json, Value};

const HASH: &str = "0xabababababababababababababababababababababababababababababababab";

async fn call(app: &App, method: &str, path: &str, body: Option<&Value>) -> Answer {
    app.call(method, path, Some(ADMIN_TOKEN), body)
        .await
        .expect("call")
}

fn assert_error(a: &Answer, status: u16, code: &str, field: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["error"]["code"], code, "{}", a.body);
    assert_eq!(a.body["error"]["field"], field, "{}", a.body);
}

#[tokio::test]
async fn one_holder_at_a_time_with_bad_input_named_and_progress_kept() {
    let app = App::start().await.expect("app starts");
    let source = app.register_paseo().await.expect("source");
    let lease = format!("/api/sources/{source}/lease");

    let free = call(&app, "GET", &lease, None).await;
    assert_eq!(free.status, 200, "{}", free.body);
    assert_eq!(
        free.body,
        json!({"chain": "paseo", "holder": null, "expires_in_ms": 0, "progress": null})
    );

    let ask = |holder: &str| {
        json!({"holder": holder, "ttl_ms": 60_000,
               "progress": {"next_block": 42, "parent_hash": HASH}})
    };
    let taken = call(&app, "PUT", &lease, Some(&ask("host-a:1:f"))).await;
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert_eq!(taken.body["holder"], "host-a:1:f");
    let left = taken.body["expires_in_ms"].as_u64().expect("expiry");
    assert!((59_000..=60_000).contains(&left), "{left}");

    let refused = call(&app, "PUT", &lease, Some(&ask("host-b:2:e"))).await;
    assert_error(&refused, 409, "conflict", "holder");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("host-a:1:f")),
        "{}",
        refused.body
    );
    let retry: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((59..=60).contains(&retry), "{retry}");

    for (body, status, code, field) in [
        (
            json!({"holder": "a b", "ttl_ms": 5000}),
            422,
            "invalid_field",
            "holder",
        ),
        (
            json!({"holder": "a", "ttl_ms": 10}),
            422,
            "invalid_field",
            "ttl_ms",
        ),
        (
            json!({"holder": "a", "ttl_ms": 5000.5}),
            400,
            "invalid_json",
            "ttl_ms",
        ),
        (
            json!({"holder": "a", "ttl_ms": 5000, "force": true}),
            400,
            "unknown_field",
            "force",
        ),
        (json!({"ttl_ms": 5000}), 400, "missing_field", "holder"),
        (
            json!({"holder": "a", "ttl_ms": 5000, "progress": {"next_block": 3, "parent_hash": "0x12"}}),
            422,
            "invalid_field",
            "progress.parent_hash",
        ),
    ] {
        assert_error(
            &call(&app, "PUT", &lease, Some(&body)).await,
            status,
            code,
            field,
        );
    }
    let unauthenticated = app
        .call("PUT", &lease, None, Some(&ask("host-b:2:e")))
        .await
        .expect("call");
    assert_eq!(unauthenticated.status, 401, "{}", unauthenticated.body);
    let still = call(&app, "GET", &lease, None).await;
    assert_eq!(still.body["holder"], "host-a:1:f", "{}", still.body);
    assert_eq!(still.body["progress"]["next_block"], 42);

    let let_go = |holder: &str| json!({"holder": holder, "ttl_ms": 0});
    assert_error(
        &call(&app, "PUT", &lease, Some(&let_go("host-b:2:e"))).await,
        409,
        "conflict",
        "holder",
    );
    let released = call(&app, "PUT", &lease, Some(&let_go("host-a:1:f"))).await;
    assert_eq!(released.status, 200, "{}", released.body);
    assert_eq!(released.body["holder"], Value::Null, "{}", released.body);
    assert_eq!(
        released.body["progress"]["next_block"], 42,
        "the progress stays"
    );
    let again = call(&app, "PUT", &lease, Some(&let_go("host-a:1:f"))).await;
    assert_eq!(
        again.status, 200,
        "letting go twice is harmless: {}",
        again.body
    );

    let next = call(
        &app,
        "PUT",
        &lease,
        Some(&json!({"holder": "host-b:2:e", "ttl_ms": 60_000, "progress": null})),
    )
    .await;
    assert_eq!(next.status, 200, "{}", next.body);
    assert_eq!(next.body["holder"], "host-b:2:e");
    assert_eq!(
        next.body["progress"]["next_block"], 42,
        "the progress passes on"
    );
    assert_eq!(next.body["progress"]["parent_hash"], HASH);

    let missing = call(
        &app,
        "PUT",
        "/api/sources/src_00000000000000000000000000000000/lease",
        Some(&ask("a")),
    )
    .await;
    assert_eq!(missing.status, 404, "{}", missing.body);
}
