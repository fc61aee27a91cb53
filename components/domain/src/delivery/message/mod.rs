//! Messages a person shapes: a trigger's optional `message: {"title": "...", "body": "..."}`,
//! templates (minijinja, Jinja syntax) over the event that fired it.
//!
//! ```text
//! {{ amount(fields.amount) }} from {{ short(fields.from) }} at block #{{ block }}
//! ```
//!
//! # What a template sees
//!
//! - `fields`: the event's decoded fields, as the envelope carries them (accounts as SS58, large
//!   integers as strings, bytes as hex, enums as `{"Variant": ...}`).
//! - `block` (number), `chain` (name), `event` (`Pallet.Event`), `link` (the block in the
//!   explorer, or `""` when the operator configured none), `token` (`{symbol, decimals}` of the
//!   source's token, or none).
//! - `amount(x)`: base units in the source's token, `12.5 PAS`; `short(x)`: `5Grw…utQY`.
//! - `asset` (`{symbol, decimals}` of the event's asset, from its metadata on the chain, or none)
//!   and `asset_amount(x)`: base units in it, `2.5 USDT` (the plain number without metadata).
//! - `track` (`{id, name}` of a referendum's track, its name as the runtime has it, or none).
//! - minijinja's built-in filters, tests and `range`/`dict`/`namespace`.
//!
//! # Bounds
//!
//! A template is at most [`MAX_TEMPLATE_CHARS`] characters, renders with [`FUEL`] (time and
//! memory) and to at most [`MAX_OUTPUT_BYTES`]. Printing an undefined value (`fields.amout`) is an
//! error rather than an empty string; `{% if fields.memo %}` and `| default("…")` test for
//! absence. There is no loader: no `include`, `import` or `extends`. Nothing is HTML-escaped.
//!
//! # Life of a message
//!
//! [`MessageSpec::validate`] at creation (a 422 naming `message.body` with line and column);
//! [`compose`] at delivery: the template's text when it renders, else today's default sentence
//! from [`crate::notification`] and the reason in [`Composed::fallback`]. Channels fit the text
//! into their limits with [`Limit::fit`] ([`DISCORD_CONTENT`], [`TELEGRAM_TEXT`], ...).

mod cut;
mod engine;
mod sample;
#[cfg(test)]
mod tests;

use minijinja::value::Value;
use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::error::{ApiError, ApiResult};
use crate::names::{ChainName, EventName};
use crate::notification::{explorer_link, Notification};
use crate::source::TokenInfo;
use crate::trigger::Trigger;

pub use cut::{
    cut_at_word, cut_at_word_in, Limit, Unit, DISCORD_CONTENT, ELLIPSIS, NTFY_TITLE,
    SLACK_SECTION_TEXT, TELEGRAM_TEXT,
};
pub use engine::FUEL;
pub use sample::{sample_envelope, SAMPLE_BLOCK};

/// The longest template source, per template.
pub const MAX_TEMPLATE_CHARS: usize = 2_000;
/// The longest rendered text, per template: twice a Telegram message, far above any title.
pub const MAX_OUTPUT_BYTES: usize = 8 * 1024;
/// The longest title a template may produce (a line on a phone; ntfy's title limit).
pub const MAX_TITLE_CHARS: usize = 250;

/// The JSON field names errors point at.
const TITLE: &str = "message.title";
const BODY: &str = "message.body";

/// A trigger's message templates; a part left out keeps the default text.
// Read through a JSON object: a derived struct would also take `[title, body]` as an array,
// which the API's contract (an object) does not allow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct MessageSpec {
    /// The title (one line: line breaks become spaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// [`MessageSpec`]'s fields as a client writes them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageFields {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for MessageSpec {
    type Error = serde_json::Error;

    fn try_from(object: serde_json::Map<String, serde_json::Value>) -> Result<Self, Self::Error> {
        let MessageFields { title, body } =
            serde_json::from_value(serde_json::Value::Object(object))?;
        Ok(Self { title, body })
    }
}

