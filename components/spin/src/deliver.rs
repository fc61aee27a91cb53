//! Sending deliveries: the domain's fan-out (claim, send, record) over Spin's key-value store
//! and outbound HTTP, with the settings from the Spin variables.

use std::time::Duration;

use aurras_domain::channel::Platforms;
use aurras_domain::claims::{parse_lease, Holder, DEFAULT_LEASE_MS};
use aurras_domain::delivery::RetrySchedule;
use aurras_domain::dispatch::{DeliveryConfig, HttpRequest, Job};
use aurras_domain::fanout::timing::Stopwatch;
use aurras_domain::fanout::{self, Fanout, Transport};
pub use aurras_domain::fanout::{Attempted, Delivered, Mode};
use aurras_domain::webpush::VapidKey;

use crate::http::{now_millis, now_rfc3339, variable};
use crate::outbound::{Sender, Timeouts, DEFAULT_PER_HOST};
use crate::State;

/// The VAPID subject when the operator set none: valid, and obviously a placeholder to replace.
const DEFAULT_SUBJECT: &str = "mailto:operator@aurras.invalid";

/// Reads the delivery settings from the Spin variables. A malformed value is logged and
/// replaced by its default rather than stopping every delivery.
pub fn config() -> DeliveryConfig {
    let vapid = variable("vapid_private_key").and_then(|k| match VapidKey::from_base64url(&k) {
        Ok(key) => Some(key),
        Err(e) => {
            eprintln!("vapid_private_key: {e}; Web Push deliveries will fail");
            None
        }
    });
    let schedule = match variable("retry_schedule").map(|s| RetrySchedule::parse(&s)) {
        Some(Ok(schedule)) => schedule,
        Some(Err(e)) => {
            eprintln!("retry_schedule: {e}; using the default schedule");
            RetrySchedule::default()
        }
        None => RetrySchedule::default(),
    };
    let claim_lease_ms = match variable("claim_lease").map(|s| parse_lease(&s)) {
        Some(Ok(ms)) => ms,
        Some(Err(e)) => {
            eprintln!("claim_lease: {e}; using {DEFAULT_LEASE_MS} ms");
            DEFAULT_LEASE_MS
        }
        None => DEFAULT_LEASE_MS,
    };
    let max_in_flight_per_host = match variable("max_in_flight_per_host")
        .map(|s| s.trim().parse::<usize>())
    {
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("max_in_flight_per_host: not a positive number; using {DEFAULT_PER_HOST}");
            DEFAULT_PER_HOST
        }
        None => DEFAULT_PER_HOST,
    };
    DeliveryConfig {
        vapid,
        vapid_subject: variable("vapid_subject").unwrap_or_else(|| DEFAULT_SUBJECT.to_owned()),
        allow_private: variable("allow_private_destinations").is_some_and(|v| v.trim() == "true"),
        explorer_url: variable("explorer_url"),
        governance_url: variable("governance_url"),
        schedule,
        claim_lease_ms,
        max_in_flight_per_host,
        platforms: platforms(),
    }
}

/// The chat and phone platforms' variables, read as set: an operator who sets one with a default
/// (`discord_hosts`, `ntfy_server`, …) to the empty string turns that channel off.
pub fn platforms() -> Platforms {
    Platforms::from_variables(|name| spin_sdk::variables::get(name).ok())
}

/// Outbound HTTP for the domain's fan-out: requests start as they are sent, a bounded number
/// per host at a time.
pub struct Outbound {
    sender: Option<Sender>,
    timeouts: Timeouts,
}

impl Outbound {
    /// Nothing sent yet.
    pub fn new(timeouts: Timeouts) -> Self {
        Self {
            sender: None,
            timeouts,
        }
    }
}

impl Transport for Outbound {
    fn send(&mut self, request: HttpRequest) {
        let timeouts = self.timeouts;
        self.sender
            .get_or_insert_with(|| Sender::new(timeouts))
            .send(request);
    }

    fn pump(&mut self) {
        if let Some(sender) = &mut self.sender {
            sender.pump();
        }
    }

    fn finish(&mut self) -> Vec<aurras_domain::answer::Answer> {
        self.sender.take().map(Sender::finish).unwrap_or_default()
    }
}

/// The host's monotonic clock (wasi), for [`Stopwatch`]: time since some fixed moment.
pub fn monotonic() -> Duration {
    Duration::from_nanos(wasi::clocks::monotonic_clock::now())
}

/// Delivers `jobs` under a fresh claim holder (see [`aurras_domain::fanout::deliver`]); store
/// failures after sending are logged, never fatal.
pub fn deliver(state: &State, config: &DeliveryConfig, jobs: Vec<Job>, mode: Mode) -> Fanout {
    deliver_timed(state, config, jobs, mode, &mut Stopwatch::off())
}

/// [`deliver`], adding the time of each stage to `watch`.
pub fn deliver_timed(
    state: &State,
    config: &DeliveryConfig,
    jobs: Vec<Job>,
    mode: Mode,
    watch: &mut Stopwatch<'_>,
) -> Fanout {
    let holder = Holder::new(now_millis(), config.claim_lease_ms);
    let mut outbound = Outbound::new(Timeouts {
        per_host: config.max_in_flight_per_host,
        ..Timeouts::default()
    });
    let fanout = fanout::deliver(
        &state.deliveries(),
        config,
        jobs,
        mode,
        &holder,
        &mut outbound,
        &now_rfc3339(),
        watch,
    );
    for warning in &fanout.warnings {
        eprintln!("{warning}");
    }
    fanout
}
