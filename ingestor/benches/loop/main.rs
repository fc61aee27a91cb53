//! Load benchmark of the whole loop, real parts only: chopsticks running Paseo (one block of `N`
//! transfers to Bob, as one `Utility.batch_all`), a tansu broker, `aurras-ingestor ingest` and
//! `relay`, the compiled components under the test host (`aurras-testhost`, a process of its own),
//! a local HTTPS webhook receiver verifying every signature, behind an accept queue of the row's
//! size, and a local push service decrypting every message. Each row is a fresh world with `M`
//! webhook or Web Push triggers on Bob's incoming transfers (`N×M` deliveries to one host) and
//! optionally stored triggers on other accounts that never fire. Prints two markdown tables (what
//! arrived when; where the dispatch requests spent their time, from the relay's metrics and
//! dispatch's `Server-Timing`) and draws an SVG.
//!
//! `cargo build --release -p aurras-testhost && cargo bench -p aurras-ingestor --bench loop`.
//! Settings: `AURRAS_LOOP_ROWS` (default `1x1,100x1,100x50,100x50@128,100x50@5`:
//! `NxM[@backlog][+stored][/push]`, see `scenario.rs`), `AURRAS_LOOP_CREATE_CONCURRENCY` (stored
//! triggers created at once, default 32), `AURRAS_LOOP_DEADLINE_SECS` per row (default 120),
//! `AURRAS_LOOP_SETTLE_SECS` watched after the deadline or the last delivery for copies sent again
//! (default 15; duplicates count them),
//! `AURRAS_LOOP_PLOT` (default `docs/benchmarks/loop.svg`), `AURRAS_LOOP_RETRY_SCHEDULE` (default
//! the shipped one), `AURRAS_LOOP_MANIFEST` (another commit's `spin.toml`, its components built
//! beside it: before/after rows from one build of the bench).
//!
//! Latency is from the moment chopsticks answered `dev_newBlock` (the block built and final) to
//! each delivery's first arrival at the receiver; `ingest` polls the chain every 200 ms
//! (`AURRAS_LOOP_POLL_MS`).

#[path = "../blocks/mod.rs"]
mod blocks;
#[path = "../../tests/common/mod.rs"]
mod common;
mod measure;
mod plot;
mod row;
mod scenario;
mod sink;
mod stages;
mod stored;

use std::path::PathBuf;
use std::time::Duration;

use aurras_e2e::processes::LocalChain;
use blocks::env_or;
use row::{Config, Outcome, Scenario, PROCESSES};
use stages::STAGES;

const DEFAULT_ROWS: &str = "1x1,100x1,100x50,100x50@128,100x50@5";
/// spin.toml's default `retry_schedule`.
const SHIPPED_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h";

fn seconds(d: Option<Duration>) -> String {
    d.map_or("–".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

fn table(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    out.push_str(
        "| N×M @backlog | stored | channel | arrived | dup | refused | deliveries/s | first | p50 | p99 | last \
         | CPU s / 1k: ingest | relay | app host | bench | peak RSS MiB: ingest | relay | app host |\n",
    );
    out.push_str("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for o in outcomes {
        let per_k = |cpu: f64| {
            if o.arrived == 0 {
                "–".to_owned()
            } else {
                format!("{:.2}", cpu * 1000.0 / o.arrived as f64)
            }
        };
        out.push_str(&format!(
            "| {} | {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} |\n",
            o.scenario,
            o.scenario.stored,
            o.scenario.channel,
            o.arrived,
            o.expected,
            o.duplicates,
            o.refused,
            o.rate().map_or("–".into(), |r| format!("{r:.0}")),
            seconds(o.latency(0.0)),
            seconds(o.latency(0.5)),
            seconds(o.latency(0.99)),
            seconds(o.latency(1.0)),
            per_k(o.cpu[0]),
            per_k(o.cpu[1]),
            per_k(o.cpu[2]),
            per_k(o.cpu[3]),
            o.rss[0],
            o.rss[1],
            o.rss[2],
        ));
    }
    out
}

/// Where each row's dispatch requests spent their time, milliseconds summed over the row's
/// requests (from just before the block to the end of the settle period).
fn stages_table(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    out.push_str("| N×M @backlog | stored | channel | requests | relay's request time |");
    for stage in STAGES {
        out.push_str(&format!(" {stage} |"));
    }
    out.push_str(" dispatch total | remainder |\n|---|--:|---|--:|--:|");
    out.push_str(&"--:|".repeat(STAGES.len() + 2));
    out.push('\n');
    let ms = |secs: f64| format!("{:.1}", secs * 1000.0);
    for o in outcomes {
        let spent = &o.spent;
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {} |",
            o.scenario,
            o.scenario.stored,
            o.scenario.channel,
            spent.requests,
            ms(spent.request)
        ));
        for secs in spent.stages {
            out.push_str(&format!(" {} |", ms(secs)));
        }
        out.push_str(&format!(
            " {} | {} |\n",
            ms(spent.total),
            ms(spent.remainder())
        ));
    }
    out
}

