//! Discord incoming webhooks: a person pastes the webhook URL a channel's settings made
//! (`https://discord.com/api/webhooks/<id>/<token>`); Aurras posts `content` there.
//! <https://discord.com/developers/docs/resources/webhook#execute-webhook>

use serde_json::json;

use super::{
    check_platform_url, classify_common, json_post, not_enabled, ChatHook, Platforms, Post,
};
use crate::answer::Answer;
use crate::delivery::Outcome;
use crate::dispatch::HttpRequest;
use crate::error::ApiResult;
use crate::message::DISCORD_CONTENT;

const FIELD: &str = "action.discord.url";

/// Checks a person's webhook URL against the deployment's Discord hosts.
pub fn validate(hook: &ChatHook, platforms: &Platforms) -> ApiResult<()> {
    if platforms.discord_hosts.is_empty() {
        return Err(not_enabled(FIELD, "Discord", "discord_hosts"));
    }
    let url = check_platform_url(&hook.url, FIELD, "Discord", &platforms.discord_hosts)?;
    let segments: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    if !matches!(segments.as_slice(), ["api", .., "webhooks", id, token] if !id.is_empty() && !token.is_empty())
    {
        return Err(crate::error::ApiError::invalid(
            FIELD,
            "expected a Discord webhook URL, https://discord.com/api/webhooks/<id>/<token> (channel settings → Integrations → Webhooks → Copy Webhook URL)",
        ));
    }
    Ok(())
}

/// The message: the title in bold, the body, the link on its own line (Discord shows a preview).
/// `allowed_mentions` is empty so text from the chain can never ping `@everyone`.
pub fn request(hook: &ChatHook, post: &Post<'_>) -> Result<HttpRequest, String> {
    let mut content = format!("**{}**\n{}", post.title(), post.note.body);
    if let Some(link) = &post.note.url {
        content.push('\n');
        content.push_str(link);
    }
    json_post(
        hook.url.clone(),
        &json!({
            "content": DISCORD_CONTENT.fit(&content),
            "allowed_mentions": {"parse": []},
        }),
    )
}

/// Discord's answers: 429 throttles (with `retry_after` in the body), a deleted webhook (404
/// code 10015) or a revoked token (401/403) is gone, other 4xx are our mistake and fail.
pub fn classify(answer: &Answer) -> Outcome {
    if let Some(outcome) = classify_common(answer, "Discord") {
        return outcome;
    }
    let status = answer.status().unwrap_or_default();
    let message = answer
        .json()
        .and_then(|j| j["message"].as_str().map(str::to_owned))
        .unwrap_or_default();
    match status {
        404 | 401 | 403 => Outcome::Gone(format!(
            "Discord answered {status} ({message}): the webhook was deleted or its token reset; paste the new webhook URL"
        )),
        _ => Outcome::Failed(format!("Discord refused the message ({status}: {message})")),
    }
}
