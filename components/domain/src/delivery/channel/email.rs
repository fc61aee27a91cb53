//! Email: a person gives an address; nothing but one confirmation mail goes to it until they
//! open the link in that mail, so nobody can make Aurras mail a stranger. Every notification
//! carries `List-Unsubscribe` with a one-click link (RFC 8058) that pauses the trigger.
//!
//! Mail leaves through one HTTP mail API the operator configures ([`Provider`]): Resend
//! (<https://resend.com/docs/api-reference/emails/send-email>) or Postmark
//! (<https://postmarkapp.com/developer/api/email-api>).
//!
//! The confirmation code is 256 random bits, sealed in the trigger's action and indexed under
//! `email/confirm/<sha256 of code>` (see [`crate::keys`]) for [`CONFIRM_TTL_MS`]; it works once.
//! The unsubscribe token is an HMAC of the trigger id under the deployment's keyring, so
//! checking it needs no storage; it is kept in the sealed action only because dispatch builds
//! requests from its configuration alone, without the keyring.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{classify_common, json_post, not_enabled, Platforms, Post};
use crate::answer::Answer;
use crate::delivery::Outcome;
use crate::dispatch::HttpRequest;
use crate::error::{ApiError, ApiResult};
use crate::vault::Keyring;

const FIELD: &str = "action.email.address";

/// How long a confirmation link works: a day, time to find the mail in a spam folder.
pub const CONFIRM_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// The reason a trigger paused by its unsubscribe link shows.
pub const UNSUBSCRIBED: &str = "unsubscribed";

/// The mail APIs Aurras sends through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `POST {api}/emails`, `Authorization: Bearer`.
    Resend,
    /// `POST {api}/email`, `X-Postmark-Server-Token`.
    Postmark,
}

impl Provider {
    /// `resend` or `postmark`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "resend" => Some(Self::Resend),
            "postmark" => Some(Self::Postmark),
            _ => None,
        }
    }

    /// The provider's public API.
    pub fn default_api(self) -> &'static str {
        match self {
            Self::Resend => "https://api.resend.com",
            Self::Postmark => "https://api.postmarkapp.com",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Resend => "Resend",
            Self::Postmark => "Postmark",
        }
    }
}

/// The operator's mail settings (`mail_provider`, `mail_api`, `mail_api_token`, `mail_from`,
/// `public_url`); email is enabled only with all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// Which API.
    pub provider: Provider,
    /// Its base URL, without a trailing `/`.
    pub api: String,
    /// The API token (secret).
    pub token: String,
    /// `Aurras <notify@example.org>`.
    pub from: String,
    /// The app's public base URL, for confirmation and unsubscribe links.
    pub public_url: String,
}

impl MailConfig {
    /// The settings from Spin variables, or `None` when email is off (no provider, token,
    /// sender or public URL).
    pub fn from_variables(set: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let provider = Provider::parse(&set("mail_provider")?)?;
        let api = set("mail_api").unwrap_or_else(|| provider.default_api().to_owned());
        Some(Self {
            provider,
            api: api.trim_end_matches('/').to_owned(),
            token: set("mail_api_token")?,
            from: set("mail_from")?,
            public_url: set("public_url")?.trim_end_matches('/').to_owned(),
        })
    }
}

/// An email destination as a client writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSpec {
    /// The address.
    pub address: String,
}

/// A confirmation mail's code, waiting for its link to be opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingConfirm {
    /// The one-time code.
    pub code: String,
    /// When it stops working (Unix ms).
    pub expires_ms: u64,
}

impl PendingConfirm {
    /// A new code, expiring [`CONFIRM_TTL_MS`] after `now_ms`.
    pub fn new(now_ms: u64) -> ApiResult<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| ApiError::internal(format!("no randomness for a code: {e}")))?;
        Ok(Self {
            code: URL_SAFE_NO_PAD.encode(bytes),
            expires_ms: now_ms.saturating_add(CONFIRM_TTL_MS),
        })
    }

    /// Whether the code still works at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        now_ms < self.expires_ms
    }

    /// Whether `code` is this code, compared in constant time.
    pub fn is_code(&self, code: &str) -> bool {
        let (a, b) = (self.code.as_bytes(), code.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// The key the code is indexed under.
    pub fn key(&self) -> String {
        confirm_key(&self.code)
    }
}

/// `email/confirm/<sha256 of code>`.
pub fn confirm_key(code: &str) -> String {
    crate::keys::email_confirm(&hex::encode(Sha256::digest(code.as_bytes())))
}

/// A stored email destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// The address.
    pub address: String,
    /// Whether its owner opened the confirmation link.
    #[serde(default)]
    pub confirmed: bool,
    /// The confirmation waiting, while unconfirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingConfirm>,
    /// The unsubscribe token, once confirmed ([`unsubscribe_token`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe: Option<String>,
}

