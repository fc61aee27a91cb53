//! The test host running the compiled probe component (`tests/fixtures/probe`): routing, variables,
//! key-value, outbound HTTP and failure isolation, checked from the guest's side.
//!
//! Needs `target/wasm32-wasip2/release/aurras_probe.wasm` (`scripts/build-components`).

mod support;

use std::collections::BTreeMap;

use aurras_testhost::key_value::StoreLocation;
use support::{app, echo, get, start, start_err};

const ROUTES: &str = r#"
[[trigger.http]]
route = "/..."
component = "root"
[[trigger.http]]
route = "/api/..."
component = "api"
[[trigger.http]]
route = "/api/health"
component = "health"
[[trigger.http]]
route = "/users/:user_id"
component = "user"
[[trigger.http]]
route = { private = true }
component = "hidden"

[component.root]
source = "{wasm}"
variables = { who = "root" }
[component.api]
source = "{wasm}"
variables = { who = "api" }
[component.health]
source = "{wasm}"
variables = { who = "health" }
[component.user]
source = "{wasm}"
variables = { who = "user" }
[component.hidden]
source = "{wasm}"
"#;

#[tokio::test]
async fn routes_follow_spin_precedence_and_headers() {
    let (_dir, options) = app(ROUTES);
    let host = start(&options).await;

    let health = echo(&host, "/api/health").await;
    assert_eq!(health["who"], "health");
    assert_eq!(health["headers"]["spin-path-info"], "");
    assert_eq!(health["headers"]["spin-matched-route"], "/api/health");

    let api = echo(&host, "/api/sources/abc?x=1").await;
    assert_eq!(api["who"], "api");
    let h = &api["headers"];
    assert_eq!(h["spin-path-info"], "/sources/abc");
    assert_eq!(h["spin-matched-route"], "/api/...");
    assert_eq!(h["spin-raw-component-route"], "/api/...");
    assert_eq!(h["spin-component-route"], "/api");
    assert_eq!(h["spin-base-path"], "/");
    assert_eq!(
        h["spin-full-url"],
        format!("{}/api/sources/abc?x=1", host.url())
    );
    assert!(h["spin-client-addr"]
        .as_str()
        .expect("client addr")
        .starts_with("127.0.0.1:"));
    // The component sees the whole path, not the part after the route.
    assert_eq!(api["path"], "/api/sources/abc");

    assert_eq!(echo(&host, "/api").await["who"], "api");
    assert_eq!(echo(&host, "/apix").await["who"], "root");
    assert_eq!(echo(&host, "/").await["who"], "root");

    let user = echo(&host, "/users/42").await;
    assert_eq!(user["who"], "user");
    assert_eq!(user["headers"]["spin-path-match-user-id"], "42");

    // Spin answers its own health and info endpoints before routing.
    assert_eq!(
        get(&host, "/.well-known/spin/health").await,
        (200, "OK".into())
    );
    let (_, info) = get(&host, "/.well-known/spin/info").await;
    assert!(info.contains("\"version\":\"1.2.3\""), "{info}");
    host.stop().await.expect("stop");
}

