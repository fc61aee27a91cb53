//! Ingestion leases: which ingestor may produce a chain's events right now, so two ingestors of
//! one chain on different hosts never produce side by side.
//!
//! A lease is held for a time to live and renewed well before it lapses; another ingestor asking
//! meanwhile is refused (`409`, `Retry-After`) and stands by. Its holder lets go by asking for a
//! time to live of 0 (an update, as Kubernetes' `Lease` objects are released, rather than a
//! delete: the lease, with its progress, stays a resource of the source). Expiry is judged on the app's clock
//! only; the holder judges its own deadline on its local monotonic clock from the moment it *sent*
//! the request, so it stops producing before the app would hand the lease to anyone else (only
//! the rate of the two clocks matters, never their offset).
//!
//! The lease also carries the holder's progress (the first block not fully produced and the hash
//! of the block before it), so an ingestor taking over on another host resumes where the last
//! holder stopped instead of at its own, older cursor. The hash lets it tell a stale progress of
//! another chain history (a local chain started again) from a real one.
//!
//! Why not the broker: a transactional producer per chain (`transactional.id`) would fence
//! zombies inside the broker, but tansu, the broker the tests and `up` run, refuses `EndTxn`
//! (measured: librdkafka reports `EndTxnRequest (KIP-98) not supported by broker`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult, ErrorCode};

/// The shortest time to live a holder may ask for.
pub const MIN_TTL_MS: u64 = 1_000;
/// The longest (a lapsed holder blocks its chain at most this long).
pub const MAX_TTL_MS: u64 = 600_000;
/// The longest holder name.
pub const MAX_HOLDER_LEN: usize = 128;

/// How far the holder got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// The first block not fully produced.
    #[serde(deserialize_with = "crate::integer::unsigned")]
    pub next_block: u64,
    /// The hash of block `next_block - 1`, `0x` and 64 hex digits.
    pub parent_hash: String,
}

/// `PUT /api/sources/{id}/lease`: take or renew the lease, or (`ttl_ms: 0`) let go of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    /// Who asks: unique per ingestor process (`host:pid:random`).
    pub holder: String,
    /// How long the lease lasts from now unless renewed; 0 lets go of it.
    #[serde(deserialize_with = "crate::integer::unsigned")]
    pub ttl_ms: u64,
    /// The asker's progress, when it has produced anything.
    #[serde(default)]
    pub progress: Option<Progress>,
}

/// A chain's lease as stored under `lease/<chain>`. Released leases keep their progress and an
/// empty holder (records are emptied, never deleted, so every change is a guarded swap).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The holder; empty once released.
    pub holder: String,
    /// When it lapses, in milliseconds since the Unix epoch on the app's clock.
    pub expires_at_ms: u64,
    /// The last progress reported.
    #[serde(default)]
    pub progress: Option<Progress>,
}

/// Checks a holder name: 1 to 128 of `A-Z a-z 0-9 . _ : @ -`, so it needs no escaping in a query.
pub fn check_holder(holder: &str) -> ApiResult<()> {
    let fine = |b: u8| b.is_ascii_alphanumeric() || b"._:@-".contains(&b);
    if holder.is_empty() || holder.len() > MAX_HOLDER_LEN || !holder.bytes().all(fine) {
        return Err(ApiError::invalid(
            "holder",
            format!(
                "{holder:?} is not a holder name: 1 to {MAX_HOLDER_LEN} of A-Z a-z 0-9 . _ : @ -"
            ),
        ));
    }
    Ok(())
}

impl LeaseRequest {
    /// Checks the fields.
    pub fn validate(&self) -> ApiResult<()> {
        check_holder(&self.holder)?;
        if self.ttl_ms != 0 && !(MIN_TTL_MS..=MAX_TTL_MS).contains(&self.ttl_ms) {
            return Err(ApiError::invalid(
                "ttl_ms",
                format!(
                    "{} ms is not a lease time: 0 to let go, or {MIN_TTL_MS} to {MAX_TTL_MS}",
                    self.ttl_ms
                ),
            ));
        }
        if let Some(p) = &self.progress {
            if p.next_block == 0 {
                return Err(ApiError::invalid(
                    "progress.next_block",
                    "block 0 has no parent; the first block an ingestor produces is 1",
                ));
            }
            let hex = p.parent_hash.strip_prefix("0x").unwrap_or_default();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiError::invalid(
                    "progress.parent_hash",
                    "a block hash is 0x and 64 hex digits",
                ));
            }
        }
        Ok(())
    }
}

impl Lease {
    /// Whether someone holds it at `now_ms`.
    pub fn held(&self, now_ms: u64) -> bool {
        !self.holder.is_empty() && self.expires_at_ms > now_ms
    }

