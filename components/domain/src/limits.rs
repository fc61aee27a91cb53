//! Abuse limits of the public API: how many triggers one index list may hold (per topic and
//! account, and per topic for any account), and how fast one client address may create triggers
//! anonymously. Both are configured by Spin variables ([`Limits::from_variables`]) and answered
//! with 429 and `Retry-After`.
//!
//! The caps are enforced inside the compare-and-swap that adds an id to its index list (see
//! [`crate::registry`]), so no number of concurrent creates takes a list past its cap. The rate
//! limit is a fixed-window counter per client address under `rate/create/<address>`, changed by
//! compare-and-swap; a window older than the current one counts as empty, and ended windows are
//! deleted by later ones (`limits/expiry.rs`: Spin's key-value store has no expiry of its own).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cas;
use crate::error::{ApiError, ApiResult, ConfigError, ErrorCode};
use crate::keys::{self, ANY_SHARDS};
use crate::kv::KeyValue;
use crate::names::Topic;

mod expiry;
pub use expiry::{EXPIRY_SHARDS, SWEEP_MAX};

/// Spin variable: the most triggers one index list of (topic, account) may hold.
pub const MAX_PER_ACCOUNT_VAR: &str = "max_triggers_per_account";
/// Spin variable: the most any-account triggers (no account in the filter) one topic may hold.
pub const MAX_ANY_ACCOUNT_VAR: &str = "max_any_account_triggers";
/// Spin variable: anonymous creations per client address, `<count>/<window>` or `off`.
pub const CREATE_RATE_VAR: &str = "create_rate_limit";

/// Default of [`MAX_PER_ACCOUNT_VAR`].
pub const DEFAULT_MAX_PER_ACCOUNT: usize = 100;
/// Default of [`MAX_ANY_ACCOUNT_VAR`].
pub const DEFAULT_MAX_ANY_ACCOUNT: usize = 1000;
/// Default of [`CREATE_RATE_VAR`].
pub const DEFAULT_CREATE_RATE: &str = "20/60s";
/// The largest cap accepted: beyond it, one list would make every event on it slow to dispatch.
pub const MAX_CAP: usize = 100_000;
/// `Retry-After` of a full index: a slot frees only when a trigger is deleted, so an hour is a
/// polite pause before asking again.
pub const FULL_RETRY_AFTER_SECS: u64 = 3600;

/// The caps on index lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Triggers per (topic, account).
    pub per_account: usize,
    /// Any-account triggers per topic, over all its shards.
    pub any_account: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            per_account: DEFAULT_MAX_PER_ACCOUNT,
            any_account: DEFAULT_MAX_ANY_ACCOUNT,
        }
    }
}

impl Caps {
    /// The cap of one any-account shard: the topic's cap split evenly over the shards, the
    /// remainder to the first ones, so the shards' caps add up to exactly the topic's.
    pub fn any_shard(&self, shard: u32) -> usize {
        let shards = ANY_SHARDS as usize;
        let extra = usize::from((shard as usize) < self.any_account % shards);
        self.any_account / shards + extra
    }
}

/// `429 too_many_triggers` for a full account list.
pub fn account_full(topic: &Topic, cap: usize) -> ApiError {
    ApiError::new(
        ErrorCode::TooManyTriggers,
        format!(
            "this account already has {cap} triggers on {topic}, the most this deployment allows; delete one first"
        ),
    )
    .at("filter.balance.account")
    .with_header("retry-after", FULL_RETRY_AFTER_SECS.to_string())
}

/// `429 too_many_triggers` for a topic whose any-account triggers are at their cap.
pub fn topic_full(topic: &Topic, cap: usize) -> ApiError {
    ApiError::new(
        ErrorCode::TooManyTriggers,
        format!(
            "{topic} already has {cap} triggers for any account, the most this deployment allows; \
             name an account in a balance filter, or delete one first"
        ),
    )
    .at("filter")
    .with_header("retry-after", FULL_RETRY_AFTER_SECS.to_string())
}

/// At most `max` anonymous creations per client address in each `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Creations per window.
    pub max: u32,
    /// The window (whole seconds, at least one).
    pub window: Duration,
}

impl RateLimit {
    /// Parses `<count>/<window>` (`20/60s`, `100/1h`), or `off` (`None`).
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let expected = "expected <count>/<window> such as 20/60s or 100/1h, or off";
        let (count, window) = text.split_once('/').ok_or(expected)?;
        let max: u32 = count
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{expected}; the count is a whole number above 0"))?;
        let window = humantime::parse_duration(window.trim())
            .map_err(|e| format!("{expected}; the window: {e}"))?;
        if window < Duration::from_secs(1) || window.subsec_nanos() != 0 {
            return Err(format!(
                "{expected}; the window is whole seconds, at least 1s"
            ));
        }
        if window > Duration::from_secs(7 * 24 * 3600) {
            return Err(format!("{expected}; the window is at most 7 days"));
        }
        Ok(Some(Self { max, window }))
    }
}