fn main() {
    let rows: Vec<Scenario> = std::env::var("AURRAS_LOOP_ROWS")
        .unwrap_or_else(|_| DEFAULT_ROWS.into())
        .split(',')
        .map(|r| r.parse().expect("AURRAS_LOOP_ROWS"))
        .collect();
    let config = Config {
        deadline: Duration::from_secs(env_or("AURRAS_LOOP_DEADLINE_SECS", 120)),
        settle: Duration::from_secs(env_or("AURRAS_LOOP_SETTLE_SECS", 15)),
        retry_schedule: std::env::var("AURRAS_LOOP_RETRY_SCHEDULE")
            .unwrap_or_else(|_| SHIPPED_RETRY_SCHEDULE.into()),
        manifest: std::env::var_os("AURRAS_LOOP_MANIFEST").map(PathBuf::from),
        poll: Duration::from_millis(env_or("AURRAS_LOOP_POLL_MS", 200)),
        create_concurrency: env_or("AURRAS_LOOP_CREATE_CONCURRENCY", 32) as usize,
    };
    let plot_path = std::env::var_os("AURRAS_LOOP_PLOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| aurras_e2e::repo_root().join("docs/benchmarks/loop.svg"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let outcomes = runtime.block_on(async {
        let chain = LocalChain::start_with(&["--build-block-mode", "Manual"]).expect("chain");
        let mut outcomes = Vec::new();
        for scenario in rows {
            let outcome = row::run(&chain, scenario, &config).await;
            eprintln!("{}", table(std::slice::from_ref(&outcome)));
            eprintln!("{}", stages_table(std::slice::from_ref(&outcome)));
            for (reason, count) in &outcome.refusals {
                eprintln!("refused {count}×: {reason}");
            }
            outcomes.push(outcome);
        }
        outcomes
    });
    println!();
    println!(
        "CPU per 1,000 deliveries arrived, from the block to the last arrival, of: {} \
         (bench: this process, the webhook receiver and the chain client)",
        PROCESSES.join(", ")
    );
    println!();
    print!("{}", table(&outcomes));
    println!();
    println!(
        "Where the dispatch requests went, ms summed over each row's requests: the relay's time \
         for each request, dispatch's stages (Server-Timing), and the remainder (the host \
         instantiating the component, HTTP between relay and host)"
    );
    println!();
    print!("{}", stages_table(&outcomes));
    for o in outcomes.iter().filter(|o| o.scenario.stored > 0) {
        println!(
            "\n{} {}: {} stored triggers created in {:.1} s ({:.0}/s, {} at once)",
            o.scenario,
            o.scenario.variant(),
            o.scenario.stored,
            o.stored_in.as_secs_f64(),
            o.scenario.stored as f64 / o.stored_in.as_secs_f64(),
            config.create_concurrency
        );
    }
    if let Some(dir) = plot_path.parent() {
        std::fs::create_dir_all(dir).expect("plot directory");
    }
    std::fs::write(&plot_path, plot::svg(&outcomes)).expect("plot");
    println!("\nplot: {}", plot_path.display());
}
