//! The three signature schemes of Substrate accounts, verification only: sr25519 (schnorrkel,
//! signing context `substrate`), ed25519, and ecdsa over secp256k1 (a 65-byte recoverable
//! signature over the BLAKE2b-256 hash of the message; the account of an ecdsa key is the
//! BLAKE2b-256 hash of its 33-byte compressed public key).
//!
//! Wallets sign "raw" messages the way the Polkadot extensions' `signRaw` does: the bytes wrapped
//! in `<Bytes>…</Bytes>`. Both the bare message and the wrapped form are accepted.

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use serde::{Deserialize, Serialize};

/// A signature scheme of Substrate accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Schnorr over Ristretto25519 (most wallets' default).
    Sr25519,
    /// Ed25519.
    Ed25519,
    /// ECDSA over secp256k1, recoverable.
    Ecdsa,
}

impl Scheme {
    /// Its name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Sr25519 => "sr25519",
            Scheme::Ed25519 => "ed25519",
            Scheme::Ecdsa => "ecdsa",
        }
    }

    /// The tag of this scheme in Substrate's `MultiSignature` encoding.
    fn tag(self) -> u8 {
        match self {
            Scheme::Ed25519 => 0,
            Scheme::Sr25519 => 1,
            Scheme::Ecdsa => 2,
        }
    }
}

/// The signing context of Substrate's sr25519 signatures.
const SR25519_CONTEXT: &[u8] = b"substrate";

/// BLAKE2b with a 256-bit output, Substrate's `blake2_256`.
pub fn blake2_256(data: &[u8]) -> [u8; 32] {
    Blake2b::<U32>::digest(data).into()
}

/// The message as the Polkadot extensions' `signRaw` signs it.
pub fn wrap_bytes(message: &[u8]) -> Vec<u8> {
    [b"<Bytes>", message, b"</Bytes>"].concat()
}

/// Why a signature was refused; the message is for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// Verifies `signature` over `message` (bare or wrapped in `<Bytes>…</Bytes>`) by the key of the
/// 32-byte `account`. Without `scheme`, every scheme the signature's length allows is tried.
/// Signatures in Substrate's `MultiSignature` encoding (a leading scheme byte) are accepted too.
/// The answer is the scheme that verified.
pub fn verify(
    account: &[u8; 32],
    message: &[u8],
    signature: &[u8],
    scheme: Option<Scheme>,
) -> Result<Scheme, Refused> {
    let candidates: Vec<(Scheme, &[u8])> = [Scheme::Sr25519, Scheme::Ed25519, Scheme::Ecdsa]
        .into_iter()
        .filter(|s| scheme.is_none_or(|wanted| wanted == *s))
        .flat_map(|s| {
            let len = if s == Scheme::Ecdsa { 65 } else { 64 };
            let bare = (signature.len() == len).then_some((s, signature));
            let tagged = (signature.len() == len + 1 && signature[0] == s.tag())
                .then(|| (s, &signature[1..]));
            bare.into_iter().chain(tagged)
        })
        .collect();
    if candidates.is_empty() {
        let expected = match scheme {
            Some(Scheme::Ecdsa) => "65 bytes (r, s and the recovery id)",
            Some(_) => "64 bytes",
            None => "64 bytes (sr25519, ed25519) or 65 (ecdsa)",
        };
        return Err(Refused(format!(
            "the signature is {} bytes; expected {expected}",
            signature.len()
        )));
    }
    let wrapped = wrap_bytes(message);
    for (s, sig) in candidates {
        for msg in [message, wrapped.as_slice()] {
            let ok = match s {
                Scheme::Sr25519 => sr25519(account, msg, sig),
                Scheme::Ed25519 => ed25519(account, msg, sig),
                Scheme::Ecdsa => ecdsa(account, msg, sig),
            };
            if ok {
                return Ok(s);
            }
        }
    }
    let tried = match scheme {
        Some(s) => s.name().to_owned(),
        None => "sr25519, ed25519 and ecdsa".to_owned(),
    };
    Err(Refused(format!(
        "not a signature of the challenge's message by this account's key (tried {tried}, \
         over the message as is and wrapped in <Bytes>…</Bytes>)"
    )))
}

fn sr25519(account: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) = (
        schnorrkel::PublicKey::from_bytes(account),
        schnorrkel::Signature::from_bytes(signature),
    ) else {
        return false;
    };
    key.verify_simple(SR25519_CONTEXT, message, &sig).is_ok()
}

fn ed25519(account: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(account) else {
        return false;
    };
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok()
}

fn ecdsa(account: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
    let (Some(rs), Some(&v)) = (signature.get(..64), signature.get(64)) else {
        return false;
    };
    // 0 to 3, or Ethereum's 27 to 30.
    let v = if v >= 27 { v - 27 } else { v };
    let (Ok(mut sig), Some(mut id)) = (Signature::from_slice(rs), RecoveryId::from_byte(v)) else {
        return false;
    };
    // A high-s signature is as valid to libsecp256k1's recovery; its low-s twin recovers the
    // same key with the other parity.
    if let Some(low) = sig.normalize_s() {
        sig = low;
        id = RecoveryId::new(!id.is_y_odd(), id.is_x_reduced());
    }
    let prehash = blake2_256(message);
    let Ok(key) = VerifyingKey::recover_from_prehash(&prehash, &sig, id) else {
        return false;
    };
    blake2_256(key.to_encoded_point(true).as_bytes()) == *account
}

#[cfg(test)]
mod tests {
    use super::super::dev_keys::{ALICE, BOB};
    use super::*;

    const MESSAGE: &[u8] = b"Aurras: a message to sign";

