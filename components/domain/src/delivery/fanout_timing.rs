//! Where a dispatch request's time goes, stage by stage, for its `Server-Timing` answer header
//! (W3C Server Timing): `read;dur=0.412, lookup;dur=27.100, …`, milliseconds.
//!
//! The domain has no clock of its own (it runs natively in tests and as wasm in the component),
//! so the caller hands one in: any function answering a monotonic time since some fixed moment.
//! A stage timed several times (claims, one per trigger) adds up.

use std::time::Duration;

/// The stages `dispatch` reports, in the order they happen.
pub mod stage {
    /// Reading the request body.
    pub const READ: &str = "read";
    /// Checking the relay's signature.
    pub const VERIFY: &str = "verify";
    /// Parsing the batch.
    pub const PARSE: &str = "parse";
    /// Finding the candidate triggers: the index and trigger records read, their sealed actions
    /// opened, their sources read.
    pub const LOOKUP: &str = "lookup";
    /// Reading each envelope and evaluating the candidates' filters.
    pub const MATCH: &str = "match";
    /// Claiming deliveries in the triggers' delivery state.
    pub const CLAIM: &str = "claim";
    /// Building requests: notification text, Web Push encryption and VAPID, webhook signatures.
    pub const BUILD: &str = "build";
    /// Handing requests to outbound HTTP and collecting the answers that arrived meanwhile.
    pub const SEND: &str = "send";
    /// Waiting for the remaining answers after the last request was handed over.
    pub const WAIT: &str = "wait";
    /// Recording the answers in the triggers' delivery state.
    pub const RECORD: &str = "record";
    /// Scheduling retries, pausing triggers that gave up, writing the answer.
    pub const ANSWER: &str = "answer";
    /// The whole request inside the component, from its first line to its answer.
    pub const TOTAL: &str = "total";
}

/// Per-stage time, measured with the caller's clock.
pub struct Stopwatch<'c> {
    clock: &'c dyn Fn() -> Duration,
    stages: Vec<(&'static str, Duration)>,
}

/// The clock of a stopwatch that measures nothing.
fn stopped() -> Duration {
    Duration::ZERO
}

impl<'c> Stopwatch<'c> {
    /// A stopwatch reading `clock` (monotonic: it never goes back).
    pub fn new(clock: &'c dyn Fn() -> Duration) -> Self {
        Self {
            clock,
            stages: Vec::new(),
        }
    }

    /// A stopwatch whose stages all take no time, for callers that report none.
    pub fn off() -> Stopwatch<'static> {
        Stopwatch::new(&stopped)
    }

    /// The clock's time now.
    pub fn now(&self) -> Duration {
        (self.clock)()
    }

    /// Runs `f`, adding its time to `stage`.
    pub fn time<R>(&mut self, stage: &'static str, f: impl FnOnce() -> R) -> R {
        let start = self.now();
        let result = f();
        self.since(stage, start);
        result
    }

    /// Adds the time from `start` (a [`Stopwatch::now`]) to now to `stage`.
    pub fn since(&mut self, stage: &'static str, start: Duration) {
        let took = self.now().saturating_sub(start);
        self.add(stage, took);
    }

    /// Adds `took` to `stage`.
    pub fn add(&mut self, stage: &'static str, took: Duration) {
        match self.stages.iter_mut().find(|(name, _)| *name == stage) {
            Some((_, total)) => *total += took,
            None => self.stages.push((stage, took)),
        }
    }

    /// Each stage's total, in the order stages were first timed.
    pub fn stages(&self) -> &[(&'static str, Duration)] {
        &self.stages
    }

    /// The `Server-Timing` header value: `name;dur=<milliseconds>` per stage, comma-separated.
    pub fn server_timing(&self) -> String {
        self.stages
            .iter()
            .map(|(name, took)| format!("{name};dur={:.3}", took.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn stages_add_up_in_the_order_first_timed() {
        let now = Cell::new(Duration::ZERO);
        let clock = || now.get();
        let mut watch = Stopwatch::new(&clock);
        let step = |ms| now.set(now.get() + Duration::from_millis(ms));
        watch.time(stage::LOOKUP, || step(27));
        watch.time(stage::CLAIM, || step(2));
        watch.time(stage::LOOKUP, || step(3));
        let start = watch.now();
        step(1);
        watch.since(stage::CLAIM, start);
        assert_eq!(
            watch.stages(),
            &[
                (stage::LOOKUP, Duration::from_millis(30)),
                (stage::CLAIM, Duration::from_millis(3)),
            ]
        );
        assert_eq!(watch.server_timing(), "lookup;dur=30.000, claim;dur=3.000");
    }

    #[test]
    fn sub_millisecond_stages_keep_microseconds() {
        let mut watch = Stopwatch::off();
        watch.add(stage::VERIFY, Duration::from_micros(41));
        assert_eq!(watch.server_timing(), "verify;dur=0.041");
    }

    #[test]
    fn a_stopped_watch_times_nothing() {
        let mut watch = Stopwatch::off();
        let answer = watch.time(stage::BUILD, || 42);
        assert_eq!(answer, 42);
        assert_eq!(watch.stages(), &[(stage::BUILD, Duration::ZERO)]);
    }
}
