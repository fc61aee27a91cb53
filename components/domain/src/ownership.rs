//! Proof that the creator of a trigger holds the key of the account its balance filter names, so
//! that anonymous creators filling an account's index list can never lock its owner out.
//!
//! 1. `POST /api/accounts/{account}/challenge` answers a short-lived challenge and the message to
//!    sign, which names Aurras, the account, the challenge and its expiry ([`issue`]).
//! 2. The owner signs the message with the account's key, as Polkadot wallets sign raw messages
//!    (sr25519, ed25519 or ecdsa; bare or wrapped in `<Bytes>…</Bytes>`, see [`schemes`]).
//! 3. The trigger is created (or changed) with `"proof": {"challenge", "signature", "scheme"}`;
//!    [`verify`] checks it and uses the challenge up. The trigger is then *owner-verified*: it is
//!    indexed in the account's owner list (`ix/<topic>/owner/<account>`), capped apart from the
//!    anonymous list (`ix/<topic>/acct/<account>`), which anonymous creators may fill.
//!
//! Challenges are stateless: `v1.<expiry>.<ss58 prefix>.<nonce>.<mac>`, with an HMAC-SHA256 over
//! the account, expiry, prefix and nonce under a key derived from the deployment's
//! `encryption_keys` (no new secret to configure). Issuing one stores nothing, so asking for
//! challenges cannot grow the store. Using one records its nonce under `proof/used/<account>`
//! until it expires (pruned on the next use), which makes each challenge single-use.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::cas;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::keys;
use crate::kv::KeyValue;
use crate::ss58::AccountId;
use crate::vault::Keyring;

#[cfg(any(test, feature = "dev-keys"))]
pub mod dev_keys;
pub mod schemes;
pub use schemes::Scheme;

/// How long a challenge may be used: enough to open a wallet and read what it asks to sign.
pub const CHALLENGE_TTL_SECS: u64 = 300;
/// The most challenges of one account in use at once (used and not yet expired). Only the
/// account's key can use one, so this only bounds a runaway script of the owner's.
pub const MAX_USED_CHALLENGES: usize = 64;
/// The SS58 prefix the message shows an account in when it was given as hex.
const DEFAULT_PREFIX: u16 = 42;
const NONCE_LEN: usize = 16;
const VERSION: &str = "v1";

/// `"proof"` of a trigger create, replace or patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerProof {
    /// The challenge, as `POST /api/accounts/{account}/challenge` answered it.
    pub challenge: String,
    /// The signature of the challenge's message by the account's key, hex (`0x` optional).
    pub signature: String,
    /// The key's scheme; tried in turn when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<Scheme>,
}

/// A challenge as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedChallenge {
    /// The account, `0x` hex of its 32 bytes.
    pub account: String,
    /// The account as SS58 (with the prefix it was given in; 42 when given as hex).
    pub address: String,
    /// The challenge, to send back in `proof.challenge`.
    pub challenge: String,
    /// The exact text to sign.
    pub message: String,
    /// When the challenge expires, RFC 3339.
    pub expires_at: String,
    /// The same, Unix seconds.
    pub expires: u64,
}

/// The fields of a challenge.
struct Challenge {
    expires: u64,
    prefix: u16,
    nonce: String,
    mac: Vec<u8>,
}

impl Challenge {
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        let version = parts.next()?;
        let expires = parts.next()?.parse().ok()?;
        let prefix: u16 = parts.next()?.parse().ok()?;
        let nonce = parts.next()?.to_owned();
        let mac = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
        let nonce_ok = URL_SAFE_NO_PAD
            .decode(&nonce)
            .is_ok_and(|n| n.len() == NONCE_LEN);
        (version == VERSION && parts.next().is_none() && nonce_ok && prefix <= 16_383).then_some(
            Self {
                expires,
                prefix,
                nonce,
                mac,
            },
        )
    }

    fn mac(&self, key: &[u8; 32], account: &AccountId) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(
            format!(
                "aurras/owner-challenge/{VERSION}\n{}\n{}\n{}\n{}",
                account.to_hex(),
                self.expires,
                self.prefix,
                self.nonce
            )
            .as_bytes(),
        );
        mac
    }

    fn address(&self, account: &AccountId) -> String {
        account
            .to_ss58(self.prefix)
            .unwrap_or_else(|_| account.to_hex())
    }
}

/// RFC 3339 (seconds) of a Unix time.
fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// Unix seconds of an RFC 3339 time (the registry's `now`).
pub fn unix_secs(rfc3339: &str) -> ApiResult<u64> {
    humantime::parse_rfc3339_weak(rfc3339)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .ok_or_else(|| ApiError::internal(format!("the time {rfc3339:?} is not RFC 3339")))
}

/// The text a wallet shows and signs for a challenge.
pub fn message(address: &str, challenge: &str, expires_at: &str) -> String {
    format!(
        "Aurras: I hold the key of the account {address} and ask to manage its notifications \
         as its owner.\nChallenge: {challenge}\nValid until: {expires_at}\n\
         Signing this sends no transaction and moves no funds."
    )
}

