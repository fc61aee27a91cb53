//! The runtime config's outbound networking, checked from the probe's side: `[[client_tls]]`
//! roots and client certificates per component and host, `[outbound_networking] block_networks`,
//! and the wasi:http request timeouts.
//!
//! Needs `target/wasm32-wasip2/release/aurras_probe.wasm` (`scripts/build-components`).

mod support;

use std::time::{Duration, Instant};

use support::upstream::{fetch, runtime_config, Answer, TestCa, Upstream};
use support::{app, get, start};

/// `dispatch` and `other`, both allowed to reach any loopback port.
const TWO_COMPONENTS: &str = r#"
[[trigger.http]]
route = "/dispatch/..."
component = "dispatch"
[[trigger.http]]
route = "/other/..."
component = "other"
[component.dispatch]
source = "{wasm}"
allowed_outbound_hosts = ["https://localhost:*", "https://127.0.0.1:*", "http://127.0.0.1:*"]
[component.other]
source = "{wasm}"
allowed_outbound_hosts = ["https://localhost:*", "https://127.0.0.1:*", "http://127.0.0.1:*"]
"#;

async fn fetch_from(
    host: &aurras_testhost::TestHost,
    component: &str,
    url: &str,
    extra: &str,
) -> (u16, String) {
    get(host, &format!("/{component}{}", fetch(url, extra))).await
}

#[tokio::test]
async fn client_tls_roots_apply_to_the_listed_components_and_hosts_only() {
    let (dir, mut options) = app(TWO_COMPONENTS);
    let ca = TestCa::new(dir.path());
    let server = Upstream::https(&ca, false, Answer::Hello).await;
    let by_name = format!("https://localhost:{}/", server.port);
    let by_ip = format!("https://127.0.0.1:{}/", server.port);

    // The default roots are the public ones: the test CA is unknown.
    let host = start(&options).await;
    let (status, body) = fetch_from(&host, "dispatch", &by_name, "").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("TlsProtocolError"), "{body}");
    host.stop().await.expect("stop");

    options.runtime_config = Some(runtime_config(
        dir.path(),
        "[[client_tls]]\ncomponent_ids = [\"dispatch\"]\nhosts = [\"localhost\"]\n\
         ca_roots_file = \"ca.pem\"\n",
    ));
    let host = start(&options).await;
    let (status, body) = fetch_from(&host, "dispatch", &by_name, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("200 with 5 bytes"), "{body}");
    // Another component, or another host name for the same server, keeps the default roots.
    let (status, body) = fetch_from(&host, "other", &by_name, "").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("TlsProtocolError"), "{body}");
    let (status, body) = fetch_from(&host, "dispatch", &by_ip, "").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("TlsProtocolError"), "{body}");
    host.stop().await.expect("stop");
}

#[tokio::test]
async fn client_tls_presents_the_client_certificate() {
    let (dir, mut options) = app(TWO_COMPONENTS);
    let ca = TestCa::new(dir.path());
    let server = Upstream::https(&ca, true, Answer::Hello).await;
    let url = format!("https://localhost:{}/", server.port);
    let roots = "[[client_tls]]\ncomponent_ids = [\"dispatch\"]\nhosts = [\"localhost\"]\n\
                 ca_roots_file = \"ca.pem\"\n";

    options.runtime_config = Some(runtime_config(dir.path(), roots));
    let host = start(&options).await;
    let (status, body) = fetch_from(&host, "dispatch", &url, "").await;
    assert_eq!(status, 502, "without a client certificate: {body}");
    host.stop().await.expect("stop");

    options.runtime_config = Some(runtime_config(
        dir.path(),
        &format!(
            "{roots}client_cert_file = \"client.pem\"\nclient_private_key_file = \"client.key\"\n"
        ),
    ));
    let host = start(&options).await;
    let (status, body) = fetch_from(&host, "dispatch", &url, "").await;
    assert_eq!(status, 200, "{body}");
    host.stop().await.expect("stop");
}

