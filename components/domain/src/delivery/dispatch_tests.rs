//! Unit tests of `dispatch.rs`.

use super::*;

fn record(value: &[u8]) -> Record {
    Record {
        topic: "paseo.Balances.Transfer".into(),
        partition: 0,
        offset: 7,
        key: Some(STANDARD.encode(b"0xaa")),
        value: STANDARD.encode(value),
        timestamp: None,
    }
}

#[test]
fn records_that_are_not_envelopes_say_why() {
    assert!(record(b"hello")
        .envelope()
        .expect_err("junk")
        .starts_with("not an event envelope"));
    let mut bad = record(b"{}");
    bad.value = "***".into();
    assert!(bad.envelope().expect_err("b64").contains("base64"));
    let wire: DispatchRequest = serde_json::from_str(
        r#"{"records": [{"topic": "t", "partition": 0, "offset": 1, "key": null, "value": ""}]}"#,
    )
    .expect("wire");
    assert_eq!(wire.records[0].timestamp, None);
    assert!(serde_json::from_str::<DispatchRequest>(r#"{"recs": []}"#).is_err());
}

#[test]
fn deployment_mistakes_are_retried_and_bad_destinations_fail() {
    let trigger: Trigger = serde_json::from_value(serde_json::json!({
        "id": "trg_1", "source": "src_1", "chain": "paseo", "event": "Balances.Transfer",
        "topic": "paseo.Balances.Transfer",
        "action": {"web_push": {"endpoint": "https://push.example.net/x", "keys": {
            "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}},
        "brokers": [], "isJSONData": false, "isBinaryValue": false, "isBinaryKey": false,
        "status": {"active": true, "dateChanged": "t"}, "token_hash": "h", "created_at": "t"
    }))
    .expect("trigger");
    let envelope: Envelope = serde_json::from_value(serde_json::json!({
        "id": "0x01", "version": 1, "chain": "paseo", "genesis_hash": "0x00",
        "block": {"number": 1, "hash": "0x02"}, "event_index": 0, "extrinsic_index": null,
        "phase": "apply_extrinsic", "pallet": "Balances", "event": "Transfer",
        "spec_version": 1, "fields": {}
    }))
    .expect("envelope");
    let mut job = Job {
        trigger,
        envelope,
        record: record(b"{}"),
        attempt: 0,
        throttled: 0,
        token: None,
        test: false,
    };
    let mut config = DeliveryConfig {
        vapid: None,
        vapid_subject: "mailto:ops@example.com".into(),
        allow_private: false,
        explorer_url: None,
        governance_url: None,
        schedule: RetrySchedule::default(),
        claim_lease_ms: 60_000,
        max_in_flight_per_host: 8,
        platforms: Platforms::default(),
    };
    assert!(matches!(job.request(&config, 0), Err(Outcome::Retry(_))));
    config.vapid = Some(VapidKey::generate().0);
    config.vapid_subject = "ops@example.com".into();
    assert!(matches!(job.request(&config, 0), Err(Outcome::Retry(_))));
    config.vapid_subject = "mailto:ops@example.com".into();
    assert!(job.request(&config, 0).is_ok());
    if let Action::WebPush(push) = &mut job.trigger.action {
        push.endpoint = "https://10.0.0.1/x".into();
    }
    assert!(matches!(job.request(&config, 0), Err(Outcome::Failed(_))));
}

#[test]
fn referendum_notices_link_to_the_governance_site_when_one_is_set() {
    let trigger: Trigger = serde_json::from_value(serde_json::json!({
        "id": "trg_1", "source": "src_1", "chain": "paseo", "event": "Referenda.Submitted",
        "topic": "paseo.Referenda.Submitted",
        "action": {"webhook": {"url": "https://hooks.example.com/x", "secret": "whsec_x"}},
        "brokers": [], "isJSONData": false, "isBinaryValue": false, "isBinaryKey": false,
        "status": {"active": true, "dateChanged": "t"}, "token_hash": "h", "created_at": "t"
    }))
    .expect("trigger");
    let envelope = |pallet: &str, event: &str, fields: Value| -> Envelope {
        serde_json::from_value(serde_json::json!({
            "id": "0x01", "version": 1, "chain": "paseo", "genesis_hash": "0x00",
            "block": {"number": 9, "hash": "0x02"}, "event_index": 0, "extrinsic_index": null,
            "phase": "apply_extrinsic", "pallet": pallet, "event": event,
            "spec_version": 1, "fields": fields
        }))
        .expect("envelope")
    };
    let job = |envelope: Envelope| Job {
        trigger: trigger.clone(),
        envelope,
        record: record(b"{}"),
        attempt: 0,
        throttled: 0,
        token: None,
        test: false,
    };
    let mut config = DeliveryConfig {
        vapid: None,
        vapid_subject: "mailto:ops@example.com".into(),
        allow_private: false,
        explorer_url: Some("https://{chain}.subscan.io/block/{block}".into()),
        governance_url: Some("https://{chain}.subsquare.io/referenda/{index}".into()),
        schedule: RetrySchedule::default(),
        claim_lease_ms: 60_000,
        max_in_flight_per_host: 8,
        platforms: Platforms::default(),
    };
    let submitted = job(envelope(
        "Referenda",
        "Submitted",
        serde_json::json!({"index": 7, "track": 0}),
    ));
    assert_eq!(
        submitted.notification(&config).url.as_deref(),
        Some("https://paseo.subsquare.io/referenda/7")
    );
    let transfer = job(envelope("Balances", "Transfer", serde_json::json!({})));
    assert_eq!(
        transfer.notification(&config).url.as_deref(),
        Some("https://paseo.subscan.io/block/9"),
        "other events keep the block"
    );
    config.governance_url = None;
    assert_eq!(
        submitted.notification(&config).url.as_deref(),
        Some("https://paseo.subscan.io/block/9"),
        "without a governance site, the block"
    );
}
