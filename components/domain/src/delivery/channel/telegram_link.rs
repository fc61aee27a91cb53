//! Telegram deep links: a person connects a trigger to their own chat with one tap.
//!
//! A trigger created with `{"telegram": {}}` gets a one-time code and the link
//! `https://t.me/<bot>?start=<code>`. Telegram opens the chat with the bot; pressing Start sends
//! `/start <code>`, which Telegram pushes to the app's webhook (`POST /api/telegram/update`) with
//! the `X-Telegram-Bot-Api-Secret-Token` the app chose at `setWebhook`. The app then links that
//! chat to the trigger (the registry's `link_telegram_chat`) and answers the person in the chat.
//! <https://core.telegram.org/bots/features#deep-linking>,
//! <https://core.telegram.org/bots/api#setwebhook>
//!
//! The code is 256 random bits, sealed in the trigger's action (so the owner's view can show the
//! link again) and indexed under `telegram/link/<sha256 of code>` (see [`crate::keys`]), which
//! expires after [`LINK_TTL_MS`]; it works once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{json_post, Platforms};
use crate::answer::Answer;
use crate::dispatch::HttpRequest;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::trigger::Trigger;
use crate::vault::Keyring;

/// How long a deep link works: long enough to open Telegram on another device, short enough
/// that a link left on a screen is soon worth nothing.
pub const LINK_TTL_MS: u64 = 60 * 60 * 1000;

/// The longest `start` parameter Telegram takes (and its alphabet, [`is_code`]).
pub const MAX_CODE_LEN: usize = 64;

/// The header Telegram sends every update with, holding the `secret_token` of `setWebhook`.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// What the person reads after the link worked (the trigger's name, or its event).
pub fn connected_text(trigger: &Trigger) -> String {
    let what = trigger
        .name
        .clone()
        .unwrap_or_else(|| format!("{} on {}", trigger.event, trigger.chain));
    format!("Connected: you will get {what} notifications here.")
}

/// What the person reads when the code is unknown, used or expired: the same words for each,
/// so the chat learns nothing about codes it was not given.
pub const UNKNOWN_CODE_TEXT: &str = "This link is unknown or has expired (each link works once, for an hour). Open Aurras again to get a new one.";

/// What the person reads after a bare `/start`.
pub const NO_CODE_TEXT: &str =
    "Hello! To get notifications here, open the Telegram link Aurras shows when you create one.";

/// A deep link waiting for its `/start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingLink {
    /// The one-time code (the link's `start` parameter).
    pub code: String,
    /// `https://t.me/<bot>?start=<code>`.
    pub url: String,
    /// When the code stops working (Unix ms).
    pub expires_ms: u64,
}

