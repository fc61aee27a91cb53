//! Discord's incoming webhooks (<https://discord.com/developers/docs/resources/webhook#execute-webhook>):
//! `POST /api[/v{6-10}]/webhooks/{id}/{token}` with a JSON body (`content` up to 2000 characters,
//! `username` up to 80, up to 10 `embeds` within the embed limits: title 256, description 4096,
//! 25 fields of name 256 and value 1024, footer 2048, author 256, 6000 in all), answered 204, or
//! 200 with the message when `?wait=true`. Refusals as Discord words them: 400
//! `{"code": 50006, "message": "Cannot send an empty message"}`, 400 `{"code": 50035, "message":
//! "Invalid Form Body", "errors": …}`, 401 `{"code": 50027, …}` for a wrong token, 404
//! `{"code": 10015, "message": "Unknown Webhook"}`, 429 with `retry_after` (seconds) and
//! `Retry-After`.

use std::collections::HashMap;

use anyhow::Result;
use serde_json::{json, Value};

use super::{
    links, random_token, refuse, unix_now, Call, Fault, Outcome, PlatformServer, Reply, Shared,
};
use crate::tls::TestCa;

/// The longest `content`.
pub const MAX_CONTENT: usize = 2000;

/// A webhook made on a channel.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The webhook's id (a snowflake).
    pub id: String,
    /// Its token.
    pub token: String,
    /// `https://localhost:<port>/api/webhooks/{id}/{token}`.
    pub url: String,
}

/// A message a webhook posted.
#[derive(Debug, Clone)]
pub struct PostedMessage {
    /// The webhook's id.
    pub webhook_id: String,
    /// `content`.
    pub content: Option<String>,
    /// `username`, when it overrode the webhook's name.
    pub username: Option<String>,
    /// Each embed's title, description and URL, and its fields' names and values.
    pub embeds: Vec<Value>,
    /// What a person reads: the content, then each embed's title, description and fields.
    pub readable: String,
    /// Links in all of it (embed URLs included).
    pub links: Vec<String>,
    /// The whole body.
    pub body: Value,
}

/// The state.
#[derive(Debug, Default)]
pub struct State {
    hooks: HashMap<String, (String, bool)>,
    posted: Vec<PostedMessage>,
}

/// Discord's webhook API on a local port; stops on drop.
pub struct DiscordWebhooks {
    server: PlatformServer<State>,
}

fn error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(status, &json!({"message": message, "code": code}))
}

/// Characters as Discord counts them (Unicode scalar values, as JavaScript's length mostly is).
fn len(v: &Value) -> usize {
    v.as_str().map(|s| s.chars().count()).unwrap_or_default()
}

/// A form body error at `path` (`content`, `embeds.0.title`), shaped as Discord nests them.
fn form_error(path: &str, code: &str, message: &str) -> Outcome {
    let mut errors = json!({"_errors": [{"code": code, "message": message}]});
    for key in path.rsplit('.') {
        errors = json!({ key: errors });
    }
    refuse(
        Reply::json(
            400,
            &json!({"code": 50035, "errors": errors, "message": "Invalid Form Body"}),
        ),
        format!("{path}: {message}"),
    )
}

fn max_len(path: &str, value: &Value, max: usize) -> Option<Outcome> {
    (len(value) > max).then(|| {
        form_error(
            path,
            "BASE_TYPE_MAX_LENGTH",
            &format!("Must be {max} or fewer in length."),
        )
    })
}

