//! Secrets at rest: what identifies a person or lets someone forge a delivery (a trigger's action:
//! the browser's push endpoint and keys, a webhook's URL and signing secret) is stored sealed with
//! AES-256-GCM under a key from the secret Spin variable `encryption_keys`.
//!
//! The variable is a keyring, `<id>:<base64 of 32 bytes>[,<id>:<base64>…]`. The first key seals
//! every write; every key listed opens what it sealed, so rotating is "put a new key first, run the
//! re-encrypt command, then drop the old key". Each sealed value names its key id, and its
//! associated data is the record's key, so a sealed value copied into another record does not open.
//!
//! Nonces are 96 random bits, fresh per write. NIST SP 800-38D bounds random nonces to 2^32
//! seals per key; a trigger record is sealed once per write, so rotation comes long before that.

use std::fmt;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ApiError, ApiResult, ConfigError, ErrorCode};

/// Spin variable: the keyring, current key first.
pub const ENCRYPTION_KEYS_VAR: &str = "encryption_keys";

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
const MAX_KEY_ID_LEN: usize = 32;

/// One key of the ring.
#[derive(Clone)]
struct RingKey {
    id: String,
    cipher: Aes256Gcm,
    /// A key for MACs (owner-proof challenges, [`crate::ownership`]), derived from this one so
    /// the AES key itself is used for nothing else.
    mac: [u8; 32],
}

/// The keys records are sealed and opened with; the first one seals.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<RingKey>,
}

impl fmt::Debug for Keyring {
    // Never print key material, not even into a log line about a failure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring").field("ids", &ids).finish()
    }
}

/// A sealed value as stored: `{"kid", "nonce", "ct"}` (base64 nonce and ciphertext with its tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// The id of the key that sealed it.
    pub kid: String,
    /// The 96-bit nonce, base64.
    pub nonce: String,
    /// Ciphertext and 128-bit tag, base64.
    pub ct: String,
}

fn parse_key(entry: &str) -> Result<RingKey, String> {
    let (id, material) = entry
        .split_once(':')
        .ok_or("each key is <id>:<base64 of 32 bytes>, e.g. k1:$(openssl rand -base64 32)")?;
    let id = id.trim();
    let id_ok = !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(format!(
            "the key id {id:?} is 1 to {MAX_KEY_ID_LEN} letters, digits, '-' or '_'"
        ));
    }
    let bytes = STANDARD
        .decode(material.trim())
        .map_err(|_| format!("the key {id} is not base64"))?;
    if bytes.len() != KEY_LEN {
        return Err(format!(
            "the key {id} is {} bytes; AES-256 needs {KEY_LEN}",
            bytes.len()
        ));
    }
    Ok(RingKey {
        id: id.to_owned(),
        cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
        mac: derive_mac_key(&bytes),
    })
}

/// HMAC-SHA256 of a fixed label under the key: a separate key for MACs.
fn derive_mac_key(key: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"aurras/mac-key/v1");
    mac.finalize().into_bytes().into()
}

impl Keyring {
    /// The MAC keys derived from the ring's keys, current first: the first signs, every one
    /// verifies (so a rotation does not void what was signed just before it).
    pub(crate) fn mac_keys(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.keys.iter().map(|k| &k.mac)
    }

    /// Parses `<id>:<base64>[,<id>:<base64>…]`; the first key seals.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys: Vec<RingKey> = Vec::new();
        for entry in text.split(',').filter(|e| !e.trim().is_empty()) {
            let key = parse_key(entry)?;
            if keys.iter().any(|k| k.id == key.id) {
                return Err(format!("the key id {} is listed twice", key.id));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err("no key: set it to k1:$(openssl rand -base64 32)".into());
        }
        Ok(Self { keys })
    }

    /// The keyring from the Spin variable (`get` returns a variable's value). Unset is an error
    /// too: nothing secret is ever stored in the clear.
    pub fn from_variables(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let value = get(ENCRYPTION_KEYS_VAR).unwrap_or_default();
        Self::parse(&value).map_err(|message| ConfigError {
            variable: ENCRYPTION_KEYS_VAR,
            // The value is secret: the error names the variable and the reason, never the value.
            value: if value.is_empty() { "" } else { "<secret>" }.into(),
            message,
        })
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `plaintext`, bound to `context` (the record's key).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> ApiResult<Sealed> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| ApiError::internal(format!("no randomness for a nonce: {e}")))?;
        let ct = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| ApiError::internal(format!("cannot seal {context}")))?;
        Ok(Sealed {
            kid: key.id.clone(),
            nonce: STANDARD.encode(nonce),
            ct: STANDARD.encode(ct),
        })
    }

