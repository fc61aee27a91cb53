//! Triggers: who wants which event of which source, filtered how, delivered where; plus the
//! original Kafka feed's parameters (`brokers`, `isJSONData`, `isBinaryValue`, `isBinaryKey`).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::action::{Action, ActionSpec};
use crate::error::{ApiError, ApiResult};
use crate::filter::{Filter, FilterSpec};
use crate::message::MessageSpec;
use crate::names::{ChainName, EventName, Topic};
use crate::ownership::OwnerProof;
use crate::recipe::{self, RecipeUse};
use crate::source::Source;

/// The longest trigger name.
pub const MAX_NAME_LEN: usize = 200;
/// The most brokers a trigger may list.
pub const MAX_BROKERS: usize = 32;

/// `POST /api/triggers` and `PUT /api/triggers/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTrigger {
    /// The source id.
    pub source: String,
    /// `Pallet.Event`, one the source publishes; or a `recipe` instead.
    #[serde(default)]
    pub event: Option<String>,
    /// A recipe's id ([`crate::recipe`]), instead of `event` and `filter`.
    #[serde(default)]
    pub recipe: Option<String>,
    /// The recipe's inputs.
    #[serde(default)]
    pub inputs: Option<Map<String, Value>>,
    /// Which events to deliver; all of them when absent.
    pub filter: Option<FilterSpec>,
    /// Where to deliver.
    pub action: ActionSpec,
    /// The notification's title and body as templates; the default text when absent.
    #[serde(default)]
    pub message: Option<MessageSpec>,
    /// A label for people.
    pub name: Option<String>,
    /// Start paused (`false`); default active.
    pub active: Option<bool>,
    /// The original feed's brokers: a list or a comma-separated string of `host:port`.
    pub brokers: Option<Value>,
    /// The original feed's `isJSONData`: deliver record values parsed as JSON.
    #[serde(rename = "isJSONData")]
    pub is_json_data: Option<bool>,
    /// The original feed's `isBinaryValue`: deliver record values base64-encoded.
    #[serde(rename = "isBinaryValue")]
    pub is_binary_value: Option<bool>,
    /// The original feed's `isBinaryKey`: deliver record keys base64-encoded.
    #[serde(rename = "isBinaryKey")]
    pub is_binary_key: Option<bool>,
    /// Proof that the creator holds the key of the account the balance filter names
    /// ([`crate::ownership`]): such a trigger is owner-verified and never refused for a cap that
    /// anonymous creators filled.
    #[serde(default)]
    pub proof: Option<OwnerProof>,
    /// The chain's assets, for an `assets` recipe's `asset` by symbol: never from the client,
    /// the registry reads them ([`crate::assets`]).
    #[serde(skip)]
    pub assets: Vec<crate::assets::AssetEntry>,
}

/// `PATCH /api/triggers/{id}`: every field optional; `"filter": null` removes the filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerPatch {
    /// A new filter, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    pub filter: Option<Option<FilterSpec>>,
    /// A new action.
    pub action: Option<ActionSpec>,
    /// New message templates, or `null` for the default text.
    #[serde(default, deserialize_with = "present")]
    pub message: Option<Option<MessageSpec>>,
    /// A new name, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    /// Pause (`false`) or resume (`true`).
    pub active: Option<bool>,
    /// Why, recorded in the status.
    pub reason: Option<String>,
    /// Proof of holding the filter's account, to make the trigger owner-verified (see
    /// [`NewTrigger::proof`]).
    pub proof: Option<OwnerProof>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The original feed's parameters, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedParams {
    /// `host:port` of each broker; empty means the deployment's brokers.
    pub brokers: Vec<String>,
    /// Deliver values as parsed JSON.
    #[serde(rename = "isJSONData")]
    pub is_json_data: bool,
    /// Deliver values base64-encoded.
    #[serde(rename = "isBinaryValue")]
    pub is_binary_value: bool,
    /// Deliver keys base64-encoded.
    #[serde(rename = "isBinaryKey")]
    pub is_binary_key: bool,
}