fn check_embeds(body: &Value) -> Result<(), Outcome> {
    let Some(embeds) = body.get("embeds").filter(|e| !e.is_null()) else {
        return Ok(());
    };
    let Some(embeds) = embeds.as_array() else {
        return Err(form_error("embeds", "BASE_TYPE_ARRAY", "Must be an array."));
    };
    if embeds.len() > 10 {
        return Err(form_error(
            "embeds",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 10 or fewer in length.",
        ));
    }
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        let limits = [("title", 256), ("description", 4096)];
        for (field, max) in limits {
            if let Some(o) = max_len(&format!("embeds.{i}.{field}"), &e[field], max) {
                return Err(o);
            }
            total += len(&e[field]);
        }
        for (outer, inner, max) in [("footer", "text", 2048), ("author", "name", 256)] {
            if let Some(o) = max_len(
                &format!("embeds.{i}.{outer}.{inner}"),
                &e[outer][inner],
                max,
            ) {
                return Err(o);
            }
            total += len(&e[outer][inner]);
        }
        if let Some(url) = e["url"].as_str() {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(form_error(
                    &format!("embeds.{i}.url"),
                    "URL_TYPE_INVALID_URL",
                    "Not a well formed URL.",
                ));
            }
        }
        if let Some(color) = e.get("color").filter(|c| !c.is_null()) {
            if color.as_u64().is_none_or(|c| c > 0xFF_FFFF) {
                return Err(form_error(
                    &format!("embeds.{i}.color"),
                    "NUMBER_TYPE_MAX",
                    "int value should be less than or equal to 16777215.",
                ));
            }
        }
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        if fields.len() > 25 {
            return Err(form_error(
                &format!("embeds.{i}.fields"),
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            ));
        }
        for (j, f) in fields.iter().enumerate() {
            for (field, max) in [("name", 256), ("value", 1024)] {
                let path = format!("embeds.{i}.fields.{j}.{field}");
                if len(&f[field]) == 0 {
                    return Err(form_error(
                        &path,
                        "BASE_TYPE_REQUIRED",
                        "This field is required",
                    ));
                }
                if let Some(o) = max_len(&path, &f[field], max) {
                    return Err(o);
                }
                total += len(&f[field]);
            }
        }
    }
    if total > 6000 {
        return Err(form_error(
            "embeds",
            "MAX_EMBED_SIZE_EXCEEDED",
            "Embed size exceeds maximum size of 6000",
        ));
    }
    Ok(())
}

fn handle(shared: &mut Shared<State>, call: &Call) -> Outcome {
    let segs: Vec<&str> = call.path.trim_start_matches('/').split('/').collect();
    let (id, token) = match segs.as_slice() {
        ["api", "webhooks", id, token] => (*id, *token),
        ["api", v, "webhooks", id, token] if ["v6", "v7", "v8", "v9", "v10"].contains(v) => {
            (*id, *token)
        }
        _ => {
            return refuse(
                error(404, 0, "404: Not Found"),
                format!("no webhook route at {}", call.path),
            )
        }
    };
    let Some((known_token, deleted)) = shared.platform.hooks.get(id).cloned() else {
        return refuse(
            error(404, 10015, "Unknown Webhook"),
            format!("no webhook {id}"),
        );
    };
    if deleted {
        return Outcome::Valid(error(404, 10015, "Unknown Webhook"));
    }
    if token != known_token {
        return refuse(
            error(401, 50027, "Invalid Webhook Token"),
            "the token does not match the webhook",
        );
    }
    if call.method == http::Method::GET {
        return Outcome::Valid(Reply::json(
            200,
            &json!({"type": 1, "id": id, "name": "Aurras", "channel_id": "1000", "guild_id": "2000", "token": token}),
        ));
    }
    if call.method != http::Method::POST {
        return refuse(
            error(405, 0, "405: Method Not Allowed"),
            format!("{} instead of POST", call.method),
        );
    }
    if call.media_type() != "application/json" {
        return refuse(
            error(400, 50006, "Cannot send an empty message"),
            format!(
                "Content-Type {:?} instead of application/json",
                call.media_type()
            ),
        );
    }
    let body: Value = match serde_json::from_slice(&call.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return refuse(
                error(400, 50109, "The request body contains invalid JSON."),
                "the body is not a JSON object",
            )
        }
    };
    let content = body["content"].as_str().filter(|c| !c.is_empty());
    let has_embeds = body["embeds"].as_array().is_some_and(|e| !e.is_empty());
    let has_other = ["components", "poll", "attachments"]
        .iter()
        .any(|k| body[*k].as_array().is_some_and(|a| !a.is_empty()) || body[*k].is_object());
    if content.is_none() && !has_embeds && !has_other {
        return refuse(
            error(400, 50006, "Cannot send an empty message"),
            "no content, embeds, components or poll",
        );
    }
    if let Some(o) = max_len("content", &body["content"], MAX_CONTENT) {
        return o;
    }
    if let Some(o) = max_len("username", &body["username"], 80) {
        return o;
    }
    if let Some(name) = body["username"].as_str() {
        let lower = name.to_lowercase();
        if ["discord", "clyde"].iter().any(|w| lower.contains(w)) {
            return form_error(
                "username",
                "USERNAME_INVALID_CONTAINS",
                "Username cannot contain \"discord\" or \"clyde\"",
            );
        }
    }
    if let Err(o) = check_embeds(&body) {
        return o;
    }
    if let Some(fault) = shared.take_fault() {
        return Outcome::Valid(fault_reply(fault));
    }
    let embeds = body["embeds"].as_array().cloned().unwrap_or_default();
    let mut readable = content.unwrap_or_default().to_owned();
    let mut found = links(&readable);
    for e in &embeds {
        let mut parts = vec![e["title"].as_str(), e["description"].as_str()];
        for f in e["fields"].as_array().into_iter().flatten() {
            parts.push(f["name"].as_str());
            parts.push(f["value"].as_str());
        }
        for part in parts.into_iter().flatten() {
            readable.push('\n');
            readable.push_str(part);
            found.extend(links(part));
        }
        found.extend(e["url"].as_str().map(str::to_owned));
    }
    let message_id = format!("{}", 1_200_000_000_000_000_000u64 + unix_now());
    shared.platform.posted.push(PostedMessage {
        webhook_id: id.to_owned(),
        content: content.map(str::to_owned),
        username: body["username"].as_str().map(str::to_owned),
        embeds: embeds.clone(),
        readable,
        links: found,
        body: body.clone(),
    });
    if call.param("wait") == Some("true") {
        Outcome::Valid(Reply::json(
            200,
            &json!({
                "id": message_id, "type": 0, "content": content.unwrap_or_default(), "channel_id": "1000",
                "author": {"bot": true, "id": id, "username": body["username"].as_str().unwrap_or("Aurras")},
                "embeds": embeds, "webhook_id": id,
            }),
        ))
    } else {
        Outcome::Valid(Reply::empty(204))
    }
}

