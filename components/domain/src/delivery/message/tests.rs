use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::error::ErrorCode;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const BOB_HEX: &str = "0x8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48";
const EXPLORER: &str = "https://paseo.subscan.io/block/{block}";

fn pas() -> TokenInfo {
    TokenInfo {
        symbol: "PAS".into(),
        decimals: 10,
    }
}

fn chain() -> ChainName {
    ChainName::parse("paseo").expect("chain")
}

fn event(name: &str) -> EventName {
    EventName::parse(name).expect("event")
}

fn trigger() -> Trigger {
    serde_json::from_value(json!({
        "id": "trg_1", "source": "src_1", "chain": "paseo", "event": "Balances.Transfer",
        "topic": "paseo.Balances.Transfer", "filter": null,
        "action": {"webhook": {"url": "https://h.example.com", "secret": "whsec_x"}},
        "brokers": [], "isJSONData": false, "isBinaryValue": false, "isBinaryKey": false,
        "status": {"active": true, "dateChanged": "t"}, "token_hash": "h", "created_at": "t"
    }))
    .expect("trigger")
}

use crate::envelope::test_event as envelope;

fn transfer() -> Envelope {
    envelope(
        "Balances",
        "Transfer",
        json!({"from": ALICE, "to": BOB, "amount": "125000000000"}),
    )
}

fn body(template: &str) -> MessageSpec {
    MessageSpec {
        title: None,
        body: Some(template.into()),
    }
}

/// Renders `template` as a body for `e` with the PAS token and the explorer link.
fn render_body(template: &str, e: &Envelope) -> Result<String, RenderError> {
    let link = explorer_link(EXPLORER, "paseo", e.block.number);
    let context = MessageContext {
        envelope: e,
        token: Some(&pas()),
        link: link.as_deref(),
    };
    render(&body(template), &context).map(|r| r.body.unwrap_or_default())
}

/// The API error `validate` answers for a body template on `Balances.Transfer`.
fn refused(template: &str) -> ApiError {
    body(template)
        .validate(&chain(), &event("Balances.Transfer"), Some(&pas()), None)
        .expect_err(template)
}

#[test]
fn helpers_fill_a_sentence() {
    let text = render_body(
        "Received {{ amount(fields.amount) }} from {{ short(fields.from) }} to {{ short(fields.to) }}\n\
         {{ event }} at block #{{ block }} on {{ chain }}: {{ link }}",
        &transfer(),
    )
    .expect("renders");
    assert_eq!(
        text,
        "Received 12.5 PAS from 5Grw…utQY to 5FHn…94ty\n\
         Balances.Transfer at block #1234 on paseo: https://paseo.subscan.io/block/1234"
    );
}

#[test]
fn fields_are_template_values() {
    let e = envelope(
        "Staking",
        "EraPaid",
        json!({"era_index": 7, "validator_payout": "30000000000", "info": {"weight": [1, 2]},
               "memo": null, "ok": true}),
    );
    let text = render_body(
        "era {{ fields.era_index + 1 }}, {{ amount(fields.validator_payout) }}, \
         {{ fields.info.weight | join('/') }}, {{ fields.memo is none }}, {{ fields.ok }}, \
         {% for k in fields | sort %}{{ k }}{% if not loop.last %} {% endif %}{% endfor %}",
        &e,
    )
    .expect("renders");
    assert_eq!(
        text,
        "era 8, 3 PAS, 1/2, True, True, era_index info memo ok validator_payout"
    );
    // The whole map prints too, for a quick look at what an event carries.
    let all = render_body("{{ fields }}", &transfer()).expect("renders");
    assert!(all.contains("'amount': '125000000000'"), "{all}");
}

#[test]
fn amount_and_short_take_fields_as_the_envelope_carries_them() {
    let e = envelope(
        "Balances",
        "Transfer",
        json!({"small": 10000000000u64, "hex": BOB_HEX, "dest": {"Id": ALICE}, "n": 42}),
    );
    let text = render_body(
        "{{ amount(fields.small) }} {{ short(fields.hex) }} {{ short(fields.dest) }} {{ short(fields.n) }}",
        &e,
    )
    .expect("renders");
    assert_eq!(text, "1 PAS 0x8e…6a48 5Grw…utQY 42");
    // Without a token the amount stays in base units.
    let context = MessageContext {
        envelope: &e,
        token: None,
        link: None,
    };
    let plain = render(&body("{{ amount(fields.small) }}|{{ link }}|"), &context).expect("renders");
    assert_eq!(plain.body.as_deref(), Some("10000000000||"));
    // Wrong inputs are errors that say what the helper wanted.
    let e = render_body("{{ amount(fields.hex) }}", &e).expect_err("not an integer");
    assert!(
        e.message.contains("amount() takes a non-negative integer"),
        "{e}"
    );
    let e = render_body("{{ short([1, 2]) }}", &transfer()).expect_err("a list");
    assert!(e.message.contains("short() takes an address"), "{e}");
}

