//! What a trigger request watches, checked against its source: its event and filter, or its
//! recipe expanded ([`crate::recipe`]); and its message checked against every event it watches.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::filter::{Filter, FilterSpec};
use crate::message::MessageSpec;
use crate::names::{EventName, Topic};
use crate::recipe::{self, RecipeUse};
use crate::source::Source;

pub(super) fn validate_event(source: &Source, event: &str) -> ApiResult<EventName> {
    let parsed = EventName::parse(event).map_err(|m| ApiError::invalid("event", m))?;
    if !source.events.contains(&parsed) {
        let published: Vec<String> = source.events.iter().map(|e| e.to_string()).collect();
        return Err(ApiError::invalid(
            "event",
            format!(
                "source {} does not publish {parsed}; it publishes {}",
                source.id,
                published.join(", ")
            ),
        ));
    }
    Ok(parsed)
}

pub(super) fn validate_filter(
    spec: Option<FilterSpec>,
    source: &Source,
    event: &EventName,
) -> ApiResult<Option<Filter>> {
    spec.map(|f| f.validate(source, event)).transpose()
}

/// Templates that compile and render for the trigger's event (checked against a sample of it,
/// so a mistake is a 422 with its line and column now, not a fallback at every delivery); an
/// empty spec is the default text.
pub(super) fn validate_message(
    spec: Option<MessageSpec>,
    source: &Source,
    events: &[&EventName],
) -> ApiResult<Option<MessageSpec>> {
    let Some(spec) = spec.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    for event in events {
        spec.validate(&source.chain, event, source.token.as_ref(), None)?;
    }
    Ok(Some(spec))
}

/// What a request watches: its event and filter, or its recipe expanded.
pub(super) struct Watch {
    pub(super) event: EventName,
    pub(super) events: Vec<EventName>,
    pub(super) topic: Topic,
    pub(super) filter: Option<Filter>,
    pub(super) recipe: Option<RecipeUse>,
}

impl Watch {
    pub(super) fn of(
        event: Option<String>,
        filter: Option<FilterSpec>,
        recipe_id: Option<String>,
        inputs: Option<Map<String, Value>>,
        source: &Source,
        assets: &[crate::assets::AssetEntry],
    ) -> ApiResult<Watch> {
        let Some(id) = recipe_id else {
            if inputs.is_some() {
                return Err(ApiError::invalid("inputs", "inputs go with a `recipe`"));
            }
            let event = event.ok_or_else(|| {
                ApiError::invalid("event", "name the `event` to watch, or a `recipe`")
            })?;
            let event = validate_event(source, &event)?;
            return Ok(Watch {
                filter: validate_filter(filter, source, &event)?,
                topic: event.topic(&source.chain),
                event,
                events: Vec::new(),
                recipe: None,
            });
        };
        if event.is_some() {
            return Err(ApiError::invalid(
                "event",
                "a recipe chooses its events; leave `event` out",
            ));
        }
        if filter.is_some() {
            return Err(ApiError::invalid(
                "filter",
                "a recipe makes its filter from its inputs; leave `filter` out",
            ));
        }
        let inputs = inputs.unwrap_or_default();
        let expanded = recipe::expand_with(&id, &inputs, source, assets)?;
        Ok(Watch {
            event: expanded.event,
            events: expanded.events,
            topic: expanded.topic,
            filter: expanded.filter,
            recipe: Some(RecipeUse { id, inputs }),
        })
    }

    /// Every event watched.
    pub(super) fn all(&self) -> Vec<&EventName> {
        if self.events.is_empty() {
            vec![&self.event]
        } else {
            self.events.iter().collect()
        }
    }
}
