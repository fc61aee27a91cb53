//! Recipes: notifications a person picks by name and an account (or a referendum, a track, an
//! asset), which Aurras expands into the events to watch and the filter, and says in its own
//! sentences ([`default_message`], kept in the code rather than the trigger's record).
//!
//! A recipe names events by `Pallet.Event` and takes those its source publishes: the pallet is
//! found where the chain's own metadata put it (the ingestor publishes what the runtime has), so
//! the Asset Hub migration moving staking and governance off the relay chains needs no change
//! here. A recipe expands at creation ([`expand`]) into an ordinary trigger: one event and an
//! ordinary filter where one event serves (`funds`, `referendum_new`); otherwise every event it
//! takes, indexed under one topic of the recipe's own ([`recipe_topic`]) so that dispatch still
//! reads two key-value batches per event ([`lookup_topics`]), with a [`RecipeRule`] as its filter.

mod catalog;
mod expand;
mod messages;
mod rule;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub use catalog::{recipe, Input, Recipe, RECIPES};
pub use expand::{expand, expand_with, Expanded, MAX_TRACKS};
pub use messages::default_message;
pub use rule::RecipeRule;

use crate::names::{ChainName, EventName, Topic};
use crate::source::Source;

/// What a trigger made from a recipe keeps of the request: the recipe's id and the inputs as
/// given, so it reads back as the person wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeUse {
    /// `staking_alert`.
    pub id: String,
    /// The inputs as given (`{"address": …}`).
    pub inputs: Map<String, Value>,
}

/// The index topic of the triggers of recipe `id` on `chain` that watch several events:
/// `<chain>.recipe.<id>`. Never a broker topic; the lower-case middle part cannot be a pallet's.
pub fn recipe_topic(chain: &ChainName, id: &str) -> Topic {
    Topic::from_parts(chain, "recipe", id)
}

/// The topics whose index lists may hold triggers for `event` on `chain`: the event's own, then
/// the recipe topic of each recipe that watches it among several events, each with whether its
/// triggers may be for any account (then its any-account shards are read too).
pub fn lookup_topics(chain: &ChainName, event: &EventName) -> Vec<(Topic, bool)> {
    let name = event.to_string();
    std::iter::once((event.topic(chain), true))
        .chain(
            RECIPES
                .iter()
                .filter(|r| r.events.len() > 1 && r.events.contains(&name.as_str()))
                .map(|r| (recipe_topic(chain, r.id), !r.by_account())),
        )
        .collect()
}

/// `GET /api/recipes`: each recipe with its inputs and, among `sources`, the chains that serve
/// it (their source publishes at least one of its events) with the events they publish, and the
/// chains that could (the operator would add events to their source).
pub fn list(sources: &[Source]) -> Value {
    let recipes: Vec<Value> = RECIPES
        .iter()
        .map(|r| {
            let mut serving = Vec::new();
            let mut could = Vec::new();
            for s in sources {
                let published: Vec<&str> = r
                    .events
                    .iter()
                    .copied()
                    .filter(|e| EventName::parse(e).is_ok_and(|e| s.events.contains(&e)))
                    .collect();
                if published.is_empty() {
                    could.push(json!({"chain": s.chain, "source": s.id}));
                } else {
                    serving.push(json!({"chain": s.chain, "source": s.id, "events": published}));
                }
            }
            json!({
                "id": r.id,
                "title": r.title,
                "about": r.about,
                "events": r.events,
                "inputs": r.inputs.iter().map(Input::view).collect::<Vec<_>>(),
                "chains": serving,
                "not_published_by": could,
            })
        })
        .collect();
    json!({ "recipes": recipes })
}
