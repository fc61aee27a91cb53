//! Telegram's Bot API (<https://core.telegram.org/bots/api>): `https://<api>/bot<token>/<method>`,
//! methods case-insensitive, by GET or POST, parameters in the query, a form or JSON; every answer
//! `{"ok": true, "result": …}` or `{"ok": false, "error_code": …, "description": …}` (with
//! `parameters.retry_after` on 429). Played: `getMe`, `sendMessage` (chat, text of 1-4096
//! characters after entities parsing, `parse_mode`), `setWebhook` / `deleteWebhook` /
//! `getWebhookInfo`; and the other direction, an update pushed to the bot's webhook with
//! `X-Telegram-Bot-Api-Secret-Token`, as Telegram does after `setWebhook`. The documentation
//! names only GET and POST; other methods get 405 here, a choice. Multipart bodies are not played.

use std::collections::HashMap;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use super::telegram_text::{self, Parsed};
use super::{
    form_pairs, random_token, refuse, unix_now, Call, Fault, Outcome, PlatformServer, Reply, Shared,
};
use crate::tls::TestCa;

/// The longest message text, in UTF-16 code units after entities parsing.
pub const MAX_TEXT: usize = 4096;

/// A bot made on the server (as @BotFather would).
#[derive(Debug, Clone)]
pub struct Bot {
    /// `<id>:<secret>`, what the app holds as its bot token.
    pub token: String,
    /// The bot's user id.
    pub id: i64,
    /// The bot's @username, without the `@`.
    pub username: String,
}

/// A private chat with a person who started the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chat {
    /// The chat's id (a private chat's id is the person's user id).
    pub id: i64,
}

/// A message a bot sent, as the chat shows it.
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// The sending bot's token.
    pub bot_token: String,
    /// The chat it went to.
    pub chat_id: i64,
    /// Its id in the chat.
    pub message_id: i64,
    /// The text as sent, markup included.
    pub raw_text: String,
    /// `parse_mode`, when given.
    pub parse_mode: Option<String>,
    /// What a person reads, and the links in it.
    pub shown: Parsed,
    /// Every parameter as received.
    pub params: Map<String, Value>,
}

#[derive(Debug, Clone, Default)]
struct Webhook {
    url: String,
    secret_token: Option<String>,
}

#[derive(Debug)]
struct ChatState {
    first_name: String,
    blocked: bool,
}

/// The server's state.
#[derive(Debug, Default)]
pub struct State {
    bots: HashMap<String, (Bot, Option<Webhook>)>,
    chats: HashMap<i64, ChatState>,
    sent: Vec<SentMessage>,
    next_id: i64,
    plain_http_webhooks: bool,
}

/// The Bot API on a local port; stops on drop.
pub struct TelegramBotApi {
    server: PlatformServer<State>,
    client: reqwest::Client,
}

fn error(code: u16, description: &str) -> Reply {
    Reply::json(
        code,
        &json!({"ok": false, "error_code": code, "description": description}),
    )
}

fn ok(result: Value) -> Reply {
    Reply::json(200, &json!({"ok": true, "result": result}))
}

/// The parameters of a call: query, form or JSON body, merged (the body wins).
fn params(call: &Call) -> Result<Map<String, Value>, String> {
    let mut params: Map<String, Value> = call
        .query
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if call.body.is_empty() {
        return Ok(params);
    }
    match call.media_type().as_str() {
        "application/json" => match serde_json::from_slice::<Value>(&call.body) {
            Ok(Value::Object(body)) => params.extend(body),
            _ => return Err("the body is not a JSON object".into()),
        },
        "application/x-www-form-urlencoded" => {
            let body = std::str::from_utf8(&call.body).map_err(|_| "the form is not UTF-8")?;
            params.extend(
                form_pairs(body)
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v))),
            );
        }
        other => return Err(format!("Content-Type {other:?} is not played here")),
    }
    Ok(params)
}

fn text_param<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params.get(name).and_then(Value::as_str)
}

