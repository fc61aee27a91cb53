//! Web Push messages: payload encryption (RFC 8291, `aes128gcm` of RFC 8188) and VAPID
//! authorization (RFC 8292), computed here and sent by whoever holds an HTTP client.
//!
//! The record layer is `ece-native` (the pure-Rust RFC 8188 implementation under `web-push-native`,
//! which compiles to wasm). The RFC 8291 key derivation and the VAPID token are written here, a
//! few lines each, because `web-push-native` signs VAPID tokens with an `aud` that drops the
//! endpoint's port (RFC 8292 wants the origin) and does not let a test fix the salt and the
//! ephemeral key, which the RFC's known-answer vectors need.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

use crate::action::WebPush;

/// The record size announced in the header; one record holds the whole message.
const RECORD_SIZE: u32 = 4096;
/// The largest plaintext a push service must accept: 4096 bytes of body minus the 86-byte header
/// (salt, record size, key id length, 65-byte key id), the padding delimiter and the 16-byte tag.
pub const MAX_PLAINTEXT: usize = 4096 - 86 - 1 - 16;
/// How long a VAPID token is valid (RFC 8292 allows at most 24 hours).
pub const VAPID_VALIDITY_SECS: u64 = 12 * 60 * 60;

/// Why a push message could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebPushError {
    /// The VAPID private key is not base64url of a P-256 scalar.
    #[error("vapid_private_key is not base64url of a 32-byte P-256 private key")]
    BadVapidKey,
    /// The VAPID subject is not `mailto:` or `https:`.
    #[error("vapid_subject must start with mailto: or https:")]
    BadSubject,
    /// The subscription's keys or endpoint are unusable.
    #[error("the push subscription is unusable: {0}")]
    BadSubscription(&'static str),
    /// The payload is larger than push services accept.
    #[error("the payload is {0} bytes; at most {MAX_PLAINTEXT} fit in a push message")]
    TooLarge(usize),
    /// Encryption failed (only for inputs the checks above let through by mistake).
    #[error("encryption failed: {0}")]
    Encryption(String),
}

fn b64url(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .ok()
}

/// 32 random bytes (`wasi:random` in a component).
fn random<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("system randomness is available");
    buf
}

/// The application server's VAPID key.
#[derive(Clone)]
pub struct VapidKey {
    key: SigningKey,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VapidKey({})", self.public_key())
    }
}

impl VapidKey {
    /// Reads base64url of the 32-byte private scalar (the secret Spin variable
    /// `vapid_private_key`).
    pub fn from_base64url(scalar: &str) -> Result<Self, WebPushError> {
        let bytes = b64url(scalar.trim()).ok_or(WebPushError::BadVapidKey)?;
        let key = SigningKey::from_slice(&bytes).map_err(|_| WebPushError::BadVapidKey)?;
        Ok(Self { key })
    }

    /// A fresh key, as base64url of its scalar (for operators generating one).
    pub fn generate() -> (Self, String) {
        loop {
            let bytes: [u8; 32] = random();
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return (Self { key }, URL_SAFE_NO_PAD.encode(bytes));
            }
        }
    }

    /// The public key as browsers want it for `applicationServerKey`: base64url of the 65-byte
    /// uncompressed point.
    pub fn public_key(&self) -> String {
        let point = self.key.verifying_key().to_encoded_point(false);
        URL_SAFE_NO_PAD.encode(point.as_bytes())
    }

    /// The `Authorization` header for a message to `endpoint`: `vapid t=<JWT>, k=<public key>`,
    /// the token ES256-signed with `aud` the endpoint's origin.
    pub fn authorization(
        &self,
        endpoint: &str,
        subject: &str,
        now_secs: u64,
    ) -> Result<String, WebPushError> {
        if !(subject.starts_with("mailto:") || subject.starts_with("https:")) {
            return Err(WebPushError::BadSubject);
        }
        let url = url::Url::parse(endpoint)
            .map_err(|_| WebPushError::BadSubscription("the endpoint is not a URL"))?;
        let audience = url.origin().ascii_serialization();
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": audience,
            "exp": now_secs + VAPID_VALIDITY_SECS,
            "sub": subject,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        let token = format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        );
        Ok(format!("vapid t={token}, k={}", self.public_key()))
    }
}

/// A browser's subscription keys, decoded.
pub struct Recipient {
    public: PublicKey,
    auth: [u8; 16],
}