#[test]
fn text_is_plain_and_titles_are_one_line() {
    let text = render_body("{{ '<b>' ~ \"&\" }} fish & chips", &transfer()).expect("renders");
    assert_eq!(text, "<b>& fish & chips");
    let spec = MessageSpec {
        title: Some("{% if true %}\n  Got\n  {{ amount(fields.amount) }}\n{% endif %}".into()),
        body: None,
    };
    let context = MessageContext {
        envelope: &transfer(),
        token: Some(&pas()),
        link: None,
    };
    let rendered = render(&spec, &context).expect("renders");
    assert_eq!(rendered.title.as_deref(), Some("Got 12.5 PAS"));
    assert_eq!(rendered.body, None);
}

#[test]
fn an_unknown_function_is_a_422_with_line_and_column() {
    let e = refused("Hi\n {{ amout(fields.amount) }}");
    assert_eq!((e.code, e.code.status()), (ErrorCode::InvalidField, 422));
    assert_eq!(e.field.as_deref(), Some("message.body"));
    assert_eq!(e.message, "line 2, column 5: unknown function `amout`");
    // Also in a branch the sample event does not take, and in the title.
    let e = refused("{% if false %}\n\n{{ amout(1) }}{% endif %}");
    assert_eq!(e.message, "line 3, column 4: unknown function `amout`");
    let spec = MessageSpec {
        title: Some("{{ shrt(fields.to) }}".into()),
        body: Some("fine".into()),
    };
    let e = spec
        .validate(&chain(), &event("Balances.Transfer"), None, None)
        .expect_err("title");
    assert_eq!(e.field.as_deref(), Some("message.title"));
    assert_eq!(e.message, "line 1, column 4: unknown function `shrt`");
}

#[test]
fn other_mistakes_name_their_place() {
    let cases = [
        (
            "{{ fields.amount | nope }}",
            "line 1, column 20: unknown filter `nope`",
        ),
        (
            "{% if false %}{{ 'a | b' | upper }}{{ 1 is not evn }}{% endif %}",
            "line 1, column 48: unknown test `evn`",
        ),
        ("{{ blok }}", "line 1, column 4: `blok` is undefined"),
        (
            "{% if false %}{{ blok }}{% endif %}",
            "line 1, column 18: unknown name `blok`; a template knows fields, block, chain, \
             event, link, token, asset, track and the functions amount, asset_amount, dict, \
             namespace, range, short",
        ),
        (
            "{% if x %}",
            "line 1, column 9: syntax error: unexpected end of input, expected end of block",
        ),
        (
            "{% include 'other' %}",
            "line 1, column 4: syntax error: unknown statement include",
        ),
    ];
    for (template, message) in cases {
        assert_eq!(refused(template).message, message, "{template}");
    }
    // Comments are not code.
    body("{# {{ x | nope }} {{ amout() }} #}{{ chain }}")
        .validate(&chain(), &event("Balances.Transfer"), None, None)
        .expect("a comment");
    let e = refused("  ");
    assert_eq!(e.field.as_deref(), Some("message.body"));
    assert!(e.message.contains("empty"), "{}", e.message);
}

#[test]
fn undefined_fields_fail_unless_tested() {
    // A misspelt field of a known event is refused where it is written.
    let e = refused("{{ amount(fields.amount) }} from\n{{ fields.form }}");
    assert_eq!(e.message, "line 2, column 4: `fields.form` is undefined");
    let e = refused("{{ amount(fields.amout) }}");
    assert!(e.message.contains("undefined"), "{}", e.message);
    // Testing for absence works, and is how a template handles optional fields.
    let preview = body("{{ fields.memo | default('no memo') }}{% if fields.memo %}!{% endif %}")
        .validate(&chain(), &event("Balances.Transfer"), None, None)
        .expect("valid");
    assert_eq!(preview.body.as_deref(), Some("no memo"));
    // At delivery an absent field fails the render, and the caller can say why.
    let e = render_body("memo: {{ fields.memo }}", &transfer()).expect_err("absent");
    assert_eq!(
        e.to_string(),
        "message.body: line 1, column 10: `fields.memo` is undefined"
    );
}

