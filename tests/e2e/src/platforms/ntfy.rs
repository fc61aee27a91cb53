//! An ntfy server (<https://docs.ntfy.sh/publish/>): `POST`/`PUT /<topic>` with the message as
//! the body and `Title`, `Priority` (1-5 or min, low, default, high, max/urgent), `Tags`, `Click`,
//! `Markdown`, `Icon`, `Actions` as headers (with their `X-` and short forms, or query
//! parameters; RFC 2047 encoded words decoded), or `POST /` with the JSON form (`topic`,
//! `message`, `title`, `tags`, `priority`, `click`, `markdown`). Answers the message JSON.
//! Protected topics take `Authorization: Bearer tk_…`. Errors are ntfy's
//! `{"code", "http", "error", "link"}`: 40007 priority, 40009 topic, 40011 not UTF-8, 40014
//! attachments (a message over 4096 bytes on a server without attachments), 40017 JSON, 40101,
//! 40301, 40401, 42901, 50001.

use std::collections::HashMap;

use anyhow::Result;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::{
    links, percent_decode, random_token, refuse, unix_now, Call, Fault, Outcome, PlatformServer,
    Reply, Shared, ALNUM,
};
use crate::tls::TestCa;

/// The largest message kept as a message; beyond it ntfy makes an attachment.
pub const MAX_MESSAGE: usize = 4096;

/// A message ntfy published.
#[derive(Debug, Clone)]
pub struct Published {
    /// The message id answered.
    pub id: String,
    /// The topic.
    pub topic: String,
    /// The message text.
    pub message: String,
    /// The title, when given.
    pub title: Option<String>,
    /// Priority, 1-5 (3 when not given).
    pub priority: u8,
    /// Tags, in order.
    pub tags: Vec<String>,
    /// The click action's URL, when given.
    pub click: Option<String>,
    /// Whether the message is Markdown.
    pub markdown: bool,
    /// The token it was published with, if any.
    pub token: Option<String>,
    /// Links in the message, then the click URL.
    pub links: Vec<String>,
}

/// The state.
#[derive(Debug, Default)]
pub struct State {
    /// Topic → the tokens that may publish to it; topics not listed are open.
    protected: HashMap<String, Vec<String>>,
    tokens: Vec<String>,
    published: Vec<Published>,
}

/// ntfy on a local port; stops on drop.
pub struct NtfyServer {
    server: PlatformServer<State>,
}

fn error(http: u16, code: u32, message: &str, link: &str) -> Reply {
    let mut body = json!({"code": code, "http": http, "error": message});
    if !link.is_empty() {
        body["link"] = json!(link);
    }
    Reply::json(http, &body)
}

const RESERVED_TOPICS: [&str; 12] = [
    "docs", "static", "file", "app", "metrics", "account", "settings", "signup", "login", "v1",
    "_", "pricing",
];

fn valid_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A header value with RFC 2047 encoded words (`=?UTF-8?B?…?=`, `=?UTF-8?Q?…?=`) decoded, as
/// ntfy decodes them.
fn decode_words(v: &str) -> String {
    let Some(inner) = v
        .trim()
        .strip_prefix("=?")
        .and_then(|s| s.strip_suffix("?="))
    else {
        return v.to_owned();
    };
    let mut parts = inner.splitn(3, '?');
    let (Some(charset), Some(enc), Some(text)) = (parts.next(), parts.next(), parts.next()) else {
        return v.to_owned();
    };
    if !charset.eq_ignore_ascii_case("utf-8") {
        return v.to_owned();
    }
    let decoded = match enc {
        "B" | "b" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        "Q" | "q" => percent_decode(&text.replace('=', "%").replace('_', " "), false),
        _ => None,
    };
    decoded.unwrap_or_else(|| v.to_owned())
}

/// A parameter from its headers (any of `names`, `X-` forms included) or query parameters.
fn param(call: &Call, names: &[&str]) -> Option<String> {
    for name in names {
        for header in [format!("x-{name}"), (*name).to_owned()] {
            if let Some(v) = call.header(&header) {
                return Some(decode_words(&v));
            }
        }
    }
    names.iter().find_map(|n| call.param(n).map(str::to_owned))
}