    /// Opens what [`Keyring::seal`] sealed for `context`. A key the ring no longer holds is a 503
    /// naming the variable (the operator dropped it before re-encrypting); a value that does not
    /// authenticate is a 500 (the store was tampered with, or the value was moved between records).
    pub fn open(&self, sealed: &Sealed, context: &str) -> ApiResult<Vec<u8>> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sealed.kid)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotConfigured,
                    format!(
                        "{context} is sealed with the key {:?}, which the Spin variable {ENCRYPTION_KEYS_VAR} no longer lists; \
                         put it back (after the current key) and re-encrypt",
                        sealed.kid
                    ),
                )
            })?;
        let unreadable = || ApiError::internal(format!("sealed value in {context} is unreadable"));
        let nonce = STANDARD.decode(&sealed.nonce).map_err(|_| unreadable())?;
        let ct = STANDARD.decode(&sealed.ct).map_err(|_| unreadable())?;
        if nonce.len() != NONCE_LEN {
            return Err(unreadable());
        }
        key.cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| {
                ApiError::internal(format!(
                    "sealed value in {context} does not authenticate under key {:?}",
                    sealed.kid
                ))
            })
    }

    /// Replaces the field `field` of the JSON object `record` with its sealed form
    /// (`{"sealed": {…}}`), bound to `context`.
    pub fn seal_field(&self, record: &mut Value, field: &str, context: &str) -> ApiResult<()> {
        let Some(slot) = record.get_mut(field) else {
            return Ok(());
        };
        let plaintext = serde_json::to_vec(slot)
            .map_err(|e| ApiError::internal(format!("cannot encode {context}: {e}")))?;
        let sealed = self.seal(&plaintext, context)?;
        *slot = serde_json::json!({ "sealed": sealed });
        Ok(())
    }

    /// Undoes [`Keyring::seal_field`]; a field stored in the clear (written before encryption
    /// existed) is left as it is, so old records stay readable until they are re-encrypted.
    pub fn open_field(&self, record: &mut Value, field: &str, context: &str) -> ApiResult<()> {
        let Some(sealed) = sealed_field(record, field, context)? else {
            return Ok(());
        };
        let plaintext = self.open(&sealed, context)?;
        let value = serde_json::from_slice(&plaintext)
            .map_err(|e| ApiError::internal(format!("sealed value in {context}: {e}")))?;
        record[field] = value;
        Ok(())
    }

    /// Whether `field` of `record` is already sealed with the current key (nothing to re-encrypt).
    pub fn is_current(&self, record: &Value, field: &str, context: &str) -> ApiResult<bool> {
        Ok(sealed_field(record, field, context)?.is_some_and(|s| s.kid == self.current_id()))
    }
}

/// The sealed form of `field`, if it is sealed.
fn sealed_field(record: &Value, field: &str, context: &str) -> ApiResult<Option<Sealed>> {
    match record.get(field).and_then(|v| v.get("sealed")) {
        None => Ok(None),
        Some(sealed) => serde_json::from_value(sealed.clone())
            .map(Some)
            .map_err(|e| ApiError::internal(format!("sealed value in {context}: {e}"))),
    }
}

