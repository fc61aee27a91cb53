//! Slack's incoming webhooks (<https://api.slack.com/messaging/webhooks>):
//! `POST /services/T…/B…/<secret>` with a JSON body (`text`, `blocks`, `mrkdwn`; or a form with
//! `payload=<json>`), answered 200 `ok` as text. Errors are text too: 400 `invalid_payload`,
//! 400 `no_text`, 400 `invalid_blocks` (over 50 blocks, section text over 3000, header over
//! 150, unknown block types), 403 `action_prohibited`, 404 `no_service` (removed or unknown
//! webhook), 410 `channel_is_archived`, 429 with `Retry-After`. Text over 40,000 characters is
//! truncated, as Slack does, and the record says so. The documentation says nothing of other
//! methods; they get 405 `invalid_method` here, a choice.

use std::collections::HashMap;

use anyhow::Result;
use serde_json::Value;

use super::{
    form_pairs, links, random_token, refuse, Call, Fault, Outcome, PlatformServer, Reply, Shared,
};
use crate::tls::TestCa;

/// Slack truncates message text beyond this many characters.
pub const MAX_TEXT: usize = 40_000;
/// The most blocks in one message.
pub const MAX_BLOCKS: usize = 50;

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// An incoming webhook, bound to one channel.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// `/services/T…/B…/…`.
    pub path: String,
    /// The whole URL.
    pub url: String,
}

