//! The rules that turn one event into deliveries: which triggers fire, what each one sends; and
//! the relay → dispatch wire contract (docs/delivery.md, `dispatch_wire.rs`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use sha2::{Digest, Sha256};

use crate::action::Action;
use crate::answer::Answer;
use crate::channel::{self, Platforms, Post};
use crate::delivery::{classify_push, classify_webhook, Outcome, RetrySchedule, Round};
use crate::destination::check_destination;
use crate::envelope::Envelope;
use crate::message::compose;
use crate::notification::Notification;
use crate::signature::SigningKey;
use crate::source::{Source, TokenInfo};
use crate::trigger::Trigger;
use crate::webpush::{push_request, topic_for, PushOptions, Urgency, VapidKey, WebPushError};

#[path = "dispatch_wire.rs"]
mod wire;
pub use wire::*;

/// Why a trigger found in the index does not fire for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Paused by its owner or deactivated.
    Paused,
    /// Its source was deleted (or replaced by another source of the same chain name).
    SourceGone,
    /// Another event or topic (an index entry left by a change).
    OtherEvent,
    /// The filter does not match.
    Filtered,
    /// A Telegram trigger whose deep link no chat has opened yet: there is nowhere to send.
    Unlinked,
    /// An email trigger whose address has not been confirmed: nothing but the confirmation
    /// mail goes to an address before its owner opens the link.
    Unconfirmed,
}

/// Whether `trigger` fires for `envelope`; `source` is the trigger's source record, if it exists.
pub fn fires(trigger: &Trigger, envelope: &Envelope, source: Option<&Source>) -> Result<(), Skip> {
    if !trigger.status.active {
        return Err(Skip::Paused);
    }
    // Here, before any claim, rather than as a failed request: an event that happened before
    // the person connected is not owed to them (nothing is claimed, sent, recorded or retried,
    // and the trigger is not paused for it), and a retry due for it is dropped by this same
    // check.
    if matches!(&trigger.action, Action::Telegram(t) if t.chat_id.is_none()) {
        return Err(Skip::Unlinked);
    }
    if matches!(&trigger.action, Action::Email(e) if !e.confirmed) {
        return Err(Skip::Unconfirmed);
    }
    match source {
        Some(s) if s.id == trigger.source && s.chain == envelope.chain => {}
        _ => return Err(Skip::SourceGone),
    }
    let event = envelope.event_name().ok_or(Skip::OtherEvent)?;
    if !trigger.watches(&event) || envelope.chain != trigger.chain {
        return Err(Skip::OtherEvent);
    }
    match &trigger.filter {
        Some(filter) if !filter.matches_envelope(&event, envelope) => Err(Skip::Filtered),
        _ => Ok(()),
    }
}

/// The webhook body for one record, shaped as the original Kafka feed delivered it:
/// `{"messages": [{"topic", "partition", "offset", "key", "value"}]}`. `value` is the envelope as
/// a JSON object with `isJSONData`, base64 of its bytes with `isBinaryValue`, else its text;
/// `key` is base64 with `isBinaryKey`, else text.
pub fn webhook_body(trigger: &Trigger, record: &Record, value: &[u8]) -> Value {
    let key = match record.key_bytes() {
        Ok(Some(bytes)) if trigger.feed.is_binary_key => Value::String(STANDARD.encode(bytes)),
        Ok(Some(bytes)) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        _ => Value::Null,
    };
    let value = if trigger.feed.is_json_data {
        serde_json::from_slice(value).unwrap_or(Value::Null)
    } else if trigger.feed.is_binary_value {
        Value::String(STANDARD.encode(value))
    } else {
        Value::String(String::from_utf8_lossy(value).into_owned())
    };
    json!({"messages": [{
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": key,
        "value": value,
    }]})
}

/// What the deployment configures for deliveries (Spin variables).
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// The VAPID key (`vapid_private_key`); push deliveries fail without it.
    pub vapid: Option<VapidKey>,
    /// `vapid_subject`.
    pub vapid_subject: String,
    /// `allow_private_destinations`.
    pub allow_private: bool,
    /// `explorer_url`, a template with `{chain}` and `{block}`.
    pub explorer_url: Option<String>,
    /// `governance_url`, a template with `{chain}` and `{index}`: where a referendum's notices
    /// link instead of its block.
    pub governance_url: Option<String>,
    /// `retry_schedule`.
    pub schedule: RetrySchedule,
    /// `claim_lease`: how long a dispatcher's claim on a delivery lasts before another may send it.
    pub claim_lease_ms: u64,
    /// `max_in_flight_per_host`: deliveries in flight to one host at a time; the rest queue.
    pub max_in_flight_per_host: usize,
    /// Where the chat and phone platforms live.
    pub platforms: Platforms,
}

