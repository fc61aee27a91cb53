//! `POST /api/triggers/{id}/test`: how often it may be called, and what its answer may say.
//!
//! A test fire makes the app connect to a URL its caller chose, now, and report back. Unlimited,
//! with the transport's own words ("refused", "timed out", "TLS failed"), that is a port scanner
//! run from the app's network. So it is rate-limited per trigger and per client address (the
//! fixed windows of [`crate::limits`], under `rate/test/…`), and a failure is answered with a
//! [`FailureClass`] a person can act on, never with how the connection failed.

use serde_json::{json, Value};

use crate::answer::Answer;
use crate::delivery::Outcome;
use crate::error::{ApiError, ApiResult, ConfigError, ErrorCode};
use crate::keys;
use crate::kv::KeyValue;
use crate::limits::{RateLimit, RateLimiter};

/// Spin variable: test fires per trigger, `<count>/<window>` or `off`.
pub const TEST_RATE_VAR: &str = "test_rate_limit";
/// Spin variable: test fires per client address (any trigger), `<count>/<window>` or `off`.
pub const TEST_CLIENT_RATE_VAR: &str = "test_client_rate_limit";
/// Default of [`TEST_RATE_VAR`].
pub const DEFAULT_TEST_RATE: &str = "5/60s";
/// Default of [`TEST_CLIENT_RATE_VAR`].
pub const DEFAULT_TEST_CLIENT_RATE: &str = "20/60s";

/// The test-fire limits of a deployment; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestFireLimits {
    /// Test fires of one trigger.
    pub per_trigger: Option<RateLimit>,
    /// Test fires by one client address.
    pub per_client: Option<RateLimit>,
}

impl Default for TestFireLimits {
    fn default() -> Self {
        Self {
            per_trigger: RateLimit::parse(DEFAULT_TEST_RATE).unwrap_or(None),
            per_client: RateLimit::parse(DEFAULT_TEST_CLIENT_RATE).unwrap_or(None),
        }
    }
}

fn rate_variable(
    variable: &'static str,
    value: Option<String>,
    default: Option<RateLimit>,
) -> Result<Option<RateLimit>, ConfigError> {
    match value.filter(|v| !v.trim().is_empty()) {
        None => Ok(default),
        Some(value) => RateLimit::parse(&value).map_err(|message| ConfigError {
            variable,
            value,
            message,
        }),
    }
}

impl TestFireLimits {
    /// Reads the limits from Spin variables; unset or empty variables take their defaults.
    pub fn from_variables(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            per_trigger: rate_variable(TEST_RATE_VAR, get(TEST_RATE_VAR), default.per_trigger)?,
            per_client: rate_variable(
                TEST_CLIENT_RATE_VAR,
                get(TEST_CLIENT_RATE_VAR),
                default.per_client,
            )?,
        })
    }

    /// Counts one test fire of `trigger_id` by `client` (see [`crate::limits::client_key`]) at
    /// `now_ms`, or refuses it with `429 rate_limited` and `Retry-After`. The client's window is
    /// counted first, so one address cannot probe through many triggers; the operator passes
    /// `client: None` and is limited per trigger only.
    pub fn admit<S: KeyValue + ?Sized>(
        &self,
        kv: &S,
        trigger_id: &str,
        client: Option<&str>,
        now_ms: u64,
    ) -> ApiResult<()> {
        if let (Some(limit), Some(client)) = (self.per_client, client) {
            if let Err(secs) =
                RateLimiter::new(kv, limit).count(&keys::test_rate_client(client), now_ms)?
            {
                return Err(refusal("this address", limit, secs));
            }
        }
        if let Some(limit) = self.per_trigger {
            if let Err(secs) =
                RateLimiter::new(kv, limit).count(&keys::test_rate_trigger(trigger_id), now_ms)?
            {
                return Err(refusal("this trigger", limit, secs));
            }
        }
        Ok(())
    }
}

fn refusal(who: &str, limit: RateLimit, secs: u64) -> ApiError {
    ApiError::new(
        ErrorCode::RateLimited,
        format!(
            "{who} was test-fired {} times in the last {}; retry in {secs} s",
            limit.max,
            humantime::format_duration(limit.window)
        ),
    )
    .with_header("retry-after", secs.to_string())
}

/// What a failed test delivery tells its caller: enough to fix it, nothing about how the
/// connection failed (refused, timed out, reset, TLS, blocked or unresolvable all read alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// No HTTP answer at all.
    CouldNotConnect,
    /// A 3xx: deliveries do not follow redirects.
    Redirected,
    /// 401 or 403.
    Unauthorized,
    /// 404 or 410.
    NotFound,
    /// 429.
    Throttled,
    /// Another 4xx.
    Rejected,
    /// A 5xx.
    ServerError,
    /// Anything else (1xx and non-standard codes).
    UnexpectedAnswer,
}