/// A keyring of one fixed key, for this crate's tests.
#[cfg(test)]
pub(crate) fn test_keyring() -> Keyring {
    Keyring::parse("test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .unwrap_or_else(|e| unreachable!("the test key parses: {e}"))
}

/// [`test_keyring`], for tests that borrow it for a registry's lifetime.
#[cfg(test)]
pub(crate) static TEST_KEYRING: std::sync::LazyLock<Keyring> =
    std::sync::LazyLock::new(test_keyring);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; KEY_LEN])
    }

    #[test]
    fn sealed_fields_open_only_in_their_own_record() {
        let ring = test_keyring();
        let action = json!({"webhook": {"url": "https://h.example/x", "secret": "whsec_abc"}});
        let mut record = json!({"id": "trg_1", "action": action.clone()});
        ring.seal_field(&mut record, "action", "trigger/trg_1")
            .expect("seal");
        let text = record.to_string();
        assert!(
            !text.contains("whsec_abc") && !text.contains("h.example"),
            "{text}"
        );
        assert_eq!(record["action"]["sealed"]["kid"], "test");
        assert!(ring
            .is_current(&record, "action", "trigger/trg_1")
            .expect("read"));

        let mut moved = record.clone();
        let e = ring
            .open_field(&mut moved, "action", "trigger/trg_2")
            .expect_err("another record's context");
        assert_eq!(e.status(), 500);

        ring.open_field(&mut record, "action", "trigger/trg_1")
            .expect("open");
        assert_eq!(record["action"], action);
    }

    #[test]
    fn each_seal_has_a_fresh_nonce() {
        let ring = test_keyring();
        let a = ring.seal(b"same", "k").expect("seal");
        let b = ring.seal(b"same", "k").expect("seal");
        assert_ne!((a.nonce, a.ct), (b.nonce, b.ct));
    }

    #[test]
    fn a_rotated_ring_opens_old_records_and_seals_with_the_new_key() {
        let old = Keyring::parse(&format!("k1:{}", key(1))).expect("old");
        let mut record = json!({"action": {"web_push": {"endpoint": "https://push.example/1"}}});
        let plain = record.clone();
        old.seal_field(&mut record, "action", "trigger/t")
            .expect("seal");

        let rotated = Keyring::parse(&format!("k2:{}, k1:{}", key(2), key(1))).expect("rotated");
        assert_eq!(rotated.current_id(), "k2");
        assert!(!rotated
            .is_current(&record, "action", "trigger/t")
            .expect("read"));
        let mut opened = record.clone();
        rotated
            .open_field(&mut opened, "action", "trigger/t")
            .expect("the old key still opens");
        assert_eq!(opened, plain);
        rotated
            .seal_field(&mut opened, "action", "trigger/t")
            .expect("reseal");
        assert_eq!(opened["action"]["sealed"]["kid"], "k2");

        // Dropping k1 before re-encrypting: a 503 that names the variable and the key id.
        let dropped = Keyring::parse(&format!("k2:{}", key(2))).expect("k2 only");
        let e = dropped
            .open_field(&mut record, "action", "trigger/t")
            .expect_err("k1 is gone");
        assert_eq!(e.status(), 503);
        assert!(e.message.contains(ENCRYPTION_KEYS_VAR) && e.message.contains("\"k1\""));
    }

    #[test]
    fn clear_records_from_before_encryption_stay_readable() {
        let ring = test_keyring();
        let mut record =
            json!({"action": {"webhook": {"url": "https://h.example", "secret": "s"}}});
        let plain = record.clone();
        ring.open_field(&mut record, "action", "trigger/t")
            .expect("open");
        assert_eq!(record, plain);
        assert!(!ring
            .is_current(&record, "action", "trigger/t")
            .expect("read"));
    }

    #[test]
    fn malformed_keyrings_are_refused_without_echoing_the_key() {
        for (text, says) in [
            ("", "no key"),
            ("k1", "<id>:<base64"),
            ("k1:not base64!", "not base64"),
            (&format!("k1:{}", STANDARD.encode([0u8; 16])), "16 bytes"),
            (&format!("bad id:{}", key(1)), "key id"),
            (&format!("k1:{},k1:{}", key(1), key(2)), "twice"),
        ] {
            let e = Keyring::parse(text).expect_err(text);
            assert!(e.contains(says), "{text}: {e}");
        }
        let secret = format!("k1:{}", STANDARD.encode([7u8; 20]));
        let e = Keyring::from_variables(|_| Some(secret.clone())).expect_err("short");
        let api: ApiError = e.into();
        assert_eq!(api.status(), 503);
        assert!(api.message.contains(ENCRYPTION_KEYS_VAR));
        assert!(
            !api.message.contains(&STANDARD.encode([7u8; 20])),
            "{}",
            api.message
        );
        assert!(!format!("{:?}", test_keyring()).contains("AAEC"));
    }
}
