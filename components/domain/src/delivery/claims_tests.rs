//! Unit tests of `claims.rs`.

use super::*;
use crate::delivery::{classify_push, classify_webhook};
use crate::kv::MemoryStore;
use crate::kv_testing::{Around, Write};
use crate::vault::TEST_KEYRING;
use std::cell::Cell;

fn at(token: &str, now_ms: u64) -> Holder {
    Holder {
        token: token.into(),
        now_ms,
        lease_ms: 1_000,
    }
}

fn event(n: u32) -> String {
    format!("0x{n:032x}{}", "0".repeat(32))
}

#[test]
fn each_attempt_is_claimed_once_and_the_memory_is_bounded() {
    let kv = MemoryStore::default();
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    let e = event(1);
    let h = at("a", 0);
    assert_eq!(d.claim("trg_1", &e, 0, &h).expect("claim"), Claim::Won);
    d.record(
        "trg_1",
        &e,
        0,
        &Answer::status_only(201),
        &Outcome::Delivered,
        "t",
    )
    .expect("record");
    assert_eq!(
        d.claim("trg_1", &e, 0, &at("b", 0)).expect("again"),
        Claim::Taken
    );
    assert_eq!(
        d.claim("trg_1", &e, 1, &h)
            .expect("a retry is its own attempt"),
        Claim::Won
    );
    assert_eq!(
        d.claim("trg_2", &e, 0, &h).expect("another trigger"),
        Claim::Won
    );
    let failed = Answer::none("timed out");
    d.record("trg_2", &e, 0, &failed, &classify_push(&failed), "t")
        .expect("record");
    assert_eq!(
        d.claim("trg_2", &e, 0, &at("b", 0))
            .expect("after a retryable failure"),
        Claim::TakenRetrying
    );
    for i in 0..2 * RECENT {
        let e = format!("0x{i:032x}{}", "00".repeat(16));
        d.claim("trg_1", &e, 0, &h).expect("claim");
        d.record(
            "trg_1",
            &e,
            0,
            &Answer::status_only(200),
            &Outcome::Delivered,
            "t",
        )
        .expect("record");
    }
    let state = d.state("trg_1").expect("state");
    assert_eq!(state.recent.len(), RECENT);
    assert!(state.leases.len() <= 1, "finished claims hold no lease");
    assert_eq!(
        state.log.len(),
        LOG_LEN,
        "the log keeps the last events only"
    );
    // The claims, and the log's entries (each a few hundred bytes at most).
    assert!(kv
        .get("delivery/trg_1")
        .expect("get")
        .is_some_and(|v| v.len() < 40 * RECENT + 500 * LOG_LEN));
}

#[test]
fn a_lease_holds_until_it_expires_then_passes_to_the_next_dispatcher() {
    let kv = MemoryStore::default();
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    let e = event(7);
    assert_eq!(d.claim("t", &e, 0, &at("a", 0)).expect("a"), Claim::Won);
    // A redelivery while `a` is still sending waits.
    assert_eq!(
        d.claim("t", &e, 0, &at("b", 999)).expect("b"),
        Claim::InFlight { until_ms: 1_000 }
    );
    // `a` died: once its lease is over, `b` sends.
    assert_eq!(d.claim("t", &e, 0, &at("b", 1_000)).expect("b"), Claim::Won);
    assert_eq!(
        d.claim("t", &e, 0, &at("c", 1_500)).expect("c"),
        Claim::InFlight { until_ms: 2_000 }
    );
    d.record(
        "t",
        &e,
        0,
        &Answer::status_only(204),
        &Outcome::Delivered,
        "t",
    )
    .expect("record");
    assert_eq!(
        d.claim("t", &e, 0, &at("c", 9_000)).expect("c"),
        Claim::Taken
    );
    let s = d.state("t").expect("state");
    assert!(s.leases.is_empty());
    assert_eq!(s.delivered, 1);
}

#[test]
fn the_log_keeps_each_events_latest_attempt_newest_first_and_bounded() {
    let kv = MemoryStore::default();
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    let h = at("a", 0);
    let answer = |status| Answer::status_only(status);
    d.claim("t", &event(1), 0, &h).expect("claim");
    let failed = Outcome::Retry("server answered 500".into());
    d.record("t", &event(1), 0, &answer(500), &failed, "t1")
        .expect("record");
    let state = d.state("t").expect("state");
    assert_eq!(state.log.len(), 1);
    assert_eq!(state.log[0].outcome, "retrying");
    assert_eq!(state.log[0].status, Some(500));
    assert_eq!(state.log[0].error.as_deref(), Some("server answered 500"));
    // The retry that succeeds replaces the entry: one line per event.
    d.claim("t", &event(1), 1, &h).expect("claim");
    d.record("t", &event(1), 1, &answer(200), &Outcome::Delivered, "t2")
        .expect("record");
    let state = d.state("t").expect("state");
    assert_eq!(state.log.len(), 1);
    assert_eq!(
        (
            state.log[0].outcome.as_str(),
            state.log[0].at.as_str(),
            &state.log[0].error
        ),
        ("delivered", "t2", &None)
    );
    for n in 2..(2 + LOG_LEN as u32 + 3) {
        d.claim("t", &event(n), 0, &h).expect("claim");
        d.record("t", &event(n), 0, &answer(200), &Outcome::Delivered, "t3")
            .expect("record");
    }
    let state = d.state("t").expect("state");
    assert_eq!(state.log.len(), LOG_LEN);
    assert_eq!(
        state.log.back().map(|l| l.event_id.clone()),
        Some(event(LOG_LEN as u32 + 4))
    );
    let view = state.view();
    assert_eq!(
        view["log"][0]["event_id"],
        event(LOG_LEN as u32 + 4),
        "newest first"
    );
}

