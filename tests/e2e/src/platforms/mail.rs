//! Two HTTP mail APIs, each on its own port.
//!
//! **Resend** (<https://resend.com/docs/api-reference/emails/send-email>): `POST /emails`,
//! `Authorization: Bearer re_…`, JSON `from`, `to` (a string or up to 50), `subject`, `text` /
//! `html`, `headers` (an object), optional `Idempotency-Key` (1-256 characters: a repeat answers
//! the first id, a repeat with another body 409). Answers `{"id"}`; errors
//! `{"statusCode", "name", "message"}`: 401 `missing_api_key`, 403 `invalid_api_key`, 403
//! `validation_error` (a sender outside the verified domain), 422 `missing_required_field` /
//! `validation_error`, 405 `method_not_allowed`, 404 `not_found`, 429 `rate_limit_exceeded`.
//!
//! **Postmark** (<https://postmarkapp.com/developer/api/email-api>): `POST /email`,
//! `X-Postmark-Server-Token`, JSON `From`, `To` (comma separated, 50 recipients with Cc and Bcc),
//! `Subject`, `TextBody` / `HtmlBody`, `Headers` (`[{"Name", "Value"}]`), `MessageStream`.
//! Answers `{"To", "SubmittedAt", "MessageID", "ErrorCode": 0, "Message": "OK"}`; errors
//! `{"ErrorCode", "Message"}`: 401 code 10, 422 codes 300 (invalid request), 400 (sender
//! signature), 402 (invalid JSON), 406 (inactive recipient), 1235 (unknown stream), 429. A body
//! that is not JSON gets 415 with code 409 ("JSON required"), a choice: the status is not
//! documented.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use serde_json::{json, Value};

use super::{links, refuse, uuid, Call, Fault, Outcome, PlatformServer, Reply, Shared};
use crate::tls::TestCa;

/// The most recipients in one message, on both APIs.
pub const MAX_RECIPIENTS: usize = 50;

/// A message a mail API accepted.
#[derive(Debug, Clone)]
pub struct Email {
    /// The id answered.
    pub id: String,
    /// The sender as given (`Name <address>` or an address).
    pub from: String,
    /// The recipients' addresses.
    pub to: Vec<String>,
    /// The subject.
    pub subject: String,
    /// The plain text body.
    pub text: Option<String>,
    /// The HTML body.
    pub html: Option<String>,
    /// Headers given in the JSON, in order.
    pub headers: Vec<(String, String)>,
    /// Postmark's message stream (`outbound` when not given); `None` on Resend.
    pub message_stream: Option<String>,
    /// Links in the text and the HTML (`href`s included).
    pub links: Vec<String>,
}

impl Email {
    /// A header given in the JSON (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The address inside `Name <address>`, or the whole text; `None` when it is not an address.
fn address(s: &str) -> Option<String> {
    let s = s.trim();
    let addr = match (s.rfind('<'), s.ends_with('>')) {
        (Some(at), true) => &s[at + 1..s.len() - 1],
        _ => s,
    };
    let (local, domain) = addr.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !addr.contains(char::is_whitespace)
        && !domain.contains('@');
    ok.then(|| addr.to_ascii_lowercase())
}

fn domain(addr: &str) -> &str {
    addr.rsplit('@').next().unwrap_or_default()
}

fn email_links(text: Option<&str>, html: Option<&str>) -> Vec<String> {
    let mut found = Vec::new();
    for l in text.into_iter().chain(html).flat_map(links) {
        if !found.contains(&l) {
            found.push(l);
        }
    }
    found
}

/// The state of either API.
#[derive(Debug, Default)]
pub struct State {
    key: String,
    sender_domain: String,
    sent: Vec<Email>,
    idempotency: HashMap<String, (Vec<u8>, String)>,
    inactive: HashSet<String>,
}

fn resend_error(status: u16, name: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"statusCode": status, "name": name, "message": message}),
    )
}

