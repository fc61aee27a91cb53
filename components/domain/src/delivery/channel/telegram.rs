//! Telegram: the operator's bot (`telegram_bot_token`) posts with the Bot API's `sendMessage` to
//! a chat a person names: a group or channel where the bot was added (its numeric id, or
//! `@channelusername`), or a private chat linked by a deep link (`{"telegram": {}}`, see
//! [`super::telegram_link`]). <https://core.telegram.org/bots/api#sendmessage>

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::telegram_link::PendingLink;
use super::{classify_common, json_post, not_enabled, Platforms, Post};
use crate::answer::Answer;
use crate::delivery::Outcome;
use crate::dispatch::HttpRequest;
use crate::error::{ApiError, ApiResult};
use crate::message::TELEGRAM_TEXT;

const FIELD: &str = "action.telegram.chat_id";

/// A Telegram chat: a numeric id (negative for groups and channels) or `@channelusername`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ChatId {
    /// `123456789`, `-1001234567890`.
    Id(i64),
    /// `@channelusername`.
    Name(String),
}

// By hand: JSON counts `906.0` as the integer 906 (as the OpenAPI document's `integer` does),
// which a derived `i64` refuses.
impl<'de> Deserialize<'de> for ChatId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = |n: &serde_json::Number| {
            n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            })
        };
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => id(&n)
                .map(ChatId::Id)
                .ok_or_else(|| serde::de::Error::custom("a chat id is a 64-bit integer")),
            serde_json::Value::String(name) => Ok(ChatId::Name(name)),
            _ => Err(serde::de::Error::custom(
                "expected a chat id (an integer) or @channelusername",
            )),
        }
    }
}

/// A Telegram destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telegram {
    /// The chat the bot posts to; `None` until a deep link connects one.
    pub chat_id: Option<ChatId>,
    /// The deep link waiting for its `/start`, while no chat is linked. Made by the server
    /// (refused in what a client sends) and stored sealed with the rest of the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<PendingLink>,
}

/// Checks that Telegram is enabled and the chat is one the Bot API can address. No chat asks
/// for a deep link, which needs the bot's name.
pub fn validate(telegram: &Telegram, platforms: &Platforms) -> ApiResult<()> {
    if platforms.telegram_bot_token.is_none() {
        return Err(not_enabled(
            "action.telegram",
            "Telegram",
            "telegram_bot_token",
        ));
    }
    if telegram.link.is_some() {
        return Err(ApiError::invalid(
            "action.telegram.link",
            "the link is made by the server: send {\"telegram\": {}} to get one",
        ));
    }
    match &telegram.chat_id {
        None if platforms.telegram_bot_name.is_some() => Ok(()),
        None => Err(ApiError::invalid(
            FIELD,
            "required on this server: deep links are not enabled (the operator sets the Spin variable telegram_bot_name); add the bot to a group or channel, then give its id or @channelusername",
        )),
        Some(ChatId::Id(0)) => Err(ApiError::invalid(FIELD, "0 is not a chat id")),
        Some(ChatId::Id(_)) => Ok(()),
        Some(ChatId::Name(name)) => {
            let user = name.strip_prefix('@').unwrap_or_default();
            let ok = (5..=32).contains(&user.len())
                && user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if ok {
                Ok(())
            } else {
                Err(ApiError::invalid(
                    FIELD,
                    "expected a numeric chat id or @channelusername (5 to 32 letters, digits or _)",
                ))
            }
        }
    }
}

/// The action as its owner sees it: whether a chat is linked (and which: the owner gave it or
/// tapped the link themselves), and the deep link while none is.
pub fn view(telegram: &Telegram) -> Value {
    match (&telegram.chat_id, &telegram.link) {
        (Some(chat), _) => json!({"linked": true, "chat_id": chat}),
        (None, Some(link)) => json!({
            "linked": false,
            "link": link.url,
            "link_expires_at": crate::rfc3339(link.expires_ms),
        }),
        (None, None) => json!({"linked": false}),
    }
}

/// `sendMessage` as plain text (no parse mode: text from the chain is never taken for markup).
pub fn request(
    telegram: &Telegram,
    platforms: &Platforms,
    post: &Post<'_>,
) -> Result<HttpRequest, String> {
    let token = platforms
        .telegram_bot_token
        .as_deref()
        .ok_or("Telegram is not enabled on this server (telegram_bot_token is unset)")?;
    let chat = match &telegram.chat_id {
        Some(ChatId::Id(id)) => json!(id),
        Some(ChatId::Name(name)) => json!(name),
        // Dispatch skips unlinked triggers before this; a test fire gets here and says why.
        None => {
            return Err(
                "no Telegram chat is linked yet: open the trigger's link and press Start".into(),
            )
        }
    };
    json_post(
        format!("{}/bot{token}/sendMessage", platforms.telegram_api),
        &json!({
            "chat_id": chat,
            "text": TELEGRAM_TEXT.fit(&post.plain_text()),
        }),
    )
}

/// The Bot API's answers: a chat the bot can no longer post to (blocked, kicked, deleted,
/// "chat not found") is gone; 401 (the operator's token was revoked) retries until the operator
/// fixes it; other 4xx fail.
pub fn classify(answer: &Answer) -> Outcome {
    if let Some(outcome) = classify_common(answer, "Telegram") {
        return outcome;
    }
    let status = answer.status().unwrap_or_default();
    let description = answer
        .json()
        .and_then(|j: Value| j["description"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let lower = description.to_ascii_lowercase();
    if status == 401 {
        return Outcome::Retry(format!(
            "Telegram refused the bot's token ({description}): the operator must set a valid telegram_bot_token"
        ));
    }
    let gone = status == 403
        || [
            "chat not found",
            "bot was kicked",
            "bot was blocked",
            "user is deactivated",
            "chat was deleted",
            "group chat was upgraded",
        ]
        .iter()
        .any(|w| lower.contains(w));
    if gone {
        Outcome::Gone(format!(
            "Telegram answered {status} ({description}): the bot can no longer post to this chat"
        ))
    } else {
        Outcome::Failed(format!(
            "Telegram refused the message ({status}: {description})"
        ))
    }
}