/// The limits of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Caps on index lists.
    pub caps: Caps,
    /// Anonymous creations per client address; `None` is unlimited.
    pub create_rate: Option<RateLimit>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            caps: Caps::default(),
            create_rate: RateLimit::parse(DEFAULT_CREATE_RATE).unwrap_or(None),
        }
    }
}

fn parse_cap(
    variable: &'static str,
    value: Option<String>,
    default: usize,
) -> Result<usize, ConfigError> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(default);
    };
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_CAP).contains(&n) => Ok(n),
        _ => Err(ConfigError {
            variable,
            value,
            message: format!("expected a whole number from 1 to {MAX_CAP}"),
        }),
    }
}

impl Limits {
    /// Reads the limits from Spin variables (`get` returns a variable's value); unset or empty
    /// variables take their defaults.
    pub fn from_variables(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let caps = Caps {
            per_account: parse_cap(
                MAX_PER_ACCOUNT_VAR,
                get(MAX_PER_ACCOUNT_VAR),
                DEFAULT_MAX_PER_ACCOUNT,
            )?,
            any_account: parse_cap(
                MAX_ANY_ACCOUNT_VAR,
                get(MAX_ANY_ACCOUNT_VAR),
                DEFAULT_MAX_ANY_ACCOUNT,
            )?,
        };
        let create_rate = match get(CREATE_RATE_VAR).filter(|v| !v.trim().is_empty()) {
            None => Self::default().create_rate,
            Some(value) => RateLimit::parse(&value).map_err(|message| ConfigError {
                variable: CREATE_RATE_VAR,
                value,
                message,
            })?,
        };
        Ok(Self { caps, create_rate })
    }
}

/// Whom the rate limit counts, from Spin's `spin-client-addr` header (`ip:port`): the IPv4
/// address, or the /64 prefix of an IPv6 address (one subscriber line usually holds a whole
/// /64, so counting single IPv6 addresses would limit nothing). `unknown` when absent.
pub fn client_key(client_addr: Option<&str>) -> String {
    let Some(text) = client_addr.map(str::trim) else {
        return "unknown".into();
    };
    let ip = text
        .parse::<SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| text.parse::<IpAddr>());
    match ip {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
        Err(_) => "unknown".into(),
    }
}

/// One client's window: when it started and how many creations it admitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Window {
    /// Unix milliseconds of the window's start (a multiple of the window length).
    start: u64,
    /// Creations admitted in it.
    count: u32,
}

/// Counts anonymous creations per client address in a store.
pub struct RateLimiter<'a, S: KeyValue + ?Sized> {
    kv: &'a S,
    limit: RateLimit,
}

impl<'a, S: KeyValue + ?Sized> RateLimiter<'a, S> {
    /// A limiter over `kv`.
    pub fn new(kv: &'a S, limit: RateLimit) -> Self {
        Self { kv, limit }
    }