fn resend(shared: &mut Shared<State>, call: &Call) -> Outcome {
    if call.path != "/emails" {
        return refuse(
            resend_error(404, "not_found", "The requested endpoint does not exist."),
            format!("no endpoint at {}", call.path),
        );
    }
    if call.method != http::Method::POST {
        return refuse(
            resend_error(
                405,
                "method_not_allowed",
                "Method is not allowed for the requested path.",
            ),
            format!("{} instead of POST", call.method),
        );
    }
    let Some(auth) = call.header("authorization") else {
        return refuse(
            resend_error(
                401,
                "missing_api_key",
                "Missing API key in the authorization header.",
            ),
            "no Authorization",
        );
    };
    if auth.strip_prefix("Bearer ") != Some(shared.platform.key.as_str()) {
        return refuse(
            resend_error(403, "invalid_api_key", "API key is invalid."),
            "not `Bearer <the key>`",
        );
    }
    let key = call.header("idempotency-key");
    if let Some(k) = &key {
        if k.is_empty() || k.len() > 256 {
            return refuse(
                resend_error(
                    400,
                    "invalid_idempotency_key",
                    "The key must be between 1-256 chars.",
                ),
                "Idempotency-Key length",
            );
        }
        if let Some((body, id)) = shared.platform.idempotency.get(k) {
            if body[..] != call.body[..] {
                return refuse(
                    resend_error(
                        409,
                        "invalid_idempotent_request",
                        "Same idempotency key used with a different request payload.",
                    ),
                    "Idempotency-Key reused with another body",
                );
            }
            return Outcome::Valid(Reply::json(200, &json!({"id": id})));
        }
    }
    let body: Value = match serde_json::from_slice(&call.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return refuse(
                resend_error(400, "validation_error", "Invalid JSON."),
                "the body is not a JSON object",
            )
        }
    };
    for field in ["from", "to", "subject"] {
        if body[field].is_null() {
            return refuse(
                resend_error(
                    422,
                    "missing_required_field",
                    &format!("Missing `{field}` field."),
                ),
                format!("no {field}"),
            );
        }
    }
    let invalid = |field: &str| {
        refuse(resend_error(422, "validation_error", &format!("Invalid `{field}` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.")), format!("{field} is not an address"))
    };
    let Some(from) = body["from"].as_str().and_then(address) else {
        return invalid("from");
    };
    let to_values: Vec<Value> = match &body["to"] {
        Value::String(s) => vec![json!(s)],
        Value::Array(a) => a.clone(),
        _ => return invalid("to"),
    };
    let mut to = Vec::new();
    for v in &to_values {
        match v.as_str().and_then(address) {
            Some(a) => to.push(a),
            None => return invalid("to"),
        }
    }
    if to.is_empty() || to.len() > MAX_RECIPIENTS {
        return refuse(
            resend_error(
                422,
                "validation_error",
                "Invalid `to` field. Between 1 and 50 recipients.",
            ),
            format!("{} recipients", to.len()),
        );
    }
    let text = body["text"].as_str().map(str::to_owned);
    let html = body["html"].as_str().map(str::to_owned);
    if text.is_none() && html.is_none() {
        return refuse(
            resend_error(422, "validation_error", "Missing `html` or `text` field."),
            "no text or html",
        );
    }
    let headers = match &body["headers"] {
        Value::Null => Vec::new(),
        Value::Object(h) if h.values().all(Value::is_string) => h
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
        _ => {
            return refuse(
                resend_error(422, "validation_error", "Invalid `headers` field."),
                "headers is not an object of strings",
            )
        }
    };
    if domain(&from) != shared.platform.sender_domain {
        let message = format!("The {} domain is not verified. Please, add and verify your domain on https://resend.com/domains", domain(&from));
        return refuse(
            resend_error(403, "validation_error", &message),
            "the sender's domain is not verified",
        );
    }
    if let Some(fault) = shared.take_fault() {
        return Outcome::Valid(match fault {
            Fault::RateLimited { retry_after_secs } => resend_error(
                429,
                "rate_limit_exceeded",
                "Too many requests. You can only make 2 requests per second.",
            )
            .with_header("retry-after", retry_after_secs.to_string()),
            Fault::ServerError => {
                resend_error(500, "application_error", "An unexpected error occurred.")
            }
        });
    }
    let id = uuid();
    if let Some(k) = key {
        shared
            .platform
            .idempotency
            .insert(k, (call.body.to_vec(), id.clone()));
    }
    let links = email_links(text.as_deref(), html.as_deref());
    let subject = body["subject"].as_str().unwrap_or_default().to_owned();
    shared.platform.sent.push(Email {
        id: id.clone(),
        from: body["from"].as_str().unwrap_or_default().to_owned(),
        to,
        subject,
        text,
        html,
        headers,
        message_stream: None,
        links,
    });
    Outcome::Valid(Reply::json(200, &json!({"id": id})))
}