impl Recipient {
    /// Decodes a stored subscription.
    pub fn from_subscription(sub: &WebPush) -> Result<Self, WebPushError> {
        let public = b64url(&sub.keys.p256dh)
            .and_then(|k| PublicKey::from_sec1_bytes(&k).ok())
            .ok_or(WebPushError::BadSubscription(
                "p256dh is not a P-256 public key",
            ))?;
        let auth = b64url(&sub.keys.auth)
            .and_then(|a| <[u8; 16]>::try_from(a.as_slice()).ok())
            .ok_or(WebPushError::BadSubscription("auth is not 16 bytes"))?;
        Ok(Self { public, auth })
    }

    /// Encrypts `plaintext` for this browser with a fresh ephemeral key and salt.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, WebPushError> {
        let ephemeral = loop {
            if let Ok(key) = SecretKey::from_slice(&random::<32>()) {
                break key;
            }
        };
        self.encrypt_with(plaintext, random(), &ephemeral)
    }

    /// RFC 8291 section 3 with a given salt and ephemeral key (the known-answer tests fix them).
    fn encrypt_with(
        &self,
        plaintext: &[u8],
        salt: [u8; 16],
        ephemeral: &SecretKey,
    ) -> Result<Vec<u8>, WebPushError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(WebPushError::TooLarge(plaintext.len()));
        }
        let as_public = ephemeral.public_key();
        let shared =
            p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), self.public.as_affine());
        // IKM = HKDF(auth, ecdh, "WebPush: info" 0x00 ua_public as_public, 32).
        let ua_point = self.public.to_encoded_point(false);
        let as_point = as_public.to_encoded_point(false);
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(ua_point.as_bytes());
        info.extend_from_slice(as_point.as_bytes());
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes().as_slice())
            .expand(&info, &mut ikm)
            .map_err(|e| WebPushError::Encryption(e.to_string()))?;
        ece_native::encrypt(
            ikm,
            salt,
            as_point.as_bytes(),
            std::iter::once(plaintext.to_vec()),
            RECORD_SIZE,
        )
        .map_err(|e| WebPushError::Encryption(e.to_string()))
    }
}

/// How urgent a message is (RFC 8030 section 5.3): push services may hold back low urgency on a
/// battery-powered device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Deliver when convenient.
    Low,
    /// The default.
    Normal,
    /// Deliver now.
    High,
}

impl Urgency {
    fn as_str(self) -> &'static str {
        match self {
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

/// A push message ready to POST: the endpoint, its headers and the encrypted body.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// The subscription's endpoint.
    pub url: String,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The `aes128gcm` body.
    pub body: Vec<u8>,
}

/// What a message carries besides its payload.
#[derive(Debug, Clone)]
pub struct PushOptions<'a> {
    /// `TTL`: how long the push service keeps an undelivered message, in seconds.
    pub ttl_secs: u64,
    /// `Urgency`.
    pub urgency: Urgency,
    /// `Topic`: a later message with the same topic replaces an undelivered earlier one. At most
    /// 32 base64url characters.
    pub topic: Option<&'a str>,
    /// The VAPID subject (`mailto:` or `https:`).
    pub subject: &'a str,
    /// Unix seconds now.
    pub now_secs: u64,
}

/// Builds the encrypted, VAPID-signed message for `subscription`.
pub fn push_request(
    vapid: &VapidKey,
    subscription: &WebPush,
    payload: &[u8],
    options: &PushOptions<'_>,
) -> Result<PushRequest, WebPushError> {
    let recipient = Recipient::from_subscription(subscription)?;
    let body = recipient.encrypt(payload)?;
    let authorization =
        vapid.authorization(&subscription.endpoint, options.subject, options.now_secs)?;
    let mut headers = vec![
        ("authorization".to_owned(), authorization),
        ("content-encoding".to_owned(), "aes128gcm".to_owned()),
        (
            "content-type".to_owned(),
            "application/octet-stream".to_owned(),
        ),
        ("ttl".to_owned(), options.ttl_secs.to_string()),
        ("urgency".to_owned(), options.urgency.as_str().to_owned()),
    ];
    if let Some(topic) = options.topic {
        headers.push(("topic".to_owned(), topic.to_owned()));
    }
    Ok(PushRequest {
        url: subscription.endpoint.clone(),
        headers,
        body,
    })
}

