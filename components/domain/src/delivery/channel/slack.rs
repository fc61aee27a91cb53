//! Slack incoming webhooks: a person pastes the URL a Slack app's "Incoming Webhooks" made
//! (`https://hooks.slack.com/services/T…/B…/…`); Aurras posts `text` and one section block.
//! <https://api.slack.com/messaging/webhooks>

use serde_json::json;

use super::{
    check_platform_url, classify_common, json_post, not_enabled, ChatHook, Platforms, Post,
};
use crate::answer::Answer;
use crate::delivery::Outcome;
use crate::dispatch::HttpRequest;
use crate::error::{ApiError, ApiResult};
use crate::message::SLACK_SECTION_TEXT;

const FIELD: &str = "action.slack.url";

/// Checks a person's webhook URL against the deployment's Slack hosts.
pub fn validate(hook: &ChatHook, platforms: &Platforms) -> ApiResult<()> {
    if platforms.slack_hosts.is_empty() {
        return Err(not_enabled(FIELD, "Slack", "slack_hosts"));
    }
    let url = check_platform_url(&hook.url, FIELD, "Slack", &platforms.slack_hosts)?;
    let segments: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    if !matches!(segments.as_slice(), ["services", rest @ ..] if rest.len() >= 3 && rest.iter().all(|s| !s.is_empty()))
    {
        return Err(ApiError::invalid(
            FIELD,
            "expected a Slack incoming-webhook URL, https://hooks.slack.com/services/T…/B…/… (your Slack app → Incoming Webhooks)",
        ));
    }
    Ok(())
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped; everything else shows as written.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The message: `text` (what notifications and screen readers show) and a section with the
/// title in bold, the body and a link to the block.
pub fn request(hook: &ChatHook, post: &Post<'_>) -> Result<HttpRequest, String> {
    let mut section = format!("*{}*\n{}", escape(&post.title()), escape(&post.note.body));
    if let Some(link) = &post.note.url {
        section.push_str(&format!("\n<{}|View the block>", escape(link)));
    }
    json_post(
        hook.url.clone(),
        &json!({
            "text": SLACK_SECTION_TEXT.fit(&format!("{}: {}", post.title(), post.note.body)),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": SLACK_SECTION_TEXT.fit(&section)}}],
        }),
    )
}

/// Slack's answers are words: a removed or archived channel or app (`no_service`,
/// `channel_not_found`, `channel_is_archived`, `team_disabled`, 404/410) is gone; other 4xx
/// (`invalid_payload`, `action_prohibited`, …) fail.
pub fn classify(answer: &Answer) -> Outcome {
    if let Some(outcome) = classify_common(answer, "Slack") {
        return outcome;
    }
    let status = answer.status().unwrap_or_default();
    let word = answer.text().unwrap_or_default().trim().to_owned();
    let gone = matches!(
        word.as_str(),
        "no_service" | "channel_not_found" | "channel_is_archived" | "team_disabled" | "no_team"
    ) || matches!(status, 404 | 410);
    if gone {
        Outcome::Gone(format!(
            "Slack answered {status} ({word}): the webhook's channel or app is gone; make a new incoming webhook"
        ))
    } else {
        Outcome::Failed(format!("Slack refused the message ({status}: {word})"))
    }
}
