//! The `api` component: event sources and triggers over HTTP, state in Spin's key-value store.
//!
//! Thin by design: parse the request, call the domain's [`Registry`], shape the answer. Every rule
//! lives in `aurras-domain`; every route is in its route table ([`aurras_domain::api::ROUTES`]).

// `#[http_component]` expands to the component's export glue, which is `unsafe` by nature.
#![allow(unsafe_code)]

mod email;
mod http;
mod matrix;
mod telegram;

use aurras_domain::action::ActionSpec;
use aurras_domain::api::{resolve, Access, Operation, Route};
use aurras_domain::dispatch::{Job, Record};
use aurras_domain::lease::LeaseRequest;
use aurras_domain::limits::{client_key, Limits, RateLimiter};
use aurras_domain::names::{ChainName, EventName};
use aurras_domain::notification::test_envelope;
use aurras_domain::registry::{Caller, Registry, ResealPage};
use aurras_domain::source::{NewSource, SourcePatch};
use aurras_domain::ss58::AccountId;
use aurras_domain::test_fire::{self, TestFireLimits};
use aurras_domain::trigger::Trigger;
use aurras_domain::trigger::{NewTrigger, TriggerPatch};
use aurras_domain::{parse_json, ApiError, ApiResult, ErrorCode};
use serde_json::{json, Value};
use spin_sdk::http::{IncomingRequest, Request, Response};
use spin_sdk::http_component;

use aurras_spin::deliver::{self, Mode};
use aurras_spin::http::{
    bearer, error_response, header, method_name, now_millis, variable, Answer,
};
use aurras_spin::{State, WasiStore, STORE};

/// The OpenAPI document, served at `/api/openapi.json`.
const OPENAPI: &str = include_str!("../../../docs/openapi.json");

#[http_component]
fn handle(incoming: IncomingRequest) -> Response {
    // The body is read within the route's limit before anything else: 413 without reading on.
    let req = match aurras_spin::http::read_request(incoming, body_limit) {
        Ok(req) => req,
        Err(e) => return error_response(&e),
    };
    let method = method_name(req.method());
    match route(&req, &method) {
        Ok(answer) => answer.into_response(),
        Err(e) => {
            if e.code == ErrorCode::Internal {
                eprintln!(
                    "{method} {}: {}",
                    req.path(),
                    e.detail.as_deref().unwrap_or(&e.message)
                );
            }
            error_response(&e)
        }
    }
}

fn now() -> String {
    aurras_spin::http::now_rfc3339()
}

/// The most body bytes the request's route takes (0, nothing read, for an unknown route).
fn body_limit(head: &Request) -> usize {
    resolve(&method_name(head.method()), head.path()).map_or(0, |(route, _)| route.max_body)
}