fn priority(v: &Value) -> Option<u8> {
    match v {
        Value::Null => Some(3),
        Value::Number(n) => n.as_u64().filter(|p| (1..=5).contains(p)).map(|p| p as u8),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "" | "default" | "3" => Some(3),
            "1" | "min" => Some(1),
            "2" | "low" => Some(2),
            "4" | "high" => Some(4),
            "5" | "max" | "urgent" => Some(5),
            _ => None,
        },
        _ => None,
    }
}

fn handle(shared: &mut Shared<State>, call: &Call) -> Outcome {
    use http::Method;
    let not_found = || {
        refuse(
            error(404, 40401, "page not found", ""),
            format!("{} {}", call.method, call.path),
        )
    };
    if call.method != Method::POST && call.method != Method::PUT {
        return not_found();
    }
    let path = call.path.trim_start_matches('/');
    if path.contains('/') {
        return not_found();
    }
    // The JSON form goes to the root; the topic is in the body.
    let fields: Map<String, Value> = if path.is_empty() {
        match serde_json::from_slice::<Value>(&call.body) {
            Ok(Value::Object(o)) => o,
            _ => {
                return refuse(
                    error(
                        400,
                        40017,
                        "invalid request: request body must be message JSON",
                        "https://ntfy.sh/docs/publish/#publish-as-json",
                    ),
                    "the body is not message JSON",
                )
            }
        }
    } else {
        let Ok(message) = std::str::from_utf8(&call.body) else {
            return refuse(
                error(
                    400,
                    40011,
                    "invalid message: message must be UTF-8 encoded",
                    "",
                ),
                "the body is not UTF-8",
            );
        };
        let mut f = Map::new();
        f.insert("topic".into(), json!(path));
        f.insert(
            "message".into(),
            json!(param(call, &["message", "m"]).unwrap_or_else(|| message.to_owned())),
        );
        for (key, names) in [
            ("title", &["title", "ti", "t"][..]),
            ("priority", &["priority", "prio", "p"]),
            ("click", &["click"]),
            ("icon", &["icon"]),
        ] {
            if let Some(v) = param(call, names) {
                f.insert(key.into(), json!(v));
            }
        }
        if let Some(tags) = param(call, &["tags", "tag", "ta"]) {
            f.insert(
                "tags".into(),
                json!(tags
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()),
            );
        }
        if let Some(md) = param(call, &["markdown", "md"]) {
            f.insert(
                "markdown".into(),
                json!(["1", "yes", "true"].contains(&md.to_ascii_lowercase().as_str())),
            );
        }
        f
    };
    let topic = fields
        .get("topic")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !valid_topic(&topic) {
        return refuse(
            error(400, 40009, "invalid request: topic invalid", ""),
            format!("topic {topic:?}"),
        );
    }
    if RESERVED_TOPICS.contains(&topic.as_str()) {
        return refuse(
            error(400, 40010, "invalid request: topic name is disallowed", ""),
            format!("topic {topic:?} is reserved"),
        );
    }
    let token = match call.header("authorization") {
        Some(h) => match h.strip_prefix("Bearer ") {
            Some(t) if shared.platform.tokens.iter().any(|k| k == t.trim()) => {
                Some(t.trim().to_owned())
            }
            _ => {
                return refuse(
                    error(
                        401,
                        40101,
                        "unauthorized",
                        "https://ntfy.sh/docs/publish/#authentication",
                    ),
                    "unknown token or not `Bearer tk_…`",
                )
            }
        },
        None => None,
    };
    if let Some(allowed) = shared.platform.protected.get(&topic) {
        match &token {
            None => {
                return refuse(
                    error(
                        403,
                        40301,
                        "forbidden",
                        "https://ntfy.sh/docs/publish/#authentication",
                    ),
                    "a protected topic without a token",
                )
            }
            Some(t) if !allowed.contains(t) => {
                return refuse(
                    error(
                        403,
                        40301,
                        "forbidden",
                        "https://ntfy.sh/docs/publish/#authentication",
                    ),
                    "the token may not publish to this topic",
                )
            }
            Some(_) => {}
        }
    }
    let Some(priority) = priority(fields.get("priority").unwrap_or(&Value::Null)) else {
        return refuse(
            error(
                400,
                40007,
                "invalid priority parameter",
                "https://ntfy.sh/docs/publish/#message-priority",
            ),
            format!("priority {}", fields["priority"]),
        );
    };
    let message = fields
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if message.len() > MAX_MESSAGE {
        return refuse(
            error(
                400,
                40014,
                "invalid request: attachments not allowed",
                "https://ntfy.sh/docs/config/#attachments",
            ),
            format!(
                "a message of {} bytes (over {MAX_MESSAGE}) becomes an attachment",
                message.len()
            ),
        );
    }
    let tags: Vec<String> = match fields.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(_) => {
            return refuse(
                error(
                    400,
                    40017,
                    "invalid request: request body must be message JSON",
                    "",
                ),
                "tags is not a list of strings",
            )
        }
    };
    if let Some(fault) = shared.take_fault() {
        return Outcome::Valid(match fault {
            Fault::RateLimited { .. } => error(
                429,
                42901,
                "limit reached: too many requests, please be nice",
                "https://ntfy.sh/docs/publish/#limitations",
            ),
            Fault::ServerError => error(500, 50001, "internal server error", ""),
        });
    }
    // ntfy publishes an empty message as "triggered".
    let message = if message.is_empty() {
        "triggered".to_owned()
    } else {
        message.to_owned()
    };
    let title = fields
        .get("title")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let click = fields
        .get("click")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let markdown = fields
        .get("markdown")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let id = random_token(12, ALNUM);
    let now = unix_now();
    let mut answer = json!({"id": id, "time": now, "expires": now + 43_200, "event": "message", "topic": topic, "message": message});
    if let Some(t) = &title {
        answer["title"] = json!(t);
    }
    if !tags.is_empty() {
        answer["tags"] = json!(tags);
    }
    if priority != 3 {
        answer["priority"] = json!(priority);
    }
    if let Some(c) = &click {
        answer["click"] = json!(c);
    }
    if markdown {
        answer["content_type"] = json!("text/markdown");
    }
    let mut found = links(&message);
    found.extend(click.clone());
    shared.platform.published.push(Published {
        id,
        topic,
        message,
        title,
        priority,
        tags,
        click,
        markdown,
        token,
        links: found,
    });
    Outcome::Valid(Reply::json(200, &answer))
}