impl FailureClass {
    /// The class of a destination's answer (a status) or of its absence (`NoAnswer(why)`, which
    /// is deliberately not looked at); `None` for a 2xx, which is a delivery.
    pub fn of(answer: &Answer) -> Option<Self> {
        let status = match answer {
            Answer::NoAnswer(_) => return Some(Self::CouldNotConnect),
            Answer::Held { .. } => return Some(Self::Throttled),
            Answer::Response(r) => r.status,
        };
        Some(match status {
            200..=299 => return None,
            300..=399 => Self::Redirected,
            401 | 403 => Self::Unauthorized,
            404 | 410 => Self::NotFound,
            429 => Self::Throttled,
            400..=499 => Self::Rejected,
            500..=599 => Self::ServerError,
            _ => Self::UnexpectedAnswer,
        })
    }

    /// The stable code clients may switch on.
    pub fn code(self) -> &'static str {
        match self {
            Self::CouldNotConnect => "could_not_connect",
            Self::Redirected => "redirected",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::Throttled => "throttled",
            Self::Rejected => "rejected",
            Self::ServerError => "server_error",
            Self::UnexpectedAnswer => "unexpected_answer",
        }
    }

    /// What a person reads: what happened and what to check.
    pub fn message(self, status: Option<u16>) -> String {
        let status = status.map(|s| s.to_string()).unwrap_or_default();
        match self {
            Self::CouldNotConnect => "could not connect: no answer from the destination; check \
                 that the URL is right and that the server is up and reachable from the internet"
                .into(),
            Self::Redirected => format!(
                "the server answered {status}, a redirect; deliveries do not follow redirects, \
                 so use the final URL"
            ),
            Self::Unauthorized => format!(
                "the server answered {status}: it refused the request's authorization; check \
                 the signing secret (webhooks) or the subscription's application server key \
                 (Web Push)"
            ),
            Self::NotFound => format!(
                "the server answered {status}: the URL is not there (any more); check the path, \
                 or subscribe again"
            ),
            Self::Throttled => {
                "the server answered 429: it is limiting requests; try again later".into()
            }
            Self::Rejected => format!(
                "the server answered {status}: it refused the request; see its logs for why"
            ),
            Self::ServerError => format!(
                "the server answered {status} (5xx): it failed to handle the request; see its \
                 logs, deliveries retry such answers"
            ),
            Self::UnexpectedAnswer => {
                format!("the server answered {status}, which is not a success")
            }
        }
    }
}