impl Email {
    /// A new, unconfirmed destination.
    pub fn new(address: &str) -> Self {
        Self {
            address: normalize(address),
            confirmed: false,
            pending: None,
            unsubscribe: None,
        }
    }

    /// The confirmation waiting for this address, if any.
    pub fn waiting(&self) -> Option<&PendingConfirm> {
        (!self.confirmed).then_some(self.pending.as_ref()).flatten()
    }
}

/// The address with its domain in lower case (the local part is the mailbox's own business).
pub fn normalize(address: &str) -> String {
    let address = address.trim();
    match address.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => address.to_owned(),
    }
}

/// Whether `address` is a plain `local@domain.tld` a mail API takes as one recipient: no
/// display name, comma, quotes or spaces that would let one field name several people.
pub fn is_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let domain_ok = domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    address.len() <= 254 && local_ok && domain_ok
}

/// Checks that email is enabled and the address is one.
pub fn validate(spec: &EmailSpec, platforms: &Platforms) -> ApiResult<()> {
    if platforms.mail.is_none() {
        return Err(not_enabled(
            "action.email",
            "Email",
            "mail_provider, mail_api_token, mail_from and public_url",
        ));
    }
    if !is_address(spec.address.trim()) {
        return Err(ApiError::invalid(
            FIELD,
            "expected one email address, like person@example.com",
        ));
    }
    Ok(())
}

/// The address as its owner sees it: the first letter of the mailbox, then `…`.
pub fn masked(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => "…".into(),
    }
}

/// What the owner's view shows.
pub fn view(email: &Email) -> Value {
    json!({"address": masked(&email.address), "confirmed": email.confirmed})
}

const UNSUBSCRIBE_LABEL: &[u8] = b"aurras/email-unsubscribe/v1\n";

fn unsubscribe_mac(key: &[u8; 32], trigger_id: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(UNSUBSCRIBE_LABEL);
    mac.update(trigger_id.as_bytes());
    mac
}

/// `<trigger id>.<hex HMAC of it>` under the ring's current key.
pub fn unsubscribe_token(ring: &Keyring, trigger_id: &str) -> ApiResult<String> {
    let key = ring
        .mac_keys()
        .next()
        .ok_or_else(|| ApiError::internal("the keyring is empty"))?;
    let tag = unsubscribe_mac(key, trigger_id).finalize().into_bytes();
    Ok(format!("{trigger_id}.{}", hex::encode(tag)))
}

/// The trigger id a token unsubscribes, if its HMAC verifies under any key of the ring (a
/// rotation keeps old mails' links working until the old key leaves the ring).
pub fn unsubscribed_trigger(ring: &Keyring, token: &str) -> Option<String> {
    let (id, tag) = token.trim().rsplit_once('.')?;
    let tag = hex::decode(tag).ok()?;
    if !id.starts_with("trg_") {
        return None;
    }
    ring.mac_keys()
        .any(|key| unsubscribe_mac(key, id).verify_slice(&tag).is_ok())
        .then(|| id.to_owned())
}

/// `{public_url}/api/email/confirm?code=…`.
pub fn confirm_url(config: &MailConfig, code: &str) -> String {
    format!("{}/api/email/confirm?code={code}", config.public_url)
}

/// `{public_url}/api/email/unsubscribe?token=…`.
pub fn unsubscribe_url(config: &MailConfig, token: &str) -> String {
    format!("{}/api/email/unsubscribe?token={token}", config.public_url)
}

/// `&`, `<`, `>`, `"` and `'` escaped for HTML text and attributes.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// One mail to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// Extra headers (`List-Unsubscribe`, …).
    pub headers: Vec<(String, String)>,
    /// The provider's idempotency key, so a retry never sends twice (Resend takes one).
    pub idempotency_key: Option<String>,
}

/// The provider's request for `mail`.
pub fn send(config: &MailConfig, mail: &Mail) -> Result<HttpRequest, String> {
    // Subjects are one line: a title with a line break would be refused or folded.
    let subject: String = mail.subject.replace(['\r', '\n'], " ");
    let request = match config.provider {
        Provider::Resend => {
            let headers: serde_json::Map<String, Value> = mail
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), json!(v)))
                .collect();
            let mut r = json_post(
                format!("{}/emails", config.api),
                &json!({"from": config.from, "to": [mail.to], "subject": subject,
                        "text": mail.text, "html": mail.html, "headers": headers}),
            )?;
            r.headers
                .push(("authorization".into(), format!("Bearer {}", config.token)));
            if let Some(key) = &mail.idempotency_key {
                r.headers.push(("idempotency-key".into(), key.clone()));
            }
            r
        }
        Provider::Postmark => {
            let headers: Vec<Value> = mail
                .headers
                .iter()
                .map(|(n, v)| json!({"Name": n, "Value": v}))
                .collect();
            let mut r = json_post(
                format!("{}/email", config.api),
                &json!({"From": config.from, "To": mail.to, "Subject": subject,
                        "TextBody": mail.text, "HtmlBody": mail.html, "Headers": headers,
                        "MessageStream": "outbound"}),
            )?;
            r.headers
                .push(("x-postmark-server-token".into(), config.token.clone()));
            r.headers.push(("accept".into(), "application/json".into()));
            r
        }
    };
    Ok(request)
}

