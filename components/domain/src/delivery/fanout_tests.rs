use super::*;
use crate::dispatch::Record;
use crate::envelope::Envelope;
use crate::kv::{MemoryStore, StoreError};
use crate::kv_testing::{Around, Write};
use crate::trigger::Trigger;
use crate::vault::TEST_KEYRING;
use serde_json::json;

/// Answers every request alike and keeps what was sent.
struct Recorder {
    answer: Answer,
    sent: Vec<HttpRequest>,
    unanswered: usize,
}

impl Transport for Recorder {
    fn send(&mut self, request: HttpRequest) {
        self.sent.push(request);
        self.unanswered += 1;
    }
    fn finish(&mut self) -> Vec<Answer> {
        let answers = vec![self.answer.clone(); self.unanswered];
        self.unanswered = 0;
        answers
    }
}

fn recorder(status: u16) -> Recorder {
    answering(Answer::status_only(status))
}

fn answering(answer: Answer) -> Recorder {
    Recorder {
        answer,
        sent: Vec::new(),
        unanswered: 0,
    }
}

fn job(trigger: &str, event: u32, attempt: u32) -> Job {
    let trigger: Trigger = serde_json::from_value(json!({
        "id": trigger, "source": "src_1", "chain": "paseo", "event": "Balances.Transfer",
        "topic": "paseo.Balances.Transfer",
        "action": {"webhook": {"url": format!("https://hooks.example.net/{trigger}"),
                               "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
        "brokers": [], "isJSONData": false, "isBinaryValue": false, "isBinaryKey": false,
        "status": {"active": true, "dateChanged": "t"}, "token_hash": "h", "created_at": "t"
    }))
    .expect("trigger");
    let id = format!("0x{event:032x}{}", "0".repeat(32));
    let envelope: Envelope = serde_json::from_value(json!({
        "id": id, "version": 1, "chain": "paseo", "genesis_hash": "0x00",
        "block": {"number": 1, "hash": "0x02"}, "event_index": event, "extrinsic_index": null,
        "phase": "apply_extrinsic", "pallet": "Balances", "event": "Transfer",
        "spec_version": 1, "fields": {}
    }))
    .expect("envelope");
    let value = serde_json::to_vec(&envelope).expect("json");
    Job {
        trigger,
        envelope,
        record: Record {
            topic: "paseo.Balances.Transfer".into(),
            partition: 0,
            offset: i64::from(event),
            key: None,
            value: crate::dispatch::encode_bytes(&value),
            timestamp: None,
        },
        attempt,
        throttled: 0,
        token: None,
        test: false,
    }
}

fn config() -> DeliveryConfig {
    DeliveryConfig {
        vapid: None,
        vapid_subject: "mailto:ops@example.com".into(),
        allow_private: false,
        explorer_url: None,
        governance_url: None,
        schedule: RetrySchedule::parse("5s,1m").expect("schedule"),
        claim_lease_ms: 60_000,
        max_in_flight_per_host: 8,
        platforms: crate::channel::Platforms::default(),
    }
}

fn holder(token: &str, now_ms: u64) -> Holder {
    Holder {
        token: token.into(),
        now_ms,
        lease_ms: 60_000,
    }
}

/// Delivers `jobs` for real (claimed and recorded) under `holder`.
fn record<S: KeyValue>(
    d: &Deliveries<'_, S>,
    jobs: Vec<Job>,
    holder: &Holder,
    net: &mut Recorder,
) -> Fanout {
    deliver(
        d,
        &config(),
        jobs,
        Mode::Record,
        holder,
        net,
        "t",
        &mut Stopwatch::off(),
    )
}

#[test]
fn a_store_failure_while_claiming_loses_no_job_of_the_batch() {
    let kv = MemoryStore::default();
    // Every swap of trg_2's delivery state fails, as a store that went away would.
    let store = Around {
        inner: &kv,
        on_write: Box::new(|kv, write| match write {
            Write::Swap {
                key: "delivery/trg_2",
                ..
            } => Err(StoreError("disk I/O error".into())),
            write => write.apply(kv),
        }),
    };
    let d = Deliveries::new(&store, &TEST_KEYRING);
    let jobs = vec![job("trg_1", 1, 0), job("trg_2", 1, 0), job("trg_3", 1, 0)];
    let mut net = recorder(200);
    let fanout = record(&d, jobs, &holder("a", 0), &mut net);
    let sent: Vec<&str> = net.sent.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(
        sent,
        [
            "https://hooks.example.net/trg_1",
            "https://hooks.example.net/trg_3"
        ],
        "the jobs claimed before and after the failure are sent"
    );
    let unclaimed: Vec<&Delivered> = fanout
        .delivered
        .iter()
        .filter(|d| d.attempted == Attempted::Never)
        .collect();
    assert_eq!(unclaimed.len(), 1);
    assert_eq!(unclaimed[0].job.trigger.id, "trg_2");
    let retries = retries(&fanout.delivered, &config().schedule, 1_000);
    assert_eq!(retries.scheduled.len(), 1, "the unclaimed job is retried");
    assert_eq!(retries.scheduled[0].item.trigger, "trg_2");
    assert_eq!(retries.scheduled[0].attempt, 1);
    assert_eq!(retries.scheduled[0].due_at_ms, 6_000);
    assert!(retries.gave_up.is_empty());
    // The retry, with the store back, is delivered.
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    let fanout = record(&d, vec![job("trg_2", 1, 1)], &holder("b", 6_000), &mut net);
    assert_eq!(fanout.delivered[0].outcome, Outcome::Delivered);
    assert_eq!(net.sent.len(), 3);
}

#[test]
fn a_job_held_by_a_live_dispatcher_is_in_flight_and_one_held_by_a_dead_one_is_sent() {
    let kv = MemoryStore::default();
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    // Dispatcher `a` claimed and died before sending.
    d.claim(
        "trg_1",
        &format!("0x{:032x}{}", 1, "0".repeat(32)),
        0,
        &holder("a", 0),
    )
    .expect("claim");
    let mut net = recorder(204);
    let batch = || vec![job("trg_1", 1, 0), job("trg_2", 1, 0)];
    let early = record(&d, batch(), &holder("b", 30_000), &mut net);
    assert_eq!(
        early.in_flight,
        [InFlight {
            trigger: "trg_1".into(),
            event_id: format!("0x{:032x}{}", 1, "0".repeat(32)),
            until_ms: 60_000
        }]
    );
    assert_eq!(net.sent.len(), 1, "the other trigger's job went out");
    let late = record(&d, batch(), &holder("c", 60_000), &mut net);
    assert!(late.in_flight.is_empty());
    assert_eq!(net.sent.len(), 2, "the dead dispatcher's job is sent once");
    assert_eq!(net.sent[1].url, "https://hooks.example.net/trg_1");
    let again = record(&d, batch(), &holder("d", 60_001), &mut net);
    assert!(again.delivered.is_empty() && again.in_flight.is_empty());
    assert_eq!(net.sent.len(), 2, "nothing twice once recorded");
}

#[test]
fn the_same_attempt_twice_in_a_batch_is_sent_once_and_tests_store_nothing() {
    let kv = MemoryStore::default();
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    let mut net = recorder(200);
    let jobs = vec![job("trg_1", 1, 0), job("trg_1", 1, 0), job("trg_1", 2, 0)];
    let fanout = record(&d, jobs, &holder("a", 0), &mut net);
    assert_eq!(fanout.delivered.len(), 2);
    assert_eq!(net.sent.len(), 2);
    let before = kv.keys();
    deliver(
        &d,
        &config(),
        vec![job("trg_9", 1, 0)],
        Mode::Test,
        &holder("b", 0),
        &mut net,
        "t",
        &mut Stopwatch::off(),
    );
    assert_eq!(kv.keys(), before, "a test delivery stores nothing");
    assert_eq!(net.sent.len(), 3);
}

#[test]
fn failures_are_retried_on_schedule_then_given_up() {
    let kv = MemoryStore::default();
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    let schedule = config().schedule;
    let mut net = recorder(503);
    let first = record(&d, vec![job("t", 1, 0)], &holder("a", 0), &mut net);
    let r = retries(&first.delivered, &schedule, 0);
    assert_eq!(
        (r.scheduled[0].attempt, r.scheduled[0].due_at_ms),
        (1, 5_000)
    );
    // The answer that scheduled it was lost: the redelivery schedules it again without sending.
    let replay = record(&d, vec![job("t", 1, 0)], &holder("b", 0), &mut net);
    assert_eq!(replay.delivered[0].attempted, Attempted::Earlier);
    assert_eq!(net.sent.len(), 1);
    assert_eq!(retries(&replay.delivered, &schedule, 0).scheduled.len(), 1);
    let last = record(&d, vec![job("t", 1, 2)], &holder("c", 0), &mut net);
    let r = retries(&last.delivered, &schedule, 0);
    assert!(r.scheduled.is_empty());
    assert_eq!(r.gave_up.len(), 1);
    assert!(
        r.gave_up[0].1.starts_with("gave up after 3 attempts"),
        "{:?}",
        r.gave_up
    );
}

#[test]
fn a_destination_asking_for_time_is_put_back_on_its_step_without_failing() {
    let kv = MemoryStore::default();
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    let schedule = config().schedule;
    let slow_down = Answer::Response(crate::answer::Response {
        status: 429,
        retry_after: Some(Duration::from_secs(2)),
        body: Vec::new(),
    });
    let mut net = answering(slow_down);
    let first = record(&d, vec![job("t", 1, 0)], &holder("a", 0), &mut net);
    let r = retries(&first.delivered, &schedule, 0);
    let due = |r: &Retries| {
        let s = &r.scheduled[0];
        (s.attempt, s.item.throttled, s.due_at_ms)
    };
    assert_eq!(
        due(&r),
        (1, 0, 2_000),
        "the first step, after the wait asked for"
    );
    let state = d.state("t").expect("state");
    assert_eq!(state.consecutive_failures, 0, "a throttle is not a failure");
    assert_eq!(state.view()["last_attempt"]["outcome"], "throttled");

    // Throttled again on level 1, without a wait named: the same level, the step's delay.
    let mut net = answering(Answer::Held {
        why: "held back".into(),
        retry_after: None,
    });
    let second = record(&d, vec![job("t", 1, 1)], &holder("b", 0), &mut net);
    let r = retries(&second.delivered, &schedule, 0);
    assert_eq!(due(&r), (1, 1, 5_000));
    // Its answer was lost: a replay puts it on the same round, so one of the two is sent.
    let replay = record(&d, vec![job("t", 1, 1)], &holder("c", 0), &mut net);
    assert_eq!(replay.delivered[0].attempted, Attempted::Earlier);
    assert_eq!(
        due(&retries(&replay.delivered, &schedule, 0)),
        (1, 1, 5_000)
    );
    assert_eq!(net.sent.len(), 1);

    // Throttled as often as allowed: now it counts as failing on its level.
    let mut worn = job("t", 2, 1);
    worn.throttled = MAX_THROTTLED;
    let mut net = answering(Answer::status_only(429));
    let last = record(&d, vec![worn], &holder("d", 0), &mut net);
    assert_eq!(due(&retries(&last.delivered, &schedule, 0)).0, 2);
}

/// A clock that moves 1 ms each time it is read: every timed section takes exactly 1 ms, so a
/// stage's total counts how often it was timed.
fn ticking(now: &std::cell::Cell<Duration>) -> impl Fn() -> Duration + '_ {
    move || {
        let t = now.get();
        now.set(t + Duration::from_millis(1));
        t
    }
}

#[test]
fn each_stage_of_a_fan_out_is_timed() {
    let kv = MemoryStore::default();
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    let now = std::cell::Cell::new(Duration::ZERO);
    let clock = ticking(&now);
    let mut watch = Stopwatch::new(&clock);
    let jobs = vec![
        job("trg_1", 1, 0),
        job("trg_1", 2, 0),
        job("trg_2", 1, 0),
        job("trg_2", 2, 0),
    ];
    let mut net = recorder(200);
    let fanout = deliver(
        &d,
        &config(),
        jobs,
        Mode::Record,
        &holder("a", 0),
        &mut net,
        "t",
        &mut watch,
    );
    assert_eq!(fanout.delivered.len(), 4);
    let ms = |n| Duration::from_millis(n);
    // One claim per trigger, one build and one send per job plus one pump per trigger, one
    // wait for the answers, one record for the batch.
    assert_eq!(
        watch.stages(),
        &[
            (stage::CLAIM, ms(2)),
            (stage::BUILD, ms(4)),
            (stage::SEND, ms(6)),
            (stage::WAIT, ms(1)),
            (stage::RECORD, ms(1)),
        ]
    );
}

#[test]
fn a_test_delivery_is_timed_without_claim_or_record() {
    let kv = MemoryStore::default();
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    let now = std::cell::Cell::new(Duration::ZERO);
    let clock = ticking(&now);
    let mut watch = Stopwatch::new(&clock);
    deliver(
        &d,
        &config(),
        vec![job("trg_1", 1, 0)],
        Mode::Test,
        &holder("a", 0),
        &mut recorder(200),
        "t",
        &mut watch,
    );
    let names: Vec<&str> = watch.stages().iter().map(|(name, _)| *name).collect();
    assert_eq!(names, [stage::BUILD, stage::SEND, stage::WAIT]);
}

#[test]
fn a_template_that_fails_at_delivery_is_said_in_the_delivery_state() {
    let kv = MemoryStore::default();
    let d = Deliveries::new(&kv, &TEST_KEYRING);
    let mut templated = job("trg_1", 1, 0);
    templated.trigger.message = Some(crate::message::MessageSpec {
        title: None,
        body: Some("{{ 1 // 0 }}".into()),
    });
    let mut net = recorder(200);
    let fanout = record(
        &d,
        vec![templated, job("trg_2", 1, 0)],
        &holder("a", 0),
        &mut net,
    );
    assert_eq!(net.sent.len(), 2, "the notification still goes out");
    assert!(fanout
        .delivered
        .iter()
        .all(|done| done.outcome == Outcome::Delivered));
    let failed = d.state("trg_1").expect("state").view();
    let why = failed["last_attempt"]["template_error"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("message.body"), "{failed}");
    let plain = d.state("trg_2").expect("state").view();
    assert!(
        plain["last_attempt"].get("template_error").is_none(),
        "{plain}"
    );
}
