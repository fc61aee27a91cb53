//! The management API end to end: the compiled `api` component under the test host, over HTTP.

use aurras_e2e::{Answer, App, ADMIN_TOKEN};
use futures::future::join_all;
use serde_json::{json, Value};

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const BOB_POLKADOT: &str = "14E5nqKAp3oAJcmzgZhUD2RcptBeUBScxKHgJKU4HPNcKVf3";
// RFC 8291 Appendix A's user agent keys: a real browser subscription's shape.
const P256DH: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

fn paseo() -> Value {
    json!({"chain": "paseo", "rpc": ["ws://127.0.0.1:9944"],
           "events": ["Balances.Transfer", "Staking.EraPaid"],
           "token": {"symbol": "PAS", "decimals": 10}})
}

fn push_trigger(source: &str, account: &str) -> Value {
    json!({"source": source, "event": "Balances.Transfer",
           "filter": {"balance": {"account": account, "direction": "in", "min": "1.5"}},
           "action": {"web_push": {"endpoint": "https://push.example.net/send/abc", "expirationTime": null,
                                   "keys": {"p256dh": P256DH, "auth": AUTH}}}})
}

async fn app() -> App {
    App::start().await.expect("app starts")
}

async fn create_source(app: &App, body: &Value) -> Value {
    let a = app
        .call("POST", "/api/sources", Some(ADMIN_TOKEN), Some(body))
        .await
        .expect("call");
    assert_eq!(a.status, 201, "{}", a.body);
    a.body
}

async fn create_trigger(app: &App, body: &Value) -> (String, String) {
    let a = app
        .call("POST", "/api/triggers", None, Some(body))
        .await
        .expect("call");
    assert_eq!(a.status, 201, "{}", a.body);
    (
        a.body["id"].as_str().expect("id").to_owned(),
        a.body["token"].as_str().expect("token").to_owned(),
    )
}

async fn lookup(app: &App, topic: &str, account: &str) -> Vec<String> {
    app.lookup_ids(topic, account).await.expect("lookup")
}

fn assert_error(a: &Answer, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["error"]["code"], code, "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        a.body
    );
    if let Some(field) = field {
        assert_eq!(a.body["error"]["field"], field, "{}", a.body);
    }
}