impl NtfyServer {
    /// Serves ntfy over HTTPS with `ca`'s certificate on a free loopback port.
    pub async fn start(ca: &TestCa) -> Result<Self> {
        Ok(Self {
            server: PlatformServer::start(ca, State::default(), handle).await?,
        })
    }

    /// `https://localhost:<port>`, what the app's `ntfy_server` points at.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The records, scripted faults and waits shared by every platform server.
    pub fn server(&self) -> &PlatformServer<State> {
        &self.server
    }

    /// A new access token (`tk_` and 29 characters), known to the server.
    pub fn token(&self) -> String {
        let token = format!(
            "tk_{}",
            random_token(29, b"abcdefghijklmnopqrstuvwxyz0123456789")
        );
        self.server.with(|s| s.tokens.push(token.clone()));
        token
    }

    /// Makes `topic` writable with `token` only (anonymous and other tokens get 403).
    pub fn protect(&self, topic: &str, token: &str) {
        self.server.with(|s| {
            s.protected
                .entry(topic.to_owned())
                .or_default()
                .push(token.to_owned())
        });
    }

    /// Messages published to `topic`, in order.
    pub fn published(&self, topic: &str) -> Vec<Published> {
        self.server.with(|s| {
            s.published
                .iter()
                .filter(|m| m.topic == topic)
                .cloned()
                .collect()
        })
    }
}