    #[test]
    fn the_dev_accounts_derive_to_their_well_known_keys() {
        // `subkey inspect //Alice` (and --scheme ed25519 / ecdsa), `//Bob`.
        assert_eq!(
            hex::encode(ALICE.sr25519().account()),
            "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
        );
        assert_eq!(
            hex::encode(BOB.sr25519().account()),
            "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48"
        );
        assert_eq!(
            hex::encode(ALICE.ed25519().account()),
            "88dc3417d5058ec4b4503e0c12ea1a0a89be200fe98922423d4334014fa6b0ee"
        );
        assert_eq!(
            hex::encode(ALICE.ecdsa().public()),
            "020a1091341fe5664bfa1782d5e04779689068c916b04cb365ec3153755684d9a1"
        );
    }

    #[test]
    fn each_scheme_verifies_bare_and_wrapped_and_is_inferred() {
        for key in [ALICE.sr25519(), ALICE.ed25519(), ALICE.ecdsa()] {
            let account = key.account();
            for msg in [MESSAGE.to_vec(), wrap_bytes(MESSAGE)] {
                let sig = key.sign(&msg);
                assert_eq!(
                    verify(&account, MESSAGE, &sig, Some(key.scheme())),
                    Ok(key.scheme())
                );
                assert_eq!(verify(&account, MESSAGE, &sig, None), Ok(key.scheme()));
                // MultiSignature encoding: the scheme's tag first.
                let tagged = [&[key.scheme().tag()][..], &sig].concat();
                assert_eq!(verify(&account, MESSAGE, &tagged, None), Ok(key.scheme()));
            }
        }
    }

    #[test]
    fn another_account_another_message_or_scheme_is_refused() {
        for (key, other) in [
            (ALICE.sr25519(), BOB.sr25519()),
            (ALICE.ed25519(), BOB.ed25519()),
            (ALICE.ecdsa(), BOB.ecdsa()),
        ] {
            let sig = key.sign(MESSAGE);
            assert!(verify(&other.account(), MESSAGE, &sig, None).is_err());
            assert!(verify(&key.account(), b"Aurras: a message to sigN", &sig, None).is_err());
            let mut flipped = sig.clone();
            flipped[10] ^= 1;
            assert!(verify(&key.account(), MESSAGE, &flipped, None).is_err());
        }
        let sr = ALICE.sr25519();
        let e = verify(
            &sr.account(),
            MESSAGE,
            &sr.sign(MESSAGE),
            Some(Scheme::Ed25519),
        )
        .expect_err("named scheme only");
        assert!(e.0.contains("tried ed25519"), "{}", e.0);
        let e = verify(&sr.account(), MESSAGE, &[0u8; 12], None).expect_err("length");
        assert!(e.0.contains("12 bytes"), "{}", e.0);
        assert!(verify(&sr.account(), MESSAGE, &[], None).is_err());
    }

    /// Signatures made outside this code base by polkadot.js tooling: Alice's sr25519 signature
    /// of a raw message as a browser extension's `signRaw` makes it (the text
    /// `0x46fb7408d4f285228f4af516ea25851b`, signed inside `<Bytes>…</Bytes>`), as an ink!
    /// contract's sr25519 tests use it; and a wallet's signature of `test message\n` from a
    /// project's `signatureVerify` test (scheme not given there, so inferred here).
    #[test]
    fn signatures_made_by_polkadot_js_tooling_verify() {
        let alice: [u8; 32] = ALICE.sr25519().account();
        let sig = hex::decode(
            "0a7da2b631704cdcfe93c740e41217b9ac667a0c8755d8da1a8232db527f487c\
             87e780d2edc1896aeb6b1bef0bc7c38d9df2135b633eab8bfb1777e82fad3a8f",
        )
        .expect("hex");
        let message = b"0x46fb7408d4f285228f4af516ea25851b";
        assert_eq!(verify(&alice, message, &sig, None), Ok(Scheme::Sr25519));
        assert!(verify(&alice, b"0x46fb7408d4f285228f4af516ea25851c", &sig, None).is_err());

        let (other, _) =
            crate::ss58::AccountId::from_ss58("5Gv8YYFu8H1btvmrJy9FjjAWfb99wrhV3uhPFoNEr918utyR")
                .expect("address");
        let sig = hex::decode(
            "22f91b41ba12f8663ddce26bfc90dbfe6a51683fd3782ad679ab2a5fdbe7d44c\
             2a119f22c74eea22555e5483eb7f42b828f189a38379d59c3b607d2461f0858e",
        )
        .expect("hex");
        assert!(verify(&other.0, b"test message\n", &sig, None).is_ok());
        assert!(verify(&other.0, b"another message\n", &sig, None).is_err());
    }

    #[test]
    fn a_high_s_ecdsa_signature_and_ethereum_recovery_ids_verify() {
        let key = ALICE.ecdsa();
        let sig = key.sign(MESSAGE);
        let parsed = k256::ecdsa::Signature::from_slice(&sig[..64]).expect("sig");
        let (r, s) = parsed.split_scalars();
        let high = k256::ecdsa::Signature::from_scalars(r, -*s).expect("high s");
        let mut bytes = high.to_bytes().to_vec();
        bytes.push(sig[64] ^ 1);
        assert_eq!(
            verify(&key.account(), MESSAGE, &bytes, None),
            Ok(Scheme::Ecdsa)
        );
        let mut eth = sig.clone();
        eth[64] += 27;
        assert_eq!(
            verify(&key.account(), MESSAGE, &eth, None),
            Ok(Scheme::Ecdsa)
        );
    }
}