fn route(req: &Request, method: &str) -> ApiResult<Answer> {
    let (route, params) = resolve(method, req.path())?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if route.operation == Operation::Health {
        return Ok(health());
    }
    if route.operation == Operation::OpenApi {
        return Ok(Answer::raw(
            200,
            "application/json",
            OPENAPI.as_bytes().to_vec(),
        ));
    }
    if route.operation == Operation::TelegramUpdate {
        // Telegram's own authentication (a secret header), checked before anything else.
        return telegram::update(req);
    }
    // The mails' links: the code or token in the query is the authentication.
    match route.operation {
        Operation::EmailConfirm => return email::confirm(req),
        Operation::EmailUnsubscribePage => return email::unsubscribe_page(req),
        Operation::EmailUnsubscribe => return email::unsubscribe(req),
        _ => {}
    }
    let is_admin = check_access(req, route)?;
    let body = http::body(req, route)?;
    let state = State::open()?;
    let registry = state.registry().with_telegram_bot(telegram::bot_name());
    let presented = bearer(req).unwrap_or_default();
    let caller = if is_admin {
        Caller::Operator
    } else {
        Caller::Owner(&presented)
    };

    Ok(match route.operation {
        Operation::ListSources => {
            let sources = registry.list_sources()?;
            let views: Vec<Value> = sources
                .iter()
                .map(|s| {
                    if is_admin {
                        s.admin_view()
                    } else {
                        s.public_view()
                    }
                })
                .collect();
            Answer::json(200, json!({ "sources": views }))
        }
        Operation::CreateSource => {
            let source = registry.create_source(parse_json::<NewSource>(&body)?, &now())?;
            Answer::json(201, source.admin_view()).located(format!("/api/sources/{}", source.id))
        }
        Operation::GetSource => {
            let source = registry.source(&param("id"))?;
            Answer::json(
                200,
                if is_admin {
                    source.admin_view()
                } else {
                    source.public_view()
                },
            )
        }
        Operation::PatchSource => {
            let patch = parse_json::<SourcePatch>(&body)?;
            Answer::json(
                200,
                registry
                    .patch_source(&param("id"), &patch, &now())?
                    .admin_view(),
            )
        }
        Operation::DeleteSource => {
            registry.delete_source(&param("id"))?;
            Answer::empty(204)
        }
        Operation::GetChainSpec => Answer::json(200, registry.chain_spec(&param("id"), false)?),
        Operation::GetRelayChainSpec => Answer::json(200, registry.chain_spec(&param("id"), true)?),
        Operation::CreateTrigger => {
            let limits = limits()?;
            // Counted before anything else is done: refused requests cost the caller too.
            if let (Some(rate), false) = (limits.create_rate, is_admin) {
                let client = client_key(header(req, "spin-client-addr"));
                RateLimiter::new(&state.kv, rate).admit(&client, now_millis())?;
            }
            let mut req = parse_json::<NewTrigger>(&body)?;
            check_destination(Some(&req.action))?;
            matrix::join(Some(&mut req.action))?;
            let created = registry
                .with_caps(limits.caps)
                .create_trigger(req, &now())?;
            let mut view = created.trigger.view();
            view["token"] = json!(created.token);
            // The signing secret, like the token, is shown once.
            if let aurras_domain::action::Action::Webhook(hook) = &created.trigger.action {
                view["secret"] = json!(hook.secret);
            }
            telegram::add_link(&mut view, &created.trigger);
            email::send_confirmation(&created.trigger, None);
            Answer::json(201, view).located(format!("/api/triggers/{}", created.trigger.id))
        }
        Operation::GetTrigger => {
            let trigger = registry.trigger(&param("id"), caller)?;
            let mut view = trigger.view();
            view["delivery"] = state.deliveries().state(&trigger.id)?.view();
            Answer::json(200, view)
        }
        Operation::TestTrigger => {
            let trigger = registry.trigger(&param("id"), caller)?;
            // Counted once the trigger opened; the operator is limited per trigger only.
            let client = (!is_admin).then(|| client_key(header(req, "spin-client-addr")));
            TestFireLimits::from_variables(variable)?.admit(
                &state.kv,
                &trigger.id,
                client.as_deref(),
                now_millis(),
            )?;
            test_trigger(&state, &trigger)?
        }
        Operation::ResendDelivery => {
            let trigger = registry.trigger(&param("id"), caller)?;
            let client = (!is_admin).then(|| client_key(header(req, "spin-client-addr")));
            TestFireLimits::from_variables(variable)?.admit(
                &state.kv,
                &trigger.id,
                client.as_deref(),
                now_millis(),
            )?;
            resend(&state, &trigger, &param("event_id"))?
        }
        Operation::PushPublicKey => push_public_key()?,
        Operation::ListChannels => channels(),
        Operation::ListRecipes => {
            Answer::json(200, aurras_domain::recipe::list(&registry.list_sources()?))
        }
        Operation::ReplaceTrigger => {
            let mut req = parse_json::<NewTrigger>(&body)?;
            check_destination(Some(&req.action))?;
            let before = email::before(&registry, &param("id"), caller, Some(&req.action))?;
            if matrix::is_matrix(Some(&req.action)) {
                // Only the trigger's owner makes the bot join a room.
                registry.trigger(&param("id"), caller)?;
                matrix::join(Some(&mut req.action))?;
            }
            let changed = registry.with_caps(limits()?.caps).replace_trigger(
                &param("id"),
                caller,
                req,
                &now(),
            )?;
            email::send_confirmation(&changed.trigger, before.as_ref());
            Answer::json(200, changed_view(&changed))
        }
        Operation::PatchTrigger => {
            let mut patch = parse_json::<TriggerPatch>(&body)?;
            check_destination(patch.action.as_ref())?;
            let before = email::before(&registry, &param("id"), caller, patch.action.as_ref())?;
            if matrix::is_matrix(patch.action.as_ref()) {
                registry.trigger(&param("id"), caller)?;
                matrix::join(patch.action.as_mut())?;
            }
            let changed = registry.with_caps(limits()?.caps).patch_trigger(
                &param("id"),
                caller,
                patch,
                &now(),
            )?;
            email::send_confirmation(&changed.trigger, before.as_ref());
            Answer::json(200, changed_view(&changed))
        }
        Operation::DeleteTrigger => {
            registry.delete_trigger(&param("id"), caller)?;
            Answer::empty(204)
        }
        Operation::LookupTriggers => lookup(&registry, &param("topic"), req.query())?,
        Operation::Reencrypt => {
            let done = registry.reseal_triggers(&ResealPage::parse(req.query())?)?;
            let answer =
                serde_json::to_value(&done).map_err(|e| ApiError::internal(e.to_string()))?;
            Answer::json(200, answer)
        }
        Operation::GetLease => Answer::json(200, registry.lease(&param("id"), now_millis())?),
        Operation::TakeLease => {
            let ask = parse_json::<LeaseRequest>(&body)?;
            Answer::json(200, registry.take_lease(&param("id"), &ask, now_millis())?)
        }
        Operation::AccountChallenge => {
            // Stateless: a MAC under the deployment's key, checked when the proof comes back.
            let secs = now_millis() / 1000;
            let issued = aurras_domain::ownership::issue(&state.ring, &param("account"), secs)?;
            let answer =
                serde_json::to_value(&issued).map_err(|e| ApiError::internal(e.to_string()))?;
            Answer::json(200, answer).with_header("cache-control", "no-store".into())
        }
        Operation::SetTelegramWebhook => telegram::set_webhook(&state, &body)?,
        Operation::Health
        | Operation::OpenApi
        | Operation::TelegramUpdate
        | Operation::EmailConfirm
        | Operation::EmailUnsubscribePage
        | Operation::EmailUnsubscribe => {
            unreachable!("answered above")
        }
    })
}

