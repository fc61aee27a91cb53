//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): how the relay signs what it
//! posts to the dispatch component, and how the dispatcher signs what it posts to webhooks.
//!
//! A secret is `whsec_` + base64 of its key bytes. The signed content is `<id>.<timestamp>.<body>`;
//! the `webhook-signature` header holds `v1,<base64 HMAC-SHA256>`, possibly several separated by
//! spaces (so a secret can be rotated without downtime).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a `webhook-timestamp` may be from the receiver's clock, either way.
pub const TOLERANCE_SECS: u64 = 5 * 60;

/// The headers that carry a signature.
pub const ID_HEADER: &str = "webhook-id";
/// Unix seconds when the message was signed.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// `v1,<base64>` signatures, space-separated.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The secret is not `whsec_<base64>` (or plain base64).
    #[error("the signing secret is not whsec_<base64>")]
    BadSecret,
    /// A header is missing or unreadable.
    #[error("missing or malformed {0} header")]
    BadHeader(&'static str),
    /// The timestamp is outside the tolerance.
    #[error("the timestamp is {0} s away from now; at most {TOLERANCE_SECS} s are accepted")]
    Stale(u64),
    /// No signature matches.
    #[error("no signature matches")]
    Mismatch,
}

/// A Standard Webhooks signing key.
#[derive(Clone)]
pub struct SigningKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

/// The three headers of one signed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp` (Unix seconds, as text).
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
}

impl SignedHeaders {
    /// `(name, value)` pairs, ready to add to a request.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (ID_HEADER, &self.id),
            (TIMESTAMP_HEADER, &self.timestamp),
            (SIGNATURE_HEADER, &self.signature),
        ]
    }
}

impl SigningKey {
    /// Reads `whsec_<base64>` (the prefix is optional, as in the reference libraries).
    pub fn from_secret(secret: &str) -> Result<Self, SignatureError> {
        let b64 = secret
            .trim()
            .strip_prefix("whsec_")
            .unwrap_or(secret.trim());
        let key = STANDARD
            .decode(b64)
            .map_err(|_| SignatureError::BadSecret)?;
        if key.is_empty() {
            return Err(SignatureError::BadSecret);
        }
        Ok(Self { key })
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// Signs `body` as message `id` at `unix_secs`.
    pub fn sign(&self, id: &str, unix_secs: u64, body: &[u8]) -> SignedHeaders {
        let timestamp = unix_secs.to_string();
        let tag = self.mac(id, &timestamp, body).finalize().into_bytes();
        SignedHeaders {
            id: id.to_owned(),
            signature: format!("v1,{}", STANDARD.encode(tag)),
            timestamp,
        }
    }

    /// Checks the headers of a message received at `now_secs`: the timestamp within
    /// [`TOLERANCE_SECS`], and one `v1` signature matching (compared in constant time).
    pub fn verify(
        &self,
        id: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now_secs: u64,
    ) -> Result<(), SignatureError> {
        let id = id
            .filter(|i| !i.is_empty())
            .ok_or(SignatureError::BadHeader(ID_HEADER))?;
        let timestamp = timestamp.ok_or(SignatureError::BadHeader(TIMESTAMP_HEADER))?;
        let signature = signature.ok_or(SignatureError::BadHeader(SIGNATURE_HEADER))?;
        let sent: u64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::BadHeader(TIMESTAMP_HEADER))?;
        let skew = now_secs.abs_diff(sent);
        if skew > TOLERANCE_SECS {
            return Err(SignatureError::Stale(skew));
        }
        // The body is hashed once: each candidate only finishes a copy of the state, so a header
        // listing thousands of signatures costs thousands of short hashes, not thousands of
        // passes over the body.
        let mac = self.mac(id, timestamp.trim(), body);
        let matches = signature
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|b64| STANDARD.decode(b64).ok())
            .any(|tag| mac.clone().verify_slice(&tag).is_ok());
        if matches {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks reference vector (its libraries' test suites).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: u64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn matches_the_reference_vector() {
        let key = SigningKey::from_secret(SECRET).expect("secret");
        let headers = key.sign(ID, TS, BODY);
        assert_eq!(headers.signature, EXPECTED);
        key.verify(Some(ID), Some("1614265330"), Some(EXPECTED), BODY, TS + 10)
            .expect("valid");
    }

    #[test]
    fn refuses_tampering_staleness_and_missing_headers() {
        let key = SigningKey::from_secret(SECRET).expect("secret");
        let ts = "1614265330";
        let with_rotation = format!("v1,AAAA {EXPECTED}");
        assert_eq!(
            key.verify(Some(ID), Some(ts), Some(&with_rotation), BODY, TS),
            Ok(())
        );
        assert_eq!(
            key.verify(Some(ID), Some(ts), Some(EXPECTED), b"{}", TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            key.verify(Some("msg_other"), Some(ts), Some(EXPECTED), BODY, TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            key.verify(Some(ID), Some(ts), Some(EXPECTED), BODY, TS + 301),
            Err(SignatureError::Stale(301))
        );
        assert_eq!(
            key.verify(None, Some(ts), Some(EXPECTED), BODY, TS),
            Err(SignatureError::BadHeader(ID_HEADER))
        );
        assert_eq!(
            key.verify(Some(ID), Some("soon"), Some(EXPECTED), BODY, TS),
            Err(SignatureError::BadHeader(TIMESTAMP_HEADER))
        );
        let other = SigningKey::from_secret("whsec_c2VjcmV0").expect("secret");
        assert_eq!(
            other.verify(Some(ID), Some(ts), Some(EXPECTED), BODY, TS),
            Err(SignatureError::Mismatch)
        );
        assert!(SigningKey::from_secret("whsec_!!").is_err());
        assert!(SigningKey::from_secret("whsec_").is_err());
    }
}