    /// The lease after `req` at `now_ms`: granted (or, with `ttl_ms: 0`, let go of) when free,
    /// lapsed or already the asker's; `409 conflict` (with `Retry-After`) while another holds it.
    /// Progress not reported is kept.
    pub fn take(&self, req: &LeaseRequest, now_ms: u64, chain: &str) -> ApiResult<Lease> {
        if self.held(now_ms) && self.holder != req.holder {
            let left = self.expires_at_ms - now_ms;
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "{chain} is being ingested by {}; its lease lapses in {left} ms unless renewed",
                    self.holder
                ),
            )
            .at("holder")
            .with_header("retry-after", left.div_ceil(1000).to_string()));
        }
        let progress = req.progress.clone().or_else(|| self.progress.clone());
        if req.ttl_ms == 0 {
            return Ok(Lease {
                holder: String::new(),
                expires_at_ms: 0,
                progress,
            });
        }
        Ok(Lease {
            holder: req.holder.clone(),
            expires_at_ms: now_ms.saturating_add(req.ttl_ms),
            progress,
        })
    }

    /// The API's view at `now_ms`: holder (`null` when free), time left, progress.
    pub fn view(&self, chain: &str, now_ms: u64) -> Value {
        let held = self.held(now_ms);
        json!({
            "chain": chain,
            "holder": held.then_some(&self.holder),
            "expires_in_ms": if held { self.expires_at_ms - now_ms } else { 0 },
            "progress": self.progress,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(holder: &str, progress: Option<u64>) -> LeaseRequest {
        LeaseRequest {
            holder: holder.into(),
            ttl_ms: 10_000,
            progress: progress.map(|n| Progress {
                next_block: n,
                parent_hash: format!("0x{}", "ab".repeat(32)),
            }),
        }
    }

    #[test]
    fn one_holder_at_a_time_until_it_lapses_or_lets_go() {
        let free = Lease::default();
        let a = free.take(&ask("a", Some(5)), 1_000, "paseo").expect("free");
        assert_eq!((a.holder.as_str(), a.expires_at_ms), ("a", 11_000));

        let refused = a.take(&ask("b", None), 2_000, "paseo").expect_err("held");
        assert_eq!(
            (refused.code, refused.field.as_deref()),
            (ErrorCode::Conflict, Some("holder"))
        );
        assert_eq!(refused.headers, vec![("retry-after", "9".to_string())]);
        assert!(refused.message.contains("held") || refused.message.contains("ingested by a"));

        let renewed = a.take(&ask("a", None), 5_000, "paseo").expect("renew");
        assert_eq!(renewed.expires_at_ms, 15_000);
        assert_eq!(renewed.progress.as_ref().map(|p| p.next_block), Some(5));

        let lapsed = renewed
            .take(&ask("b", None), 15_000, "paseo")
            .expect("lapsed");
        assert_eq!(lapsed.holder, "b");
        assert_eq!(lapsed.progress.as_ref().map(|p| p.next_block), Some(5));

        let let_go = |holder: &str| LeaseRequest {
            ttl_ms: 0,
            ..ask(holder, None)
        };
        assert!(lapsed.take(&let_go("a"), 16_000, "paseo").is_err());
        let released = lapsed.take(&let_go("b"), 16_000, "paseo").expect("release");
        assert!(!released.held(16_000));
        assert_eq!(released.progress.as_ref().map(|p| p.next_block), Some(5));
        assert_eq!(released.view("paseo", 16_000)["holder"], Value::Null);
        assert_eq!(released.view("paseo", 16_000)["expires_in_ms"], 0);
        let again = released.take(&let_go("b"), 16_000, "paseo").expect("again");
        assert_eq!(again, released, "letting go twice changes nothing");
        let c = released
            .take(&ask("c", Some(9)), 16_001, "paseo")
            .expect("free");
        assert_eq!(c.view("paseo", 17_001)["expires_in_ms"], 9_000);
        assert_eq!(c.view("paseo", 17_001)["progress"]["next_block"], 9);
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let field = |r: LeaseRequest| r.validate().expect_err("bad").field;
        let mut r = ask("a", Some(1));
        r.holder = "a b".into();
        assert_eq!(field(r).as_deref(), Some("holder"));
        let mut r = ask("a", None);
        r.ttl_ms = 999;
        assert_eq!(field(r).as_deref(), Some("ttl_ms"));
        let mut r = ask("a", None);
        r.ttl_ms = 0;
        assert!(r.validate().is_ok(), "0 lets go");
        let mut r = ask("a", None);
        r.ttl_ms = MAX_TTL_MS + 1;
        assert_eq!(field(r).as_deref(), Some("ttl_ms"));
        assert_eq!(
            field(ask("a", Some(0))).as_deref(),
            Some("progress.next_block")
        );
        let mut r = ask("a", Some(3));
        if let Some(p) = r.progress.as_mut() {
            p.parent_hash = "0x12".into();
        }
        assert_eq!(field(r).as_deref(), Some("progress.parent_hash"));
        assert!(ask(&"h".repeat(MAX_HOLDER_LEN), Some(1)).validate().is_ok());
        assert!(check_holder(&"h".repeat(MAX_HOLDER_LEN + 1)).is_err());
        assert!(check_holder("host-1.example:4242:9f@x_y").is_ok());
        assert!(check_holder("a%20b").is_err());
    }
}
