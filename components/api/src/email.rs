//! Email at the API: the confirmation mail a new address gets (one request to the operator's
//! mail API), the link in it (`GET /api/email/confirm?code=…`), and the unsubscribe link every
//! notification mail carries (`GET` a page with a button, `POST` the one-click of RFC 8058).
//! The rules are the domain's ([`aurras_domain::channel::email`]); this is the HTTP around them.

use aurras_domain::action::{Action, ActionSpec};
use aurras_domain::channel::email::{
    self, confirmation, escape_html, unsubscribed_trigger, UNSUBSCRIBED,
};
use aurras_domain::registry::{Caller, Registry};
use aurras_domain::trigger::Trigger;
use aurras_domain::ApiResult;
use aurras_spin::deliver;
use aurras_spin::http::{header, now_millis, Answer};
use aurras_spin::{State, WasiStore};
use serde_json::json;
use spin_sdk::http::Request;

/// The value of `name` in the query (codes and tokens are URL-safe: no decoding needed).
fn query_value<'a>(req: &'a Request, name: &str) -> &'a str {
    req.query()
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(n, _)| *n == name)
        .map_or("", |(_, v)| v)
}

/// JSON for a client that asks for it, else a small HTML page (a person opened the link).
fn page(req: &Request, status: u16, title: &str, text: &str, extra_html: &str) -> Answer {
    let wants_json = header(req, "accept").is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return Answer::json(status, json!({"status": title, "message": text}));
    }
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>Aurras: {t}</title></head>\
         <body style=\"font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem\">\
         <h1>{t}</h1><p>{x}</p>{extra_html}</body></html>",
        t = escape_html(title),
        x = escape_html(text),
    );
    Answer::raw(status, "text/html; charset=utf-8", html.into_bytes())
        .with_header("cache-control", "no-store".into())
}

fn unknown_link(req: &Request) -> Answer {
    page(
        req,
        404,
        "Link unknown",
        "This link is unknown, used or expired. Confirmation links work once, for a day.",
        "",
    )
}

/// `GET /api/email/confirm?code=…`: confirms the address of the code's trigger.
pub fn confirm(req: &Request) -> ApiResult<Answer> {
    let state = State::open()?;
    let code = query_value(req, "code");
    Ok(
        match state.registry().confirm_email(code, now_millis())? {
            Some(_) => page(
                req,
                200,
                "confirmed",
                "Your address is confirmed: notifications will arrive by email. Every mail has a link to unsubscribe.",
                "",
            ),
            None => unknown_link(req),
        },
    )
}

/// `GET /api/email/unsubscribe?token=…`: a page whose button posts the one-click unsubscribe
/// (a GET changes nothing, so mail scanners that open links do not unsubscribe anyone).
pub fn unsubscribe_page(req: &Request) -> ApiResult<Answer> {
    let state = State::open()?;
    let token = query_value(req, "token");
    if unsubscribed_trigger(&state.ring, token).is_none() {
        return Ok(unknown_link(req));
    }
    let form = format!(
        "<form method=\"post\" action=\"/api/email/unsubscribe?token={}\">\
         <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <button type=\"submit\">Unsubscribe</button></form>",
        escape_html(token)
    );
    Ok(page(
        req,
        200,
        "Unsubscribe",
        "Stop these notification mails? The trigger is paused; its owner can resume it.",
        &form,
    ))
}

/// `POST /api/email/unsubscribe?token=…` (RFC 8058 one-click): pauses the token's trigger with
/// the reason "unsubscribed".
pub fn unsubscribe(req: &Request) -> ApiResult<Answer> {
    let state = State::open()?;
    let Some(id) = unsubscribed_trigger(&state.ring, query_value(req, "token")) else {
        return Ok(unknown_link(req));
    };
    state
        .deliveries()
        .deactivate(&id, UNSUBSCRIBED, &aurras_spin::http::now_rfc3339())?;
    Ok(page(
        req,
        200,
        "unsubscribed",
        "You are unsubscribed: no more of these mails will be sent.",
        "",
    ))
}

/// The trigger before a replace or patch that names an email action, to tell whether the change
/// made a new confirmation code (which is then mailed).
pub fn before(
    registry: &Registry<'_, WasiStore>,
    id: &str,
    caller: Caller<'_>,
    action: Option<&ActionSpec>,
) -> ApiResult<Option<Trigger>> {
    match action {
        Some(ActionSpec::Email(_)) => Ok(Some(registry.trigger(id, caller)?)),
        _ => Ok(None),
    }
}

/// Mails the confirmation link of a trigger whose code is new (not the one `before` had). The
/// trigger is stored whatever the mail API answers: a failure is logged, and replacing the
/// action after the code expires sends a new one.
pub fn send_confirmation(trigger: &Trigger, before: Option<&Trigger>) {
    let Action::Email(e) = &trigger.action else {
        return;
    };
    let Some(pending) = e.waiting() else {
        return;
    };
    let old = before.and_then(|b| match &b.action {
        Action::Email(old) => old.waiting().map(|p| p.code.clone()),
        _ => None,
    });
    if old.as_deref() == Some(pending.code.as_str()) {
        return;
    }
    let platforms = deliver::platforms();
    let Some(config) = platforms.mail.as_ref() else {
        return;
    };
    let what = trigger
        .name
        .clone()
        .unwrap_or_else(|| format!("{} on {}", trigger.event, trigger.chain));
    let mail = confirmation(config, &e.address, &pending.code, &what);
    match email::send(config, &mail) {
        Ok(request) => {
            let answer = crate::telegram::send_one(request);
            if !matches!(answer.status(), Some(200..=299)) {
                eprintln!(
                    "email: the confirmation mail for {} was not accepted: {:?}",
                    trigger.id,
                    answer.status()
                );
            }
        }
        Err(why) => eprintln!("email: the confirmation mail for {}: {why}", trigger.id),
    }
}