#[test]
fn a_batch_of_claims_and_answers_is_two_writes_per_trigger() {
    let kv = crate::kv::Counting::new(MemoryStore::default());
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    let h = at("a", 0);
    // The trigger's first claim creates its state (an election, then the swap): once ever.
    d.claim("t", &event(99), 0, &h).expect("first");
    kv.reset();
    let events: Vec<String> = (0..50).map(event).collect();
    let wanted: Vec<(&str, Round)> = events
        .iter()
        .map(|e| (e.as_str(), Round::default()))
        .collect();
    let claims = d.claim_all("t", &wanted, &h).expect("claims");
    assert!(claims.iter().all(|c| *c == Claim::Won));
    let answer = Answer::status_only(200);
    let done: Vec<Recorded<'_>> = events
        .iter()
        .map(|e| Recorded {
            event_id: e,
            block: None,
            record: None,
            round: Round::default(),
            answer: &answer,
            outcome: &Outcome::Delivered,
            template_error: None,
        })
        .collect();
    d.record_all("t", &done, "t").expect("record");
    let (_, writes) = kv.counts();
    assert_eq!(writes, 2);
    assert_eq!(d.state("t").expect("state").delivered, 50);
}

#[test]
fn a_claim_that_landed_stays_won_when_another_write_follows_it() {
    let kv = MemoryStore::default();
    let mine = event(1);
    let theirs = event(2);
    // The key exists already, so the claim is a plain swap (no creation election).
    Deliveries::new(&kv, &TEST_KEYRING)
        .claim("t", &event(0), 0, &at("x", 0))
        .expect("setup");
    // Once, another dispatcher writes right after this one's swap landed, and the swap is
    // reported as lost: what `WasiStore` answers when its read-back finds the other write.
    let other = Cell::new(true);
    let store = Around {
        inner: &kv,
        on_write: Box::new(|kv, write| {
            let landed = write.apply(kv)?;
            if landed && matches!(write, Write::Swap { .. }) && other.replace(false) {
                Deliveries::new(kv, &TEST_KEYRING)
                    .claim("t", &theirs, 0, &at("b", 0))
                    .expect("theirs");
                return Ok(false);
            }
            Ok(landed)
        }),
    };
    let d = Deliveries::new(&store, &TEST_KEYRING);
    assert_eq!(
        d.claim("t", &mine, 0, &at("a", 0)).expect("mine"),
        Claim::Won,
        "the claim was written; the later write must not make it look taken"
    );
    let s = d.state("t").expect("state");
    let holders: Vec<(&str, &str)> = s
        .leases
        .iter()
        .map(|l| (l.claim.as_str(), l.holder.as_str()))
        .collect();
    assert!(
        holders.contains(&(claim_key(&mine, 0).as_str(), "a")),
        "{holders:?}"
    );
    assert!(
        holders.contains(&(claim_key(&theirs, 0).as_str(), "b")),
        "{holders:?}"
    );
}

#[test]
fn records_show_success_and_failures() {
    let kv = MemoryStore::default();
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    let fail = Answer::none("connection refused");
    d.record("t", "0x1", 0, &fail, &classify_webhook(&fail), "t1")
        .expect("record");
    d.record(
        "t",
        "0x1",
        0,
        &Answer::status_only(503),
        &classify_webhook(&Answer::status_only(503)),
        "t2",
    )
    .expect("record");
    let s = d.state("t").expect("state");
    assert_eq!(s.consecutive_failures, 2);
    assert_eq!(s.last_error.as_deref(), Some("the webhook answered 503"));
    d.record(
        "t",
        "0x1",
        0,
        &Answer::status_only(204),
        &Outcome::Delivered,
        "t3",
    )
    .expect("record");
    let s = d.state("t").expect("state");
    assert_eq!((s.consecutive_failures, s.delivered), (0, 1));
    assert_eq!(s.view()["last_attempt"]["status"], 204);
}

#[test]
fn claims_stored_before_leases_existed_still_count() {
    let kv = MemoryStore::default();
    let e = event(3);
    let old = format!(
        r#"{{"recent":["{}","{}!retry"]}}"#,
        claim_key(&e, 0),
        claim_key(&e, 1)
    );
    kv.set("delivery/t", old.as_bytes()).expect("set");
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    assert_eq!(d.claim("t", &e, 0, &at("a", 0)).expect("0"), Claim::Taken);
    assert_eq!(
        d.claim("t", &e, 1, &at("a", 0)).expect("1"),
        Claim::TakenRetrying
    );
}