#[tokio::test]
async fn unmatched_requests_get_an_empty_404() {
    let (_dir, options) = app(r#"
[[trigger.http]]
route = "/api/..."
component = "api"
[component.api]
source = "{wasm}"
"#);
    let host = start(&options).await;
    assert_eq!(get(&host, "/elsewhere").await, (404, String::new()));
    host.stop().await.expect("stop");
}

const VARIABLES: &str = r#"
[variables]
greeting = { default = "hello" }
token = { required = true, secret = true }

[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "{wasm}"
variables = { who = "{{ greeting }}, {{ token }}!", plain = "fixed" }
"#;

#[tokio::test]
async fn variables_resolve_defaults_overrides_and_templates() {
    let (_dir, mut options) = app(VARIABLES);
    options.variables = BTreeMap::from([
        ("SPIN_VARIABLE_TOKEN".into(), "s3cret".into()),
        ("SPIN_VARIABLE_GREETING".into(), "hi".into()),
    ]);
    let host = start(&options).await;
    assert_eq!(echo(&host, "/").await["who"], "hi, s3cret!");
    assert_eq!(
        get(&host, "/?op=var&name=plain").await,
        (200, "fixed".into())
    );
    // Application variables are not visible to a component that does not declare them.
    let (status, body) = get(&host, "/?op=var&name=token").await;
    assert_eq!(status, 404);
    assert!(body.contains("Undefined"), "{body}");
    let (status, body) = get(&host, "/?op=var&name=Bad").await;
    assert_eq!(status, 404);
    assert!(body.contains("InvalidName"), "{body}");
    host.stop().await.expect("stop");
}

#[tokio::test]
async fn a_required_variable_without_value_stops_startup_with_the_fix() {
    let (_dir, options) = app(VARIABLES);
    let err = start_err(&options).await;
    assert!(err.contains("SPIN_VARIABLE_TOKEN"), "{err}");
    assert!(err.contains("spin.toml"), "{err}");
}

#[test]
fn the_binary_reads_variables_from_the_environment_and_explains_failures() {
    let (dir, _) = app(VARIABLES);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aurras-testhost"))
        .args(["up", "--from"])
        .arg(dir.path().join("spin.toml"))
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("SPIN_VARIABLE_TOKEN")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SPIN_VARIABLE_TOKEN"), "{stderr}");
}

const KV: &str = r#"
[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "{wasm}"
key_value_stores = ["default"]
"#;

#[tokio::test]
async fn key_value_persists_across_a_restart() {
    let (dir, options) = app(KV);
    let host = start(&options).await;
    // As under `spin up`, the default store lives in .spin beside the manifest.
    assert_eq!(
        host.stores(),
        [(
            "default".to_string(),
            StoreLocation::Sqlite(dir.path().join(".spin/sqlite_key_value.db"))
        )]
    );
    let (status, _) = get(&host, "/?op=kv-set&store=default&key=k&value=kept").await;
    assert_eq!(status, 200);
    host.stop().await.expect("stop");

    let host = start(&options).await;
    assert_eq!(
        get(&host, "/?op=kv-get&store=default&key=k").await,
        (200, "kept".into())
    );
    assert_eq!(
        get(&host, "/?op=kv-get&store=default&key=nope").await.0,
        404
    );
    host.stop().await.expect("stop");
}

#[tokio::test]
async fn stores_a_component_does_not_list_are_denied() {
    let (dir, mut options) = app(r#"
[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "{wasm}"
key_value_stores = ["default"]
[component.other]
source = "{wasm}"
key_value_stores = ["secrets"]
"#);
    let rc = dir.path().join("runtime-config.toml");
    std::fs::write(
        &rc,
        "[key_value_store.secrets]\ntype = \"spin\"\npath = \"secrets.db\"\n",
    )
    .expect("write");
    options.runtime_config = Some(rc);
    let host = start(&options).await;
    let (status, body) = get(&host, "/?op=kv-set&store=secrets&key=k&value=v").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("AccessDenied"), "{body}");
    host.stop().await.expect("stop");
}

#[tokio::test]
async fn an_unknown_store_label_stops_startup() {
    let (_dir, options) = app(r#"
[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "{wasm}"
key_value_stores = ["cache"]
"#);
    let err = start_err(&options).await;
    assert!(
        err.contains("\"cache\"") && err.contains("[key_value_store.cache]"),
        "{err}"
    );
}

#[tokio::test]
async fn outbound_requests_reach_allowed_hosts_only() {
    // A real upstream: a second host serving the probe.
    let (_up_dir, upstream_options) = app(KV);
    let upstream = start(&upstream_options).await;
    let port = upstream.addr().port();

    let (_dir, options) = app(&format!(
        r#"
[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "{{wasm}}"
allowed_outbound_hosts = ["http://127.0.0.1:{port}"]
"#
    ));
    let host = start(&options).await;
    let allowed = format!("/?op=fetch&url=http%3A%2F%2F127.0.0.1%3A{port}%2F%3Fop=echo");
    let (status, body) = get(&host, &allowed).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("200"), "{body}");

    let denied = format!("/?op=fetch&url=http%3A%2F%2F127.0.0.1%3A{}%2F", port + 1);
    let (status, body) = get(&host, &denied).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    host.stop().await.expect("stop");
    upstream.stop().await.expect("stop");
}

#[tokio::test]
async fn a_trapping_component_gets_a_500_and_the_host_keeps_serving() {
    let (_dir, options) = app(KV);
    let host = start(&options).await;
    assert_eq!(get(&host, "/?op=trap").await, (500, String::new()));
    assert_eq!(get(&host, "/?op=trap").await.0, 500);
    assert_eq!(echo(&host, "/").await["path"], "/");
    host.stop().await.expect("stop");
}

#[tokio::test]
async fn startup_errors_name_the_file_the_key_and_the_fix() {
    let (_dir, options) = app(r#"
[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "missing.wasm"
[component.probe.build]
command = "cargo build --target wasm32-wasip2 --release"
"#);
    let err = start_err(&options).await;
    assert!(
        err.contains("spin.toml") && err.contains("[component.probe] source"),
        "{err}"
    );
    assert!(
        err.contains("missing.wasm") && err.contains("cargo build"),
        "{err}"
    );

    let (_dir, options) = app("[[trigger.http]]\nroute = 3\n");
    let err = start_err(&options).await;
    assert!(err.contains("spin.toml") && err.contains("route"), "{err}");

    let (_dir, options) = app("[[trigger.http]]\nroute = \"/\"\ncomponent = \"ghost\"\n");
    let err = start_err(&options).await;
    assert!(err.contains("[component.ghost]"), "{err}");

    let (_dir, options) = app(
        "[[trigger.http]]\nroute = \"/\"\ncomponent = \"p\"\n[component.p]\nsource = \"{wasm}\"\nallowed_outbound_hosts = [\"example.com\"]\n",
    );
    let err = start_err(&options).await;
    assert!(
        err.contains("allowed_outbound_hosts") && err.contains("https://example.com"),
        "{err}"
    );
}