/// A message a webhook posted.
#[derive(Debug, Clone)]
pub struct PostedMessage {
    /// The webhook's path.
    pub path: String,
    /// `text` (after truncation).
    pub text: Option<String>,
    /// Whether `text` was over [`MAX_TEXT`].
    pub truncated: bool,
    /// `blocks`, as sent.
    pub blocks: Vec<Value>,
    /// What a person reads: the text, or the blocks' texts when they are given (Slack then
    /// shows the blocks and uses `text` for notifications).
    pub readable: String,
    /// Links: `<url|label>` and bare links in texts, button and image URLs.
    pub links: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HookState {
    Live,
    Removed,
    Archived,
    Prohibited,
}

/// The state.
#[derive(Debug, Default)]
pub struct State {
    hooks: HashMap<String, HookState>,
    posted: Vec<PostedMessage>,
}

/// Slack's incoming webhooks on a local port; stops on drop.
pub struct SlackWebhooks {
    server: PlatformServer<State>,
}

fn text_object(v: &Value, max: usize, plain_only: bool) -> Result<String, String> {
    let kind = v["type"].as_str().unwrap_or_default();
    let text = v["text"].as_str().unwrap_or_default();
    if !(kind == "plain_text" || (!plain_only && kind == "mrkdwn")) {
        return Err(format!("text object type {kind:?}"));
    }
    if text.is_empty() || text.chars().count() > max {
        return Err(format!(
            "text of {} characters (1 to {max})",
            text.chars().count()
        ));
    }
    Ok(text.to_owned())
}

/// The texts and URLs of one block, or why Slack refuses it.
fn block(b: &Value, texts: &mut Vec<String>, urls: &mut Vec<String>) -> Result<(), String> {
    match b["type"].as_str().unwrap_or_default() {
        "section" => {
            let fields = b["fields"].as_array().cloned().unwrap_or_default();
            if b["text"].is_null() && fields.is_empty() {
                return Err("a section needs text or fields".into());
            }
            if !b["text"].is_null() {
                texts.push(text_object(&b["text"], 3000, false)?);
            }
            if fields.len() > 10 {
                return Err("a section has over 10 fields".into());
            }
            for f in &fields {
                texts.push(text_object(f, 2000, false)?);
            }
            if let Some(url) = b["accessory"]["url"].as_str() {
                urls.push(url.to_owned());
            }
        }
        "header" => texts.push(text_object(&b["text"], 150, true)?),
        "divider" => {}
        "context" => {
            let elements = b["elements"].as_array().cloned().unwrap_or_default();
            if elements.is_empty() || elements.len() > 10 {
                return Err("a context needs 1 to 10 elements".into());
            }
            for e in &elements {
                if e["type"] != "image" {
                    texts.push(text_object(e, 3000, false)?);
                }
            }
        }
        "actions" => {
            let elements = b["elements"].as_array().cloned().unwrap_or_default();
            if elements.is_empty() || elements.len() > 25 {
                return Err("actions need 1 to 25 elements".into());
            }
            for e in &elements {
                if e["type"] == "button" {
                    texts.push(text_object(&e["text"], 75, true)?);
                }
                urls.extend(e["url"].as_str().map(str::to_owned));
            }
        }
        "image" => {
            let url = b["image_url"].as_str().ok_or("an image needs image_url")?;
            if b["alt_text"].as_str().is_none_or(str::is_empty) {
                return Err("an image needs alt_text".into());
            }
            urls.push(url.to_owned());
        }
        other => return Err(format!("block type {other:?} is not played here")),
    }
    Ok(())
}

/// Links in Slack's mrkdwn: `<url>` and `<url|label>`, then bare links.
fn mrkdwn_links(text: &str) -> Vec<String> {
    let mut found: Vec<String> = text
        .split('<')
        .skip(1)
        .filter_map(|s| s.split('>').next())
        .map(|inner| inner.split('|').next().unwrap_or_default().to_owned())
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .collect();
    for l in links(text) {
        if !found.contains(&l) {
            found.push(l);
        }
    }
    found
}

fn handle(shared: &mut Shared<State>, call: &Call) -> Outcome {
    let text_reply = |status: u16, body: &str| Reply::text(status, body);
    let state = shared.platform.hooks.get(&call.path).copied();
    let Some(state) = state else {
        return refuse(
            text_reply(404, "no_service"),
            format!("no webhook at {}", call.path),
        );
    };
    if call.method != http::Method::POST {
        return refuse(
            text_reply(405, "invalid_method"),
            format!("{} instead of POST", call.method),
        );
    }
    match state {
        HookState::Removed => return Outcome::Valid(text_reply(404, "no_service")),
        HookState::Archived => return Outcome::Valid(text_reply(410, "channel_is_archived")),
        HookState::Prohibited => return Outcome::Valid(text_reply(403, "action_prohibited")),
        HookState::Live => {}
    }
    let invalid = |reason: String| refuse(text_reply(400, "invalid_payload"), reason);
    let json = match call.media_type().as_str() {
        "application/json" => call.body.to_vec(),
        "application/x-www-form-urlencoded" => {
            let form = String::from_utf8_lossy(&call.body).into_owned();
            match form_pairs(&form).into_iter().find(|(k, _)| k == "payload") {
                Some((_, payload)) => payload.into_bytes(),
                None => return invalid("a form without payload".into()),
            }
        }
        other => return invalid(format!("Content-Type {other:?}")),
    };
    let body: Value = match serde_json::from_slice(&json) {
        Ok(v @ Value::Object(_)) => v,
        _ => return invalid("the payload is not a JSON object".into()),
    };
    let blocks = match &body["blocks"] {
        Value::Null => Vec::new(),
        Value::Array(b) => b.clone(),
        _ => return refuse(text_reply(400, "invalid_blocks"), "blocks is not an array"),
    };
    let text = body["text"].as_str().filter(|t| !t.trim().is_empty());
    let has_attachments = body["attachments"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    if text.is_none() && blocks.is_empty() && !has_attachments {
        return refuse(text_reply(400, "no_text"), "no text, blocks or attachments");
    }
    if blocks.len() > MAX_BLOCKS {
        return refuse(
            text_reply(400, "invalid_blocks"),
            format!("{} blocks (at most {MAX_BLOCKS})", blocks.len()),
        );
    }
    let (mut texts, mut urls) = (Vec::new(), Vec::new());
    for (i, b) in blocks.iter().enumerate() {
        if let Err(reason) = block(b, &mut texts, &mut urls) {
            return refuse(
                text_reply(400, "invalid_blocks"),
                format!("blocks[{i}]: {reason}"),
            );
        }
    }
    if let Some(fault) = shared.take_fault() {
        return Outcome::Valid(match fault {
            Fault::RateLimited { retry_after_secs } => text_reply(429, "rate_limited")
                .with_header("retry-after", retry_after_secs.to_string()),
            Fault::ServerError => text_reply(500, "rollup_error"),
        });
    }
    let truncated = text.is_some_and(|t| t.chars().count() > MAX_TEXT);
    let text = text.map(|t| t.chars().take(MAX_TEXT).collect::<String>());
    let readable = if texts.is_empty() {
        text.clone().unwrap_or_default()
    } else {
        texts.join("\n")
    };
    let mut found = Vec::new();
    for source in text.iter().chain(texts.iter()) {
        found.extend(mrkdwn_links(source));
    }
    found.extend(urls);
    found.dedup();
    shared.platform.posted.push(PostedMessage {
        path: call.path.clone(),
        text,
        truncated,
        blocks,
        readable,
        links: found,
    });
    Outcome::Valid(text_reply(200, "ok"))
}

impl SlackWebhooks {
    /// Serves incoming webhooks over HTTPS with `ca`'s certificate on a free loopback port.
    pub async fn start(ca: &TestCa) -> Result<Self> {
        Ok(Self {
            server: PlatformServer::start(ca, State::default(), handle).await?,
        })
    }

    /// `https://localhost:<port>` (for `https://hooks.slack.com`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The records, scripted faults and waits shared by every platform server.
    pub fn server(&self) -> &PlatformServer<State> {
        &self.server
    }

    /// A new webhook.
    pub fn webhook(&self) -> Webhook {
        let path = format!(
            "/services/T{}/B{}/{}",
            random_token(10, UPPER_ALNUM),
            random_token(10, UPPER_ALNUM),
            random_token(24, super::ALNUM)
        );
        self.server
            .with(|s| s.hooks.insert(path.clone(), HookState::Live));
        Webhook {
            url: format!("{}{path}", self.base_url()),
            path,
        }
    }

    fn set(&self, hook: &Webhook, state: HookState) {
        self.server
            .with(|s| s.hooks.insert(hook.path.clone(), state));
    }

    /// The webhook was removed (or its app uninstalled): 404 `no_service` from now on.
    pub fn remove(&self, hook: &Webhook) {
        self.set(hook, HookState::Removed);
    }

    /// The webhook's channel was archived: 410 `channel_is_archived` from now on.
    pub fn archive(&self, hook: &Webhook) {
        self.set(hook, HookState::Archived);
    }

    /// The workspace forbids posting there: 403 `action_prohibited` from now on.
    pub fn prohibit(&self, hook: &Webhook) {
        self.set(hook, HookState::Prohibited);
    }

    /// Messages `hook` posted, in order.
    pub fn posted(&self, hook: &Webhook) -> Vec<PostedMessage> {
        self.server.with(|s| {
            s.posted
                .iter()
                .filter(|m| m.path == hook.path)
                .cloned()
                .collect()
        })
    }
}