#[test]
fn validation_previews_the_sample_event() {
    let spec = MessageSpec {
        title: Some("Got {{ amount(fields.amount) }}".into()),
        body: Some("from {{ short(fields.from) }}, {{ link }}".into()),
    };
    let preview = spec
        .validate(
            &chain(),
            &event("Balances.Transfer"),
            Some(&pas()),
            Some(EXPLORER),
        )
        .expect("valid");
    assert_eq!(preview.title.as_deref(), Some("Got 12.5 PAS"));
    assert_eq!(
        preview.body.as_deref(),
        Some("from 5FHn…94ty, https://paseo.subscan.io/block/1234")
    );
    // Fields of unknown type are placeholders; an event the catalog lacks accepts any field.
    let preview = body("{{ fields.era_index }}: {{ amount(fields.validator_payout) }}")
        .validate(&chain(), &event("Staking.EraPaid"), Some(&pas()), None)
        .expect("valid");
    assert_eq!(
        preview.body.as_deref(),
        Some("‹era_index›: ‹validator_payout› PAS")
    );
    let unknown = event("Assets.Issued");
    body("{{ fields.owner.id }} {{ fields.total + 1 }} {{ short(fields.owner) }}")
        .validate(&chain(), &unknown, None, None)
        .expect("any use of unknown fields is accepted");
    // ... but not a misspelt function or a syntax error.
    let e = body("{{ amout(fields.total) }}")
        .validate(&chain(), &unknown, None, None)
        .expect_err("unknown function");
    assert_eq!(e.message, "line 1, column 4: unknown function `amout`");
}

