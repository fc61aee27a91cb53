//! Telegram: the operator's bot (`telegram_bot_token`) posts with the Bot API's `sendMessage` to
//! a chat a person names: a group or channel where the bot was added (its numeric id, or
//! `@channelusername`). <https://core.telegram.org/bots/api#sendmessage>

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{classify_common, json_post, not_enabled, Platforms, Post};
use crate::answer::Answer;
use crate::delivery::Outcome;
use crate::dispatch::HttpRequest;
use crate::error::{ApiError, ApiResult};
use crate::message::TELEGRAM_TEXT;

const FIELD: &str = "action.telegram.chat_id";

/// A Telegram chat: a numeric id (negative for groups and channels) or `@channelusername`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChatId {
    /// `123456789`, `-1001234567890`.
    Id(i64),
    /// `@channelusername`.
    Name(String),
}

/// A Telegram destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telegram {
    /// The chat the bot posts to.
    pub chat_id: Option<ChatId>,
}

/// Checks that Telegram is enabled and the chat is one the Bot API can address.
pub fn validate(telegram: &Telegram, platforms: &Platforms) -> ApiResult<()> {
    if platforms.telegram_bot_token.is_none() {
        return Err(not_enabled(
            "action.telegram",
            "Telegram",
            "telegram_bot_token",
        ));
    }
    match &telegram.chat_id {
        None => Err(ApiError::invalid(
            FIELD,
            "required: the chat to post to (add the bot to a group or channel, then give its id or @channelusername)",
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
        None => return Err("the trigger names no Telegram chat".into()),
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