/// The answer of a test fire: `outcome` (what a real delivery would do next), the HTTP `status`
/// when the destination answered, and for a failure its `class` ([`FailureClass::code`], or
/// `not_sent` when the request was not made: the deployment's or the trigger's own problem, told
/// in the app's words) and `error`, what a person reads. The transport's words never appear.
pub fn report(outcome: &Outcome, answer: &Answer) -> Value {
    let (name, why) = match outcome {
        Outcome::Delivered => ("delivered", None),
        Outcome::Retry(e) | Outcome::Throttled { why: e, .. } => ("failed_temporarily", Some(e)),
        Outcome::Gone(e) => ("gone", Some(e)),
        Outcome::Failed(e) => ("failed", Some(e)),
    };
    let status = answer.status();
    let (class, error) = match (why, answer) {
        (None, _) => (None, None),
        // Classifying a network failure keeps its words as the outcome; any other words are
        // the app's own reason for not sending.
        (Some(why), Answer::NoAnswer(raw)) if why != raw => (Some("not_sent"), Some(why.clone())),
        (Some(_), _) => match FailureClass::of(answer) {
            Some(class) => (Some(class.code()), Some(class.message(status))),
            None => (None, None),
        },
    };
    json!({"outcome": name, "status": status, "class": class, "error": error})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryStore;
    use crate::limits::tests::vars;
    use std::time::Duration;

    fn rate(max: u32, secs: u64) -> Option<RateLimit> {
        Some(RateLimit {
            max,
            window: Duration::from_secs(secs),
        })
    }

    #[test]
    fn variables_parse_with_defaults_and_errors_naming_them() {
        let limits = TestFireLimits::from_variables(vars(&[])).expect("defaults");
        assert_eq!(
            (limits.per_trigger, limits.per_client),
            (rate(5, 60), rate(20, 60))
        );
        let set = TestFireLimits::from_variables(vars(&[
            (TEST_RATE_VAR, "2/1h"),
            (TEST_CLIENT_RATE_VAR, "off"),
        ]))
        .expect("set");
        assert_eq!((set.per_trigger, set.per_client), (rate(2, 3600), None));
        for var in [TEST_RATE_VAR, TEST_CLIENT_RATE_VAR] {
            let e = TestFireLimits::from_variables(vars(&[(var, "lots")])).expect_err(var);
            let api: ApiError = e.into();
            assert_eq!(api.status(), 503);
            assert!(api.message.contains(var), "{}", api.message);
        }
    }

    #[test]
    fn test_fires_are_limited_per_trigger_and_per_client() {
        let kv = MemoryStore::default();
        let limits = TestFireLimits {
            per_trigger: rate(2, 60),
            per_client: rate(2, 60),
        };
        let t0 = 1_800_000_000_000u64; // a multiple of 60 s
        limits
            .admit(&kv, "trg_a", Some("198.51.100.1"), t0)
            .expect("1");
        limits
            .admit(&kv, "trg_a", Some("198.51.100.2"), t0)
            .expect("2");
        // The trigger's window is full, whoever asks.
        let e = limits
            .admit(&kv, "trg_a", Some("198.51.100.3"), t0 + 15_000)
            .expect_err("trigger full");
        assert_eq!((e.code, e.status()), (ErrorCode::RateLimited, 429));
        assert_eq!(e.headers, vec![("retry-after", "45".to_string())]);
        assert!(e.message.contains("this trigger"), "{}", e.message);
        // One client probing through many triggers runs out too.
        limits
            .admit(&kv, "trg_b", Some("198.51.100.1"), t0)
            .expect("3");
        let e = limits
            .admit(&kv, "trg_c", Some("198.51.100.1"), t0 + 1_000)
            .expect_err("client full");
        assert!(e.message.contains("this address"), "{}", e.message);
        assert_eq!(e.headers[0].1, "59");
        // The operator is limited per trigger only; the next window starts empty.
        limits.admit(&kv, "trg_c", None, t0).expect("operator");
        limits
            .admit(&kv, "trg_a", Some("198.51.100.1"), t0 + 60_000)
            .expect("next window");
        let keys = kv.keys();
        assert!(
            keys.contains(&"rate/test/trigger/trg_a".to_string()),
            "{keys:?}"
        );
        assert!(
            keys.contains(&"rate/test/client/198.51.100.1".to_string()),
            "{keys:?}"
        );
        // Unlimited when off.
        let off = TestFireLimits {
            per_trigger: None,
            per_client: None,
        };
        for _ in 0..50 {
            off.admit(&kv, "trg_a", Some("198.51.100.1"), t0)
                .expect("off");
        }
    }

    #[test]
    fn transport_failures_all_read_as_could_not_connect() {
        // What the runtime reports, in its own words: none of it reaches the caller.
        let messages: Vec<String> = [
            "the connection was refused",
            "timed out connecting",
            "timed out waiting for the answer",
            "the TLS certificate was not accepted",
            "the destination address is blocked",
            "the host name does not resolve",
            "ConnectionTerminated",
        ]
        .into_iter()
        .map(|raw| {
            let class = FailureClass::of(&Answer::none(raw)).expect("a failure");
            assert_eq!(class, FailureClass::CouldNotConnect, "{raw}");
            assert_eq!(class.code(), "could_not_connect");
            class.message(None)
        })
        .collect();
        assert!(messages.windows(2).all(|w| w[0] == w[1]));
        for word in ["refused", "timed out", "TLS", "blocked", "resolve"] {
            assert!(!messages[0].contains(word), "{word}: {}", messages[0]);
        }
    }

    #[test]
    fn answers_are_classed_by_what_a_person_can_do() {
        for (status, code) in [
            (301, "redirected"),
            (401, "unauthorized"),
            (403, "unauthorized"),
            (404, "not_found"),
            (410, "not_found"),
            (429, "throttled"),
            (400, "rejected"),
            (413, "rejected"),
            (500, "server_error"),
            (503, "server_error"),
            (101, "unexpected_answer"),
            (600, "unexpected_answer"),
        ] {
            let class = FailureClass::of(&Answer::status_only(status)).expect("a failure");
            assert_eq!(class.code(), code, "{status}");
            assert!(
                class.message(Some(status)).contains(&status.to_string()),
                "{status}: {}",
                class.message(Some(status))
            );
        }
        assert!(FailureClass::ServerError.message(Some(502)).contains("5xx"));
        for ok in [200, 201, 204, 299] {
            assert_eq!(FailureClass::of(&Answer::status_only(ok)), None);
        }
    }

    #[test]
    fn reports_never_carry_the_transport_words() {
        use crate::delivery::{classify_push, classify_webhook};
        for raw in [
            "the connection was refused",
            "timed out connecting",
            "TlsProtocolError",
        ] {
            let answer = Answer::none(raw);
            for outcome in [classify_webhook(&answer), classify_push(&answer)] {
                let r = report(&outcome, &answer);
                assert_eq!(r["class"], "could_not_connect", "{r}");
                assert_eq!(r["outcome"], "failed_temporarily", "{r}");
                assert!(r["status"].is_null(), "{r}");
                assert!(!r.to_string().contains(raw), "{r}");
            }
        }
        let r = report(
            &classify_webhook(&Answer::status_only(503)),
            &Answer::status_only(503),
        );
        assert_eq!(
            (r["class"].as_str(), r["status"].as_u64()),
            (Some("server_error"), Some(503))
        );
        let r = report(
            &classify_webhook(&Answer::status_only(204)),
            &Answer::status_only(204),
        );
        assert_eq!(
            r,
            json!({"outcome": "delivered", "status": 204, "class": null, "error": null})
        );
        // Not sent for the app's own reason: that reason is the answer.
        let why = "Web Push is not configured: the operator sets vapid_private_key";
        let r = report(
            &Outcome::Retry(why.into()),
            &Answer::none("the request could not be built"),
        );
        assert_eq!(
            (r["class"].as_str(), r["error"].as_str()),
            (Some("not_sent"), Some(why))
        );
    }
}
