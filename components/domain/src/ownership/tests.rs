use super::dev_keys::{DevKey, ALICE, BOB};
use super::schemes::wrap_bytes;
use super::*;
use crate::kv::MemoryStore;

const NOW: u64 = 1_800_000_000;
const K1: &str = "k1:MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=";
const K2: &str = "k2:YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIzNDU=";

fn ring(text: &str) -> Keyring {
    Keyring::parse(text).expect("ring")
}

fn proof(issued: &IssuedChallenge, key: &DevKey, message: &[u8]) -> OwnerProof {
    OwnerProof {
        challenge: issued.challenge.clone(),
        signature: key.sign_hex(message),
        scheme: Some(key.scheme()),
    }
}

fn refused_at(e: &ApiError, field: &str, words: &str) {
    assert_eq!(e.status(), 422, "{e:?}");
    assert_eq!(e.field.as_deref(), Some(field), "{e:?}");
    assert!(e.message.contains(words), "{:?} lacks {words:?}", e.message);
}

#[test]
fn each_scheme_proves_its_account_once() {
    let (kv, ring) = (MemoryStore::default(), ring(K1));
    for key in [ALICE.sr25519(), ALICE.ed25519(), ALICE.ecdsa()] {
        let account = key.account_hex();
        let issued = issue(&ring, &account, NOW).expect("issue");
        assert_eq!(issued.account, account);
        assert_eq!(issued.expires, NOW + CHALLENGE_TTL_SECS);
        for part in [
            "Aurras",
            &issued.address,
            &issued.challenge,
            &issued.expires_at,
        ] {
            assert!(issued.message.contains(part), "{}", issued.message);
        }
        let p = proof(&issued, &key, issued.message.as_bytes());
        assert_eq!(verify(&kv, &ring, &p, &account, NOW + 10), Ok(key.scheme()));
        // Single use.
        let e = verify(&kv, &ring, &p, &account, NOW + 11).expect_err("reused");
        refused_at(&e, "proof.challenge", "used already");
    }
}

#[test]
fn the_extension_wrapped_message_and_an_unnamed_scheme_are_accepted() {
    let (kv, ring) = (MemoryStore::default(), ring(K1));
    let key = ALICE.sr25519();
    let issued = issue(&ring, &key.account_hex(), NOW).expect("issue");
    let mut p = proof(&issued, &key, &wrap_bytes(issued.message.as_bytes()));
    p.scheme = None;
    p.signature = p.signature.trim_start_matches("0x").to_owned();
    assert_eq!(
        verify(&kv, &ring, &p, &key.account_hex(), NOW),
        Ok(Scheme::Sr25519)
    );
}

#[test]
fn an_address_keeps_its_network_prefix_in_the_message() {
    let ring = ring(K1);
    let alice = AccountId(ALICE.sr25519().account());
    let polkadot = alice.to_ss58(0).expect("ss58");
    let issued = issue(&ring, &polkadot, NOW).expect("issue");
    assert_eq!(issued.address, polkadot);
    assert_eq!(issued.account, alice.to_hex());
    let from_hex = issue(&ring, &alice.to_hex(), NOW).expect("issue");
    assert_eq!(from_hex.address, alice.to_ss58(42).expect("ss58"));
    let e = issue(&ring, "5Grw-not-an-address", NOW).expect_err("bad");
    refused_at(&e, "account", "neither");
}

