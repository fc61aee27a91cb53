//! Trigger actions: where a matching event is delivered (a browser's Web Push subscription, a
//! webhook URL, or a chat or phone channel of [`crate::channel`]).

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::channel::telegram::Telegram;
use crate::channel::{discord, email, matrix, ntfy, slack, telegram, ChatHook, Platforms};
use crate::error::{ApiError, ApiResult};

/// The keys of a browser's `PushSubscription`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushKeys {
    /// The browser's P-256 public key: base64url of the 65-byte uncompressed point.
    pub p256dh: String,
    /// The 16-byte authentication secret, base64url.
    pub auth: String,
}

/// A browser's `PushSubscription.toJSON()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebPush {
    /// The push service URL (`https://`).
    pub endpoint: String,
    /// The subscription's keys.
    pub keys: PushKeys,
    /// Browsers include it (usually `null`); kept as given.
    #[serde(
        rename = "expirationTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_time: Option<Value>,
}

/// A webhook as a client writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// The `https://` URL to POST to.
    pub url: String,
}

/// An action as a client writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionSpec {
    /// Notify a browser.
    WebPush(#[serde(deserialize_with = "object")] WebPush),
    /// POST to a URL.
    Webhook(#[serde(deserialize_with = "object")] WebhookSpec),
    /// Post to a Telegram chat through the operator's bot.
    Telegram(#[serde(deserialize_with = "object")] Telegram),
    /// Post to a Discord channel's incoming webhook.
    Discord(#[serde(deserialize_with = "object")] ChatHook),
    /// Post to a Slack channel's incoming webhook.
    Slack(#[serde(deserialize_with = "object")] ChatHook),
    /// Publish to an ntfy topic (phone notifications).
    Ntfy(#[serde(deserialize_with = "object")] ntfy::Ntfy),
    /// Post to a Matrix room through the operator's bot account.
    Matrix(#[serde(deserialize_with = "object")] matrix::Matrix),
    /// Mail an address, once its owner confirms it.
    Email(#[serde(deserialize_with = "object")] email::EmailSpec),
}

/// Reads a channel's fields from a JSON object only. Derived structs also take a JSON array of
/// their fields in order (`{"telegram": [null, null]}`), which the API's contract (an object per
/// channel) does not allow.
fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let map = serde_json::Map::<String, Value>::deserialize(d)?;
    serde_json::from_value(Value::Object(map)).map_err(serde::de::Error::custom)
}

/// A stored webhook: the URL and its signing secret (`whsec_…`, Standard Webhooks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// The URL.
    pub url: String,
    /// The signing secret; shown to the client once, at creation.
    pub secret: String,
}

/// A validated action, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Notify a browser.
    WebPush(WebPush),
    /// POST to a URL.
    Webhook(Webhook),
    /// A Telegram chat.
    Telegram(Telegram),
    /// A Discord incoming webhook.
    Discord(ChatHook),
    /// A Slack incoming webhook.
    Slack(ChatHook),
    /// An ntfy topic.
    Ntfy(ntfy::Ntfy),
    /// A Matrix room the bot joined.
    Matrix(matrix::Matrix),
    /// An email address, confirmed or waiting for its confirmation.
    Email(email::Email),
}

fn decode_b64url(s: &str) -> Option<Vec<u8>> {
    // Browsers emit unpadded base64url; tolerate padding.
    URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .ok()
}

fn check_https(raw: &str, field: &str) -> ApiResult<()> {
    let url = url::Url::parse(raw)
        .map_err(|e| ApiError::invalid(field, format!("{raw:?} is not a URL: {e}")))?;
    if url.scheme() != "https" {
        return Err(ApiError::invalid(
            field,
            format!("{raw:?} must be an https:// URL"),
        ));
    }
    if url.host_str().is_none() {
        return Err(ApiError::invalid(field, format!("{raw:?} has no host")));
    }
    // Delivery refuses user info, so such a URL would be accepted here and only fail later:
    // retried for hours, then the trigger paused. The message does not echo the URL, which
    // holds a password.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::invalid(
            field,
            "the URL carries a user name or password (user:pass@host); put credentials in the \
             path or query instead",
        ));
    }
    Ok(())
}

impl WebPush {
    fn validate(&self) -> ApiResult<()> {
        check_https(&self.endpoint, "action.web_push.endpoint")?;
        // `PushSubscription.expirationTime` is a timestamp or null; anything else would be stored
        // and shown back as given.
        if !matches!(
            self.expiration_time,
            None | Some(Value::Null) | Some(Value::Number(_))
        ) {
            return Err(ApiError::invalid(
                "action.web_push.expirationTime",
                "expected a number (milliseconds since the epoch) or null, as PushSubscription gives",
            ));
        }
        let key = decode_b64url(&self.keys.p256dh);
        if !key.is_some_and(|k| k.len() == 65 && k[0] == 0x04) {
            return Err(ApiError::invalid(
                "action.web_push.keys.p256dh",
                "expected base64url of a 65-byte uncompressed P-256 public key (as PushSubscription gives)",
            ));
        }
        if decode_b64url(&self.keys.auth).is_none_or(|a| a.len() != 16) {
            return Err(ApiError::invalid(
                "action.web_push.keys.auth",
                "expected base64url of the 16-byte auth secret (as PushSubscription gives)",
            ));
        }
        Ok(())
    }
}

impl ActionSpec {
    /// Validates the action. `new_secret` makes a webhook signing secret when one is needed;
    /// `keep` is the stored action being replaced, whose secret a changed URL keeps.
    pub fn validate(
        self,
        keep: Option<&Action>,
        new_secret: impl FnOnce() -> String,
    ) -> ApiResult<Action> {
        match self {
            ActionSpec::WebPush(push) => {
                push.validate()?;
                Ok(Action::WebPush(push))
            }
            ActionSpec::Webhook(hook) => {
                check_https(&hook.url, "action.webhook.url")?;
                let secret = match keep {
                    Some(Action::Webhook(old)) => old.secret.clone(),
                    _ => new_secret(),
                };
                Ok(Action::Webhook(Webhook {
                    url: hook.url,
                    secret,
                }))
            }
            // No chat given keeps what the stored action has: a chat a deep link connected (the
            // client cannot name it) or the link still waiting for its /start.
            ActionSpec::Telegram(t) if t.chat_id.is_none() => match keep {
                Some(Action::Telegram(old)) => Ok(Action::Telegram(old.clone())),
                _ => Ok(Action::Telegram(t)),
            },
            ActionSpec::Telegram(t) => Ok(Action::Telegram(t)),
            ActionSpec::Discord(h) => Ok(Action::Discord(h)),
            ActionSpec::Slack(h) => Ok(Action::Slack(h)),
            ActionSpec::Ntfy(n) => Ok(Action::Ntfy(n)),
            // The API joins the room before this and stores the id the join answered.
            ActionSpec::Matrix(m) if m.room_id.is_some() => Ok(Action::Matrix(m)),
            ActionSpec::Matrix(_) => Err(ApiError::invalid(
                "action.matrix.room",
                "the bot has not joined this room",
            )),
            // The same address keeps its confirmation (or the one waiting); another starts over.
            ActionSpec::Email(e) => match keep {
                Some(Action::Email(old)) if old.address == email::normalize(&e.address) => {
                    Ok(Action::Email(old.clone()))
                }
                _ => Ok(Action::Email(email::Email::new(&e.address))),
            },
        }
    }

    /// Checks what depends on the deployment: private destinations (unless `allow_private`) and
    /// whether the channel is enabled, with its platform's hosts.
    pub fn admit(&self, platforms: &Platforms, allow_private: bool) -> ApiResult<()> {
        let (url, field) = match self {
            ActionSpec::WebPush(push) => (&push.endpoint, "action.web_push.endpoint"),
            ActionSpec::Webhook(hook) => (&hook.url, "action.webhook.url"),
            ActionSpec::Telegram(t) => return telegram::validate(t, platforms),
            ActionSpec::Matrix(m) => return matrix::validate(m, platforms),
            ActionSpec::Email(e) => return email::validate(e, platforms),
            ActionSpec::Discord(h) => {
                discord::validate(h, platforms)?;
                (&h.url, "action.discord.url")
            }
            ActionSpec::Slack(h) => {
                slack::validate(h, platforms)?;
                (&h.url, "action.slack.url")
            }
            ActionSpec::Ntfy(n) => {
                ntfy::validate(n, platforms)?;
                match &n.server {
                    Some(server) => (server, "action.ntfy.server"),
                    None => return Ok(()),
                }
            }
        };
        crate::destination::check_destination(url, allow_private)
            .map_err(|m| ApiError::invalid(field, m))
    }
}

impl Action {
    /// The action as shown to its owner: the webhook secret is never shown again.
    /// Chat webhook URLs and ntfy tokens are credentials: shown masked.
    pub fn view(&self) -> Value {
        use crate::channel::masked_url;
        match self {
            Action::WebPush(push) => serde_json::json!({ "web_push": push }),
            Action::Webhook(hook) => serde_json::json!({ "webhook": { "url": hook.url } }),
            Action::Telegram(t) => serde_json::json!({ "telegram": telegram::view(t) }),
            Action::Discord(h) => serde_json::json!({ "discord": { "url": masked_url(&h.url) } }),
            Action::Slack(h) => serde_json::json!({ "slack": { "url": masked_url(&h.url) } }),
            Action::Ntfy(n) => serde_json::json!({ "ntfy": {
                "server": n.server, "topic": n.topic, "token": n.token.as_ref().map(|_| "(set)"),
            }}),
            Action::Matrix(m) => serde_json::json!({ "matrix": m }),
            Action::Email(e) => serde_json::json!({ "email": email::view(e) }),
        }
    }

    /// The channel's name, as the action's key.
    pub fn channel(&self) -> &'static str {
        match self {
            Action::WebPush(_) => "web_push",
            Action::Webhook(_) => "webhook",
            Action::Telegram(_) => "telegram",
            Action::Discord(_) => "discord",
            Action::Slack(_) => "slack",
            Action::Ntfy(_) => "ntfy",
            Action::Matrix(_) => "matrix",
            Action::Email(_) => "email",
        }
    }

    /// The Web Push endpoint, if this is a push action.
    pub fn push_endpoint(&self) -> Option<&str> {
        match self {
            Action::WebPush(p) => Some(&p.endpoint),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // RFC 8291 Appendix A's user agent keys.
    const P256DH: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

    fn spec(v: Value) -> ActionSpec {
        serde_json::from_value(v).expect("shape")
    }

    #[test]
    fn accepts_a_browser_subscription() {
        let a = spec(
            json!({"web_push": {"endpoint": "https://push.example.net/x", "expirationTime": null,
                                         "keys": {"p256dh": P256DH, "auth": AUTH}}}),
        )
        .validate(None, || unreachable!())
        .expect("valid");
        assert_eq!(a.push_endpoint(), Some("https://push.example.net/x"));
    }

    #[test]
    fn webhooks_get_a_secret_that_views_hide() {
        let a = spec(json!({"webhook": {"url": "https://hooks.example.com/in"}}))
            .validate(None, || "whsec_new".into())
            .expect("valid");
        assert!(matches!(&a, Action::Webhook(h) if h.secret == "whsec_new"));
        assert_eq!(
            a.view(),
            json!({"webhook": {"url": "https://hooks.example.com/in"}})
        );
        let moved = spec(json!({"webhook": {"url": "https://other.example.com/"}}))
            .validate(Some(&a), || "whsec_other".into())
            .expect("valid");
        assert!(matches!(&moved, Action::Webhook(h) if h.secret == "whsec_new"));
    }

    #[test]
    fn rejections_name_the_field() {
        let cases = [
            (
                json!({"web_push": {"endpoint": "http://push.example.net", "keys": {"p256dh": P256DH, "auth": AUTH}}}),
                "action.web_push.endpoint",
            ),
            (
                json!({"web_push": {"endpoint": "https://p.example", "keys": {"p256dh": AUTH, "auth": AUTH}}}),
                "action.web_push.keys.p256dh",
            ),
            (
                json!({"web_push": {"endpoint": "https://p.example", "keys": {"p256dh": P256DH, "auth": "x"}}}),
                "action.web_push.keys.auth",
            ),
            (
                json!({"web_push": {"endpoint": "https://p.example", "expirationTime": {"a": [1]},
                                    "keys": {"p256dh": P256DH, "auth": AUTH}}}),
                "action.web_push.expirationTime",
            ),
            (
                json!({"webhook": {"url": "http://hooks.example.com"}}),
                "action.webhook.url",
            ),
            (
                json!({"webhook": {"url": "not a url"}}),
                "action.webhook.url",
            ),
        ];
        for (v, field) in cases {
            let err = spec(v.clone())
                .validate(None, || "s".into())
                .expect_err(&v.to_string());
            assert_eq!(err.field.as_deref(), Some(field), "{err}");
        }
    }

    #[test]
    fn urls_with_user_info_are_refused_naming_the_field() {
        for (v, field) in [
            (
                json!({"webhook": {"url": "https://user:hunter2@hooks.example.com/in"}}),
                "action.webhook.url",
            ),
            (
                json!({"webhook": {"url": "https://user@hooks.example.com/in"}}),
                "action.webhook.url",
            ),
            (
                json!({"webhook": {"url": "https://:hunter2@hooks.example.com/in"}}),
                "action.webhook.url",
            ),
            (
                json!({"web_push": {"endpoint": "https://a:hunter2@push.example.net/x",
                                    "keys": {"p256dh": P256DH, "auth": AUTH}}}),
                "action.web_push.endpoint",
            ),
        ] {
            let err = spec(v.clone())
                .validate(None, || "s".into())
                .expect_err(&v.to_string());
            assert_eq!(err.field.as_deref(), Some(field), "{err}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        // An @ in the path or query is not user info.
        spec(json!({"webhook": {"url": "https://hooks.example.com/in?to=a@b"}}))
            .validate(None, || "s".into())
            .expect("valid");
    }
}
