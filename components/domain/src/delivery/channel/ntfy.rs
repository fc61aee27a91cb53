//! ntfy: phone notifications with no account of ours and no Firebase. A person names a topic
//! (and a server, and an access token for a protected topic); Aurras publishes the title, the
//! message, a priority, tags and the click link as ntfy's JSON publish (one POST to the server's
//! root), which carries any text, where headers would need RFC 2047 for "…" and non-ASCII.
//! <https://docs.ntfy.sh/publish/#publish-as-json>

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{classify_common, json_post, not_enabled, Platforms, Post};
use crate::answer::Answer;
use crate::delivery::Outcome;
use crate::dispatch::HttpRequest;
use crate::error::{ApiError, ApiResult};
use crate::message::NTFY_TITLE;

/// An ntfy subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ntfy {
    /// The server (`https://…`); the deployment's `ntfy_server` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The topic.
    pub topic: String,
    /// An access token (`tk_…`) for a protected topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// ntfy's rule for topic names.
fn is_topic(topic: &str) -> bool {
    (1..=64).contains(&topic.len())
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks the topic, the server and the token.
pub fn validate(ntfy: &Ntfy, platforms: &Platforms) -> ApiResult<()> {
    if ntfy.server.is_none() && platforms.ntfy_server.is_none() {
        return Err(not_enabled("action.ntfy.server", "ntfy", "ntfy_server"));
    }
    if !is_topic(&ntfy.topic) {
        return Err(ApiError::invalid(
            "action.ntfy.topic",
            "expected 1 to 64 letters, digits, '-' or '_' (anyone who knows a topic on a public server can read it: pick one that is hard to guess)",
        ));
    }
    if let Some(server) = &ntfy.server {
        let url = url::Url::parse(server)
            .map_err(|e| ApiError::invalid("action.ntfy.server", format!("not a URL: {e}")))?;
        if url.scheme() != "https" || url.host_str().is_none() || url.path() != "/" {
            return Err(ApiError::invalid(
                "action.ntfy.server",
                "expected the server's https:// address, without a path (https://ntfy.example.com)",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ApiError::invalid(
                "action.ntfy.server",
                "give credentials as token, not in the URL",
            ));
        }
    }
    if let Some(token) = &ntfy.token {
        if token.is_empty() || token.len() > 128 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::invalid(
                "action.ntfy.token",
                "expected an ntfy access token (tk_…)",
            ));
        }
    }
    Ok(())
}

/// The server this subscription publishes to.
pub fn server<'a>(ntfy: &'a Ntfy, platforms: &'a Platforms) -> Option<&'a str> {
    ntfy.server
        .as_deref()
        .or(platforms.ntfy_server.as_deref())
        .map(|s| s.trim_end_matches('/'))
}

/// The publish request.
pub fn request(ntfy: &Ntfy, platforms: &Platforms, post: &Post<'_>) -> Result<HttpRequest, String> {
    let server = server(ntfy, platforms)
        .ok_or("ntfy is not enabled on this server (ntfy_server is empty)")?;
    let mut body = json!({
        "topic": ntfy.topic,
        "title": NTFY_TITLE.fit(&post.title()),
        "message": post.note.body,
        "priority": 3,
        // Shown as labels under the message: which chain and which event.
        "tags": [post.note.data.chain, post.note.data.event],
    });
    if let Some(link) = &post.note.url {
        body["click"] = json!(link);
    }
    let mut request = json_post(format!("{server}/"), &body)?;
    if let Some(token) = &ntfy.token {
        request
            .headers
            .push(("authorization".into(), format!("Bearer {token}")));
    }
    Ok(request)
}

/// ntfy's answers: 401/403 (the token no longer admits the topic) and 404 fail for good: the
/// person must fix the subscription; other 4xx fail; 429 and 5xx retry.
pub fn classify(answer: &Answer) -> Outcome {
    if let Some(outcome) = classify_common(answer, "ntfy") {
        return outcome;
    }
    let status = answer.status().unwrap_or_default();
    let error = answer
        .json()
        .and_then(|j| j["error"].as_str().map(str::to_owned))
        .unwrap_or_default();
    match status {
        401 | 403 => Outcome::Gone(format!(
            "ntfy answered {status} ({error}): the topic is protected and the token does not admit it"
        )),
        _ => Outcome::Failed(format!("ntfy refused the message ({status}: {error})")),
    }
}
