//! The harness' app hosts themselves, under whichever `AURRAS_APP_HOST` picks (the test host by
//! default, real `spin up` with `spin:<path>`): an app paused and resumed, and a host process
//! killed with SIGKILL, give its address back, and the app comes back there on the same state.
//! The crash and delivery tests rely on exactly this. Needs `scripts/build-components` and
//! `cargo build -p aurras-testhost`.

use std::net::SocketAddr;
use std::time::Duration;

use aurras_e2e::app_process::AppProcess;
use aurras_e2e::{App, ADMIN_TOKEN};

async fn source_is_served(addr: SocketAddr, id: &str) -> bool {
    reqwest::Client::new()
        .get(format!("http://{addr}/api/sources/{id}"))
        .bearer_auth(ADMIN_TOKEN)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

async fn nothing_answers(addr: SocketAddr) -> bool {
    reqwest::Client::new()
        .get(format!("http://{addr}/api/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .is_err()
}

#[tokio::test]
async fn a_host_paused_or_killed_gives_its_address_back_and_the_app_resumes_there_on_its_state() {
    let mut app = App::start().await.expect("app starts");
    let id = app.register_paseo().await.expect("source");

    app.pause().await.expect("pause");
    let addr = app.paused_at().expect("paused");
    assert!(nothing_answers(addr).await, "a paused app still answers");

    // A host in a process of its own on the same address and state, then SIGKILL.
    let process = AppProcess::start(app.options(), addr)
        .await
        .expect("host process");
    assert_eq!(process.addr(), addr);
    assert!(
        source_is_served(addr, &id).await,
        "the process sees the state"
    );
    process.kill().expect("kill -9");
    assert!(nothing_answers(addr).await, "a killed host still answers");

    app.resume().await.expect("resume on the same address");
    assert_eq!(app.url(), format!("http://{addr}"));
    assert!(
        source_is_served(addr, &id).await,
        "the resumed app sees the state"
    );

    app.restart().await.expect("restart");
    let moved: SocketAddr = app
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    assert!(
        source_is_served(moved, &id).await,
        "the restarted app sees the state"
    );
    app.stop().await.expect("stop");
    assert!(nothing_answers(moved).await, "a stopped app still answers");
}
