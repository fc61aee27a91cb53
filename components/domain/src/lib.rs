//! Aurras' domain, shared by the Spin components (wasm) and the native ingestor: event sources and
//! their topics, triggers with their filters and actions, validation with errors that name the
//! field, and the key-value layout that finds the triggers for an event in a few reads.
//!
//! Pure: no HTTP, no Spin, no Kafka. Storage comes in through the [`kv::KeyValue`] trait.
//!
//! # Layout
//!
//! Three folders show the architecture; each module also answers at the crate's root
//! (`aurras_domain::trigger`).
//!
//! - [`model`]: [`names`] (chain names, `Pallet.Event`, topics), [`ss58`] and [`amount`]
//!   (addresses and amounts), [`source`], [`trigger`], [`filter`], [`action`], [`recipe`] (the
//!   models and their validation), [`envelope`] (what the ingestor produces), [`catalog`]
//!   (fields of well-known events).
//! - [`storage`]: [`kv`] (the trait), [`keys`] (the layout), [`cas`] (compare-and-swap safe on
//!   every Spin backend), [`registry`] (sources, triggers, their indexes), [`stored`] and
//!   [`vault`] (records sealed at rest), [`lease`] (one ingestor per chain).
//! - [`delivery`]: its own items are a trigger's delivery state; [`dispatch`] (the relay →
//!   dispatch contract and which triggers fire), [`claims`] (who sends each attempt: leases, at
//!   least once), [`fanout`] (claim, send and record a batch's jobs), [`answer`] (what an answer
//!   means), [`notification`] and [`message`] (what a person reads, and the templates that shape
//!   it), [`channel`] (each platform's request), [`webpush`] and [`signature`], [`destination`]
//!   (refused destinations), [`test_fire`].
//! - [`limits`]: caps on index lists and the anonymous creation rate per client address.
//! - [`ownership`]: an account owner's proof (a wallet signature over a challenge), which keeps
//!   anonymous creators from filling the owner's index list.
//! - [`api`]: the HTTP route table the `api` component serves and the OpenAPI document lists.
//! - [`error`]: the one error shape. [`secrets`]: ids, tokens, webhook secrets. [`operator`]:
//!   when the operator's token is too weak to open operator access.
#![warn(missing_docs)]

pub mod api;
pub mod delivery;
pub mod error;
pub mod limits;
pub mod model;
pub mod operator;
pub mod ownership;
pub mod secrets;
pub mod storage;

// Each module also answers at the crate's root, where the components and the ingestor name it.
pub use delivery::{
    answer, channel, claims, destination, dispatch, fanout, message, notification, signature,
    test_fire, webpush,
};
pub use model::{
    action, amount, assets, catalog, envelope, filter, integer, names, recipe, source, ss58,
    tracks, trigger,
};
#[cfg(test)]
pub(crate) use storage::kv_testing;
pub use storage::{cas, keys, kv, lease, registry, stored, vault};

pub use error::{ApiError, ApiResult, ErrorCode};

/// Formats a Unix time in milliseconds as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(unix_millis: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_millis);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses a JSON body into `T`, naming the offending field in the error (`filter.balance.min`).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        let code = if message.starts_with("unknown field") || message.starts_with("unknown variant")
        {
            ErrorCode::UnknownField
        } else if message.starts_with("missing field") {
            ErrorCode::MissingField
        } else {
            ErrorCode::InvalidJson
        };
        // serde_path_to_error reports the root as "." (and "?" when the syntax broke before a field).
        let mut field = match path.as_str() {
            "." | "" | "?" => None,
            p => Some(p.to_owned()),
        };
        // A missing field's path is its parent's; name the field itself, so a form can show the
        // error where the value belongs.
        if let Some(name) = missing_field_name(&message) {
            field = Some(match field {
                Some(parent) => format!("{parent}.{name}"),
                None => name.to_owned(),
            });
        }
        let error = ApiError::new(code, message);
        match field {
            Some(f) => error.at(f),
            None => error,
        }
    })
}

/// `url` from serde's "missing field `url`" (followed by a position in serde_json's messages).
fn missing_field_name(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")?
        .split('`')
        .next()
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        flag: bool,
    }

    #[test]
    fn json_errors_name_the_path() {
        let e = parse_json::<Outer>(br#"{"inner": {"flag": "yes"}}"#).expect_err("type");
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::InvalidJson, Some("inner.flag"))
        );
        let e = parse_json::<Outer>(br#"{"inner": {"flag": true, "x": 1}}"#).expect_err("unknown");
        assert_eq!(e.code, ErrorCode::UnknownField);
        assert_eq!(e.field.as_deref(), Some("inner.x"));
        let e = parse_json::<Outer>(br#"{"inner": {}}"#).expect_err("missing");
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::MissingField, Some("inner.flag"))
        );
        let e = parse_json::<Outer>(b"{}").expect_err("missing at the root");
        assert_eq!(e.field.as_deref(), Some("inner"));
        let e = parse_json::<Outer>(b"{").expect_err("syntax");
        assert_eq!((e.code, e.field), (ErrorCode::InvalidJson, None));
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
