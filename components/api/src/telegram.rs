//! Telegram deep links at the API: the webhook Telegram pushes updates to
//! (`POST /api/telegram/update`), where `/start <code>` links a chat, and the operator's route
//! that registers it with the Bot API (`POST /api/operator/telegram/webhook`). The rules are the
//! domain's ([`aurras_domain::channel::telegram_link`]); this is the HTTP around them.

use std::time::Duration;

use aurras_domain::action::Action;
use aurras_domain::channel::telegram_link::{
    self, connected_text, start_command, webhook_secret, webhook_secret_matches, WebhookSpec,
    NO_CODE_TEXT, SECRET_HEADER, UNKNOWN_CODE_TEXT,
};
use aurras_domain::dispatch::HttpRequest;
use aurras_domain::trigger::Trigger;
use aurras_domain::{parse_json, ApiError, ApiResult, ErrorCode};
use aurras_spin::deliver;
use aurras_spin::http::{header, now_millis, Answer};
use aurras_spin::outbound::{Sender, Timeouts};
use aurras_spin::State;
use serde_json::{json, Value};
use spin_sdk::http::Request;

/// One request to the Bot API, answered within a few seconds: Telegram waits for the webhook's
/// answer, and the operator for theirs.
pub(crate) fn send_one(request: HttpRequest) -> aurras_domain::answer::Answer {
    let mut sender = Sender::new(Timeouts {
        connect: Duration::from_secs(3),
        first_byte: Duration::from_secs(5),
        overall: Duration::from_secs(8),
        per_host: 1,
    });
    sender.send(request);
    sender
        .finish()
        .into_iter()
        .next()
        .unwrap_or_else(|| aurras_domain::answer::Answer::none("no answer"))
}

/// `POST /api/telegram/update`. Anything without the deployment's secret header is 401 before
/// the body is looked at. Every authenticated update is answered 200 (Telegram resends an
/// update until it gets a 2xx, and a malformed one never gets better), with the same empty body
/// whatever became of it: only the person in the chat reads whether their code worked.
pub fn update(req: &Request) -> ApiResult<Answer> {
    let unauthorized = || {
        ApiError::new(
            ErrorCode::Unauthorized,
            "updates come from Telegram with the secret token set by setWebhook",
        )
    };
    let platforms = deliver::platforms();
    let token = platforms
        .telegram_bot_token
        .as_deref()
        .ok_or_else(unauthorized)?;
    let state = State::open()?;
    let presented = header(req, SECRET_HEADER).unwrap_or_default();
    if !webhook_secret_matches(&state.ring, token, presented) {
        return Err(unauthorized());
    }
    let taken = Answer::json(200, json!({}));
    let Ok(update) = serde_json::from_slice::<Value>(req.body()) else {
        return Ok(taken);
    };
    let Some(start) = start_command(&update) else {
        return Ok(taken);
    };
    let text = match &start.code {
        None => NO_CODE_TEXT.to_owned(),
        Some(code) => match state
            .registry()
            .link_telegram_chat(code, start.chat, now_millis())?
        {
            Some(trigger) => connected_text(&trigger),
            None => UNKNOWN_CODE_TEXT.to_owned(),
        },
    };
    // The link is stored whatever becomes of the reply: a reply that fails is logged, and the
    // update is still taken (resending it would only find the code used).
    match telegram_link::send_message(&platforms, start.chat, &text) {
        Ok(request) => {
            let answer = send_one(request);
            if !matches!(answer.status(), Some(200..=299)) {
                eprintln!(
                    "telegram: replying to a /start failed: {:?}",
                    answer.status()
                );
            }
        }
        Err(e) => eprintln!("telegram: replying to a /start: {e}"),
    }
    Ok(taken)
}

/// `POST /api/operator/telegram/webhook` `{"url": "https://<public host>/api/telegram/update"}`:
/// `setWebhook` with the deployment's secret token, for messages only; Telegram's answer.
pub fn set_webhook(state: &State, body: &[u8]) -> ApiResult<Answer> {
    let spec = parse_json::<WebhookSpec>(body)?;
    let url = spec.checked()?;
    let platforms = deliver::platforms();
    let token = platforms.telegram_bot_token.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotConfigured,
            "Telegram is not enabled on this server (the operator sets the Spin variable telegram_bot_token)",
        )
    })?;
    let secret = webhook_secret(&state.ring, token)?;
    let request = telegram_link::set_webhook(&platforms, &url, &secret)
        .map_err(|e| ApiError::new(ErrorCode::NotConfigured, e))?;
    let answer = send_one(request);
    Ok(Answer::json(
        200,
        telegram_link::webhook_answer(&answer, &url)?,
    ))
}

/// The deep link of a trigger that waits for one, for the create answer (as the webhook
/// secret, it is shown where it is needed: the person taps it next).
pub fn add_link(view: &mut Value, trigger: &Trigger) {
    if let Action::Telegram(t) = &trigger.action {
        if let (None, Some(link)) = (&t.chat_id, &t.link) {
            view["link"] = json!(link.url);
        }
    }
}

/// `telegram_bot_name`, for the registry's deep links.
pub fn bot_name() -> Option<String> {
    aurras_spin::http::variable("telegram_bot_name").map(|v| v.trim().to_owned())
}