/// Whether the trigger fires, since when and why (the original's READ shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Fires when true.
    pub active: bool,
    /// RFC 3339 time of the last change.
    #[serde(rename = "dateChanged")]
    pub date_changed: String,
    /// Why it last changed, if said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A stored trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// `trg_…`.
    pub id: String,
    /// A label for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The source id.
    pub source: String,
    /// The source's chain.
    pub chain: ChainName,
    /// The watched event (a recipe's first).
    pub event: EventName,
    /// Every event a recipe's trigger watches, when more than one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventName>,
    /// The topic it is indexed under: its event's, or a recipe's of several events.
    pub topic: Topic,
    /// The recipe it was made from, with the inputs as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<RecipeUse>,
    /// The filter; every event matches when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// Where matching events go.
    pub action: Action,
    /// The notification's templates, when its owner shaped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageSpec>,
    /// The original feed's parameters.
    #[serde(flatten)]
    pub feed: FeedParams,
    /// Active or paused.
    pub status: Status,
    /// SHA-256 (hex) of the management token; the token itself is never stored.
    pub token_hash: String,
    /// RFC 3339.
    pub created_at: String,
    /// Its creator proved holding the key of the account its balance filter names
    /// ([`crate::ownership`]); it is indexed in that account's owner list. A change of account
    /// without a new proof clears it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub owner_verified: bool,
}

fn validate_brokers(brokers: Option<&Value>) -> ApiResult<Vec<String>> {
    let list: Vec<String> = match brokers {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => s.split(',').map(|b| b.trim().to_owned()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, b)| {
                b.as_str().map(str::to_owned).ok_or_else(|| {
                    ApiError::invalid(
                        format!("brokers[{i}]"),
                        "a broker is a \"host:port\" string",
                    )
                })
            })
            .collect::<ApiResult<_>>()?,
        Some(_) => {
            return Err(ApiError::invalid(
                "brokers",
                "a list of \"host:port\" strings, or one comma-separated string",
            ))
        }
    };
    if list.len() > MAX_BROKERS {
        return Err(ApiError::invalid(
            "brokers",
            format!("at most {MAX_BROKERS} brokers"),
        ));
    }
    for (i, b) in list.iter().enumerate() {
        let ok = b.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-._[]:".contains(&c))
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !ok {
            return Err(ApiError::invalid(
                format!("brokers[{i}]"),
                format!("{b:?} is not host:port"),
            ));
        }
    }
    Ok(list)
}

fn validate_name(name: Option<String>) -> ApiResult<Option<String>> {
    match name {
        Some(n) if n.chars().count() > MAX_NAME_LEN || n.chars().any(char::is_control) => {
            Err(ApiError::invalid(
                "name",
                format!("at most {MAX_NAME_LEN} characters, no control characters"),
            ))
        }
        other => Ok(other),
    }
}

#[path = "trigger_watch.rs"]
mod watch;
use watch::{validate_filter, validate_message, Watch};

/// What a new trigger needs from outside the request: its id, token hash, the time, and a way to
/// make a webhook secret.
pub struct Minted<'a> {
    /// `trg_…`.
    pub id: String,
    /// SHA-256 of the management token.
    pub token_hash: String,
    /// RFC 3339.
    pub now: &'a str,
    /// Makes a webhook signing secret.
    pub new_secret: &'a mut dyn FnMut() -> String,
}

impl NewTrigger {
    /// Validates the request against its source (which the caller looked up by `self.source`).
    pub fn validate(self, source: &Source, minted: Minted<'_>) -> ApiResult<Trigger> {
        let feed = self.feed_params()?;
        let watch = Watch::of(
            self.event,
            self.filter,
            self.recipe,
            self.inputs,
            source,
            &self.assets,
        )?;
        let action = self.action.validate(None, &mut *minted.new_secret)?;
        let message = validate_message(self.message, source, &watch.all())?;
        Ok(Trigger {
            id: minted.id,
            name: validate_name(self.name)?,
            source: source.id.clone(),
            chain: source.chain.clone(),
            topic: watch.topic,
            event: watch.event,
            events: watch.events,
            recipe: watch.recipe,
            filter: watch.filter,
            action,
            message,
            feed,
            status: Status {
                active: self.active.unwrap_or(true),
                date_changed: minted.now.to_owned(),
                reason: None,
            },
            token_hash: minted.token_hash,
            created_at: minted.now.to_owned(),
            owner_verified: false,
        })
    }

    fn feed_params(&self) -> ApiResult<FeedParams> {
        let is_json_data = self.is_json_data.unwrap_or(false);
        let is_binary_value = self.is_binary_value.unwrap_or(false);
        if is_json_data && is_binary_value {
            return Err(ApiError::invalid(
                "isBinaryValue",
                "isJSONData and isBinaryValue are mutually exclusive: a value is delivered either parsed as JSON or base64-encoded",
            ));
        }
        Ok(FeedParams {
            brokers: validate_brokers(self.brokers.as_ref())?,
            is_json_data,
            is_binary_value,
            is_binary_key: self.is_binary_key.unwrap_or(false),
        })
    }