/// A changed trigger as its owner sees it, with the signing secret the change made: a trigger
/// that became a webhook shows its new secret once, as at creation.
fn changed_view(changed: &aurras_domain::registry::ChangedTrigger) -> Value {
    let mut view = changed.trigger.view();
    if let Some(secret) = &changed.new_secret {
        view["secret"] = json!(secret);
    }
    view
}

/// The deployment's abuse limits (Spin variables; a malformed one is a 503 naming it).
fn limits() -> ApiResult<Limits> {
    Ok(Limits::from_variables(variable)?)
}

/// Checks the caller may use the route; returns whether the caller is the operator.
fn check_access(req: &Request, route: &Route) -> ApiResult<bool> {
    let presented = bearer(req);
    let is_admin = presented.as_deref().is_some_and(http::is_admin_token);
    // A placeholder or short admin_token opens nothing: whoever asks for operator access (an
    // operator route, a token on a route the operator sees more of, or the token itself) is
    // answered 503 with the reason. Trigger owners and the public are not affected.
    let wants_operator = match route.access {
        Access::Public => false,
        Access::Admin => true,
        Access::PublicOrAdmin => presented.is_some(),
        Access::TriggerOwner => is_admin,
    };
    if wants_operator {
        if let Some(refusal) = http::weak_admin_token() {
            return Err(refusal);
        }
    }
    match route.access {
        Access::Public => Ok(false),
        // A wrong token is an error, not a quiet downgrade to the public view: the page's operator
        // sign-in relies on it (RFC 6750 §3.1, invalid_token).
        Access::PublicOrAdmin if presented.is_some() && !is_admin => Err(ApiError::new(
            ErrorCode::Unauthorized,
            "the bearer token is not the operator's; leave Authorization out for the public view",
        )),
        Access::PublicOrAdmin => Ok(is_admin),
        Access::Admin if is_admin => Ok(true),
        Access::Admin => Err(ApiError::new(
            ErrorCode::Unauthorized,
            "this route needs the operator's token: Authorization: Bearer <admin_token>",
        )),
        // The operator may moderate any trigger; anyone else needs the trigger's own token.
        Access::TriggerOwner if presented.is_some() => Ok(is_admin),
        Access::TriggerOwner => Err(ApiError::new(
            ErrorCode::Unauthorized,
            "send the trigger's management token: Authorization: Bearer <token>",
        )),
    }
}