impl PendingLink {
    /// A new code for `bot` (its @username, with or without the `@`), expiring
    /// [`LINK_TTL_MS`] after `now_ms`.
    pub fn new(bot: &str, now_ms: u64) -> ApiResult<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| ApiError::internal(format!("no randomness for a link code: {e}")))?;
        // base64url without padding: 43 characters of A-Z a-z 0-9 _ -, Telegram's alphabet.
        let code = URL_SAFE_NO_PAD.encode(bytes);
        Ok(Self {
            url: deep_link(bot, &code),
            code,
            expires_ms: now_ms.saturating_add(LINK_TTL_MS),
        })
    }

    /// Whether the code still works at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        now_ms < self.expires_ms
    }

    /// Whether `code` is this link's code, compared in constant time.
    pub fn is_code(&self, code: &str) -> bool {
        let (a, b) = (self.code.as_bytes(), code.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// The key the code is indexed under.
    pub fn key(&self) -> String {
        code_key(&self.code)
    }
}

/// `https://t.me/<bot>?start=<code>`.
pub fn deep_link(bot: &str, code: &str) -> String {
    format!("https://t.me/{}?start={code}", bot.trim_start_matches('@'))
}

/// `telegram/link/<sha256 of code>`.
pub fn code_key(code: &str) -> String {
    crate::keys::telegram_link(&hex::encode(Sha256::digest(code.as_bytes())))
}

/// Whether `s` could be a code: 1 to 64 of A-Z a-z 0-9 _ - (what Telegram passes as `start`).
pub fn is_code(s: &str) -> bool {
    (1..=MAX_CODE_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What `telegram/link/<hash>` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    /// The trigger the code links.
    pub trigger: String,
    /// When the code stops working (Unix ms).
    pub expires_ms: u64,
}

/// The `secret_token` the app sets with `setWebhook` and expects on every update: an HMAC of
/// the bot token under the deployment's keyring, so it needs no variable of its own, changes
/// with the bot token, and is never stored.
pub fn webhook_secret(ring: &Keyring, bot_token: &str) -> ApiResult<String> {
    let key = ring
        .mac_keys()
        .next()
        .ok_or_else(|| ApiError::internal("the keyring is empty"))?;
    Ok(hex::encode(secret_mac(key, bot_token)))
}

/// Whether `presented` is the webhook secret under any key of the ring (a rotation does not
/// break the webhook until the old key leaves the ring), compared in constant time.
pub fn webhook_secret_matches(ring: &Keyring, bot_token: &str, presented: &str) -> bool {
    let Ok(bytes) = hex::decode(presented.trim()) else {
        return false;
    };
    ring.mac_keys().any(|key| {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(SECRET_LABEL);
        mac.update(bot_token.as_bytes());
        mac.verify_slice(&bytes).is_ok()
    })
}

const SECRET_LABEL: &[u8] = b"aurras/telegram-webhook/v1\n";

fn secret_mac(key: &[u8; 32], bot_token: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(SECRET_LABEL);
    mac.update(bot_token.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A `/start` a person sent the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The chat it came from (where the notifications will go).
    pub chat: i64,
    /// The deep link's code, when there is one that could be a code.
    pub code: Option<String>,
}

/// The `/start` in an update (`/start <code>`, or `/start@<bot> <code>` in a group), or `None`
/// for every other update, which the webhook takes and ignores.
pub fn start_command(update: &Value) -> Option<Start> {
    let message = update.get("message")?;
    let chat = message.get("chat")?.get("id")?.as_i64()?;
    let text = message.get("text")?.as_str()?.trim();
    let mut words = text.split_whitespace();
    let command = words.next()?;
    let (name, _bot) = command.split_once('@').unwrap_or((command, ""));
    if name != "/start" {
        return None;
    }
    let code = words.next().filter(|c| is_code(c)).map(str::to_owned);
    Some(Start { chat, code })
}

/// `sendMessage` of plain `text` to `chat`.
pub fn send_message(platforms: &Platforms, chat: i64, text: &str) -> Result<HttpRequest, String> {
    let token = bot_token(platforms)?;
    json_post(
        format!("{}/bot{token}/sendMessage", platforms.telegram_api),
        &json!({"chat_id": chat, "text": text}),
    )
}

/// `setWebhook` to `url` with the deployment's secret, for messages only (the one update the
/// app reads: fewer updates, less to refuse).
pub fn set_webhook(platforms: &Platforms, url: &str, secret: &str) -> Result<HttpRequest, String> {
    let token = bot_token(platforms)?;
    json_post(
        format!("{}/bot{token}/setWebhook", platforms.telegram_api),
        &json!({"url": url, "secret_token": secret, "allowed_updates": ["message"]}),
    )
}

fn bot_token(platforms: &Platforms) -> Result<&str, String> {
    platforms.telegram_bot_token.as_deref().ok_or_else(|| {
        "Telegram is not enabled on this server (telegram_bot_token is unset)".into()
    })
}

/// The body of `POST /api/operator/telegram/webhook`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// The app's public `…/api/telegram/update`.
    pub url: String,
}

impl WebhookSpec {
    /// The URL, if Telegram could call it: `https://` (Telegram's rule; `http://` passes here
    /// so a local Bot API server can take it, and Telegram itself refuses it), with a host and
    /// no user info.
    pub fn checked(&self) -> ApiResult<String> {
        let url = url::Url::parse(&self.url)
            .map_err(|e| ApiError::invalid("url", format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(ApiError::invalid(
                "url",
                "expected https://<public host>/api/telegram/update",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ApiError::invalid(
                "url",
                "the URL carries a user name or password (user:pass@host)",
            ));
        }
        Ok(self.url.clone())
    }
}

/// What the operator route answers for Telegram's answer to `setWebhook`: 200 with Telegram's
/// description, or `503 not_configured` with it (the bot token or the URL is the operator's to
/// fix).
pub fn webhook_answer(answer: &Answer, url: &str) -> ApiResult<Value> {
    let json = answer.json().unwrap_or(Value::Null);
    let description = json["description"].as_str().unwrap_or_default().to_owned();
    match answer.status() {
        Some(200..=299) if json["ok"] == json!(true) => Ok(json!({
            "ok": true, "url": url, "allowed_updates": ["message"], "description": description,
        })),
        Some(status) => Err(ApiError::new(
            ErrorCode::NotConfigured,
            format!("Telegram refused setWebhook ({status}: {description})"),
        )),
        None => {
            let why = match answer {
                Answer::NoAnswer(why) | Answer::Held { why, .. } => why.as_str(),
                Answer::Response(_) => "no answer",
            };
            Err(ApiError::new(
                ErrorCode::NotConfigured,
                format!("Telegram did not answer setWebhook: {why}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::Response;

    fn ring(keys: &str) -> Keyring {
        Keyring::parse(keys).expect("ring")
    }

    const K1: &str = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const K2: &str = "k2:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

    #[test]
    fn codes_are_one_time_sized_for_telegram_and_expire() {
        let a = PendingLink::new("@aurras_bot", 1_000).expect("code");
        let b = PendingLink::new("aurras_bot", 1_000).expect("code");
        assert_ne!(a.code, b.code);
        assert!(is_code(&a.code), "{}", a.code);
        assert!(a.code.len() <= MAX_CODE_LEN);
        assert_eq!(a.url, format!("https://t.me/aurras_bot?start={}", a.code));
        assert!(a.is_live(1_000 + LINK_TTL_MS - 1));
        assert!(!a.is_live(1_000 + LINK_TTL_MS));
        assert!(a.is_code(&a.code));
        assert!(!a.is_code(&b.code));
        assert!(!a.is_code(&a.code[1..]));
        // The key is the code's hash: it does not contain the code.
        assert!(!a.key().contains(&a.code));
        assert!(a.key().starts_with("telegram/link/"));
        for bad in ["", "has space", "dot.", &"a".repeat(65), "ünï"] {
            assert!(!is_code(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_webhook_secret_verifies_under_any_key_of_the_ring_and_only_for_its_bot() {
        let old = ring(K1);
        let secret = webhook_secret(&old, "1:abc").expect("secret");
        assert!(is_code(&secret), "Telegram's secret_token alphabet");
        assert!(webhook_secret_matches(&old, "1:abc", &secret));
        assert!(!webhook_secret_matches(&old, "2:abc", &secret));
        assert!(!webhook_secret_matches(&old, "1:abc", &secret[1..]));
        assert!(!webhook_secret_matches(&old, "1:abc", "not hex"));
        assert!(!webhook_secret_matches(&old, "1:abc", ""));
        // After a rotation (new key first) the registered secret still works…
        let rotated = ring(&format!("{K2},{K1}"));
        assert!(webhook_secret_matches(&rotated, "1:abc", &secret));
        assert_ne!(webhook_secret(&rotated, "1:abc").expect("new"), secret);
        // …until the old key leaves the ring.
        assert!(!webhook_secret_matches(&ring(K2), "1:abc", &secret));
    }

    #[test]
    fn start_commands_are_read_and_everything_else_ignored() {
        let update =
            |text: &str| json!({"update_id": 1, "message": {"chat": {"id": 42}, "text": text}});
        assert_eq!(
            start_command(&update("/start abc_DEF-1")),
            Some(Start {
                chat: 42,
                code: Some("abc_DEF-1".into())
            })
        );
        assert_eq!(
            start_command(&update("/start@aurras_bot abc")),
            Some(Start {
                chat: 42,
                code: Some("abc".into())
            })
        );
        for no_code in ["/start", "/start not.a.code"] {
            assert_eq!(
                start_command(&update(no_code)),
                Some(Start {
                    chat: 42,
                    code: None
                }),
                "{no_code}"
            );
        }
        for other in ["hello", "/stop abc", "/started abc", ""] {
            assert_eq!(start_command(&update(other)), None, "{other:?}");
        }
        assert_eq!(
            start_command(&json!({"update_id": 1, "edited_message": {}})),
            None
        );
        assert_eq!(
            start_command(&json!({"message": {"chat": {"id": "x"}, "text": "/start a"}})),
            None
        );
        assert_eq!(start_command(&json!([])), None);
    }

    #[test]
    fn bot_api_requests() {
        let p = Platforms::from_variables(|n| match n {
            "telegram_bot_token" => Some("1:abc".into()),
            "telegram_api" => Some("https://tg.example/".into()),
            _ => None,
        });
        let set =
            set_webhook(&p, "https://app.example/api/telegram/update", "s3cret").expect("set");
        assert_eq!(set.url, "https://tg.example/bot1:abc/setWebhook");
        let body: Value = serde_json::from_slice(&set.body).expect("json");
        assert_eq!(
            body,
            json!({"url": "https://app.example/api/telegram/update", "secret_token": "s3cret",
                   "allowed_updates": ["message"]})
        );
        let sent = send_message(&p, 42, "hi").expect("send");
        assert_eq!(sent.url, "https://tg.example/bot1:abc/sendMessage");
        let body: Value = serde_json::from_slice(&sent.body).expect("json");
        assert_eq!(body, json!({"chat_id": 42, "text": "hi"}));
        assert!(send_message(&Platforms::default(), 42, "hi")
            .expect_err("off")
            .contains("not enabled"));
    }

    #[test]
    fn webhook_urls_and_answers() {
        let spec = |url: &str| WebhookSpec { url: url.into() };
        assert!(spec("https://app.example/api/telegram/update")
            .checked()
            .is_ok());
        for bad in ["ftp://x/y", "not a url", "https://u:p@app.example/"] {
            assert_eq!(
                spec(bad).checked().expect_err(bad).field.as_deref(),
                Some("url")
            );
        }
        let answer = |status: u16, body: &str| {
            Answer::Response(Response {
                status,
                retry_after: None,
                body: body.as_bytes().to_vec(),
            })
        };
        let ok = webhook_answer(
            &answer(
                200,
                r#"{"ok":true,"result":true,"description":"Webhook was set"}"#,
            ),
            "https://a/",
        )
        .expect("ok");
        assert_eq!(ok["description"], "Webhook was set");
        let refused = webhook_answer(
            &answer(
                400,
                r#"{"ok":false,"description":"Bad Request: bad webhook"}"#,
            ),
            "https://a/",
        )
        .expect_err("refused");
        assert!(refused.message.contains("bad webhook"), "{refused}");
        assert!(webhook_answer(&Answer::none("refused"), "https://a/").is_err());
    }
}
