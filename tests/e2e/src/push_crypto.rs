//! What a push service and a browser do with a push message, written from the RFCs so that the
//! app's sending side is checked against an independent implementation: VAPID (RFC 8292) as the
//! push service verifies it, and the payload decryption (RFC 8291 over the `aes128gcm` record
//! layer of RFC 8188) as the browser does it.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use serde_json::Value;
use sha2::Sha256;

/// The longest validity RFC 8292 lets a token claim.
pub const MAX_VAPID_VALIDITY_SECS: u64 = 24 * 60 * 60;

/// Salt (16), record size (4), key id length (1).
const HEADER_LEN: usize = 21;
/// The AES-GCM tag.
const TAG_LEN: usize = 16;

/// base64url, unpadded as RFC 8292 and the Push API write it; padded is tolerated as push
/// services do.
pub fn b64url(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .ok()
}

/// A verified VAPID `Authorization` header.
#[derive(Debug, Clone)]
pub struct Vapid {
    /// The `k` parameter as sent (base64url of the 65-byte uncompressed point).
    pub public_key: String,
    /// The token's claims.
    pub claims: Value,
}

/// Why a VAPID header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VapidError(pub String);

fn vapid_err<T>(reason: impl Into<String>) -> Result<T, VapidError> {
    Err(VapidError(reason.into()))
}

/// Checks `Authorization: vapid t=<JWT>, k=<key>` for a message to `origin` received at
/// `now_secs`: an ES256 signature by `k`, `aud` the origin, `exp` ahead by at most 24 hours, `sub`
/// a `mailto:` or `https:` URI.
pub fn verify_vapid(header: &str, origin: &str, now_secs: u64) -> Result<Vapid, VapidError> {
    let Some((scheme, params)) = header.trim().split_once(' ') else {
        return vapid_err(format!("not `vapid t=…, k=…`: {header:?}"));
    };
    if !scheme.eq_ignore_ascii_case("vapid") {
        return vapid_err(format!("the scheme is {scheme:?}, not vapid"));
    }
    let (mut token, mut key) = (None, None);
    for param in params.split(',') {
        let Some((name, value)) = param.trim().split_once('=') else {
            return vapid_err(format!("unreadable parameter {param:?}"));
        };
        let value = value.trim().trim_matches('"');
        match name.trim() {
            "t" => token = Some(value),
            "k" => key = Some(value),
            _ => {}
        }
    }
    let (Some(token), Some(key)) = (token, key) else {
        return vapid_err("t= or k= is missing");
    };
    let point = b64url(key).ok_or_else(|| VapidError("k is not base64url".into()))?;
    if point.len() != 65 || point[0] != 4 {
        return vapid_err(format!(
            "k is {} bytes; an uncompressed P-256 point is 65 starting with 04",
            point.len()
        ));
    }
    let verifying = VerifyingKey::from_sec1_bytes(&point)
        .map_err(|_| VapidError("k is not a point on P-256".into()))?;

    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts[..] else {
        return vapid_err(format!("the token has {} parts, not 3", parts.len()));
    };
    let json = |part: &str, what: &str| -> Result<Value, VapidError> {
        URL_SAFE_NO_PAD
            .decode(part)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| VapidError(format!("the token's {what} is not base64url JSON")))
    };
    let jwt_header = json(header_b64, "header")?;
    if jwt_header["alg"] != "ES256" {
        return vapid_err(format!("alg is {}, not ES256", jwt_header["alg"]));
    }
    if !jwt_header["typ"].is_null() && jwt_header["typ"] != "JWT" {
        return vapid_err(format!("typ is {}, not JWT", jwt_header["typ"]));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .ok()
        .and_then(|raw| Signature::from_slice(&raw).ok())
        .ok_or_else(|| VapidError("the signature is not 64 bytes of r||s".into()))?;
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    verifying
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| VapidError("the ES256 signature does not verify with k".into()))?;

    let claims = json(claims_b64, "claims")?;
    if claims["aud"] != origin {
        return vapid_err(format!("aud is {}, not {origin:?}", claims["aud"]));
    }
    let Some(exp) = claims["exp"].as_f64() else {
        return vapid_err("exp is missing or not a number");
    };
    let now = now_secs as f64;
    if exp <= now {
        return vapid_err(format!("the token expired {} s ago", now - exp));
    }
    if exp > now + MAX_VAPID_VALIDITY_SECS as f64 {
        return vapid_err(format!(
            "exp is {} s ahead; at most {MAX_VAPID_VALIDITY_SECS} are allowed",
            exp - now
        ));
    }
    match claims["sub"].as_str() {
        Some(sub) if sub.starts_with("mailto:") || sub.starts_with("https:") => {}
        _ => return vapid_err(format!("sub is {}, not mailto: or https:", claims["sub"])),
    }
    Ok(Vapid {
        public_key: key.to_owned(),
        claims,
    })
}