/// The confirmation mail for a new email trigger (`what` names what it notifies about).
pub fn confirmation(config: &MailConfig, address: &str, code: &str, what: &str) -> Mail {
    let link = confirm_url(config, code);
    let text = format!(
        "Someone asked Aurras to email {what} notifications to this address.\n\n\
         To start them, open this link (it works once, for a day):\n{link}\n\n\
         If this was not you, ignore this mail: nothing more will be sent."
    );
    let html = format!(
        "<p>Someone asked Aurras to email {} notifications to this address.</p>\
         <p><a href=\"{}\">Confirm and start the notifications</a> (the link works once, for a day).</p>\
         <p>If this was not you, ignore this mail: nothing more will be sent.</p>",
        escape_html(what),
        escape_html(&link)
    );
    Mail {
        to: address.to_owned(),
        subject: "Confirm your Aurras notifications".into(),
        text,
        html,
        headers: Vec::new(),
        idempotency_key: None,
    }
}

/// The notification mail: subject = title; a plain-text part with the body, the link and an
/// unsubscribe line; an HTML part with the same, escaped; RFC 8058 one-click headers.
pub fn request(
    email: &Email,
    platforms: &Platforms,
    post: &Post<'_>,
) -> Result<HttpRequest, String> {
    let config = platforms
        .mail
        .as_ref()
        .ok_or("email is not enabled on this server (mail_provider is unset)")?;
    // Checked again here (dispatch skips these before any claim): a test fire or a stale retry
    // must not mail an address its owner never confirmed.
    let (true, Some(token)) = (email.confirmed, email.unsubscribe.as_deref()) else {
        return Err(
            "the address is not confirmed yet: open the link in the confirmation mail".into(),
        );
    };
    let unsubscribe = unsubscribe_url(config, token);
    let mut text = post.note.body.clone();
    let mut html = format!("<p>{}</p>", escape_html(&post.note.body));
    if let Some(link) = &post.note.url {
        text.push_str(&format!("\n\n{link}"));
        html.push_str(&format!(
            "<p><a href=\"{}\">View the block</a></p>",
            escape_html(link)
        ));
    }
    text.push_str(&format!("\n\n--\nUnsubscribe: {unsubscribe}\n"));
    html.push_str(&format!(
        "<hr><p style=\"font-size:small\"><a href=\"{}\">Unsubscribe</a></p>",
        escape_html(&unsubscribe)
    ));
    send(
        config,
        &Mail {
            to: email.address.clone(),
            subject: post.title(),
            text,
            html,
            headers: vec![
                ("List-Unsubscribe".into(), format!("<{unsubscribe}>")),
                (
                    "List-Unsubscribe-Post".into(),
                    "List-Unsubscribe=One-Click".into(),
                ),
            ],
            idempotency_key: Some(post.message_id.to_owned()),
        },
    )
}

/// The mail API's answers: 2xx sent; 429 and 5xx retry; 401/403 are the operator's token or
/// sending domain (retried, so fixing it delivers); a refusal of this address (Postmark's
/// ErrorCode 300 invalid or 406 inactive recipient, Resend's 400/422 on `to`) is gone; other
/// 4xx fail. Which provider answered shows in the body (Postmark's `ErrorCode`), so the job
/// needs no configuration to read it.
pub fn classify(answer: &Answer) -> Outcome {
    if let Some(outcome) = classify_common(answer, "the mail API") {
        return outcome;
    }
    let status = answer.status().unwrap_or_default();
    let json = answer.json().unwrap_or(Value::Null);
    let postmark_code = json["ErrorCode"].as_u64();
    let name = if postmark_code.is_some() {
        Provider::Postmark.name()
    } else {
        Provider::Resend.name()
    };
    let message = json["message"]
        .as_str()
        .or(json["Message"].as_str())
        .unwrap_or_default()
        .to_owned();
    if matches!(status, 401 | 403) {
        return Outcome::Retry(format!(
            "{name} refused the operator's credentials or sender ({status}: {message})"
        ));
    }
    let this_address = matches!(status, 400 | 422)
        && match postmark_code {
            Some(code) => matches!(code, 300 | 406),
            None => message.contains("`to`"),
        };
    if this_address {
        Outcome::Gone(format!("{name} refuses this address ({status}: {message})"))
    } else if postmark_code == Some(400) {
        // Postmark's "not a Sender Signature": mail_from is the operator's to fix.
        Outcome::Retry(format!("{name} refused the sender ({status}: {message})"))
    } else {
        Outcome::Failed(format!("{name} refused the mail ({status}: {message})"))
    }
}

#[cfg(test)]
#[path = "email_tests.rs"]
mod tests;