/// How long a push service keeps a notification for an offline device.
pub const PUSH_TTL_SECS: u64 = 24 * 60 * 60;

/// One delivery to make: an event for a trigger.
#[derive(Debug, Clone)]
pub struct Job {
    /// The trigger.
    pub trigger: Trigger,
    /// The event.
    pub envelope: Envelope,
    /// The record it came in.
    pub record: Record,
    /// 0 for the first attempt, then the retry number.
    pub attempt: u32,
    /// Times throttled on this retry level (see [`Round`]).
    pub throttled: u32,
    /// The source's token, for amounts in its units.
    pub token: Option<TokenInfo>,
    /// A test delivery (`POST /api/triggers/{id}/test`).
    pub test: bool,
}

/// An HTTP request to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `POST` or `PUT`.
    pub method: String,
    /// The URL.
    pub url: String,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body (POSTed).
    pub body: Vec<u8>,
}

/// Why a request could not be built.
enum BuildError {
    /// The deployment's configuration: fixing it fixes every delivery.
    Deployment(String),
    /// This trigger's destination or secret.
    Trigger(String),
}

/// The Standard Webhooks message id of an event for a trigger: the same on every retry, so the
/// receiver can de-duplicate too.
pub fn message_id(event_id: &str, trigger_id: &str) -> String {
    let digest = Sha256::digest(format!("{event_id}/{trigger_id}").as_bytes());
    format!("msg_{}", hex::encode(&digest[..16]))
}

impl Job {
    /// What a person reads: the trigger's templates where they render, the default text where
    /// not (a failed template never drops the notification).
    pub fn notification(&self, config: &DeliveryConfig) -> Notification {
        self.composed(config).notification
    }

    /// Why the trigger's templates did not render for this event, when they did not.
    pub fn template_error(&self, config: &DeliveryConfig) -> Option<String> {
        self.trigger.message_spec()?;
        self.composed(config)
            .fallback
            .map(|e| format!("{}: {}; the default text was sent", e.field, e.reason()))
    }

    fn composed(&self, config: &DeliveryConfig) -> crate::message::Composed {
        let link = self.link_template(config);
        compose(
            self.trigger.message_spec().as_deref(),
            &self.trigger,
            &self.envelope,
            self.token.as_ref(),
            link.as_deref(),
        )
    }

