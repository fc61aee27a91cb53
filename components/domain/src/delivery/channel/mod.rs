//! Chat and phone channels: where a person reads a notification other than a browser or a raw
//! webhook. Each platform is one module that knows what a person gives (validated at create),
//! how the notification looks there (within the platform's limits), the request that posts it,
//! and what the platform's answers mean (rate limits throttle, "gone" answers pause the trigger).
//!
//! Which platforms a deployment offers, and where they live, are Spin variables
//! ([`Platforms`]): a platform whose variables are unset is refused at create with 422 "not
//! enabled on this server", and tests or self-hosted platforms point the variables elsewhere.

pub mod discord;
pub mod email;
pub mod matrix;
pub mod ntfy;
pub mod slack;
pub mod telegram;
pub mod telegram_link;

use serde::{Deserialize, Serialize};

use crate::answer::Answer;
use crate::delivery::Outcome;
use crate::dispatch::HttpRequest;
use crate::error::{ApiError, ApiResult};
use crate::notification::Notification;

/// Telegram's Bot API.
pub const DEFAULT_TELEGRAM_API: &str = "https://api.telegram.org";
/// Discord's hosts for incoming webhooks.
pub const DEFAULT_DISCORD_HOSTS: &str = "discord.com,discordapp.com";
/// Slack's host for incoming webhooks.
pub const DEFAULT_SLACK_HOSTS: &str = "hooks.slack.com";
/// The public ntfy server.
pub const DEFAULT_NTFY_SERVER: &str = "https://ntfy.sh";

/// Where each platform lives for this deployment, from its Spin variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platforms {
    /// `telegram_api`.
    pub telegram_api: String,
    /// `telegram_bot_token`: Telegram is enabled only with one.
    pub telegram_bot_token: Option<String>,
    /// `telegram_bot_name`, for the deep link a person taps.
    pub telegram_bot_name: Option<String>,
    /// `discord_hosts`: the hosts a Discord webhook URL may name (empty: Discord disabled).
    pub discord_hosts: Vec<String>,
    /// `slack_hosts`: the hosts a Slack webhook URL may name (empty: Slack disabled).
    pub slack_hosts: Vec<String>,
    /// `ntfy_server`: the server used when a trigger names none (empty: ntfy disabled).
    pub ntfy_server: Option<String>,
    /// `matrix_homeserver`: the bot account's homeserver (Matrix needs it and the token).
    pub matrix_homeserver: Option<String>,
    /// `matrix_access_token`: the bot account's access token.
    pub matrix_access_token: Option<String>,
    /// The mail API (`mail_provider`, `mail_api`, `mail_api_token`, `mail_from`, `public_url`):
    /// email is enabled only with all of them.
    pub mail: Option<email::MailConfig>,
}

impl Default for Platforms {
    fn default() -> Self {
        Self::from_variables(|_| None)
    }
}