/// Parses an account as the API takes it: SS58 (any prefix) or `0x` hex of 32 bytes.
pub fn parse_account(text: &str, field: &str) -> ApiResult<(AccountId, u16)> {
    AccountId::from_hex(text)
        .map(|id| (id, DEFAULT_PREFIX))
        .or_else(|| AccountId::from_ss58(text).ok())
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                format!("{text:?} is neither an SS58 address nor 0x hex of 32 bytes"),
            )
        })
}

/// A new challenge for `account` (SS58 or hex), valid from `now_secs` for
/// [`CHALLENGE_TTL_SECS`]. Nothing is stored.
pub fn issue(ring: &Keyring, account: &str, now_secs: u64) -> ApiResult<IssuedChallenge> {
    let (id, prefix) = parse_account(account, "account")?;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| ApiError::internal(format!("randomness: {e}")))?;
    let mut challenge = Challenge {
        expires: now_secs + CHALLENGE_TTL_SECS,
        prefix,
        nonce: URL_SAFE_NO_PAD.encode(nonce),
        mac: Vec::new(),
    };
    let key = ring
        .mac_keys()
        .next()
        .ok_or_else(|| ApiError::internal("the keyring is empty"))?;
    challenge.mac = challenge.mac(key, &id).finalize().into_bytes().to_vec();
    let text = format!(
        "{VERSION}.{}.{}.{}.{}",
        challenge.expires,
        challenge.prefix,
        challenge.nonce,
        URL_SAFE_NO_PAD.encode(&challenge.mac)
    );
    let address = challenge.address(&id);
    let expires_at = rfc3339(challenge.expires);
    Ok(IssuedChallenge {
        account: id.to_hex(),
        message: message(&address, &text, &expires_at),
        address,
        challenge: text,
        expires_at,
        expires: challenge.expires,
    })
}

/// Checks `proof` for the account `account_hex` (`0x` hex, as filters store it) at `now_secs`
/// and uses its challenge up. Every refusal is 422 naming the field at fault
/// (`proof.challenge`, `proof.signature`), and uses nothing up.
pub fn verify<S: KeyValue + ?Sized>(
    kv: &S,
    ring: &Keyring,
    proof: &OwnerProof,
    account_hex: &str,
    now_secs: u64,
) -> ApiResult<Scheme> {
    let account = AccountId::from_hex(account_hex)
        .ok_or_else(|| ApiError::internal(format!("stored account {account_hex:?} is not hex")))?;
    let ask = |address: &str| {
        format!("ask POST /api/accounts/{address}/challenge for a new one, and sign its message")
    };
    let challenge = Challenge::parse(&proof.challenge).ok_or_else(|| {
        ApiError::invalid(
            "proof.challenge",
            format!("not a challenge of this API; {}", ask(&account.to_hex())),
        )
    })?;
    let address = challenge.address(&account);
    let genuine = ring.mac_keys().any(|key| {
        challenge
            .mac(key, &account)
            .verify_slice(&challenge.mac)
            .is_ok()
    });
    if !genuine {
        return Err(ApiError::invalid(
            "proof.challenge",
            format!(
                "this challenge was not issued for the account {address} by this deployment; {}",
                ask(&address)
            ),
        ));
    }
    if now_secs >= challenge.expires {
        return Err(ApiError::invalid(
            "proof.challenge",
            format!(
                "this challenge expired at {}; {}",
                rfc3339(challenge.expires),
                ask(&address)
            ),
        ));
    }
    let text = proof.signature.trim();
    let signature = hex::decode(text.strip_prefix("0x").unwrap_or(text)).map_err(|_| {
        ApiError::invalid(
            "proof.signature",
            "the signature is hex (0x…), as wallets answer",
        )
    })?;
    let signed = message(
        &address,
        proof.challenge.trim(),
        &rfc3339(challenge.expires),
    );
    let scheme = schemes::verify(&account.0, signed.as_bytes(), &signature, proof.scheme)
        .map_err(|e| ApiError::invalid("proof.signature", e.0))?;
    use_up(kv, &account, &challenge, now_secs)?;
    Ok(scheme)
}

/// Records the challenge's nonce as used, pruning the account's expired ones; refuses one used
/// before.
fn use_up<S: KeyValue + ?Sized>(
    kv: &S,
    account: &AccountId,
    challenge: &Challenge,
    now_secs: u64,
) -> ApiResult<()> {
    let (mut reused, mut crowded) = (false, false);
    cas::update(
        kv,
        &keys::used_challenges(&account.to_hex()),
        |used: &mut BTreeMap<String, u64>| {
            used.retain(|_, expires| *expires > now_secs);
            reused = used.contains_key(&challenge.nonce);
            crowded = used.len() >= MAX_USED_CHALLENGES;
            if reused || crowded {
                return None;
            }
            used.insert(challenge.nonce.clone(), challenge.expires);
            Some(())
        },
    )?;
    if reused {
        return Err(ApiError::invalid(
            "proof.challenge",
            "this challenge was used already: each proves one request; ask for a new one",
        ));
    }
    if crowded {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "this account used {MAX_USED_CHALLENGES} challenges in the last {} minutes",
                CHALLENGE_TTL_SECS / 60
            ),
        )
        .at("proof.challenge")
        .with_header("retry-after", CHALLENGE_TTL_SECS.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