fn fault_reply(fault: Fault) -> Reply {
    match fault {
        Fault::RateLimited { retry_after_secs } => Reply::json(
            429,
            &json!({"message": "You are being rate limited.", "retry_after": retry_after_secs as f64, "global": false}),
        )
        .with_header("retry-after", retry_after_secs.to_string())
        .with_header("x-ratelimit-limit", "5")
        .with_header("x-ratelimit-remaining", "0")
        .with_header("x-ratelimit-reset-after", retry_after_secs.to_string())
        .with_header("x-ratelimit-scope", "shared"),
        Fault::ServerError => error(500, 0, "500: Internal Server Error"),
    }
}

impl DiscordWebhooks {
    /// Serves the webhook API over HTTPS with `ca`'s certificate on a free loopback port.
    pub async fn start(ca: &TestCa) -> Result<Self> {
        Ok(Self {
            server: PlatformServer::start(ca, State::default(), handle).await?,
        })
    }

    /// `https://localhost:<port>` (for `https://discord.com`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The records, scripted faults and waits shared by every platform server.
    pub fn server(&self) -> &PlatformServer<State> {
        &self.server
    }

    /// A new webhook; its URL is what a person pastes into the app.
    pub fn webhook(&self) -> Webhook {
        let id = format!("1{}", random_token(18, b"0123456789"));
        let token = random_token(
            68,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
        );
        let url = format!("{}/api/webhooks/{id}/{token}", self.base_url());
        self.server
            .with(|s| s.hooks.insert(id.clone(), (token.clone(), false)));
        Webhook { id, token, url }
    }

    /// The webhook was deleted in Discord: 404 Unknown Webhook from now on.
    pub fn delete(&self, hook: &Webhook) {
        self.server.with(|s| {
            if let Some(h) = s.hooks.get_mut(&hook.id) {
                h.1 = true;
            }
        });
    }

    /// Messages `hook` posted, in order.
    pub fn posted(&self, hook: &Webhook) -> Vec<PostedMessage> {
        self.server.with(|s| {
            s.posted
                .iter()
                .filter(|m| m.webhook_id == hook.id)
                .cloned()
                .collect()
        })
    }
}