fn hosts(list: &str) -> Vec<String> {
    list.split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

impl Platforms {
    /// Reads the platforms' variables through `variable` (a missing variable takes the
    /// platform's default; one set empty disables what has a default).
    pub fn from_variables(variable: impl Fn(&str) -> Option<String>) -> Self {
        let or = |name: &str, default: &str| variable(name).unwrap_or_else(|| default.to_owned());
        let set = |name: &str| {
            variable(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let ntfy = or("ntfy_server", DEFAULT_NTFY_SERVER);
        Self {
            telegram_api: or("telegram_api", DEFAULT_TELEGRAM_API)
                .trim_end_matches('/')
                .to_owned(),
            telegram_bot_token: set("telegram_bot_token"),
            telegram_bot_name: set("telegram_bot_name"),
            discord_hosts: hosts(&or("discord_hosts", DEFAULT_DISCORD_HOSTS)),
            slack_hosts: hosts(&or("slack_hosts", DEFAULT_SLACK_HOSTS)),
            ntfy_server: Some(ntfy.trim().trim_end_matches('/').to_owned())
                .filter(|s| !s.is_empty()),
            matrix_homeserver: set("matrix_homeserver").map(|s| s.trim_end_matches('/').to_owned()),
            matrix_access_token: set("matrix_access_token"),
            mail: email::MailConfig::from_variables(set),
        }
    }
}

impl Platforms {
    /// The chat and phone channels this server has enabled (their variables set), as the
    /// action keys name them: what `GET /api/channels` lists beside Web Push and webhooks.
    pub fn enabled(&self) -> Vec<&'static str> {
        let on = [
            ("telegram", self.telegram_bot_token.is_some()),
            (
                "matrix",
                self.matrix_homeserver.is_some() && self.matrix_access_token.is_some(),
            ),
            ("discord", !self.discord_hosts.is_empty()),
            ("slack", !self.slack_hosts.is_empty()),
            ("ntfy", self.ntfy_server.is_some()),
            ("email", self.mail.is_some()),
        ];
        on.into_iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| name)
            .collect()
    }
}

/// The 422 for a channel the operator has not set up.
pub fn not_enabled(field: &str, platform: &str, variables: &str) -> ApiError {
    ApiError::invalid(
        field,
        format!(
            "{platform} is not enabled on this server (the operator sets the Spin variable {variables})"
        ),
    )
}

/// An `https://` URL on one of `allowed` hosts (exactly, or a subdomain), for the platform
/// named in the error.
pub fn check_platform_url(
    raw: &str,
    field: &str,
    platform: &str,
    allowed: &[String],
) -> ApiResult<url::Url> {
    let url =
        url::Url::parse(raw).map_err(|e| ApiError::invalid(field, format!("not a URL: {e}")))?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let on_platform = allowed
        .iter()
        .any(|a| host == *a || host.ends_with(&format!(".{a}")));
    if url.scheme() != "https" || !on_platform {
        return Err(ApiError::invalid(
            field,
            format!(
                "expected a {platform} webhook URL: https:// on {}",
                allowed.join(" or ")
            ),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::invalid(
            field,
            "the URL carries a user name or password (user:pass@host)",
        ));
    }
    Ok(url)
}

/// A URL shown to its owner with its last path segment (the platform's secret token) hidden.
pub fn masked_url(raw: &str) -> String {
    let Ok(url) = url::Url::parse(raw) else {
        return "(unreadable URL)".into();
    };
    let origin = url.origin().ascii_serialization();
    let (head, last) = url.path().rsplit_once('/').unwrap_or(("", url.path()));
    let keep: String = last.chars().take(4).collect();
    format!("{origin}{head}/{keep}…")
}

/// What one delivery posts: the notification (the template's text or the default), the stable
/// id of (event, trigger), and whether it is a test.
#[derive(Debug, Clone, Copy)]
pub struct Post<'a> {
    /// Title, body and the explorer link.
    pub note: &'a Notification,
    /// `msg_…` of (event, trigger): the same on every retry.
    pub message_id: &'a str,
    /// A test delivery.
    pub test: bool,
}

impl Post<'_> {
    /// The title, marked for a test.
    pub fn title(&self) -> String {
        if self.test {
            format!("Test: {}", self.note.title)
        } else {
            self.note.title.clone()
        }
    }

    /// Title, body and link as plain lines, for platforms that show one text.
    pub fn plain_text(&self) -> String {
        let mut text = format!("{}\n{}", self.title(), self.note.body);
        if let Some(link) = &self.note.url {
            text.push('\n');
            text.push_str(link);
        }
        text
    }
}

/// The common part of classifying a chat platform's answer: no answer, held back, 2xx, 429
/// (with the wait from `Retry-After` or the body's own field), 5xx. `None` leaves the 4xx to
/// the platform.
pub fn classify_common(answer: &Answer, platform: &str) -> Option<Outcome> {
    if let Some(outcome) = Outcome::without_response(answer) {
        return Some(outcome);
    }
    let status = answer.status()?;
    match status {
        200..=299 => Some(Outcome::Delivered),
        429 => Some(Outcome::Throttled {
            why: format!("{platform} answered 429 (rate limited)"),
            wait: answer.retry_after().or_else(|| body_retry_after(answer)),
        }),
        500..=599 => Some(match answer.retry_after() {
            Some(wait) if status == 503 => Outcome::Throttled {
                why: format!("{platform} answered 503"),
                wait: Some(wait),
            },
            _ => Outcome::Retry(format!("{platform} answered {status}")),
        }),
        _ => None,
    }
}

/// `retry_after` in seconds at the top of a JSON body (Discord) or under `parameters`
/// (Telegram), or `retry_after_ms` (Matrix).
fn body_retry_after(answer: &Answer) -> Option<std::time::Duration> {
    use crate::answer::retry_after_secs;
    let json = answer.json()?;
    retry_after_secs(&json["retry_after"])
        .or_else(|| retry_after_secs(&json["parameters"]["retry_after"]))
        .or_else(|| {
            json["retry_after_ms"]
                .as_f64()
                .and_then(|ms| retry_after_secs(&serde_json::json!(ms / 1000.0)))
        })
}

/// A JSON POST.
pub fn json_post(url: String, body: &serde_json::Value) -> Result<HttpRequest, String> {
    Ok(HttpRequest {
        method: "POST".into(),
        url,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(body).map_err(|e| e.to_string())?,
    })
}

/// An incoming-webhook URL as a person gives it (Discord, Slack).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatHook {
    /// The webhook URL the platform made (it carries the platform's secret).
    pub url: String,
}

#[cfg(test)]
mod tests;