fn health() -> Answer {
    let version = env!("CARGO_PKG_VERSION");
    let probe =
        WasiStore::open(STORE).and_then(|kv| aurras_domain::kv::KeyValue::get(&kv, "health"));
    match probe {
        Ok(_) => Answer::json(
            200,
            json!({"status": "ok", "version": version, "key_value": {"ok": true}}),
        ),
        Err(e) => Answer::json(
            503,
            json!({"status": "degraded", "version": version, "key_value": {"ok": false, "error": e.0}}),
        ),
    }
}

/// `GET /api/topics/{topic}/triggers?account=…`: which triggers an event would reach.
fn lookup(registry: &Registry<'_, WasiStore>, topic: &str, query: &str) -> ApiResult<Answer> {
    let topic =
        aurras_domain::names::Topic::parse(topic).map_err(|m| ApiError::invalid("topic", m))?;
    // Parsed above, so both halves are valid: the event's own lists and its recipes' lists.
    let (chain, event) = topic
        .as_str()
        .split_once('.')
        .and_then(|(c, e)| Some((ChainName::parse(c).ok()?, EventName::parse(e).ok()?)))
        .ok_or_else(|| ApiError::invalid("topic", "<chain>.<Pallet>.<Event>"))?;
    let mut accounts = Vec::new();
    for (name, value) in query.split('&').filter_map(|p| p.split_once('=')) {
        if name != "account" {
            return Err(ApiError::new(
                ErrorCode::UnknownField,
                format!("unknown query parameter {name:?}"),
            )
            .at(name));
        }
        let id = AccountId::from_hex(value)
            .or_else(|| AccountId::from_ss58(value).ok().map(|(id, _)| id))
            .ok_or_else(|| {
                ApiError::invalid(
                    "account",
                    format!("{value:?} is neither SS58 nor 32-byte hex"),
                )
            })?;
        accounts.push(id.to_hex());
    }
    let triggers = registry.lookup_event(&chain, &event, &accounts)?;
    let found: Vec<Value> = triggers
        .iter()
        .map(|t| json!({"id": t.id, "active": t.status.active, "filter": t.filter}))
        .collect();
    Ok(Answer::json(
        200,
        json!({"topic": topic, "triggers": found}),
    ))
}

/// Refuses loopback, private and link-local destinations up front (unless the deployment allows
/// them), and channels the deployment does not enable, so a trigger that could never deliver is
/// not stored.
fn check_destination(action: Option<&ActionSpec>) -> ApiResult<()> {
    let allow = variable("allow_private_destinations").is_some_and(|v| v.trim() == "true");
    match action {
        Some(action) => action.admit(&deliver::platforms(), allow),
        None => Ok(()),
    }
}

