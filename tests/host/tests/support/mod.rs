//! What the host tests share: app directories running the probe, and requests to the host.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod upstream;

use std::path::{Path, PathBuf};

use aurras_testhost::{AppOptions, TestHost};
use serde_json::Value;

pub fn probe_wasm() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let wasm = target.join("wasm32-wasip2/release/aurras_probe.wasm");
    assert!(
        wasm.is_file(),
        "{} is missing: run scripts/build-components first",
        wasm.display()
    );
    wasm
}

/// A fresh app directory holding `spin.toml` with `body` after a standard header; `{wasm}` in
/// `body` is replaced by the probe's path.
pub fn app(body: &str) -> (tempfile::TempDir, AppOptions) {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"probe\"\nversion = \"1.2.3\"\n{}",
        body.replace("{wasm}", &probe_wasm().display().to_string())
    );
    std::fs::write(dir.path().join("spin.toml"), manifest).expect("write manifest");
    let options = AppOptions::new(dir.path().join("spin.toml"));
    (dir, options)
}

pub async fn start(options: &AppOptions) -> TestHost {
    TestHost::start(options, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("host starts")
}

pub async fn start_err(options: &AppOptions) -> String {
    match TestHost::start(options, "127.0.0.1:0".parse().expect("addr")).await {
        Ok(_) => panic!("the host started but should not have"),
        Err(e) => format!("{e:#}"),
    }
}

pub async fn get(host: &TestHost, path: &str) -> (u16, String) {
    let resp = reqwest::get(format!("{}{path}", host.url()))
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

pub async fn echo(host: &TestHost, path: &str) -> Value {
    let (status, body) = get(host, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("json")
}
