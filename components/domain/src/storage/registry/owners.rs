//! Owner-verified triggers: a trigger created or changed with a valid proof of holding the
//! account its balance filter names ([`crate::ownership`]) goes into that account's owner list
//! (`ix/<topic>/owner/<account>`) instead of the anonymous one. Both lists have the
//! per-account cap, so anonymous creators filling the anonymous list never refuse the owner, and
//! anonymous triggers keep their cap. Dispatch reads both lists in the same `get-many`.

use super::Registry;
use crate::error::{ApiError, ApiResult};
use crate::kv::KeyValue;
use crate::ownership::{self, OwnerProof};
use crate::trigger::Trigger;

/// The account a trigger is indexed under, if its filter names one.
fn account(t: &Trigger) -> Option<&str> {
    t.filter.as_ref().and_then(|f| f.indexed_account())
}

impl<'a, S: KeyValue + ?Sized> Registry<'a, S> {
    /// Whether `next` (a new trigger, or a change of `current`) is owner-verified: with a proof,
    /// when the proof holds for its account (the challenge is used up); without one, when it was
    /// and still names the same account. Call it after validating everything else, so a request
    /// refused for another reason does not use the challenge up.
    pub(super) fn owner_verified(
        &self,
        current: Option<&Trigger>,
        next: &Trigger,
        proof: Option<&OwnerProof>,
        now: &str,
    ) -> ApiResult<bool> {
        let Some(proof) = proof else {
            return Ok(current.is_some_and(|c| c.owner_verified && account(c) == account(next)));
        };
        let account = account(next).ok_or_else(|| {
            ApiError::invalid(
                "proof",
                "a proof goes with a balance filter naming the account it proves; this trigger's \
                 filter names none",
            )
        })?;
        ownership::verify(
            self.kv,
            self.ring,
            proof,
            account,
            ownership::unix_secs(now)?,
        )?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::error::ErrorCode;
    use crate::keys;
    use crate::kv::MemoryStore;
    use crate::limits::Caps;
    use crate::names::{EventName, Topic};
    use crate::ownership::dev_keys::{DevKey, ALICE, BOB};
    use crate::ownership::issue;
    use crate::registry::{Caller, CreatedTrigger};
    use crate::source::Source;
    use crate::trigger::{NewTrigger, TriggerPatch};
    use crate::vault::TEST_KEYRING;

    const NOW: &str = "2027-01-15T08:00:00Z";
    const NOW_SECS: u64 = 1_800_000_000;

    fn setup(kv: &MemoryStore) -> (Registry<'_, MemoryStore>, Source, Topic) {
        let reg = Registry::new(kv, &TEST_KEYRING).with_caps(Caps {
            per_account: 2,
            any_account: 10,
        });
        let req = serde_json::from_value(json!({"chain": "paseo", "rpc": ["ws://127.0.0.1:9944"],
            "events": ["Balances.Transfer"], "token": {"symbol": "PAS", "decimals": 10}}))
        .expect("shape");
        let src = reg.create_source(req, NOW).expect("source");
        let topic = EventName::parse("Balances.Transfer")
            .expect("event")
            .topic(&src.chain);
        (reg, src, topic)
    }

    fn body(src: &Source, account: Option<&str>) -> Value {
        let mut body = json!({"source": src.id, "event": "Balances.Transfer",
                              "action": {"webhook": {"url": "https://h.example.com"}}});
        if let Some(account) = account {
            // Filters take the chain's SS58 form.
            let id = crate::ss58::AccountId::from_hex(account).expect("hex");
            body["filter"] = json!({"balance": {"account": id.to_ss58(42).expect("ss58")}});
        }
        body
    }

    fn proof(key: &DevKey) -> Value {
        let issued = issue(&TEST_KEYRING, &key.account_hex(), NOW_SECS).expect("challenge");
        json!({"challenge": issued.challenge, "signature": key.sign_hex(issued.message.as_bytes()),
               "scheme": key.scheme().name()})
    }

    fn create(reg: &Registry<'_, MemoryStore>, body: Value) -> ApiResult<CreatedTrigger> {
        let req: NewTrigger = serde_json::from_value(body).expect("shape");
        reg.create_trigger(req, NOW)
    }

    fn records(kv: &MemoryStore) -> usize {
        kv.keys()
            .iter()
            .filter(|k| k.starts_with(keys::TRIGGER_PREFIX))
            .count()
    }

    #[test]
    fn anonymous_creators_filling_an_account_never_refuse_its_proven_owner() {
        let kv = MemoryStore::default();
        let (reg, src, topic) = setup(&kv);
        for key in [ALICE.sr25519(), ALICE.ed25519(), ALICE.ecdsa()] {
            let account = key.account_hex();
            for _ in 0..2 {
                create(&reg, body(&src, Some(&account))).expect("anonymous");
            }
            let full = create(&reg, body(&src, Some(&account))).expect_err("full");
            assert_eq!(full.code, ErrorCode::TooManyTriggers);

            let mut owned = body(&src, Some(&account));
            owned["proof"] = proof(&key);
            let created = create(&reg, owned).expect("the owner is admitted");
            assert!(created.trigger.owner_verified);
            assert_eq!(created.trigger.view()["owner_verified"], true);
            let owner_list = reg
                .index_ids(&keys::owner_index(&topic, &account))
                .expect("list");
            assert!(owner_list.contains(&created.trigger.id));
            // Dispatch finds both lists in one lookup.
            assert_eq!(
                reg.lookup(&topic, std::slice::from_ref(&account))
                    .expect("lookup")
                    .len(),
                3
            );
            // Anonymous triggers keep their cap; the owner's list has one of its own.
            let e = create(&reg, body(&src, Some(&account))).expect_err("still full");
            assert_eq!(e.code, ErrorCode::TooManyTriggers);
            let mut second = body(&src, Some(&account));
            second["proof"] = proof(&key);
            create(&reg, second).expect("second owner trigger");
            let mut third = body(&src, Some(&account));
            third["proof"] = proof(&key);
            let e = create(&reg, third).expect_err("the owner's list is capped too");
            assert_eq!(e.code, ErrorCode::TooManyTriggers);
        }
    }

    #[test]
    fn a_bad_proof_stores_nothing_and_names_the_field() {
        let kv = MemoryStore::default();
        let (reg, src, _) = setup(&kv);
        let alice = ALICE.sr25519();
        let before = records(&kv);
        // Bob signs Alice's challenge.
        let issued = issue(&TEST_KEYRING, &alice.account_hex(), NOW_SECS).expect("challenge");
        let mut forged = body(&src, Some(&alice.account_hex()));
        forged["proof"] = json!({"challenge": issued.challenge,
            "signature": BOB.sr25519().sign_hex(issued.message.as_bytes())});
        let e = create(&reg, forged).expect_err("forged");
        assert_eq!(
            (e.status(), e.field.as_deref()),
            (422, Some("proof.signature"))
        );
        // A proof without an account to prove.
        let mut any = body(&src, None);
        let good = proof(&alice);
        any["proof"] = good.clone();
        let e = create(&reg, any).expect_err("no account");
        assert_eq!((e.status(), e.field.as_deref()), (422, Some("proof")));
        assert_eq!(records(&kv), before);
        // That refusal did not use the challenge up.
        let mut owned = body(&src, Some(&alice.account_hex()));
        owned["proof"] = good;
        assert!(create(&reg, owned).is_ok());
    }

    #[test]
    fn a_change_of_account_drops_the_proof_and_a_patch_with_one_moves_a_trigger_to_the_owner_list()
    {
        let kv = MemoryStore::default();
        let (reg, src, topic) = setup(&kv);
        let (alice, bob) = (ALICE.sr25519(), BOB.sr25519());
        let created = create(&reg, body(&src, Some(&alice.account_hex()))).expect("anonymous");
        let (id, token) = (&created.trigger.id, created.token.as_str());
        let patch = |v: Value| -> TriggerPatch { serde_json::from_value(v).expect("patch") };

        let proven = reg
            .patch_trigger(
                id,
                Caller::Owner(token),
                patch(json!({"proof": proof(&alice)})),
                NOW,
            )
            .expect("proved");
        assert!(proven.owner_verified);
        let alice_owner = keys::owner_index(&topic, &alice.account_hex());
        let alice_anon = keys::account_index(&topic, &alice.account_hex());
        assert!(reg.index_ids(&alice_owner).expect("ids").contains(id));
        assert!(!reg.index_ids(&alice_anon).expect("ids").contains(id));
        // Pausing keeps it verified.
        let paused = reg
            .patch_trigger(
                id,
                Caller::Owner(token),
                patch(json!({"active": false})),
                NOW,
            )
            .expect("paused");
        assert!(paused.owner_verified);
        // Another account without a proof: anonymous again, in that account's list.
        let moved = reg
            .patch_trigger(
                id,
                Caller::Owner(token),
                patch(json!({"filter": {"balance": {"account": bob.address(42)}}})),
                NOW,
            )
            .expect("moved");
        assert!(!moved.owner_verified);
        assert!(reg.index_ids(&alice_owner).expect("ids").is_empty());
        assert!(reg
            .index_ids(&keys::account_index(&topic, &bob.account_hex()))
            .expect("ids")
            .contains(id));
        // Deleting an owner-verified trigger empties the owner list.
        let mut owned = body(&src, Some(&bob.account_hex()));
        owned["proof"] = proof(&bob);
        let mine = create(&reg, owned).expect("owner");
        reg.delete_trigger(&mine.trigger.id, Caller::Owner(&mine.token))
            .expect("delete");
        assert!(reg
            .index_ids(&keys::owner_index(&topic, &bob.account_hex()))
            .expect("ids")
            .is_empty());
    }
}