#[tokio::test]
async fn blocked_networks_refuse_loopback_destinations() {
    let (dir, mut options) = app(TWO_COMPONENTS);
    let server = Upstream::http(Answer::Hello).await;
    let url = format!("http://127.0.0.1:{}/", server.port);

    let host = start(&options).await;
    assert_eq!(fetch_from(&host, "other", &url, "").await.0, 200);
    host.stop().await.expect("stop");

    for (blocked, refused) in [
        ("\"private\"", true),
        ("\"127.0.0.0/8\"", true),
        ("\"127.0.0.1/32\", \"10.0.0.0/8\"", true),
        ("\"10.0.0.0/8\", \"192.168.0.0/16\"", false),
    ] {
        options.runtime_config = Some(runtime_config(
            dir.path(),
            &format!("[outbound_networking]\nblock_networks = [{blocked}]\n"),
        ));
        let host = start(&options).await;
        // Every component is subject to it.
        for component in ["dispatch", "other"] {
            let (status, body) = fetch_from(&host, component, &url, "").await;
            if refused {
                assert_eq!(status, 502, "{blocked}: {body}");
                assert!(
                    body.contains("DestinationIpProhibited"),
                    "{blocked}: {body}"
                );
            } else {
                assert_eq!(status, 200, "{blocked}: {body}");
            }
        }
        host.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn request_timeouts_are_honoured() {
    let (_dir, options) = app(TWO_COMPONENTS);
    let host = start(&options).await;

    let silent = Upstream::http(Answer::Silence).await;
    let url = format!("http://127.0.0.1:{}/", silent.port);
    let began = Instant::now();
    let (status, body) = fetch_from(&host, "dispatch", &url, "&first_byte_ms=300").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("ConnectionReadTimeout"), "{body}");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );

    let stalling = Upstream::http(Answer::Stall).await;
    let url = format!("http://127.0.0.1:{}/", stalling.port);
    let began = Instant::now();
    let (status, body) = fetch_from(&host, "dispatch", &url, "&between_bytes_ms=300").await;
    assert_eq!(status, 502, "{body}");
    // wasmtime 48 hands body errors to the guest as plain stream errors, without an error code.
    assert!(body.contains("connection read timeout"), "{body}");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );

    // A listener whose accept queue is full drops new connection attempts: connecting hangs.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let full = socket.listen(0).expect("listen");
    let addr = full.local_addr().expect("addr");
    let mut queued = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            queued.push(s);
        }
    }
    let url = format!("http://127.0.0.1:{}/", addr.port());
    let began = Instant::now();
    let (status, body) = fetch_from(&host, "dispatch", &url, "&connect_ms=300").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("ConnectionTimeout"), "{body}");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    host.stop().await.expect("stop");
}

/// `dispatch`, allowed to reach any host by name over plain HTTP.
const ANY_NAME: &str = r#"
[[trigger.http]]
route = "/dispatch/..."
component = "dispatch"
[component.dispatch]
source = "{wasm}"
allowed_outbound_hosts = ["http://*:*"]
"#;

#[tokio::test]
async fn names_resolving_to_loopback_are_blocked_like_loopback_addresses() {
    let (dir, mut options) = app(ANY_NAME);
    // As if the attacker's DNS answered 127.0.0.1 for a public-looking name.
    options.resolve.insert(
        "hooks.attacker.example".into(),
        "127.0.0.1".parse().expect("ip"),
    );
    let server = Upstream::http(Answer::Hello).await;
    let url = format!("http://Hooks.Attacker.Example:{}/", server.port);

    // Without block_networks the name reaches the loopback server: the override is used.
    let host = start(&options).await;
    let (status, body) = fetch_from(&host, "dispatch", &url, "").await;
    assert_eq!(status, 200, "{body}");
    host.stop().await.expect("stop");

    options.runtime_config = Some(runtime_config(
        dir.path(),
        "[outbound_networking]\nblock_networks = [\"private\"]\n",
    ));
    let host = start(&options).await;
    let (status, body) = fetch_from(&host, "dispatch", &url, "").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("DestinationIpProhibited"), "{body}");
    host.stop().await.expect("stop");
}

#[test]
fn shipped_runtime_configs_block_private_networks_and_the_dev_one_does_not() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let state = tempfile::tempdir().expect("tempdir");
    let load = |file: &str| {
        aurras_testhost::runtime_config::RuntimeConfig::load(Some(&root.join(file)), state.path())
            .unwrap_or_else(|e| panic!("{file}: {e:#}"))
    };
    for shipped in ["runtime-config.toml", "deploy/runtime-config.redis.toml"] {
        let blocked = load(shipped).blocked_networks;
        for ip in ["127.0.0.1", "10.0.0.5", "169.254.169.254", "::1", "fd00::1"] {
            assert!(
                blocked.is_blocked(ip.parse().expect("ip")),
                "{shipped} lets deliveries reach {ip}"
            );
        }
        assert!(
            !blocked.is_blocked("8.8.8.8".parse().expect("ip")),
            "{shipped}"
        );
    }
    assert!(load("runtime-config.dev.toml").blocked_networks.is_empty());
}

/// A keep-alive HTTP/1.1 server answering `hello` to every request; counts its connections.
async fn keep_alive_upstream() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
                        if tcp.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn connections_are_reused_across_requests_once_their_answer_was_read() {
    let (port, accepted) = keep_alive_upstream().await;
    let (_dir, options) = app(TWO_COMPONENTS);
    let host = start(&options).await;
    let url = format!("http://127.0.0.1:{port}/");
    for _ in 0..3 {
        let (status, body) = fetch_from(&host, "dispatch", &url, "").await;
        assert_eq!(status, 200, "{body}");
        // The connection goes back to the pool once hyper has seen the end of the answer.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "three requests, from three instances, on one connection"
    );
    host.stop().await.expect("stop");
}