/// A `Topic` header value for an event: 32 base64url characters derived from its id, so a retry
/// of the same event replaces a copy still waiting at the push service instead of doubling it.
/// Hashed, so any id (even one that is not hex) gives a valid header.
pub fn topic_for(event_id: &str) -> String {
    use sha2::Digest;
    let digest = Sha256::digest(event_id.as_bytes());
    let mut topic = URL_SAFE_NO_PAD.encode(digest);
    topic.truncate(32);
    topic
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::PushKeys;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;

    // RFC 8291 Appendix A.
    const PLAINTEXT: &[u8] = b"When I grow up, I want to be a watermelon";
    const CIPHERTEXT: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";

    // RFC 8188 section 3.1: the record layer alone, with the key material given directly.
    const RFC8188_IKM: &str = "yqdlZ-tYemfogSmv7Ws5PQ";
    const RFC8188_SALT: &str = "I1BsxtFttlv3u_Oo94xnmw";
    const RFC8188_ENCRYPTED: &str =
        "I1BsxtFttlv3u_Oo94xnmwAAEAAA-NAVub2qFgBEuQKRapoZu-IxkIva3MEB1PD-ly8Thjg";

    fn decode(s: &str) -> Vec<u8> {
        b64url(s).expect("base64url")
    }

    fn subscription() -> WebPush {
        WebPush {
            endpoint: "https://push.example.net:8443/send/abc".into(),
            keys: PushKeys {
                p256dh: UA_PUBLIC.into(),
                auth: AUTH.into(),
            },
            expiration_time: None,
        }
    }

    #[test]
    fn rfc8291_appendix_a_known_answer() {
        let recipient = Recipient::from_subscription(&subscription()).expect("keys");
        let ephemeral = SecretKey::from_slice(&decode(AS_PRIVATE)).expect("key");
        let salt: [u8; 16] = decode(SALT).try_into().expect("16 bytes");
        let body = recipient
            .encrypt_with(PLAINTEXT, salt, &ephemeral)
            .expect("encrypt");
        assert_eq!(URL_SAFE_NO_PAD.encode(&body), CIPHERTEXT);
    }

    #[test]
    fn rfc8188_record_layer_known_answer() {
        let salt: [u8; 16] = decode(RFC8188_SALT).try_into().expect("16 bytes");
        let body = ece_native::encrypt(
            decode(RFC8188_IKM),
            salt,
            b"",
            std::iter::once(b"I am the walrus".to_vec()),
            4096,
        )
        .expect("encrypt");
        assert_eq!(URL_SAFE_NO_PAD.encode(&body), RFC8188_ENCRYPTED);
    }

    #[test]
    fn vapid_tokens_verify_with_the_published_key() {
        let (key, scalar) = VapidKey::generate();
        let again = VapidKey::from_base64url(&scalar).expect("round trip");
        assert_eq!(key.public_key(), again.public_key());
        let header = key
            .authorization(
                "https://push.example.net:8443/send/abc",
                "mailto:ops@example.com",
                1000,
            )
            .expect("sign");
        let rest = header.strip_prefix("vapid t=").expect("scheme");
        let (token, k) = rest.split_once(", k=").expect("k");
        assert_eq!(k, key.public_key());
        let (signing_input, signature) = token.rsplit_once('.').expect("jwt");
        let verifying = VerifyingKey::from_sec1_bytes(&decode(k)).expect("point");
        let signature = Signature::from_slice(&decode(signature)).expect("r||s");
        verifying
            .verify(signing_input.as_bytes(), &signature)
            .expect("valid ES256");
        let claims: serde_json::Value =
            serde_json::from_slice(&decode(signing_input.split('.').nth(1).expect("claims")))
                .expect("json");
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["exp"], 1000 + VAPID_VALIDITY_SECS);
        assert_eq!(claims["sub"], "mailto:ops@example.com");
    }

    #[test]
    fn refuses_bad_keys_subjects_and_oversized_payloads() {
        assert_eq!(
            VapidKey::from_base64url("not a key").expect_err("bad"),
            WebPushError::BadVapidKey
        );
        let (key, _) = VapidKey::generate();
        assert_eq!(
            key.authorization("https://p.example", "ops@example.com", 0)
                .expect_err("subject"),
            WebPushError::BadSubject
        );
        let options = PushOptions {
            ttl_secs: 60,
            urgency: Urgency::Normal,
            topic: None,
            subject: "mailto:a@example.com",
            now_secs: 0,
        };
        let big = vec![b'x'; MAX_PLAINTEXT + 1];
        assert!(matches!(
            push_request(&key, &subscription(), &big, &options),
            Err(WebPushError::TooLarge(_))
        ));
        let fits = vec![b'x'; MAX_PLAINTEXT];
        let req = push_request(&key, &subscription(), &fits, &options).expect("fits");
        assert_eq!(req.body.len(), 4096);
        let mut broken = subscription();
        broken.keys.auth = "AAAA".into();
        assert!(matches!(
            push_request(&key, &broken, b"x", &options),
            Err(WebPushError::BadSubscription(_))
        ));
        assert_eq!(topic_for(&format!("0x{}", "ab".repeat(32))).len(), 32);
        assert_eq!(topic_for("not hex").len(), 32);
    }
}
