//! The Substrate dev accounts' keys, `//Alice` and `//Bob` of the well-known dev phrase, in all
//! three schemes: what tests sign owner proofs with. Built only for tests (the `dev-keys`
//! feature): these keys are public, so nothing they sign proves anything outside a test.
//!
//! The derivation is Substrate's hard derivation (HDKD): sr25519 through schnorrkel's
//! `hard_derive_mini_secret_key`, ed25519 and ecdsa as `blake2_256` of the SCALE encoding of
//! `("Ed25519HDKD" | "Secp256k1HDKD", seed, chain code)`.

// Test-only code over constants: a failure here is a broken test, not outside input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ed25519_dalek::Signer;
use schnorrkel::derive::ChainCode;
use schnorrkel::{signing_context, ExpansionMode, MiniSecretKey};

use super::schemes::{blake2_256, Scheme};

/// The seed of the dev phrase "bottom drive obey lake curtain smoke basket hold race lonely fit
/// walk" (`subkey inspect` prints it as the secret seed).
const DEV_SEED: &str = "fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e";

/// A dev account: the dev phrase with one hard junction (`//Alice`).
#[derive(Debug, Clone, Copy)]
pub struct DevAccount(&'static str);

/// `//Alice`.
pub const ALICE: DevAccount = DevAccount("Alice");
/// `//Bob`.
pub const BOB: DevAccount = DevAccount("Bob");

/// One dev account's key in one scheme.
pub enum DevKey {
    /// sr25519.
    Sr25519(schnorrkel::Keypair),
    /// ed25519.
    Ed25519(ed25519_dalek::SigningKey),
    /// ecdsa (secp256k1).
    Ecdsa(k256::ecdsa::SigningKey),
}

fn seed() -> [u8; 32] {
    hex::decode(DEV_SEED).unwrap().try_into().unwrap()
}

/// SCALE's compact length prefix of a short string (under 64 bytes).
fn scale_str(s: &str) -> Vec<u8> {
    let len = u8::try_from(s.len()).unwrap();
    assert!(len < 64);
    [&[len << 2][..], s.as_bytes()].concat()
}

/// The chain code of a hard junction named `name`: its SCALE encoding, padded to 32 bytes.
fn chain_code(name: &str) -> [u8; 32] {
    let mut cc = [0u8; 32];
    let encoded = scale_str(name);
    cc[..encoded.len()].copy_from_slice(&encoded);
    cc
}

fn hdkd(label: &str, name: &str) -> [u8; 32] {
    blake2_256(&[scale_str(label), seed().to_vec(), chain_code(name).to_vec()].concat())
}

impl DevAccount {
    /// The account's sr25519 key.
    pub fn sr25519(self) -> DevKey {
        let root = MiniSecretKey::from_bytes(&seed())
            .unwrap()
            .expand(ExpansionMode::Ed25519);
        let (mini, _) = root.hard_derive_mini_secret_key(Some(ChainCode(chain_code(self.0))), b"");
        DevKey::Sr25519(mini.expand_to_keypair(ExpansionMode::Ed25519))
    }

    /// The account's ed25519 key.
    pub fn ed25519(self) -> DevKey {
        DevKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&hdkd(
            "Ed25519HDKD",
            self.0,
        )))
    }

    /// The account's ecdsa key.
    pub fn ecdsa(self) -> DevKey {
        DevKey::Ecdsa(k256::ecdsa::SigningKey::from_slice(&hdkd("Secp256k1HDKD", self.0)).unwrap())
    }
}

impl DevKey {
    /// The key's scheme.
    pub fn scheme(&self) -> Scheme {
        match self {
            DevKey::Sr25519(_) => Scheme::Sr25519,
            DevKey::Ed25519(_) => Scheme::Ed25519,
            DevKey::Ecdsa(_) => Scheme::Ecdsa,
        }
    }

    /// The public key (33 compressed bytes for ecdsa, 32 otherwise).
    pub fn public(&self) -> Vec<u8> {
        match self {
            DevKey::Sr25519(k) => k.public.to_bytes().to_vec(),
            DevKey::Ed25519(k) => k.verifying_key().to_bytes().to_vec(),
            DevKey::Ecdsa(k) => k.verifying_key().to_encoded_point(true).as_bytes().to_vec(),
        }
    }

    /// The 32-byte account id.
    pub fn account(&self) -> [u8; 32] {
        match self {
            DevKey::Ecdsa(_) => blake2_256(&self.public()),
            _ => self.public().try_into().unwrap(),
        }
    }

    /// The account as `0x` hex.
    pub fn account_hex(&self) -> String {
        format!("0x{}", hex::encode(self.account()))
    }

    /// The account as an SS58 address with the network `prefix` (42 for dev chains and Paseo).
    pub fn address(&self, prefix: u16) -> String {
        crate::ss58::AccountId(self.account())
            .to_ss58(prefix)
            .unwrap()
    }

    /// Signs `message` as Substrate does: 64 bytes for sr25519 and ed25519, 65 (r, s, recovery
    /// id) over `blake2_256(message)` for ecdsa.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            DevKey::Sr25519(k) => k
                .sign(signing_context(b"substrate").bytes(message))
                .to_bytes()
                .to_vec(),
            DevKey::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            DevKey::Ecdsa(k) => {
                let (sig, id) = k.sign_prehash_recoverable(&blake2_256(message)).unwrap();
                [&sig.to_bytes()[..], &[id.to_byte()]].concat()
            }
        }
    }

    /// [`Self::sign`] as `0x` hex, the way wallets answer.
    pub fn sign_hex(&self, message: &[u8]) -> String {
        format!("0x{}", hex::encode(self.sign(message)))
    }
}
