//! Where a row's dispatch requests spent their time: the relay's `--metrics-listen` scraped
//! before the block and after the row, the difference of its histograms' sums. The relay times
//! each request to `dispatch` as it saw it; `dispatch` says per stage where it spent it
//! (`Server-Timing`); what the stages' `total` leaves of the relay's time is the host's (the
//! component's instantiation, HTTP between the processes).

use std::collections::HashMap;

/// The stages `dispatch` reports, in the order they happen (its `total` apart).
pub const STAGES: [&str; 11] = [
    "read", "verify", "parse", "lookup", "match", "claim", "build", "send", "wait", "record",
    "answer",
];

/// One scrape: every sample by its name and labels.
#[derive(Debug, Default, Clone)]
pub struct Scrape(HashMap<String, f64>);

/// `/metrics` of the relay at `addr`.
pub async fn scrape(addr: &str) -> Scrape {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("the relay's metrics answer")
        .text()
        .await
        .expect("the relay's metrics");
    Scrape(
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect(),
    )
}

impl Scrape {
    fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(0.0)
    }

    fn stage(&self, stage: &str) -> f64 {
        self.get(&format!(
            "aurras_relay_dispatch_stage_seconds_sum{{stage=\"{stage}\"}}"
        ))
    }
}

/// What a row's requests spent, seconds summed over them.
#[derive(Debug, Default, Clone)]
pub struct Spent {
    /// Requests answered.
    pub requests: f64,
    /// As the relay saw them.
    pub request: f64,
    /// Each of [`STAGES`].
    pub stages: [f64; STAGES.len()],
    /// The whole request inside `dispatch`.
    pub total: f64,
}

impl Spent {
    /// From `before` to `after`.
    pub fn between(before: &Scrape, after: &Scrape) -> Self {
        let diff = |name: &str| after.get(name) - before.get(name);
        Self {
            requests: diff("aurras_relay_dispatch_request_seconds_count"),
            request: diff("aurras_relay_dispatch_request_seconds_sum"),
            stages: STAGES.map(|s| after.stage(s) - before.stage(s)),
            total: after.stage("total") - before.stage("total"),
        }
    }

    /// The relay's time less the component's: instantiation and HTTP.
    pub fn remainder(&self) -> f64 {
        self.request - self.total
    }
}