#[tokio::test]
async fn health_reports_version_and_store() {
    let app = app().await;
    let a = app
        .call("GET", "/api/health", None, None)
        .await
        .expect("call");
    assert_eq!(a.status, 200);
    assert_eq!(a.body["status"], "ok");
    assert_eq!(a.body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(a.body["key_value"]["ok"], true);
    let spec = app
        .call("GET", "/api/openapi.json", None, None)
        .await
        .expect("call");
    assert_eq!(spec.body["openapi"], "3.1.0");
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json() {
    let app = app().await;
    assert_error(
        &app.call("GET", "/api/nothing", None, None)
            .await
            .expect("call"),
        404,
        "not_found",
        None,
    );
    assert_error(
        &app.call("PUT", "/api/sources", None, None)
            .await
            .expect("call"),
        405,
        "method_not_allowed",
        None,
    );
    // RFC 9110: every 405 names the methods the resource has.
    let client = reqwest::Client::new();
    for (method, path, allow) in [
        ("PUT", "/api/sources", "GET, POST"),
        ("POST", "/api/sources/src_x", "GET, PATCH, DELETE"),
        ("GET", "/api/triggers", "POST"),
        ("DELETE", "/api/health", "GET"),
        ("GET", "/api/triggers/trg_x/test", "POST"),
    ] {
        let resp = client
            .request(
                method.parse().expect("method"),
                format!("{}{path}", app.url()),
            )
            .send()
            .await
            .expect("call");
        assert_eq!(resp.status().as_u16(), 405, "{method} {path}");
        let header = resp.headers().get("allow").and_then(|v| v.to_str().ok());
        assert_eq!(header, Some(allow), "{method} {path}");
    }
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn sources_lifecycle_with_topic_map_and_operator_auth() {
    let app = app().await;
    // Registration is for the operator only.
    assert_error(
        &app.call("POST", "/api/sources", None, Some(&paseo()))
            .await
            .expect("call"),
        401,
        "unauthorized",
        None,
    );
    assert_error(
        &app.call("POST", "/api/sources", Some("nope"), Some(&paseo()))
            .await
            .expect("call"),
        401,
        "unauthorized",
        None,
    );

    let created = create_source(&app, &paseo()).await;
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created["topics"],
        json!({"Balances.Transfer": "paseo.Balances.Transfer", "Staking.EraPaid": "paseo.Staking.EraPaid"})
    );
    assert_eq!(created["rpc"][0], "ws://127.0.0.1:9944");

    // Anyone may list sources, without RPC URLs; the operator sees them.
    let public = app
        .call("GET", "/api/sources", None, None)
        .await
        .expect("call");
    assert_eq!(public.body["sources"][0]["id"], id.as_str());
    assert!(
        public.body["sources"][0].get("rpc").is_none(),
        "{}",
        public.body
    );
    let admin = app
        .call("GET", "/api/sources", Some(ADMIN_TOKEN), None)
        .await
        .expect("call");
    assert_eq!(admin.body["sources"][0]["rpc"][0], "ws://127.0.0.1:9944");
    // A wrong token is refused rather than quietly given the public view (the page's operator
    // sign-in relies on it).
    for path in ["/api/sources".to_owned(), format!("/api/sources/{id}")] {
        assert_error(
            &app.call("GET", &path, Some("not-the-admin-token"), None)
                .await
                .expect("call"),
            401,
            "unauthorized",
            None,
        );
    }
    let one = app
        .call("GET", &format!("/api/sources/{id}"), None, None)
        .await
        .expect("call");
    assert_eq!(
        one.body["topics"]["Staking.EraPaid"],
        "paseo.Staking.EraPaid"
    );
    assert_error(
        &app.call("GET", "/api/sources/src_missing", None, None)
            .await
            .expect("call"),
        404,
        "not_found",
        None,
    );

    // One source per chain: topics are named by chain.
    assert_error(
        &app.call("POST", "/api/sources", Some(ADMIN_TOKEN), Some(&paseo()))
            .await
            .expect("call"),
        409,
        "conflict",
        Some("chain"),
    );

    // PATCH changes the events and the topic map with them.
    let patch = json!({"add_events": ["Balances.Deposit"], "remove_events": ["Staking.EraPaid"]});
    let patched = app
        .call(
            "PATCH",
            &format!("/api/sources/{id}"),
            Some(ADMIN_TOKEN),
            Some(&patch),
        )
        .await
        .expect("call");
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        patched.body["topics"],
        json!({"Balances.Deposit": "paseo.Balances.Deposit", "Balances.Transfer": "paseo.Balances.Transfer"})
    );
    assert_error(
        &app.call("PATCH", &format!("/api/sources/{id}"), None, Some(&patch))
            .await
            .expect("call"),
        401,
        "unauthorized",
        None,
    );

    // A watched event cannot be removed, nor its source deleted.
    let (tid, token) = create_trigger(&app, &push_trigger(&id, BOB)).await;
    let remove = json!({"remove_events": ["Balances.Transfer"]});
    assert_error(
        &app.call(
            "PATCH",
            &format!("/api/sources/{id}"),
            Some(ADMIN_TOKEN),
            Some(&remove),
        )
        .await
        .expect("call"),
        409,
        "conflict",
        Some("remove_events"),
    );
    assert_error(
        &app.call(
            "DELETE",
            &format!("/api/sources/{id}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await
        .expect("call"),
        409,
        "conflict",
        None,
    );
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/triggers/{tid}"),
            Some(&token),
            None
        )
        .await
        .expect("call")
        .status,
        204
    );
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/sources/{id}"),
            Some(ADMIN_TOKEN),
            None
        )
        .await
        .expect("call")
        .status,
        204
    );
    assert_error(
        &app.call("GET", &format!("/api/sources/{id}"), None, None)
            .await
            .expect("call"),
        404,
        "not_found",
        None,
    );
    // The chain name is free again.
    create_source(&app, &paseo()).await;
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn light_client_sources_keep_their_chain_specs_for_the_operator() {
    let app = app().await;
    let spec = json!({"name": "Paseo Testnet", "id": "paseo", "chainType": "Live", "genesis": {"raw": {"top": {}}},
                      "properties": {"ss58Format": 42, "tokenDecimals": 10, "tokenSymbol": "PAS"}});
    let created = create_source(
        &app,
        &json!({"chain": "paseo", "chain_spec": spec, "events": ["Balances.Transfer"]}),
    )
    .await;
    assert_eq!(created["token"], json!({"symbol": "PAS", "decimals": 10}));
    assert_eq!(created["light_client"], true);
    let id = created["id"].as_str().expect("id");
    let got = app
        .call(
            "GET",
            &format!("/api/sources/{id}/chain-spec"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await
        .expect("call");
    assert_eq!(got.body, spec);
    assert_error(
        &app.call("GET", &format!("/api/sources/{id}/chain-spec"), None, None)
            .await
            .expect("call"),
        401,
        "unauthorized",
        None,
    );
    assert_error(
        &app.call(
            "GET",
            &format!("/api/sources/{id}/relay-chain-spec"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await
        .expect("call"),
        404,
        "not_found",
        None,
    );
    let parachain = json!({"chain": "asset-hub", "events": ["Balances.Transfer"],
                           "chain_spec": {"name": "AH", "id": "ah", "genesis": {}, "relay_chain": "paseo", "para_id": 1000}});
    let a = app
        .call("POST", "/api/sources", Some(ADMIN_TOKEN), Some(&parachain))
        .await
        .expect("call");
    assert_error(&a, 422, "invalid_field", Some("relay_chain_spec"));
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn known_chains_register_by_name_and_serve_their_compiled_in_specs() {
    let app = app().await;
    let vendored = |name: &str| -> Value {
        let path = format!(
            "{}/../../components/known-chains/specs/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("vendored spec")).expect("JSON")
    };
    let created = create_source(
        &app,
        &json!({"known_chain": "kusama_asset_hub", "events": ["Balances.Transfer"]}),
    )
    .await;
    assert_eq!(created["chain"], "kusama-asset-hub");
    assert_eq!(created["known_chain"], "kusama_asset_hub");
    assert_eq!(created["light_client"], true);
    assert_eq!(created["has_relay_chain_spec"], true);
    assert_eq!(created["token"], json!({"symbol": "KSM", "decimals": 12}));
    assert_eq!(created["ss58_prefix"], 2);
    let id = created["id"].as_str().expect("id");
    for (route, name) in [
        ("chain-spec", "kusama_asset_hub"),
        ("relay-chain-spec", "kusama"),
    ] {
        let got = app
            .call(
                "GET",
                &format!("/api/sources/{id}/{route}"),
                Some(ADMIN_TOKEN),
                None,
            )
            .await
            .expect("call");
        assert_eq!(got.status, 200, "{route}");
        assert!(got.body == vendored(name), "{route} is not {name}'s spec");
    }

    let before = app
        .call("GET", "/api/sources", Some(ADMIN_TOKEN), None)
        .await
        .expect("call")
        .body;
    for (body, field) in [
        (
            json!({"known_chain": "dot", "events": ["Balances.Transfer"]}),
            "known_chain",
        ),
        (
            json!({"known_chain": "polkadot", "rpc": ["wss://rpc.example"], "events": ["Balances.Transfer"]}),
            "rpc",
        ),
        // The chain name is taken: the same chain cannot be registered twice.
        (
            json!({"known_chain": "kusama_asset_hub", "events": ["Balances.Transfer"]}),
            "chain",
        ),
    ] {
        let a = app
            .call("POST", "/api/sources", Some(ADMIN_TOKEN), Some(&body))
            .await
            .expect("call");
        assert!(a.status == 422 || a.status == 409, "{body}: {}", a.status);
        assert_eq!(a.body["error"]["field"], field, "{body}: {}", a.body);
    }
    let after = app
        .call("GET", "/api/sources", Some(ADMIN_TOKEN), None)
        .await
        .expect("call")
        .body;
    assert_eq!(before, after, "a refused registration changed nothing");
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn triggers_lifecycle_and_ownership() {
    let app = app().await;
    let source = create_source(&app, &paseo()).await;
    let sid = source["id"].as_str().expect("id");
    let created = app
        .call("POST", "/api/triggers", None, Some(&push_trigger(sid, BOB)))
        .await
        .expect("call");
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let token = created.body["token"].as_str().expect("token").to_owned();
    assert_eq!(created.body["topic"], "paseo.Balances.Transfer");
    assert_eq!(created.body["status"]["active"], true);
    assert!(created.body.get("token_hash").is_none());
    let path = format!("/api/triggers/{id}");

    // The owner reads it back in the original's READ shape.
    let read = app
        .call("GET", &path, Some(&token), None)
        .await
        .expect("call");
    assert_eq!(read.status, 200);
    assert_eq!(read.body["filter"]["balance"]["account"], BOB);
    assert_eq!(read.body["filter"]["balance"]["min_units"], "15000000000");
    assert!(read.body["status"]["dateChanged"].is_string());
    assert!(read.body.get("token").is_none(), "the token is shown once");

    // Nobody else can read, change or delete it, and they cannot tell whether it exists.
    let (_other_id, other_token) = create_trigger(&app, &push_trigger(sid, ALICE)).await;
    assert_error(
        &app.call("GET", &path, None, None).await.expect("call"),
        401,
        "unauthorized",
        None,
    );
    let wrong = app
        .call("GET", &path, Some(&other_token), None)
        .await
        .expect("call");
    let absent = app
        .call(
            "GET",
            "/api/triggers/trg_00000000000000000000000000000000",
            Some(&other_token),
            None,
        )
        .await
        .expect("call");
    // Another trigger's token does not open this one (401, RFC 6750 invalid_token); an id that
    // does not exist is 404 whatever the token.
    assert_error(&wrong, 401, "unauthorized", None);
    assert_error(&absent, 404, "not_found", None);
    assert_error(
        &app.call("DELETE", &path, Some(&other_token), None)
            .await
            .expect("call"),
        401,
        "unauthorized",
        None,
    );
    let pause = json!({"active": false, "reason": "on holiday"});
    assert_error(
        &app.call("PATCH", &path, Some(&other_token), Some(&pause))
            .await
            .expect("call"),
        401,
        "unauthorized",
        None,
    );

    // Pause and resume.
    let paused = app
        .call("PATCH", &path, Some(&token), Some(&pause))
        .await
        .expect("call");
    assert_eq!(paused.status, 200, "{}", paused.body);
    assert_eq!(paused.body["status"]["active"], false);
    assert_eq!(paused.body["status"]["reason"], "on holiday");

    // PUT replaces filter and action: a webhook now, whose secret is kept server-side.
    let put = json!({"source": sid, "event": "Balances.Transfer",
                     "filter": {"all": [{"field": "amount", "op": "gte", "value": "100"}]},
                     "action": {"webhook": {"url": "https://hooks.example.com/aurras"}}, "active": true});
    let replaced = app
        .call("PUT", &path, Some(&token), Some(&put))
        .await
        .expect("call");
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(
        replaced.body["action"],
        json!({"webhook": {"url": "https://hooks.example.com/aurras"}})
    );
    assert_eq!(replaced.body["status"]["active"], true);
    // It moved from Bob's index to the any-account index.
    let nobody = format!("0x{}", "11".repeat(32));
    assert_eq!(
        lookup(&app, "paseo.Balances.Transfer", &nobody).await,
        vec![id.clone()]
    );

    // The operator moderates any trigger without its token: reads it, pauses it.
    let seen = app
        .call("GET", &path, Some(ADMIN_TOKEN), None)
        .await
        .expect("call");
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(seen.body["id"], id.as_str());
    let paused = app
        .call(
            "PATCH",
            &path,
            Some(ADMIN_TOKEN),
            Some(&json!({"active": false, "reason": "abuse report"})),
        )
        .await
        .expect("call");
    assert_eq!(paused.body["status"]["reason"], "abuse report");

    assert_eq!(
        app.call("DELETE", &path, Some(&token), None)
            .await
            .expect("call")
            .status,
        204
    );
    assert_error(
        &app.call("GET", &path, Some(&token), None)
            .await
            .expect("call"),
        404,
        "not_found",
        None,
    );
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn webhook_triggers_show_their_signing_secret_once() {
    let app = app().await;
    let source = create_source(&app, &paseo()).await;
    let body = json!({"source": source["id"], "event": "Staking.EraPaid",
                      "action": {"webhook": {"url": "https://hooks.example.com/era"}},
                      "brokers": "broker-1:9092,broker-2:9092", "isJSONData": true, "isBinaryKey": true});
    let created = app
        .call("POST", "/api/triggers", None, Some(&body))
        .await
        .expect("call");
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.body["secret"]
        .as_str()
        .is_some_and(|s| s.starts_with("whsec_")));
    assert_eq!(
        created.body["brokers"],
        json!(["broker-1:9092", "broker-2:9092"])
    );
    assert_eq!(created.body["isJSONData"], true);
    let read = app
        .call(
            "GET",
            &format!("/api/triggers/{}", created.body["id"].as_str().expect("id")),
            created.body["token"].as_str(),
            None,
        )
        .await
        .expect("call");
    assert!(
        read.body.get("secret").is_none() && read.body["action"]["webhook"].get("secret").is_none(),
        "{}",
        read.body
    );
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn bad_input_is_named_and_stores_nothing() {
    let app = app().await;
    let source = create_source(&app, &paseo()).await;
    let sid = source["id"].as_str().expect("id").to_owned();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut body = push_trigger(&sid, BOB);
        f(&mut body);
        body
    };
    let mut typo = BOB.to_owned();
    let replacement = if &typo[20..21] == "a" { "b" } else { "a" };
    typo.replace_range(20..21, replacement);
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            with(&|b| b["filter"]["balance"]["account"] = json!(typo)),
            422,
            "invalid_field",
            "filter.balance.account",
        ),
        (
            with(&|b| b["filter"]["balance"]["account"] = json!(BOB_POLKADOT)),
            422,
            "invalid_field",
            "filter.balance.account",
        ),
        (
            with(&|b| b["filter"]["balance"]["min"] = json!("1.00000000001")),
            422,
            "invalid_field",
            "filter.balance.min",
        ),
        (
            with(&|b| b["filter"]["balance"]["min"] = json!(5)),
            400,
            "invalid_json",
            "filter.balance.min",
        ),
        (
            with(&|b| b["filter"]["balance"]["direction"] = json!("sideways")),
            400,
            "unknown_field",
            "filter.balance.direction",
        ),
        (
            with(&|b| b["filter"]["balance"]["extra"] = json!(1)),
            400,
            "unknown_field",
            "filter.balance.extra",
        ),
        (
            with(&|b| b["action"]["web_push"]["endpoint"] = json!("http://push.example.net/x")),
            422,
            "invalid_field",
            "action.web_push.endpoint",
        ),
        (
            with(&|b| b["action"]["web_push"]["keys"]["auth"] = json!("short")),
            422,
            "invalid_field",
            "action.web_push.keys.auth",
        ),
        (
            with(&|b| b["action"] = json!({"webhook": {"url": "http://hooks.example.com"}})),
            422,
            "invalid_field",
            "action.webhook.url",
        ),
        (
            with(&|b| b["source"] = json!("src_unknown")),
            422,
            "invalid_field",
            "source",
        ),
        (
            with(&|b| b["event"] = json!("Balances.Deposit")),
            422,
            "invalid_field",
            "event",
        ),
        (
            with(&|b| b["event"] = json!("balances")),
            422,
            "invalid_field",
            "event",
        ),
        (
            with(&|b| b["isJSONData"] = json!("true")),
            400,
            "invalid_json",
            "isJSONData",
        ),
        (
            with(&|b| {
                b["isJSONData"] = json!(true);
                b["isBinaryValue"] = json!(true)
            }),
            422,
            "invalid_field",
            "isBinaryValue",
        ),
        (
            with(&|b| b["brokers"] = json!(["localhost"])),
            422,
            "invalid_field",
            "brokers[0]",
        ),
        (
            with(&|b| b["nonsense"] = json!(1)),
            400,
            "unknown_field",
            "nonsense",
        ),
        (
            with(&|b| {
                b["filter"] = json!({"all": [{"field": "colour", "op": "eq", "value": "red"}]})
            }),
            422,
            "invalid_field",
            "filter.all[0].field",
        ),
        (
            with(&|b| {
                b.as_object_mut().expect("obj").remove("action");
            }),
            400,
            "missing_field",
            "action",
        ),
    ];
    for (body, status, code, field) in &cases {
        let a = app
            .call("POST", "/api/triggers", None, Some(body))
            .await
            .expect("call");
        assert_error(&a, *status, code, (!field.is_empty()).then_some(*field));
    }
    // Malformed JSON, wrong media type, oversized bodies.
    let a = app
        .call_raw(
            "POST",
            "/api/triggers",
            None,
            "application/json",
            b"{\"source\":".to_vec(),
        )
        .await
        .expect("call");
    assert_error(&a, 400, "invalid_json", None);
    let a = app
        .call_raw(
            "POST",
            "/api/triggers",
            None,
            "text/plain",
            push_trigger(&sid, BOB).to_string().into_bytes(),
        )
        .await
        .expect("call");
    assert_error(&a, 415, "unsupported_media_type", None);
    let huge = format!(
        "{{\"name\": \"{}\"}}",
        "x".repeat(aurras_domain::api::MAX_TRIGGER_BODY)
    );
    let a = app
        .call_raw(
            "POST",
            "/api/triggers",
            None,
            "application/json",
            huge.into_bytes(),
        )
        .await
        .expect("call");
    assert_error(&a, 413, "payload_too_large", None);

    // Source validation names fields too.
    for (body, field) in [
        (
            json!({"chain": "Paseo!", "rpc": ["ws://a"], "events": ["A.B"]}),
            "chain",
        ),
        (
            json!({"chain": "k", "rpc": ["https://a"], "events": ["A.B"]}),
            "rpc[0]",
        ),
        (
            json!({"chain": "k", "rpc": ["ws://a"], "events": ["A.B", "bad"]}),
            "events[1]",
        ),
        (
            json!({"chain": "k", "rpc": ["ws://a"], "events": ["A.B"], "token": {"symbol": "K", "decimals": 99}}),
            "token.decimals",
        ),
    ] {
        let a = app
            .call("POST", "/api/sources", Some(ADMIN_TOKEN), Some(&body))
            .await
            .expect("call");
        assert_error(&a, 422, "invalid_field", Some(field));
    }

    // Nothing was stored: one source, no trigger on any index.
    let list = app
        .call("GET", "/api/sources", None, None)
        .await
        .expect("call");
    assert_eq!(list.body["sources"].as_array().expect("list").len(), 1);
    assert!(lookup(&app, "paseo.Balances.Transfer", BOB)
        .await
        .is_empty());
    app.stop().await.expect("stop");
}

#[tokio::test]
async fn state_survives_a_host_restart() {
    let mut app = app().await;
    let source = create_source(&app, &paseo()).await;
    let (id, token) =
        create_trigger(&app, &push_trigger(source["id"].as_str().expect("id"), BOB)).await;
    app.restart().await.expect("restart");
    let read = app
        .call("GET", &format!("/api/triggers/{id}"), Some(&token), None)
        .await
        .expect("call");
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(lookup(&app, "paseo.Balances.Transfer", BOB).await, vec![id]);
    app.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_and_deletes_at_one_account_lose_nothing() {
    let app = app().await;
    let source = create_source(&app, &paseo()).await;
    let sid = source["id"].as_str().expect("id").to_owned();
    let mut doomed = Vec::new();
    for _ in 0..12 {
        doomed.push(create_trigger(&app, &push_trigger(&sid, BOB)).await);
    }
    // 24 creates and 12 deletes, all at Bob's index, all at once.
    let creates = (0..24).map(|_| {
        let body = push_trigger(&sid, BOB);
        let app = &app;
        async move { create_trigger(app, &body).await.0 }
    });
    let deletes = doomed.iter().map(|(id, token)| {
        let app = &app;
        async move {
            let a = app
                .call("DELETE", &format!("/api/triggers/{id}"), Some(token), None)
                .await
                .expect("call");
            assert_eq!(a.status, 204, "{}", a.body);
        }
    });
    let (created, _) = tokio::join!(join_all(creates), join_all(deletes));
    let mut expected = created;
    expected.sort();
    assert_eq!(lookup(&app, "paseo.Balances.Transfer", BOB).await, expected);
    app.stop().await.expect("stop");
}