fn postmark_error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(status, &json!({"ErrorCode": code, "Message": message}))
}

fn postmark(shared: &mut Shared<State>, call: &Call) -> Outcome {
    if call.path != "/email" {
        return refuse(
            postmark_error(404, 0, "Not found"),
            format!("no endpoint at {}", call.path),
        );
    }
    if call.method != http::Method::POST {
        return refuse(
            postmark_error(
                405,
                0,
                "The requested resource does not support this HTTP method.",
            ),
            format!("{} instead of POST", call.method),
        );
    }
    match call.header("x-postmark-server-token") {
        None => return refuse(postmark_error(401, 10, "No Account or Server API tokens were supplied in the HTTP headers. Please add a header for either X-Postmark-Server-Token or X-Postmark-Account-Token."), "no X-Postmark-Server-Token"),
        Some(t) if t != shared.platform.key => return refuse(postmark_error(401, 10, "Request does not contain a valid Server token."), "wrong server token"),
        Some(_) => {}
    }
    if call.media_type() != "application/json" {
        return refuse(
            postmark_error(415, 409, "JSON required"),
            format!("Content-Type {:?}", call.media_type()),
        );
    }
    let body: Value = match serde_json::from_slice(&call.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return refuse(
                postmark_error(422, 402, "Received invalid JSON input."),
                "the body is not a JSON object",
            )
        }
    };
    let invalid = |message: String| refuse(postmark_error(422, 300, &message), message.clone());
    let from_text = body["From"].as_str().unwrap_or_default();
    let Some(from) = address(from_text) else {
        return invalid(format!(
            "Error parsing 'From': Illegal email address '{from_text}'."
        ));
    };
    let mut to = Vec::new();
    let mut count = 0;
    for field in ["To", "Cc", "Bcc"] {
        for part in body[field]
            .as_str()
            .unwrap_or_default()
            .split(',')
            .filter(|p| !p.trim().is_empty())
        {
            let Some(a) = address(part) else {
                return invalid(format!(
                    "Error parsing '{field}': Illegal email address '{}'.",
                    part.trim()
                ));
            };
            count += 1;
            if field == "To" {
                to.push(a);
            }
        }
    }
    if count == 0 {
        return invalid("Zero recipients specified".into());
    }
    if count > MAX_RECIPIENTS {
        return invalid("Maximum of 50 recipients allowed per email message".into());
    }
    let text = body["TextBody"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let html = body["HtmlBody"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    if text.is_none() && html.is_none() {
        return invalid("Provide either email TextBody or HtmlBody or both.".into());
    }
    let mut headers = Vec::new();
    match &body["Headers"] {
        Value::Null => {}
        Value::Array(list) => {
            for h in list {
                let (Some(n), Some(v)) = (h["Name"].as_str(), h["Value"].as_str()) else {
                    return refuse(
                        postmark_error(422, 403, "Incompatible JSON"),
                        "a header is not {Name, Value}",
                    );
                };
                headers.push((n.to_owned(), v.to_owned()));
            }
        }
        _ => {
            return refuse(
                postmark_error(422, 403, "Incompatible JSON"),
                "Headers is not a list",
            )
        }
    }
    let stream = body["MessageStream"]
        .as_str()
        .unwrap_or("outbound")
        .to_owned();
    if !["outbound", "broadcast"].contains(&stream.as_str()) {
        return refuse(
            postmark_error(
                422,
                1235,
                "The message stream for the provided 'ID' was not found.",
            ),
            format!("stream {stream:?}"),
        );
    }
    if domain(&from) != shared.platform.sender_domain {
        let message = format!("The 'From' address you supplied ({from_text}) is not a Sender Signature on your account. Please add and confirm this address in order to be able to use it in the 'From' field of your messages.");
        return refuse(
            postmark_error(422, 400, &message),
            "the sender is not a sender signature",
        );
    }
    if to.iter().any(|a| shared.platform.inactive.contains(a)) {
        return Outcome::Valid(postmark_error(422, 406, "You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: . Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression."));
    }
    if let Some(fault) = shared.take_fault() {
        return Outcome::Valid(match fault {
            Fault::RateLimited { .. } => postmark_error(429, 429, "Rate limit exceeded"),
            Fault::ServerError => postmark_error(500, 0, "Internal server error"),
        });
    }
    let id = uuid();
    let links = email_links(text.as_deref(), html.as_deref());
    let subject = body["Subject"].as_str().unwrap_or_default().to_owned();
    let to_field = body["To"].as_str().unwrap_or_default().to_owned();
    shared.platform.sent.push(Email {
        id: id.clone(),
        from: from_text.to_owned(),
        to,
        subject,
        text,
        html,
        headers,
        message_stream: Some(stream),
        links,
    });
    Outcome::Valid(Reply::json(
        200,
        &json!({"To": to_field, "SubmittedAt": "2025-01-01T00:00:00.0000000Z", "MessageID": id, "ErrorCode": 0, "Message": "OK"}),
    ))
}

/// A mail API on a local port; stops on drop.
pub struct MailApi {
    server: PlatformServer<State>,
}

impl MailApi {
    /// Resend, taking `key` (`re_…`) and senders at `sender_domain`.
    pub async fn resend(ca: &TestCa, key: &str, sender_domain: &str) -> Result<Self> {
        Self::start(ca, key, sender_domain, resend).await
    }

    /// Postmark, taking the server token `token` and senders at `sender_domain`.
    pub async fn postmark(ca: &TestCa, token: &str, sender_domain: &str) -> Result<Self> {
        Self::start(ca, token, sender_domain, postmark).await
    }

    async fn start(
        ca: &TestCa,
        key: &str,
        sender_domain: &str,
        handler: super::Handler<State>,
    ) -> Result<Self> {
        let state = State {
            key: key.to_owned(),
            sender_domain: sender_domain.to_ascii_lowercase(),
            ..State::default()
        };
        Ok(Self {
            server: PlatformServer::start(ca, state, handler).await?,
        })
    }

    /// `https://localhost:<port>`: the mail provider URL (for `https://api.resend.com` or
    /// `https://api.postmarkapp.com`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The records, scripted faults and waits shared by every platform server.
    pub fn server(&self) -> &PlatformServer<State> {
        &self.server
    }

    /// Mail accepted so far, in order.
    pub fn sent(&self) -> Vec<Email> {
        self.server.with(|s| s.sent.clone())
    }

    /// Mail accepted for `address`, in order.
    pub fn sent_to(&self, address: &str) -> Vec<Email> {
        let address = address.to_ascii_lowercase();
        self.server.with(|s| {
            s.sent
                .iter()
                .filter(|m| m.to.contains(&address))
                .cloned()
                .collect()
        })
    }

    /// Postmark: `address` hard-bounced; sending to it answers 422 code 406 from now on.
    pub fn deactivate(&self, address: &str) {
        self.server
            .with(|s| s.inactive.insert(address.to_ascii_lowercase()));
    }
}