/// What a message is rendered from at delivery.
#[derive(Debug, Clone, Copy)]
pub struct MessageContext<'a> {
    /// The event.
    pub envelope: &'a Envelope,
    /// The source's token, for `amount()`.
    pub token: Option<&'a TokenInfo>,
    /// The block in the explorer, if the operator configured one.
    pub link: Option<&'a str>,
}

impl MessageContext<'_> {
    fn to_value(self) -> Value {
        let fields = Value::from_pairs(
            self.envelope
                .fields
                .iter()
                .map(|(k, v)| (k.as_str(), engine::from_json(v))),
        );
        self.to_value_with_fields(fields)
    }

    fn to_value_with_fields(self, fields: Value) -> Value {
        let e = self.envelope;
        let unit = |t: &TokenInfo| {
            Value::from_pairs([
                ("symbol", Value::from(t.symbol.as_str())),
                ("decimals", Value::from(t.decimals)),
            ])
        };
        let token = self.token.map(unit);
        let asset = e.asset.as_ref().map(unit);
        let track = e.track.as_ref().map(|t| {
            Value::from_pairs([
                ("id", Value::from(t.id)),
                ("name", Value::from(t.name.as_str())),
            ])
        });
        Value::from_pairs([
            ("fields", fields),
            ("block", Value::from(e.block.number)),
            ("chain", Value::from(e.chain.as_str())),
            ("event", Value::from(format!("{}.{}", e.pallet, e.event))),
            ("link", Value::from(self.link.unwrap_or(""))),
            ("token", Value::from(token)),
            ("asset", Value::from(asset)),
            ("track", Value::from(track)),
        ])
    }
}

/// The rendered parts; `None` where the spec has no template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rendered {
    /// The title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// Why a template did not render: which one, where, what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {}", self.reason())]
pub struct RenderError {
    /// `message.title` or `message.body`.
    pub field: &'static str,
    /// 1-based line in the template, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters), when known.
    pub column: Option<usize>,
    /// What is wrong, for people.
    pub message: String,
    /// Whether a value's type caused it (see [`RenderError::depends_on_values`]).
    value_error: bool,
}

impl RenderError {
    fn at(field: &'static str, at: Option<(usize, usize)>, message: String) -> Self {
        let (line, column) = match at {
            Some((line, 0)) => (Some(line), None),
            Some((line, column)) => (Some(line), Some(column)),
            None => (None, None),
        };
        RenderError {
            field,
            line,
            column,
            message,
            value_error: false,
        }
    }

    /// A type error (adding text to a number, `amount()` of an address): right or wrong depending
    /// on the values, so a sample whose field types are unknown cannot judge it.
    pub fn depends_on_values(&self) -> bool {
        self.value_error
    }