/// The `aes128gcm` header: salt, record size and key id.
#[derive(Debug, Clone, Copy)]
pub struct EceHeader<'a> {
    /// The salt.
    pub salt: &'a [u8],
    /// The record size (ciphertext and tag of each record but the last).
    pub rs: u32,
    /// The key id (in Web Push, the sender's ephemeral public key).
    pub keyid: &'a [u8],
}

/// Splits an `aes128gcm` body into its header and its records.
pub fn parse_header(body: &[u8]) -> Result<(EceHeader<'_>, &[u8]), String> {
    if body.len() < HEADER_LEN {
        return Err(format!("{} bytes are too few for a header", body.len()));
    }
    let idlen = usize::from(body[20]);
    let Some(keyid) = body.get(HEADER_LEN..HEADER_LEN + idlen) else {
        return Err(format!("the key id ({idlen} bytes) is cut short"));
    };
    let mut rs = [0u8; 4];
    rs.copy_from_slice(&body[16..20]);
    let header = EceHeader {
        salt: &body[..16],
        rs: u32::from_be_bytes(rs),
        keyid,
    };
    if (header.rs as usize) <= TAG_LEN + 1 {
        return Err(format!("rs {} is below the minimum of 18", header.rs));
    }
    Ok((header, &body[HEADER_LEN + idlen..]))
}

/// Decrypts the records of an `aes128gcm` body (RFC 8188 section 2) with input keying
/// material `ikm`; returns the plaintext with its padding removed.
pub fn decrypt_records(
    ikm: &[u8],
    header: &EceHeader<'_>,
    records: &[u8],
) -> Result<Vec<u8>, String> {
    let prk = Hkdf::<Sha256>::new(Some(header.salt), ikm);
    let mut cek = [0u8; 16];
    let mut base_nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .and_then(|()| prk.expand(b"Content-Encoding: nonce\0", &mut base_nonce))
        .map_err(|e| format!("HKDF: {e}"))?;
    let cipher = Aes128Gcm::new(&cek.into());
    if records.is_empty() {
        return Err("there is no record".into());
    }
    let chunks: Vec<&[u8]> = records.chunks(header.rs as usize).collect();
    let mut plaintext = Vec::new();
    for (seq, record) in chunks.iter().enumerate() {
        let last = seq + 1 == chunks.len();
        let mut nonce = base_nonce;
        for (n, s) in nonce[4..].iter_mut().zip((seq as u64).to_be_bytes()) {
            *n ^= s;
        }
        let padded = cipher
            .decrypt(Nonce::from_slice(&nonce), *record)
            .map_err(|_| format!("record {seq} does not decrypt (wrong keys or altered)"))?;
        let Some(end) = padded.iter().rposition(|&b| b != 0) else {
            return Err(format!("record {seq} has no padding delimiter"));
        };
        match (padded[end], last) {
            (2, true) | (1, false) => plaintext.extend_from_slice(&padded[..end]),
            (delimiter, _) => {
                return Err(format!(
                    "record {seq} ends with delimiter {delimiter}; expected {}",
                    if last { 2 } else { 1 }
                ))
            }
        }
    }
    Ok(plaintext)
}

/// RFC 8188 with the key given directly.
pub fn decrypt_aes128gcm(ikm: &[u8], body: &[u8]) -> Result<Vec<u8>, String> {
    let (header, records) = parse_header(body)?;
    decrypt_records(ikm, &header, records)
}

