//! What came back for one delivery request: the destination's answer (status, how long it asked
//! us to wait, the start of its body), no answer at all, or not sent because the destination
//! had just asked this fan-out to slow down.
//!
//! The body and `Retry-After` matter beyond the status: chat platforms say why they refused in
//! the body (a bot blocked by its user, a deleted webhook) and how long to wait in a header or in
//! the JSON (`retry_after`), and a polite sender waits that long.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The most of an answer's body kept: enough for any platform's error object, little enough
/// that a destination streaming megabytes costs nothing.
pub const MAX_BODY: usize = 8 * 1024;

/// The longest wait a destination may ask for: past it the retry schedule decides, so a
/// misconfigured `Retry-After: 999999` cannot park a delivery for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);

/// A destination's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// How long the destination asked us to wait (`Retry-After`), at most [`MAX_RETRY_AFTER`].
    pub retry_after: Option<Duration>,
    /// The start of the body (at most [`MAX_BODY`] bytes).
    pub body: Vec<u8>,
}

/// What came back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The destination answered.
    Response(Response),
    /// No answer: the connection failed or timed out, or the request could not be made. The
    /// words are the app's, kept for the operator.
    NoAnswer(String),
    /// Not sent: the destination answered an earlier request of this fan-out with 429 or 503,
    /// so this one waits for a later round instead of being pressed on it now.
    Held {
        /// Why, for the delivery state.
        why: String,
        /// How long the destination asked to wait, when it said.
        retry_after: Option<Duration>,
    },
}

impl Answer {
    /// An answer with only a status (tests, and transports that keep nothing else).
    pub fn status_only(status: u16) -> Self {
        Self::Response(Response {
            status,
            retry_after: None,
            body: Vec::new(),
        })
    }

    /// No answer, for `why`.
    pub fn none(why: impl Into<String>) -> Self {
        Self::NoAnswer(why.into())
    }

    /// The HTTP status, when the destination answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Response(r) => Some(r.status),
            Self::NoAnswer(_) | Self::Held { .. } => None,
        }
    }

    /// How long the destination asked to wait, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Response(r) => r.retry_after,
            Self::Held { retry_after, .. } => *retry_after,
            Self::NoAnswer(_) => None,
        }
    }

    /// The body as JSON, when the destination answered with JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        match self {
            Self::Response(r) => serde_json::from_slice(&r.body).ok(),
            Self::NoAnswer(_) | Self::Held { .. } => None,
        }
    }

    /// The body as text (lossy), when the destination answered.
    pub fn text(&self) -> Option<String> {
        match self {
            Self::Response(r) => Some(String::from_utf8_lossy(&r.body).into_owned()),
            Self::NoAnswer(_) | Self::Held { .. } => None,
        }
    }
}

/// Parses a `Retry-After` value (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date counted from
/// `now`; capped at [`MAX_RETRY_AFTER`]. `None` when it is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// A wait given in seconds inside a body (Discord's and Telegram's `retry_after`, which may be
/// fractional), capped like a header's; `None` for anything that is not a non-negative number.
pub fn retry_after_secs(secs: &serde_json::Value) -> Option<Duration> {
    let secs = secs.as_f64().filter(|s| s.is_finite() && *s >= 0.0)?;
    Some(Duration::try_from_secs_f64(secs).map_or(MAX_RETRY_AFTER, |d| d.min(MAX_RETRY_AFTER)))
}

/// The current time for [`parse_retry_after`] from Unix seconds (the components' clock).
pub fn at_unix_secs(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates_and_caps_both() {
        let now = at_unix_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("9999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_in_bodies_is_seconds_maybe_fractional() {
        let v = |j: &str| serde_json::from_str::<serde_json::Value>(j).expect("json");
        assert_eq!(
            retry_after_secs(&v("0.5")),
            Some(Duration::from_millis(500))
        );
        assert_eq!(retry_after_secs(&v("3")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after_secs(&v("1e12")), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after_secs(&v("-2")), None);
        assert_eq!(retry_after_secs(&v("\"3\"")), None);
    }

    #[test]
    fn answers_say_what_they_carry() {
        let answer = Answer::Response(Response {
            status: 429,
            retry_after: Some(Duration::from_secs(2)),
            body: br#"{"retry_after": 2}"#.to_vec(),
        });
        assert_eq!(answer.status(), Some(429));
        assert_eq!(answer.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(
            answer.json().and_then(|j| j["retry_after"].as_u64()),
            Some(2)
        );
        assert_eq!(Answer::none("refused").status(), None);
        let held = Answer::Held {
            why: "held".into(),
            retry_after: Some(Duration::from_secs(1)),
        };
        assert_eq!(held.retry_after(), Some(Duration::from_secs(1)));
        assert_eq!(held.text(), None);
    }
}