    /// `line 2, column 5: unknown function `amout``, without the field.
    pub fn reason(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("line {l}, column {c}: {}", self.message),
            (Some(l), None) => format!("line {l}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

impl From<RenderError> for ApiError {
    fn from(e: RenderError) -> Self {
        ApiError::invalid(e.field, e.reason())
    }
}

impl MessageSpec {
    /// Whether neither part has a template (the message is the default one).
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.body.is_none()
    }

    fn parts(&self) -> [(&'static str, Option<&str>); 2] {
        [(TITLE, self.title.as_deref()), (BODY, self.body.as_deref())]
    }

    /// Checks the templates for a trigger on `event`: they compile, name only known functions and
    /// variables, and render against a sample of the event. Answers the sample's rendering, a
    /// preview for the page.
    pub fn validate(
        &self,
        chain: &ChainName,
        event: &EventName,
        token: Option<&TokenInfo>,
        explorer_url: Option<&str>,
    ) -> ApiResult<Rendered> {
        let link = explorer_url.and_then(|t| explorer_link(t, chain.as_str(), SAMPLE_BLOCK));
        let (context, placeholders) = sample::sample_context(chain, event, token, link.as_deref());
        let mut preview = Rendered::default();
        for (field, source) in self.parts() {
            let Some(source) = source else { continue };
            if source.trim().is_empty() {
                return Err(ApiError::invalid(
                    field,
                    "the template is empty; leave it out to keep the default text",
                ));
            }
            let text = match render_part(field, source, &context) {
                Ok(text) => Some(text),
                // A placeholder's type is unknown: `fields.era + 1` may be right for the real
                // event, so only mistakes that no value can cause are reported.
                Err(e) if placeholders && e.depends_on_values() => None,
                Err(e) => return Err(e.into()),
            };
            if let Some((name, at)) = engine::unknown_names(source).into_iter().next() {
                let message = if source_calls(source, &name) {
                    format!("unknown function `{name}`")
                } else {
                    format!("unknown name `{name}`; {}", engine::known_names())
                };
                return Err(RenderError::at(field, at, message).into());
            }
            if let Some((message, at)) = engine::unknown_filter_or_test(source) {
                return Err(RenderError::at(field, Some(at), message).into());
            }
            match field {
                TITLE => preview.title = text,
                _ => preview.body = text,
            }
        }
        Ok(preview)
    }
}

/// Whether `source` calls `name` as a function somewhere: `name(` after optional spaces.
fn source_calls(source: &str, name: &str) -> bool {
    source
        .match_indices(name)
        .any(|(i, _)| source[i + name.len()..].trim_start().starts_with('('))
}

/// A title is one line: runs of whitespace (line breaks from `{% if %}` blocks) become one space,
/// and it is cut at a word to [`MAX_TITLE_CHARS`].
fn title_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    cut_at_word(&line, MAX_TITLE_CHARS)
}

/// One template rendered and tidied: a title on one line and cut to [`MAX_TITLE_CHARS`], a body
/// without leading or trailing blank space.
fn render_part(field: &'static str, source: &str, context: &Value) -> Result<String, RenderError> {
    let text = engine::render_one(field, source, context)?;
    Ok(match field {
        TITLE => title_line(&text),
        _ => text.trim().to_owned(),
    })
}

/// [`render_part`], refusing text that is nothing but whitespace: a notification with an empty
/// body helps no one.
fn render_nonempty(
    field: &'static str,
    source: &str,
    context: &Value,
) -> Result<String, RenderError> {
    let text = render_part(field, source, context)?;
    if text.is_empty() {
        return Err(RenderError::at(
            field,
            None,
            "rendered to empty text".into(),
        ));
    }
    Ok(text)
}

/// Renders the templates of `spec` for one event; the first failure ends it.
pub fn render(spec: &MessageSpec, context: &MessageContext<'_>) -> Result<Rendered, RenderError> {
    let value = context.to_value();
    let mut rendered = Rendered::default();
    for (field, source) in spec.parts() {
        let Some(source) = source else { continue };
        let text = render_nonempty(field, source, &value)?;
        match field {
            TITLE => rendered.title = Some(text),
            _ => rendered.body = Some(text),
        }
    }
    Ok(rendered)
}

/// The notification a job sends, and why the default text was used if a template failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// The default notification with the template's title and body where they rendered.
    pub notification: Notification,
    /// Set when a template was given but did not render: the default text went out instead, and
    /// the delivery status says so with this reason.
    pub fallback: Option<RenderError>,
}

/// The final title and body for `trigger`'s notification of `envelope`: the template's text
/// where a template is given and renders, else [`Notification::for_event`]'s sentence. Each part
/// falls back on its own (a working title survives a failing body); a failed render never drops
/// the notification.
pub fn compose(
    spec: Option<&MessageSpec>,
    trigger: &Trigger,
    envelope: &Envelope,
    token: Option<&TokenInfo>,
    explorer_url: Option<&str>,
) -> Composed {
    let mut notification = Notification::for_event(trigger, envelope, token, explorer_url);
    let mut fallback = None;
    if let Some(spec) = spec {
        let value = MessageContext {
            envelope,
            token,
            link: notification.url.as_deref(),
        }
        .to_value();
        for (field, source) in spec.parts() {
            let Some(source) = source else { continue };
            match render_nonempty(field, source, &value) {
                Ok(text) if field == TITLE => notification.title = text,
                Ok(text) => notification.body = text,
                Err(e) => {
                    fallback.get_or_insert(e);
                }
            }
        }
    }
    Composed {
        notification,
        fallback,
    }
}