    /// `PUT`: replaces everything a client chose, keeping id, token, creation time and (for an
    /// unchanged webhook) the signing secret. The source cannot change.
    pub fn replace(
        self,
        current: &Trigger,
        source: &Source,
        now: &str,
        new_secret: &mut dyn FnMut() -> String,
    ) -> ApiResult<Trigger> {
        if self.source != current.source {
            return Err(ApiError::invalid(
                "source",
                "a trigger's source cannot change; create a new trigger for another source",
            ));
        }
        let feed = self.feed_params()?;
        let watch = Watch::of(
            self.event,
            self.filter,
            self.recipe,
            self.inputs,
            source,
            &self.assets,
        )?;
        let action = self.action.validate(Some(&current.action), new_secret)?;
        let message = validate_message(self.message, source, &watch.all())?;
        let active = self.active.unwrap_or(current.status.active);
        let mut next = current.clone();
        next.name = validate_name(self.name)?;
        next.topic = watch.topic;
        next.event = watch.event;
        next.events = watch.events;
        next.recipe = watch.recipe;
        next.filter = watch.filter;
        next.action = action;
        next.message = message;
        next.feed = feed;
        if active != current.status.active {
            next.status = Status {
                active,
                date_changed: now.to_owned(),
                reason: None,
            };
        }
        Ok(next)
    }
}

impl TriggerPatch {
    /// Applies the patch to a copy of `current`.
    pub fn apply(
        self,
        current: &Trigger,
        source: &Source,
        now: &str,
        new_secret: &mut dyn FnMut() -> String,
    ) -> ApiResult<Trigger> {
        let mut next = current.clone();
        if let Some(filter) = self.filter {
            if let Some(recipe) = &current.recipe {
                return Err(ApiError::invalid(
                    "filter",
                    format!(
                        "this trigger follows the {} recipe, whose filter comes from its inputs; replace it (PUT) with new inputs",
                        recipe.id
                    ),
                ));
            }
            next.filter = validate_filter(filter, source, &current.event)?;
        }
        if let Some(action) = self.action {
            next.action = action.validate(Some(&current.action), new_secret)?;
        }
        if let Some(message) = self.message {
            next.message = validate_message(message, source, &current.watched())?;
        }
        if let Some(name) = self.name {
            next.name = validate_name(name)?;
        }
        if let Some(reason) = &self.reason {
            if reason.chars().count() > MAX_NAME_LEN {
                return Err(ApiError::invalid(
                    "reason",
                    format!("at most {MAX_NAME_LEN} characters"),
                ));
            }
        }
        match self.active {
            Some(active) => {
                next.status = Status {
                    active,
                    date_changed: now.to_owned(),
                    reason: self.reason,
                };
            }
            None if self.reason.is_some() => {
                return Err(ApiError::invalid(
                    "reason",
                    "a reason goes with `active` (pause or resume)",
                ))
            }
            None => {}
        }
        Ok(next)
    }
}

impl Trigger {
    /// The templates its notifications are composed with: its owner's, else its recipe's
    /// sentences (kept in the code, not the record, so they improve for every trigger).
    pub fn message_spec(&self) -> Option<std::borrow::Cow<'_, MessageSpec>> {
        match (&self.message, &self.recipe) {
            (Some(own), _) => Some(std::borrow::Cow::Borrowed(own)),
            (None, Some(r)) => recipe::default_message(&r.id).map(std::borrow::Cow::Owned),
            (None, None) => None,
        }
    }

    /// Every event it watches.
    pub fn watched(&self) -> Vec<&EventName> {
        if self.events.is_empty() {
            vec![&self.event]
        } else {
            self.events.iter().collect()
        }
    }

    /// Whether it watches `event`.
    pub fn watches(&self, event: &EventName) -> bool {
        self.event == *event || self.events.contains(event)
    }

    /// The broker topics of the events it watches (what `count/<topic>` counts, so a source
    /// cannot stop publishing an event a trigger still watches).
    pub fn counted_topics(&self) -> Vec<Topic> {
        self.watched()
            .into_iter()
            .map(|e| e.topic(&self.chain))
            .collect()
    }

    /// The trigger as its owner sees it: no token hash, no webhook secret.
    pub fn view(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.remove("token_hash");
            obj.insert("action".into(), self.action.view());
        }
        v
    }
}

#[cfg(test)]
#[path = "trigger_tests.rs"]
mod tests;