/// A chat id as Telegram takes it: an integer, or one written as text.
fn chat_id(params: &Map<String, Value>) -> Option<i64> {
    match params.get("chat_id")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn handle(shared: &mut Shared<State>, call: &Call) -> Outcome {
    let not_found = || {
        refuse(
            error(404, "Not Found"),
            format!("no Bot API method at {}", call.path),
        )
    };
    let Some(rest) = call.path.strip_prefix("/bot") else {
        return not_found();
    };
    let Some((token, method)) = rest.split_once('/') else {
        return not_found();
    };
    let method = method.to_ascii_lowercase();
    if ![
        "getme",
        "sendmessage",
        "setwebhook",
        "deletewebhook",
        "getwebhookinfo",
    ]
    .contains(&method.as_str())
    {
        return not_found();
    }
    if call.method != http::Method::GET && call.method != http::Method::POST {
        return refuse(
            error(405, "Method Not Allowed"),
            format!("{} instead of GET or POST", call.method),
        );
    }
    let Some((bot, _)) = shared.platform.bots.get(token).cloned() else {
        return refuse(error(401, "Unauthorized"), "unknown bot token");
    };
    let params = match params(call) {
        Ok(p) => p,
        Err(reason) => return refuse(error(400, "Bad Request: invalid request body"), reason),
    };
    let bad = |description: String| {
        refuse(
            error(400, &format!("Bad Request: {description}")),
            description,
        )
    };
    let state = &mut shared.platform;
    // Checks first: a scripted fault answers only calls that would otherwise succeed.
    let success = match method.as_str() {
        "getme" => json!({"id": bot.id, "is_bot": true, "first_name": bot.username,
                          "username": bot.username, "can_join_groups": true,
                          "can_read_all_group_messages": false, "supports_inline_queries": false}),
        "sendmessage" => {
            let Some(chat) = chat_id(&params) else {
                // An @username or other text names no private chat played here.
                let what = if params.contains_key("chat_id") {
                    "chat not found"
                } else {
                    "chat_id is empty"
                };
                return bad(what.into());
            };
            let Some(text) = text_param(&params, "text").filter(|t| !t.is_empty()) else {
                return bad("message text is empty".into());
            };
            let parse_mode = text_param(&params, "parse_mode").filter(|m| !m.is_empty());
            let shown = match telegram_text::parse(text, parse_mode) {
                Ok(shown) => shown,
                Err(description) => return bad(description),
            };
            if shown.text.trim().is_empty() {
                return bad("message text is empty".into());
            }
            if shown.text.encode_utf16().count() > MAX_TEXT {
                return bad("message is too long".into());
            }
            let Some(person) = state.chats.get(&chat) else {
                return bad("chat not found".into());
            };
            if person.blocked {
                return Outcome::Valid(error(403, "Forbidden: bot was blocked by the user"));
            }
            let first_name = person.first_name.clone();
            if let Some(fault) = shared.take_fault() {
                return Outcome::Valid(fault_reply(fault));
            }
            let state = &mut shared.platform;
            state.next_id += 1;
            let message_id = state.next_id;
            state.sent.push(SentMessage {
                bot_token: token.to_owned(),
                chat_id: chat,
                message_id,
                raw_text: text.to_owned(),
                parse_mode: parse_mode.map(str::to_owned),
                shown: shown.clone(),
                params: params.clone(),
            });
            return Outcome::Valid(ok(json!({
                "message_id": message_id,
                "from": {"id": bot.id, "is_bot": true, "first_name": bot.username, "username": bot.username},
                "chat": {"id": chat, "first_name": first_name, "type": "private"},
                "date": unix_now(),
                "text": shown.text,
            })));
        }
        "setwebhook" => {
            let Some(url) = text_param(&params, "url") else {
                return bad("bad webhook: An HTTPS URL must be provided for webhook".into());
            };
            let secret = text_param(&params, "secret_token").map(str::to_owned);
            if let Some(s) = &secret {
                let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
                if s.is_empty() || s.len() > 256 || !s.chars().all(allowed) {
                    return bad("secret token contains unallowed characters".into());
                }
            }
            let webhook = if url.is_empty() {
                None
            } else {
                let https = url.starts_with("https://");
                let http = url.starts_with("http://") && state.plain_http_webhooks;
                if !https && !http {
                    return bad("bad webhook: An HTTPS URL must be provided for webhook".into());
                }
                Some(Webhook {
                    url: url.to_owned(),
                    secret_token: secret,
                })
            };
            if let Some(fault) = shared.take_fault() {
                return Outcome::Valid(fault_reply(fault));
            }
            let description = if webhook.is_some() {
                "Webhook was set"
            } else {
                "Webhook was deleted"
            };
            if let Some(entry) = shared.platform.bots.get_mut(token) {
                entry.1 = webhook;
            }
            return Outcome::Valid(Reply::json(
                200,
                &json!({"ok": true, "result": true, "description": description}),
            ));
        }
        "deletewebhook" => {
            if let Some(entry) = state.bots.get_mut(token) {
                entry.1 = None;
            }
            json!(true)
        }
        _ => {
            let url = state
                .bots
                .get(token)
                .and_then(|b| b.1.clone())
                .unwrap_or_default()
                .url;
            json!({"url": url, "has_custom_certificate": false, "pending_update_count": 0})
        }
    };
    match shared.take_fault() {
        Some(fault) => Outcome::Valid(fault_reply(fault)),
        None => Outcome::Valid(ok(success)),
    }
}

fn fault_reply(fault: Fault) -> Reply {
    match fault {
        Fault::RateLimited { retry_after_secs } => Reply::json(
            429,
            &json!({"ok": false, "error_code": 429,
                    "description": format!("Too Many Requests: retry after {retry_after_secs}"),
                    "parameters": {"retry_after": retry_after_secs}}),
        ),
        Fault::ServerError => error(500, "Internal Server Error"),
    }
}

impl TelegramBotApi {
    /// Serves the Bot API over HTTPS with `ca`'s certificate on a free loopback port.
    pub async fn start(ca: &TestCa) -> Result<Self> {
        Ok(Self {
            server: PlatformServer::start(ca, State::default(), handle).await?,
            client: ca.client()?,
        })
    }

    /// `https://localhost:<port>`, what the app's `telegram_api` points at (for
    /// `https://api.telegram.org`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The records, scripted faults and waits shared by every platform server.
    pub fn server(&self) -> &PlatformServer<State> {
        &self.server
    }

    /// A new bot called `username`.
    pub fn bot(&self, username: &str) -> Bot {
        self.server.with(|state| {
            state.next_id += 1;
            let id = 7_000_000_000 + state.next_id;
            let token = format!("{id}:AA{}", random_token(33, super::ALNUM));
            let bot = Bot {
                token: token.clone(),
                id,
                username: username.to_owned(),
            };
            state.bots.insert(token, (bot.clone(), None));
            bot
        })
    }

    /// A person called `first_name` with a private chat (they pressed Start once).
    pub fn person(&self, first_name: &str) -> Chat {
        self.server.with(|state| {
            state.next_id += 1;
            let id = 100_000_000 + state.next_id;
            state.chats.insert(
                id,
                ChatState {
                    first_name: first_name.to_owned(),
                    blocked: false,
                },
            );
            Chat { id }
        })
    }

    /// The person blocked the bot: `sendMessage` to them answers 403 from now on.
    pub fn block(&self, chat: Chat) {
        self.server.with(|state| {
            if let Some(c) = state.chats.get_mut(&chat.id) {
                c.blocked = true;
            }
        });
    }

    /// `setWebhook` with an `http://` URL is taken from now on (the app under the test host
    /// serves plain HTTP; Telegram itself takes HTTPS only).
    pub fn accept_plain_http_webhooks(&self) {
        self.server.with(|state| state.plain_http_webhooks = true);
    }

    /// The webhook URL and secret token `bot` set, if any.
    pub fn webhook(&self, bot: &Bot) -> Option<(String, Option<String>)> {
        self.server.with(|state| {
            state
                .bots
                .get(&bot.token)
                .and_then(|b| b.1.clone())
                .map(|w| (w.url, w.secret_token))
        })
    }

    /// Messages sent so far, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.server.with(|state| state.sent.clone())
    }

    /// Messages sent to `chat`, in order.
    pub fn sent_to(&self, chat: Chat) -> Vec<SentMessage> {
        self.server.with(|state| {
            state
                .sent
                .iter()
                .filter(|m| m.chat_id == chat.id)
                .cloned()
                .collect()
        })
    }

    /// The update Telegram pushes when the person in `chat` sends `text`.
    pub fn message_update(&self, chat: Chat, text: &str) -> Value {
        self.server.with(|state| {
            state.next_id += 1;
            let first_name = state
                .chats
                .get(&chat.id)
                .map(|c| c.first_name.clone())
                .unwrap_or_default();
            let mut message = json!({
                "message_id": state.next_id,
                "from": {"id": chat.id, "is_bot": false, "first_name": first_name, "language_code": "en"},
                "chat": {"id": chat.id, "first_name": first_name, "type": "private"},
                "date": unix_now(),
                "text": text,
            });
            if text.starts_with('/') {
                let command = text.split_whitespace().next().unwrap_or_default();
                message["entities"] = json!([{"offset": 0, "length": command.encode_utf16().count(), "type": "bot_command"}]);
            }
            json!({"update_id": 500_000_000 + state.next_id, "message": message})
        })
    }

    /// Pushes `update` to the webhook `bot` set, with its secret token header, as Telegram does;
    /// the status the app answered.
    pub async fn push_update(&self, bot: &Bot, update: &Value) -> Result<u16> {
        let (url, secret) = self
            .webhook(bot)
            .context("the bot has no webhook (setWebhook was not called)")?;
        self.push_update_to(&url, secret.as_deref(), update).await
    }

    /// Pushes `/start <code>` from `chat` to `bot`'s webhook; the status the app answered.
    pub async fn push_start(&self, bot: &Bot, chat: Chat, code: &str) -> Result<u16> {
        let update = self.message_update(chat, &format!("/start {code}"));
        self.push_update(bot, &update).await
    }

    /// Pushes `update` to `url` with `X-Telegram-Bot-Api-Secret-Token: secret` when given (a
    /// forged or stale update, for the app to refuse).
    pub async fn push_update_to(
        &self,
        url: &str,
        secret: Option<&str>,
        update: &Value,
    ) -> Result<u16> {
        let mut req = self.client.post(url).json(update);
        if let Some(secret) = secret {
            req = req.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        Ok(req
            .send()
            .await
            .context("pushing the update")?
            .status()
            .as_u16())
    }
}