#[test]
fn another_account_a_tampered_message_or_an_expired_challenge_is_refused_and_nothing_stored() {
    let (kv, ring) = (MemoryStore::default(), ring(K1));
    let alice = ALICE.sr25519();
    let bob = BOB.sr25519();
    let issued = issue(&ring, &alice.account_hex(), NOW).expect("issue");
    let good = proof(&issued, &alice, issued.message.as_bytes());

    // Alice's challenge and signature, for Bob's account.
    let e = verify(&kv, &ring, &good, &bob.account_hex(), NOW).expect_err("other account");
    refused_at(&e, "proof.challenge", "not issued for the account");
    // Bob's signature over Alice's challenge.
    let by_bob = proof(&issued, &bob, issued.message.as_bytes());
    let e = verify(&kv, &ring, &by_bob, &alice.account_hex(), NOW).expect_err("bob signed");
    refused_at(&e, "proof.signature", "not a signature");
    // Alice signs another text than the message.
    let tampered = issued.message.replace("Valid until", "Valid after");
    let e = verify(
        &kv,
        &ring,
        &proof(&issued, &alice, tampered.as_bytes()),
        &alice.account_hex(),
        NOW,
    )
    .expect_err("tampered");
    refused_at(&e, "proof.signature", "not a signature");
    // A challenge whose expiry was moved.
    let mut forged = good.clone();
    forged.challenge = forged.challenge.replacen(
        &format!(".{}.", NOW + CHALLENGE_TTL_SECS),
        &format!(".{}.", NOW + 86_400),
        1,
    );
    assert_ne!(forged.challenge, good.challenge);
    let e = verify(&kv, &ring, &forged, &alice.account_hex(), NOW).expect_err("forged");
    refused_at(&e, "proof.challenge", "not issued");
    // Expired.
    let e = verify(
        &kv,
        &ring,
        &good,
        &alice.account_hex(),
        NOW + CHALLENGE_TTL_SECS,
    )
    .expect_err("expired");
    refused_at(&e, "proof.challenge", "expired at");
    // Malformed.
    let mut junk = good.clone();
    junk.challenge = "v1.garbage".into();
    let e = verify(&kv, &ring, &junk, &alice.account_hex(), NOW).expect_err("junk");
    refused_at(&e, "proof.challenge", "not a challenge");
    let mut not_hex = good.clone();
    not_hex.signature = "0xzz".into();
    let e = verify(&kv, &ring, &not_hex, &alice.account_hex(), NOW).expect_err("hex");
    refused_at(&e, "proof.signature", "hex");
    // Another deployment's challenge.
    let theirs = issue(
        &super::Keyring::parse(K2).expect("k2"),
        &alice.account_hex(),
        NOW,
    )
    .expect("issue");
    let e = verify(
        &kv,
        &ring,
        &proof(&theirs, &alice, theirs.message.as_bytes()),
        &alice.account_hex(),
        NOW,
    )
    .expect_err("other deployment");
    refused_at(&e, "proof.challenge", "by this deployment");
    // None of these used anything up: the genuine proof still works, once.
    assert!(kv.keys().is_empty(), "{:?}", kv.keys());
    assert!(verify(&kv, &ring, &good, &alice.account_hex(), NOW).is_ok());
}

#[test]
fn a_challenge_survives_a_key_rotation_and_used_ones_are_pruned_once_expired() {
    let kv = MemoryStore::default();
    let alice = ALICE.ed25519();
    let issued = issue(&ring(K1), &alice.account_hex(), NOW).expect("issue");
    let rotated = ring(&format!("{K2},{K1}"));
    let p = proof(&issued, &alice, issued.message.as_bytes());
    assert!(verify(&kv, &rotated, &p, &alice.account_hex(), NOW + 1).is_ok());
    let key = keys::used_challenges(&alice.account_hex());
    let used = |kv: &MemoryStore| -> BTreeMap<String, u64> {
        serde_json::from_slice(&kv.get(&key).expect("get").expect("stored")).expect("map")
    };
    assert_eq!(used(&kv).len(), 1);
    // A later proof prunes the expired nonce.
    let later = NOW + CHALLENGE_TTL_SECS + 5;
    let issued = issue(&rotated, &alice.account_hex(), later).expect("issue");
    let p = proof(&issued, &alice, issued.message.as_bytes());
    assert!(verify(&kv, &rotated, &p, &alice.account_hex(), later).is_ok());
    assert_eq!(
        used(&kv).into_values().collect::<Vec<_>>(),
        [later + CHALLENGE_TTL_SECS]
    );
}

#[test]
fn the_proof_shape_is_strict() {
    let p: Result<OwnerProof, _> = serde_json::from_value(serde_json::json!(
        {"challenge": "c", "signature": "0x00", "scheme": "sr25519"}
    ));
    assert_eq!(p.expect("shape").scheme, Some(Scheme::Sr25519));
    for bad in [
        serde_json::json!({"challenge": "c", "signature": "0x00", "scheme": "rsa"}),
        serde_json::json!({"challenge": "c", "signature": "0x00", "extra": 1}),
        serde_json::json!({"challenge": "c"}),
    ] {
        assert!(serde_json::from_value::<OwnerProof>(bad).is_err());
    }
    assert_eq!(unix_secs("2027-01-15T08:00:00Z"), Ok(1_800_000_000));
    assert_eq!(unix_secs("2027-01-15T08:00:00.123Z"), Ok(1_800_000_000));
}
