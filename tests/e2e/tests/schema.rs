//! Schemathesis (from PyPI, pinned in tests/schema/requirements.txt) against `/api/openapi.json`
//! served by the compiled `api` component: no 5xx, every answer conforms to the document (status,
//! content type, headers, body schema), schema-valid requests are accepted and invalid ones
//! refused, 405s carry `Allow`; with the examples, coverage, fuzzing and stateful (OpenAPI links)
//! phases, for anonymous callers, a trigger's owner and the operator.
//!
//! The number of examples per operation is bounded for CI (`AURRAS_SCHEMATHESIS_EXAMPLES`, default
//! 15); docs/testing.md shows a longer run.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{ensure, Context, Result};
use aurras_domain::webpush::VapidKey;
use aurras_e2e::platforms::telegram::TelegramBotApi;
use aurras_e2e::tls::TestCa;
use aurras_e2e::{paseo_transfers_source, repo_root, App, ADMIN_TOKEN};
use serde_json::json;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

fn schemathesis() -> Result<PathBuf> {
    let st = repo_root().join("target/schemathesis/bin/st");
    ensure!(
        st.exists(),
        "{} is missing: run scripts/setup-test-deps (a venv with tests/schema/requirements.txt)",
        st.display()
    );
    Ok(st)
}

/// A source and a trigger on it, for the operations that need one to get past 404.
async fn seed(app: &App) -> Result<(String, String)> {
    let source = app
        .call(
            "POST",
            "/api/sources",
            Some(ADMIN_TOKEN),
            Some(&paseo_transfers_source()),
        )
        .await?;
    let source_id = match source.status {
        201 => source.body["id"].as_str().context("source id")?.to_owned(),
        // Registered by an earlier run against the same app.
        409 => {
            let list = app.call("GET", "/api/sources", None, None).await?;
            list.body["sources"][0]["id"]
                .as_str()
                .context("source id")?
                .to_owned()
        }
        other => anyhow::bail!("source: {other} {}", source.body),
    };
    let trigger = app
        .call(
            "POST",
            "/api/triggers",
            None,
            Some(&json!({"source": source_id, "event": "Balances.Transfer",
                         "filter": {"balance": {"account": ALICE}},
                         "action": {"webhook": {"url": "https://127.0.0.1:9/aurras"}}})),
        )
        .await?;
    ensure!(trigger.status == 201, "trigger: {}", trigger.body);
    Ok((
        trigger.body["id"].as_str().context("id")?.to_owned(),
        trigger.body["token"].as_str().context("token")?.to_owned(),
    ))
}

/// What a run covers. Schemathesis' `ignored_auth` check repeats a successful request with a wrong
/// token and expects 401; after a successful DELETE the repeat finds nothing and gets 404. So:
/// anonymous callers get every phase and check; a trigger's owner every check but not the stateful
/// phase (OpenAPI links cannot carry the token a created trigger returns) nor DELETE of the
/// trigger; the operator every phase, deleting, without `ignored_auth` (the owner's run and
/// `api.rs` cover wrong tokens).
#[derive(Clone, Copy)]
enum Phases {
    All,
    Owner,
    Operator,
}

async fn run(
    app: &App,
    who: &str,
    bearer: Option<&str>,
    trigger: &str,
    phases: Phases,
) -> Result<()> {
    let examples =
        std::env::var("AURRAS_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "15".to_owned());
    let mut command = tokio::process::Command::new(schemathesis()?);
    command
        .args(["run", &format!("{}/api/openapi.json", app.url())])
        .args(["--checks", "all", "--max-examples", &examples])
        .args(["--no-color", "--seed", "20261128"])
        .current_dir(repo_root().join("tests/schema"))
        .env("AURRAS_TRIGGER_ID", trigger)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    match phases {
        Phases::All => {}
        Phases::Owner => {
            command.args(["--phases", "examples,coverage,fuzzing"]);
            command.args(["--exclude-operation-id", "deleteTrigger"]);
        }
        Phases::Operator => {
            // ensure_resource_availability: see tests/schema/schemathesis.toml (a source's
            // chain specs are absent for RPC sources, and the stateful phase links to them).
            command.args([
                "--exclude-checks",
                "ignored_auth,ensure_resource_availability",
            ]);
        }
    }
    if let Some(token) = bearer {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    println!("schemathesis as {who}");
    let status = command.status().await.context("schemathesis runs")?;
    ensure!(
        status.success(),
        "schemathesis as {who} found failures ({status}); the output above has each one with a curl line"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_conforms_to_its_openapi_document() -> Result<()> {
    // Web Push configured (else the public key answers 503), and test deliveries allowed to the
    // seeded trigger's loopback URL, where nothing listens: they fail at once, offline.
    let (_, vapid) = VapidKey::generate();
    // Telegram configured against the local Bot API (else the operator's webhook route answers
    // 503), trusted through `[[client_tls]]`.
    let ca = TestCa::new()?;
    let telegram = TelegramBotApi::start(&ca).await?;
    let bot = telegram.bot("aurras_schema_bot");
    let config = tempfile::tempdir()?;
    let runtime_config = config.path().join("runtime-config.toml");
    std::fs::write(
        &runtime_config,
        aurras_e2e::world::runtime_config(&ca, &["localhost"]),
    )?;
    let app = App::start_with(|o| {
        o.runtime_config = Some(runtime_config.clone());
        for (name, value) in [
            ("TELEGRAM_API", telegram.base_url()),
            ("TELEGRAM_BOT_TOKEN", bot.token.clone()),
            ("TELEGRAM_BOT_NAME", bot.username.clone()),
        ] {
            o.variables.insert(format!("SPIN_VARIABLE_{name}"), value);
        }
        o.variables
            .insert("SPIN_VARIABLE_VAPID_PRIVATE_KEY".into(), vapid);
        o.variables.insert(
            "SPIN_VARIABLE_ALLOW_PRIVATE_DESTINATIONS".into(),
            "true".into(),
        );
        // Schemathesis creates hundreds of triggers, many at its example account: limits
        // generous enough that a 429 (documented, and accepted) stays the exception.
        for (name, value) in [
            ("MAX_TRIGGERS_PER_ACCOUNT", "100000"),
            ("MAX_ANY_ACCOUNT_TRIGGERS", "100000"),
            ("CREATE_RATE_LIMIT", "off"),
        ] {
            o.variables
                .insert(format!("SPIN_VARIABLE_{name}"), value.to_owned());
        }
    })
    .await?;
    let (trigger, _) = seed(&app).await?;
    run(&app, "an anonymous caller", None, &trigger, Phases::All).await?;
    let (trigger, token) = seed(&app).await?;
    run(
        &app,
        "the trigger's owner",
        Some(&token),
        &trigger,
        Phases::Owner,
    )
    .await?;
    let (trigger, _) = seed(&app).await?;
    run(
        &app,
        "the operator",
        Some(ADMIN_TOKEN),
        &trigger,
        Phases::Operator,
    )
    .await?;
    Ok(())
}