/// `GET /api/channels`: the channels a trigger may deliver to on this server (Web Push only with
/// a VAPID key; webhooks always; the others as their variables are set), so the page offers those.
fn channels() -> Answer {
    let config = deliver::config();
    let mut on = Vec::new();
    if config.vapid.is_some() {
        on.push("web_push");
    }
    on.push("webhook");
    on.extend(config.platforms.enabled());
    Answer::json(
        200,
        json!({
            "channels": on,
            "ntfy_server": config.platforms.ntfy_server,
            "telegram_deep_link": config.platforms.telegram_bot_name.is_some(),
        }),
    )
    .with_header("cache-control", "public, max-age=60".into())
}

/// `GET /api/push/public-key`: the VAPID key pages subscribe with.
fn push_public_key() -> ApiResult<Answer> {
    let key = deliver::config().vapid.ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotConfigured,
            "Web Push is not configured: the operator sets the Spin variable vapid_private_key",
        )
    })?;
    Ok(Answer::json(200, json!({ "publicKey": key.public_key() }))
        .with_header("cache-control", "public, max-age=300".into()))
}

/// `POST /api/triggers/{id}/test`: sends a made-up event of the trigger's kind now and answers
/// with what the destination said. Nothing is stored: a failed test neither pauses the trigger
/// nor counts as a failed delivery.
/// Sends again a delivery that no retry will repeat, with the record kept in the trigger's
/// delivery log, and records how it went there (sent like a test: no claim, since its owner
/// asked for exactly this copy).
fn resend(state: &State, trigger: &Trigger, event_id: &str) -> ApiResult<Answer> {
    let deliveries = state.deliveries();
    let record = deliveries
        .state(&trigger.id)?
        .resendable(event_id)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                "no delivery of this event to send again: only one that failed for good or whose destination was gone, among the trigger's last deliveries",
            )
            .at("event_id")
        })?;
    let envelope = record
        .envelope()
        .map_err(|e| ApiError::internal(format!("the kept record: {e}")))?;
    let source = state.registry().source(&trigger.source).ok();
    let block = envelope.block.number;
    let job = Job {
        token: source.and_then(|s| s.token),
        trigger: trigger.clone(),
        envelope,
        record: record.clone(),
        attempt: 0,
        throttled: 0,
        test: false,
    };
    let config = deliver::config();
    let done = deliver::deliver(state, &config, vec![job], Mode::Test).delivered;
    let Some(result) = done.into_iter().next() else {
        return Err(ApiError::internal("the delivery was not attempted"));
    };
    deliveries.record_resent(
        &trigger.id,
        event_id,
        block,
        &record,
        &result.answer,
        &result.outcome,
        &now(),
    )?;
    Ok(Answer::json(
        200,
        test_fire::report(&result.outcome, &result.answer),
    ))
}

fn test_trigger(state: &State, trigger: &Trigger) -> ApiResult<Answer> {
    let registry = state.registry();
    let source = registry.source(&trigger.source).ok();
    let envelope = test_envelope(
        trigger,
        source.as_ref().map(|s| s.ss58_prefix).unwrap_or(42),
        now_millis(),
    );
    let value = serde_json::to_vec(&envelope).map_err(|e| ApiError::internal(e.to_string()))?;
    let record = Record {
        topic: trigger.topic.to_string(),
        partition: 0,
        offset: 0,
        key: None,
        value: aurras_domain::dispatch::encode_bytes(&value),
        timestamp: None,
    };
    let job = Job {
        token: source.and_then(|s| s.token),
        trigger: trigger.clone(),
        envelope,
        record,
        attempt: 0,
        throttled: 0,
        test: true,
    };
    let config = deliver::config();
    // What a person will read, shown with the answer (the templates' text or the default).
    let note = job.notification(&config);
    let done = deliver::deliver(state, &config, vec![job], Mode::Test).delivered;
    let Some(result) = done.into_iter().next() else {
        return Err(ApiError::internal("the test delivery was not attempted"));
    };
    // By class, never in the transport's words: the caller chose the URL (docs/security.md).
    let mut report = test_fire::report(&result.outcome, &result.answer);
    report["message"] = json!({"title": note.title, "body": note.body, "link": note.url});
    Ok(Answer::json(200, report))
}