#[test]
fn fuel_stops_endless_work() {
    let spinning = "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}";
    let started = std::time::Instant::now();
    let e = render_body(spinning, &transfer()).expect_err("stopped");
    assert!(e.message.contains("ran out of fuel"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let e = refused(spinning);
    assert!(e.message.contains("ran out of fuel"), "{}", e.message);
    // Sorting and joining big lists costs fuel too, not only instructions.
    let e = render_body(
        "{{ range(10000) | map('string') | join(',') | length }}{{ range(10000) | sort | sort | sort | length }}",
        &transfer(),
    );
    assert!(e.is_err_and(|e| e.message.contains("fuel")));
}

#[test]
fn output_and_source_are_capped() {
    let e = render_body("{{ 'x' * 100000 }}", &transfer()).expect_err("too long");
    assert_eq!(e.message, "the message is longer than 8192 bytes");
    let e = render_body(
        "{% for i in range(500) %}{{ fields.from }}{% endfor %}",
        &transfer(),
    )
    .expect_err("too long");
    assert_eq!(e.message, "the message is longer than 8192 bytes");
    let just = "y".repeat(MAX_OUTPUT_BYTES);
    assert_eq!(
        render_body(&format!("{{{{ 'y' * {MAX_OUTPUT_BYTES} }}}}"), &transfer()).as_deref(),
        Ok(just.as_str())
    );
    let long = "é".repeat(MAX_TEMPLATE_CHARS + 1);
    let e = refused(&long);
    assert_eq!(
        e.message,
        "the template is 2001 characters long; the limit is 2000"
    );
    assert!(body(&"é".repeat(MAX_TEMPLATE_CHARS))
        .validate(&chain(), &event("Balances.Transfer"), None, None)
        .is_ok());
}

#[test]
fn delivery_falls_back_to_the_default_text_and_says_why() {
    let t = trigger();
    let e = transfer();
    let default = Notification::for_event(&t, &e, Some(&pas()), Some(EXPLORER));
    // No template: today's sentence.
    let plain = compose(None, &t, &e, Some(&pas()), Some(EXPLORER));
    assert_eq!(
        (plain.notification.clone(), plain.fallback),
        (default.clone(), None)
    );
    // A title that works and a body that fails: the title is the person's, the body the default.
    let spec = MessageSpec {
        title: Some("{{ amount(fields.amount) }} arrived".into()),
        body: Some("{{ fields.memo }}".into()),
    };
    let composed = compose(Some(&spec), &t, &e, Some(&pas()), Some(EXPLORER));
    assert_eq!(composed.notification.title, "12.5 PAS arrived");
    assert_eq!(composed.notification.body, default.body);
    assert_eq!(composed.notification.url, default.url);
    let reason = composed.fallback.expect("fell back");
    assert_eq!(reason.field, "message.body");
    assert_eq!(
        reason.reason(),
        "line 1, column 4: `fields.memo` is undefined"
    );
    // Empty output falls back too.
    let composed = compose(
        Some(&body("{% if false %}x{% endif %}")),
        &t,
        &e,
        None,
        None,
    );
    assert_eq!(
        composed.notification.body,
        Notification::for_event(&t, &e, None, None).body
    );
    assert_eq!(
        composed.fallback.map(|f| f.message),
        Some("rendered to empty text".into())
    );
    // A body that works replaces the default, with the link the operator configured.
    let composed = compose(Some(&body("See {{ link }}")), &t, &e, None, Some(EXPLORER));
    assert_eq!(
        composed.notification.body,
        "See https://paseo.subscan.io/block/1234"
    );
    assert_eq!(composed.notification.title, default.title);
    assert_eq!(composed.fallback, None);
}

#[test]
fn specs_parse_with_both_parts_optional() {
    let spec: MessageSpec = serde_json::from_value(json!({"body": "b"})).expect("body only");
    assert_eq!(spec, body("b"));
    let spec: MessageSpec = serde_json::from_value(json!({})).expect("empty");
    assert_eq!(spec, MessageSpec::default());
    assert!(spec.is_empty() && !body("b").is_empty());
    let e = crate::parse_json::<MessageSpec>(br#"{"titel": "x"}"#).expect_err("typo");
    assert_eq!(e.code, ErrorCode::UnknownField);
    assert_eq!(
        serde_json::to_value(body("b")).ok(),
        Some(json!({"body": "b"}))
    );
    let api: ApiError = RenderError::at("message.title", Some((3, 0)), "boom".into()).into();
    assert_eq!(
        (api.field.as_deref(), api.message.as_str()),
        (Some("message.title"), "line 3: boom")
    );
}

#[test]
fn cuts_fall_on_words_and_whole_characters() {
    assert_eq!(cut_at_word("héllo wörld ünïcode", 12), "héllo wörld…");
    assert_eq!(cut_at_word("héllo wörld", 9), "héllo…");
    assert_eq!(cut_at_word("héllo wörld", 11), "héllo wörld");
    // One long word (a URL) keeps its start rather than vanishing.
    assert_eq!(
        cut_at_word("see https://ünïcödé.example/path", 12),
        "see https:/…"
    );
    assert_eq!(cut_at_word("abc", 1), "…");
    assert_eq!(cut_at_word("abc", 0), "");
    // JavaScript counts an emoji as two: Discord and Telegram limits are in UTF-16 units.
    assert_eq!(cut_at_word_in("🎉🎉🎉 party", 5, Unit::Utf16), "🎉🎉…");
    assert_eq!(cut_at_word_in("ééé", 4, Unit::Bytes), "…");
    assert_eq!(cut_at_word_in("éé éé", 8, Unit::Bytes), "éé…");
    let long = "word ".repeat(1000);
    for limit in [
        DISCORD_CONTENT,
        TELEGRAM_TEXT,
        SLACK_SECTION_TEXT,
        NTFY_TITLE,
    ] {
        let cut = limit.fit(&long);
        assert!(
            limit.unit.len(&cut) <= limit.max && cut.ends_with("word…"),
            "{limit:?}"
        );
    }
}

proptest! {
    #[test]
    fn cuts_fit_and_keep_a_prefix(text in "[a é🎉\n]{0,40}", max in 0usize..30) {
        for unit in [Unit::Chars, Unit::Utf16, Unit::Bytes] {
            let cut = cut_at_word_in(&text, max, unit);
            prop_assert!(unit.len(&cut) <= max);
            if cut != text {
                let kept = cut.strip_suffix(ELLIPSIS).unwrap_or(&cut);
                prop_assert!(text.starts_with(kept));
            }
        }
    }
}

#[test]
fn a_message_spec_is_an_object_with_title_and_body_only() {
    let ok: MessageSpec =
        serde_json::from_str(r#"{"title": "t", "body": null}"#).expect("an object");
    assert_eq!((ok.title.as_deref(), ok.body), (Some("t"), None));
    for bad in [
        r#"[null, null]"#,
        r#"["t", "b"]"#,
        r#"{"titel": "t"}"#,
        r#""t""#,
    ] {
        assert!(serde_json::from_str::<MessageSpec>(bad).is_err(), "{bad}");
    }
}