/// What a browser does with a push message body (RFC 8291 section 3): the key id must be the
/// sender's ephemeral P-256 key, the message a single record; the key comes from ECDH with the
/// subscription's private key and the auth secret.
pub fn decrypt_push(ua_secret: &SecretKey, auth: &[u8], body: &[u8]) -> Result<Vec<u8>, String> {
    let (header, records) = parse_header(body)?;
    if header.keyid.len() != 65 {
        return Err(format!(
            "the key id is {} bytes, not the sender's 65-byte public key",
            header.keyid.len()
        ));
    }
    if records.len() > header.rs as usize {
        return Err("RFC 8291 allows a single record; this message has more".into());
    }
    let as_public = PublicKey::from_sec1_bytes(header.keyid)
        .map_err(|_| "the key id is not a P-256 point".to_owned())?;
    let shared = p256::ecdh::diffie_hellman(ua_secret.to_nonzero_scalar(), as_public.as_affine());
    let ua_public = ua_secret.public_key().to_encoded_point(false);
    let mut info = b"WebPush: info\0".to_vec();
    info.extend_from_slice(ua_public.as_bytes());
    info.extend_from_slice(header.keyid);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes().as_slice())
        .expand(&info, &mut ikm)
        .map_err(|e| format!("HKDF: {e}"))?;
    decrypt_records(&ikm, &header, records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &str) -> Vec<u8> {
        b64url(s).expect("base64url")
    }

    // RFC 8291 Appendix A.
    const RFC8291_CIPHERTEXT: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";
    const RFC8291_UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const RFC8291_UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const RFC8291_AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

    // RFC 8188 section 3.1: the record layer alone, key given directly.
    const RFC8188_IKM: &str = "yqdlZ-tYemfogSmv7Ws5PQ";
    const RFC8188_BODY: &str =
        "I1BsxtFttlv3u_Oo94xnmwAAEAAA-NAVub2qFgBEuQKRapoZu-IxkIva3MEB1PD-ly8Thjg";

    #[test]
    fn decrypts_rfc8291_appendix_a() {
        let ua = SecretKey::from_slice(&decode(RFC8291_UA_PRIVATE)).expect("key");
        assert_eq!(
            URL_SAFE_NO_PAD.encode(ua.public_key().to_encoded_point(false).as_bytes()),
            RFC8291_UA_PUBLIC
        );
        let plain = decrypt_push(&ua, &decode(RFC8291_AUTH), &decode(RFC8291_CIPHERTEXT))
            .expect("decrypts");
        assert_eq!(plain, b"When I grow up, I want to be a watermelon");
    }

    #[test]
    fn decrypts_rfc8188_section_3_1() {
        let body = decode(RFC8188_BODY);
        let (header, _) = parse_header(&body).expect("header");
        assert_eq!((header.rs, header.keyid.len()), (4096, 0));
        let plain = decrypt_aes128gcm(&decode(RFC8188_IKM), &body).expect("decrypts");
        assert_eq!(plain, b"I am the walrus");
    }

    #[test]
    fn refuses_altered_or_misaddressed_messages() {
        let ua = SecretKey::from_slice(&decode(RFC8291_UA_PRIVATE)).expect("key");
        let auth = decode(RFC8291_AUTH);
        let body = decode(RFC8291_CIPHERTEXT);
        let mut altered = body.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(decrypt_push(&ua, &auth, &altered).is_err());
        assert!(decrypt_push(&ua, &[0u8; 16], &body).is_err());
        let other = SecretKey::from_slice(&[7u8; 32]).expect("key");
        assert!(decrypt_push(&other, &auth, &body).is_err());
        assert!(decrypt_push(&ua, &auth, &body[..30]).is_err());
        assert!(decrypt_push(&ua, &auth, &[]).is_err());
        // RFC 8188's body has no key id: not a push message.
        assert!(decrypt_push(&ua, &auth, &decode(RFC8188_BODY)).is_err());
    }

    const ORIGIN: &str = "https://localhost:4433";
    const NOW: u64 = 1_700_000_000;

    fn authorization(key: &p256::ecdsa::SigningKey, header: &Value, claims: &Value) -> String {
        use p256::ecdsa::signature::Signer;
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Signature = key.sign(input.as_bytes());
        let k = key.verifying_key().to_encoded_point(false);
        format!(
            "vapid t={input}.{}, k={}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes()),
            URL_SAFE_NO_PAD.encode(k.as_bytes())
        )
    }

    #[test]
    fn verifies_vapid_like_a_push_service() {
        let key = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).expect("key");
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256"});
        let claims = |aud: &str, exp: u64, sub: &str| serde_json::json!({"aud": aud, "exp": exp, "sub": sub});
        let good = claims(ORIGIN, NOW + 3600, "mailto:ops@example.com");
        let vapid = verify_vapid(&authorization(&key, &header, &good), ORIGIN, NOW).expect("valid");
        assert_eq!(vapid.claims, good);

        let refused = |auth: &str| verify_vapid(auth, ORIGIN, NOW).expect_err("refused").0;
        let with_claims = |c: &Value| refused(&authorization(&key, &header, c));
        assert!(with_claims(&claims("https://localhost", NOW + 60, "mailto:a@b")).contains("aud"));
        assert!(with_claims(&claims(ORIGIN, NOW - 1, "mailto:a@b")).contains("expired"));
        assert!(with_claims(&claims(ORIGIN, NOW + 86_401, "mailto:a@b")).contains("ahead"));
        assert!(with_claims(&claims(ORIGIN, NOW + 60, "ops@example.com")).contains("sub"));
        let hs256 = serde_json::json!({"typ": "JWT", "alg": "HS256"});
        assert!(refused(&authorization(&key, &hs256, &good)).contains("alg"));
        let jwe = serde_json::json!({"typ": "JWE", "alg": "ES256"});
        assert!(refused(&authorization(&key, &jwe, &good)).contains("typ"));

        let valid = authorization(&key, &header, &good);
        let other = p256::ecdsa::SigningKey::from_slice(&[8u8; 32]).expect("key");
        let other_k = authorization(&other, &header, &good);
        let (token, _) = valid.split_once(", k=").expect("k");
        let (_, k) = other_k.split_once(", k=").expect("k");
        assert!(refused(&format!("{token}, k={k}")).contains("signature"));
        let compressed = URL_SAFE_NO_PAD.encode(key.verifying_key().to_encoded_point(true));
        assert!(refused(&format!("{token}, k={compressed}")).contains("65"));
        assert!(refused(token).contains("missing"));
        assert!(refused(&valid.replacen("vapid", "WebPush", 1)).contains("scheme"));
        assert!(refused("vapid").contains("not `vapid"));
    }
}