    /// The link's template: a referendum's page on the governance site for an event of one, when
    /// the operator set `governance_url`; else the block in the explorer.
    fn link_template<'c>(&self, config: &'c DeliveryConfig) -> Option<std::borrow::Cow<'c, str>> {
        let index = (self.envelope.pallet == "Referenda")
            .then(|| self.envelope.fields.get("index"))
            .flatten()
            .and_then(|i| match i {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            });
        match (
            index,
            config.governance_url.as_deref().filter(|t| !t.is_empty()),
        ) {
            (Some(index), Some(template)) => Some(std::borrow::Cow::Owned(
                template.replace("{index}", &index.to_string()),
            )),
            _ => config
                .explorer_url
                .as_deref()
                .map(std::borrow::Cow::Borrowed),
        }
    }

    /// Which round of this delivery the job is.
    pub fn round(&self) -> Round {
        Round {
            attempt: self.attempt,
            throttled: self.throttled,
        }
    }

    /// The request that delivers this job, or what it means that it cannot be made: the
    /// deployment's own mistakes (no or a bad VAPID key or subject) are retried, so fixing the
    /// configuration delivers them; a trigger's unusable destination fails it.
    pub fn request(&self, config: &DeliveryConfig, now_secs: u64) -> Result<HttpRequest, Outcome> {
        self.build(config, now_secs).map_err(|e| match e {
            BuildError::Deployment(why) => Outcome::Retry(why),
            BuildError::Trigger(why) => Outcome::Failed(why),
        })
    }

    fn build(&self, config: &DeliveryConfig, now_secs: u64) -> Result<HttpRequest, BuildError> {
        match &self.trigger.action {
            Action::WebPush(subscription) => {
                check_destination(&subscription.endpoint, config.allow_private)
                    .map_err(BuildError::Trigger)?;
                let vapid = config.vapid.as_ref().ok_or_else(|| {
                    BuildError::Deployment(
                        "the deployment has no usable VAPID key (set the Spin variable vapid_private_key)"
                            .into(),
                    )
                })?;
                let mut note = self.notification(config);
                note.data.test = self.test;
                if self.test {
                    note.title = format!("Test: {}", note.title);
                }
                let topic = topic_for(&self.envelope.id);
                let push = push_request(
                    vapid,
                    subscription,
                    &note.payload(),
                    &PushOptions {
                        ttl_secs: PUSH_TTL_SECS,
                        urgency: Urgency::Normal,
                        topic: Some(&topic),
                        subject: &config.vapid_subject,
                        now_secs,
                    },
                )
                .map_err(|e| match e {
                    WebPushError::BadSubject | WebPushError::BadVapidKey => {
                        BuildError::Deployment(e.to_string())
                    }
                    other => BuildError::Trigger(other.to_string()),
                })?;
                Ok(HttpRequest {
                    method: "POST".into(),
                    url: push.url,
                    headers: push.headers,
                    body: push.body,
                })
            }
            Action::Webhook(hook) => {
                check_destination(&hook.url, config.allow_private).map_err(BuildError::Trigger)?;
                let value = self.record.value_bytes().map_err(BuildError::Trigger)?;
                let mut body = webhook_body(&self.trigger, &self.record, &value);
                if self.test {
                    body["test"] = Value::Bool(true);
                }
                let body =
                    serde_json::to_vec(&body).map_err(|e| BuildError::Trigger(e.to_string()))?;
                let key = SigningKey::from_secret(&hook.secret)
                    .map_err(|e| BuildError::Trigger(e.to_string()))?;
                let signed = key.sign(
                    &message_id(&self.envelope.id, &self.trigger.id),
                    now_secs,
                    &body,
                );
                let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
                headers.extend(
                    signed
                        .pairs()
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
                );
                Ok(HttpRequest {
                    method: "POST".into(),
                    url: hook.url.clone(),
                    headers,
                    body,
                })
            }
            Action::Telegram(t) => self.post(config, |post| {
                channel::telegram::request(t, &config.platforms, post)
            }),
            Action::Discord(h) => {
                check_destination(&h.url, config.allow_private).map_err(BuildError::Trigger)?;
                self.post(config, |post| channel::discord::request(h, post))
            }
            Action::Slack(h) => {
                check_destination(&h.url, config.allow_private).map_err(BuildError::Trigger)?;
                self.post(config, |post| channel::slack::request(h, post))
            }
            Action::Ntfy(n) => {
                if let Some(server) = channel::ntfy::server(n, &config.platforms) {
                    check_destination(server, config.allow_private).map_err(BuildError::Trigger)?;
                }
                self.post(config, |post| {
                    channel::ntfy::request(n, &config.platforms, post)
                })
            }
            // The homeserver is the operator's (a variable), so no destination check here.
            Action::Matrix(m) => self.post(config, |post| {
                channel::matrix::request(m, &config.platforms, post)
            }),
            // The mail API is the operator's (a variable), so no destination check here.
            Action::Email(e) => self.post(config, |post| {
                channel::email::request(e, &config.platforms, post)
            }),
        }
    }

    /// A chat or phone channel's request for this job's notification. A platform the
    /// deployment no longer enables is the deployment's to fix, so it is retried.
    fn post(
        &self,
        config: &DeliveryConfig,
        build: impl FnOnce(&Post<'_>) -> Result<HttpRequest, String>,
    ) -> Result<HttpRequest, BuildError> {
        let note = self.notification(config);
        let id = message_id(&self.envelope.id, &self.trigger.id);
        build(&Post {
            note: &note,
            message_id: &id,
            test: self.test,
        })
        .map_err(|why| {
            if why.contains("not enabled") {
                BuildError::Deployment(why)
            } else {
                BuildError::Trigger(why)
            }
        })
    }

    /// What the answer means, by the kind of destination.
    pub fn classify(&self, answer: &Answer) -> Outcome {
        match self.trigger.action {
            Action::WebPush(_) => classify_push(answer),
            Action::Webhook(_) => classify_webhook(answer),
            Action::Telegram(_) => channel::telegram::classify(answer),
            Action::Discord(_) => channel::discord::classify(answer),
            Action::Slack(_) => channel::slack::classify(answer),
            Action::Ntfy(_) => channel::ntfy::classify(answer),
            Action::Matrix(_) => channel::matrix::classify(answer),
            Action::Email(_) => channel::email::classify(answer),
        }
    }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