    /// Counts one creation by `client` (see [`client_key`]) at `now_ms`, or refuses it with
    /// `429 rate_limited` and `Retry-After` (seconds to the next window) when the window is full.
    pub fn admit(&self, client: &str, now_ms: u64) -> ApiResult<()> {
        let Err(secs) = self.count(&keys::create_rate(client), now_ms)? else {
            return Ok(());
        };
        Err(ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "this address created {} triggers in the last {}; retry in {secs} s",
                self.limit.max,
                humantime::format_duration(self.limit.window)
            ),
        )
        .with_header("retry-after", secs.to_string()))
    }

    /// The fixed-window counter every rate limit shares: counts one request under `key` at
    /// `now_ms` (`Ok(Ok(()))`), or answers `Ok(Err(seconds to the next window))` when the window
    /// already holds `max`; refusals are not counted.
    pub fn count(&self, key: &str, now_ms: u64) -> ApiResult<Result<(), u64>> {
        let window_ms = u64::try_from(self.limit.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let start = now_ms - now_ms % window_ms;
        let (mut full, mut fresh) = (false, false);
        cas::update(self.kv, key, |w: &mut Window| {
            fresh = w.start != start;
            if fresh {
                *w = Window { start, count: 0 };
            }
            full = w.count >= self.limit.max;
            if full {
                return None;
            }
            w.count += 1;
            Some(())
        })?;
        if fresh && !full {
            // A new window: list when it ends, and delete windows that ended (`expiry.rs`).
            expiry::register(self.kv, key, start, start.saturating_add(window_ms), now_ms)?;
        }
        if !full {
            return Ok(Ok(()));
        }
        let wait_ms = (start + window_ms).saturating_sub(now_ms);
        Ok(Err(wait_ms.div_ceil(1000).max(1)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kv::MemoryStore;

    /// Spin variables from `(name, value)` pairs.
    pub(crate) fn vars<'a>(
        pairs: &'a [(&'a str, &'a str)],
    ) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn variables_parse_with_defaults_and_errors_naming_them() {
        let limits = Limits::from_variables(vars(&[])).expect("defaults");
        assert_eq!(limits, Limits::default());
        assert_eq!(limits.caps.per_account, 100);
        assert_eq!(
            limits.create_rate,
            Some(RateLimit {
                max: 20,
                window: Duration::from_secs(60)
            })
        );
        let set = Limits::from_variables(vars(&[
            (MAX_PER_ACCOUNT_VAR, " 3 "),
            (MAX_ANY_ACCOUNT_VAR, "40"),
            (CREATE_RATE_VAR, "5/2m"),
        ]))
        .expect("set");
        assert_eq!(
            set.caps,
            Caps {
                per_account: 3,
                any_account: 40
            }
        );
        assert_eq!(
            set.create_rate.map(|r| r.window),
            Some(Duration::from_secs(120))
        );
        let off = Limits::from_variables(vars(&[(CREATE_RATE_VAR, "off")])).expect("off");
        assert_eq!(off.create_rate, None);
        for (var, value) in [
            (MAX_PER_ACCOUNT_VAR, "0"),
            (MAX_PER_ACCOUNT_VAR, "lots"),
            (MAX_ANY_ACCOUNT_VAR, "1000001"),
            (CREATE_RATE_VAR, "20"),
            (CREATE_RATE_VAR, "0/60s"),
            (CREATE_RATE_VAR, "20/soon"),
            (CREATE_RATE_VAR, "20/500ms"),
            (CREATE_RATE_VAR, "20/30d"),
        ] {
            let e = Limits::from_variables(vars(&[(var, value)])).expect_err(value);
            assert_eq!(e.variable, var);
            let api: ApiError = e.into();
            assert_eq!(api.status(), 503);
            assert!(api.message.contains(var), "{}", api.message);
        }
    }

    #[test]
    fn shard_caps_add_up_to_the_topic_cap() {
        for any_account in [1, 5, 16, 17, 1000, MAX_CAP] {
            let caps = Caps {
                per_account: 1,
                any_account,
            };
            let total: usize = (0..ANY_SHARDS).map(|s| caps.any_shard(s)).sum();
            assert_eq!(total, any_account);
        }
        let caps = Caps {
            per_account: 1,
            any_account: 1000,
        };
        assert_eq!((caps.any_shard(0), caps.any_shard(15)), (63, 62));
    }

    #[test]
    fn client_keys_drop_the_port_and_group_ipv6_by_64() {
        assert_eq!(client_key(Some("203.0.113.7:51234")), "203.0.113.7");
        assert_eq!(client_key(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(
            client_key(Some("[2001:db8:1:2:3:4:5:6]:443")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            client_key(Some("[2001:db8:1:2:ffff::1]:1")),
            client_key(Some("2001:db8:1:2::9"))
        );
        assert_eq!(client_key(Some("[::ffff:192.0.2.1]:80")), "192.0.2.1");
        assert_eq!(client_key(Some("not an address")), "unknown");
        assert_eq!(client_key(None), "unknown");
    }

    #[test]
    fn the_window_admits_its_count_then_refuses_until_the_next() {
        let kv = MemoryStore::default();
        let limiter = RateLimiter::new(
            &kv,
            RateLimit {
                max: 3,
                window: Duration::from_secs(60),
            },
        );
        let t0 = 1_800_000_000_000u64; // a multiple of 60 s
        for i in 0..3 {
            limiter
                .admit("198.51.100.1", t0 + i)
                .expect("within the limit");
        }
        let e = limiter
            .admit("198.51.100.1", t0 + 10_500)
            .expect_err("over the limit");
        assert_eq!((e.code, e.status()), (ErrorCode::RateLimited, 429));
        assert_eq!(e.headers, vec![("retry-after", "50".to_string())]);
        // Refusals are not counted; another address has its own window.
        limiter.admit("198.51.100.2", t0 + 10_500).expect("other");
        let e = limiter
            .admit("198.51.100.1", t0 + 59_999)
            .expect_err("still");
        assert_eq!(e.headers[0].1, "1");
        // The next window starts empty, in the same key.
        for i in 0..3 {
            limiter
                .admit("198.51.100.1", t0 + 60_000 + i)
                .expect("next window");
        }
        assert!(limiter.admit("198.51.100.1", t0 + 60_010).is_err());
        let rate_keys: Vec<String> = kv
            .keys()
            .into_iter()
            .filter(|k| k.starts_with("rate/create/"))
            .collect();
        assert_eq!(
            rate_keys,
            ["rate/create/198.51.100.1", "rate/create/198.51.100.2"]
        );
    }

    #[test]
    fn full_indexes_name_the_field_and_say_when_to_retry() {
        let topic = Topic::parse("paseo.Balances.Transfer").expect("topic");
        let e = account_full(&topic, 2);
        assert_eq!(
            (e.status(), e.field.as_deref()),
            (429, Some("filter.balance.account"))
        );
        assert_eq!(e.headers, vec![("retry-after", "3600".to_string())]);
        assert_eq!(topic_full(&topic, 2).field.as_deref(), Some("filter"));
        assert_eq!(
            topic_full(&topic, 2).to_json()["error"]["code"],
            "too_many_triggers"
        );
    }
}
