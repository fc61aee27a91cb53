//! Ids, management tokens and webhook secrets: random, shown once, stored only as hashes where
//! the server never needs them back.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Fills `buf` from the system's randomness (`wasi:random` in a component).
fn random<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The platform's randomness failing is not something to serve through.
    getrandom::fill(&mut buf).expect("system randomness is available");
    buf
}

/// A new id: `<prefix>_` + 16 random bytes as hex.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", hex::encode(random::<16>()))
}

/// A new management token: `atk_` + 32 random bytes, base64url.
pub fn new_token() -> String {
    format!("atk_{}", URL_SAFE_NO_PAD.encode(random::<32>()))
}

/// A new webhook signing secret in Standard Webhooks' form: `whsec_` + base64 of 32 bytes.
pub fn new_webhook_secret() -> String {
    format!("whsec_{}", STANDARD.encode(random::<32>()))
}

/// A dispatch request's claim token ([`crate::claims::Holder`]): 8 random bytes as hex, enough
/// that two requests never share one.
pub fn claim_holder() -> String {
    hex::encode(random::<8>())
}

/// SHA-256 of a token, hex. Tokens carry 256 random bits, so a plain hash is enough (no salt or
/// slow hash: nobody can guess their way to a preimage).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` hashes to `expected_hash`, compared in constant time so response timing does
/// not reveal how much of a guess was right.
pub fn token_matches(token: &str, expected_hash: &str) -> bool {
    let actual = hash_token(token);
    let (a, b) = (actual.as_bytes(), expected_hash.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_against_their_hash_only() {
        let token = new_token();
        let hash = hash_token(&token);
        assert!(token_matches(&token, &hash));
        assert!(!token_matches(&new_token(), &hash));
        assert!(!token_matches(&token, "short"));
        assert_ne!(new_id("trg"), new_id("trg"));
        assert!(new_webhook_secret().starts_with("whsec_"));
    }
}
