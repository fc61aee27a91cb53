//! A recipe and its inputs, checked against the source, turned into what a trigger stores: the
//! events, the topic it is indexed under, the filter and the default message. Errors name the
//! field a person wrote (`recipe`, `inputs.address`, `source`).

use serde_json::{json, Map, Value};

use super::catalog::{recipe, Recipe, RECIPES};
use super::{recipe_topic, RecipeRule};
use crate::assets::AssetEntry;
use crate::error::{ApiError, ApiResult};
use crate::filter::{BalanceSpec, Direction, Filter, FilterSpec, Op, Predicate};
use crate::names::{EventName, Topic};
use crate::source::Source;
use crate::ss58::AccountId;

/// The most tracks `referendum_new` follows.
pub const MAX_TRACKS: usize = 64;

/// What a recipe expands to.
#[derive(Debug, Clone, PartialEq)]
pub struct Expanded {
    /// The first event it watches.
    pub event: EventName,
    /// Every event it watches, when more than one.
    pub events: Vec<EventName>,
    /// The topic its trigger is indexed under.
    pub topic: Topic,
    /// Its filter, if it narrows the events.
    pub filter: Option<Filter>,
}

/// Expands recipe `id` with `inputs` for `source`, whose chain's assets are not known.
pub fn expand(id: &str, inputs: &Map<String, Value>, source: &Source) -> ApiResult<Expanded> {
    expand_with(id, inputs, source, &[])
}

/// Expands recipe `id` with `inputs` for `source`, whose chain has `assets` (an `asset` is
/// taken by symbol, and one the chain lacks refused, once they are known).
pub fn expand_with(
    id: &str,
    inputs: &Map<String, Value>,
    source: &Source,
    assets: &[AssetEntry],
) -> ApiResult<Expanded> {
    let recipe = recipe(id).ok_or_else(|| {
        let ids: Vec<&str> = RECIPES.iter().map(|r| r.id).collect();
        ApiError::invalid(
            "recipe",
            format!("no recipe {id:?}; the recipes are {}", ids.join(", ")),
        )
    })?;
    for name in inputs.keys() {
        if !recipe.inputs.iter().any(|i| i.name == name) {
            let known: Vec<&str> = recipe.inputs.iter().map(|i| i.name).collect();
            return Err(ApiError::invalid(
                format!("inputs.{name}"),
                format!("{} takes {}", recipe.id, known.join(", ")),
            ));
        }
    }
    let events = published(recipe, source)?;
    let filter = filter(recipe, inputs, source, assets, &events[0])?;
    let event = events[0].clone();
    let (topic, events) = if events.len() > 1 {
        (recipe_topic(&source.chain, recipe.id), events)
    } else {
        (event.topic(&source.chain), Vec::new())
    };
    Ok(Expanded {
        event,
        events,
        topic,
        filter,
    })
}

/// The recipe's events that `source` publishes; none is a 422 naming `source` that says what
/// would serve the recipe.
fn published(recipe: &Recipe, source: &Source) -> ApiResult<Vec<EventName>> {
    let events: Vec<EventName> = recipe
        .events
        .iter()
        .filter_map(|e| EventName::parse(e).ok())
        .filter(|e| source.events.contains(e))
        .collect();
    if !events.is_empty() {
        return Ok(events);
    }
    let mut pallets: Vec<&str> = recipe
        .events
        .iter()
        .filter_map(|e| e.split_once('.').map(|(p, _)| p))
        .collect();
    pallets.dedup();
    Err(ApiError::invalid(
        "source",
        format!(
            "source {} ({}) publishes none of {}: the recipe needs the {} pallet. Pick the \
             source of the chain where it lives (Polkadot and Kusama move balances, staking and \
             governance to their Asset Hubs), or have the operator add these events to this \
             source if its runtime has them (PATCH /api/sources/{})",
            source.id,
            source.chain,
            recipe.events.join(", "),
            pallets.join(" or "),
            source.id
        ),
    ))
}

fn filter(
    recipe: &Recipe,
    inputs: &Map<String, Value>,
    source: &Source,
    assets: &[AssetEntry],
    first: &EventName,
) -> ApiResult<Option<Filter>> {
    match recipe.id {
        "funds" => funds(inputs, source, first).map(Some),
        "assets" => {
            let direction = direction(inputs)?;
            let fields: &[&str] = match direction {
                Direction::In => &["to", "owner"],
                Direction::Out => &["from"],
                Direction::Any => recipe.account_fields,
            };
            let given = inputs
                .get("asset")
                .filter(|v| !v.is_null())
                .ok_or_else(|| required("asset"))?;
            let asset = crate::assets::resolve(given, assets, source.chain.as_str())
                .map_err(|why| ApiError::invalid("inputs.asset", why))?;
            let and = vec![Predicate {
                field: "asset_id".into(),
                op: Op::Eq,
                value: json!(asset),
            }];
            let mut rule = account_rule(inputs, source, fields, and)?;
            if let Filter::Recipe(rule) = &mut rule {
                rule.min = asset_min(inputs)?;
            }
            Ok(Some(rule))
        }
        "referendum_new" => Ok(tracks(inputs, source)?.map(|tracks| {
            Filter::All(vec![Predicate {
                field: "track".into(),
                op: Op::In,
                value: tracks,
            }])
        })),
        "referendum_outcome" => {
            let index = integer(inputs, "referendum")?;
            let tracks = tracks(inputs, source)?;
            match (index, tracks) {
                (Some(_), Some(_)) => Err(ApiError::invalid(
                    "inputs.tracks",
                    "give a referendum, or tracks whose referenda to follow, not both",
                )),
                (Some(index), None) => Ok(Some(Filter::All(vec![Predicate {
                    field: "index".into(),
                    op: Op::Eq,
                    value: index,
                }]))),
                (None, Some(Value::Array(ids))) => Ok(Some(Filter::Tracks(
                    ids.iter()
                        .filter_map(|t| t.as_u64().and_then(|t| u16::try_from(t).ok()))
                        .collect(),
                ))),
                (None, _) => Ok(None),
            }
        }
        _ => account_rule(inputs, source, recipe.account_fields, Vec::new()).map(Some),
    }
}

/// `assets`' minimum: an amount in the asset's own units ("2.5"), read with its decimals when an
/// event comes (the metadata is the chain's, not known here).
fn asset_min(inputs: &Map<String, Value>) -> ApiResult<Option<String>> {
    let text = match inputs.get("min") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => String::new(),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 39 && s.bytes().all(|b| b.is_ascii_digit());
    let ok = match text.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(&text),
    };
    if ok {
        Ok(Some(text))
    } else {
        Err(ApiError::invalid(
            "inputs.min",
            "an amount in the asset's own units, such as \"2.5\"",
        ))
    }
}

fn required(name: &str) -> ApiError {
    ApiError::invalid(format!("inputs.{name}"), "required")
}

/// `funds` is the balance filter the page has always made, its errors named by input.
fn funds(inputs: &Map<String, Value>, source: &Source, event: &EventName) -> ApiResult<Filter> {
    let min = match inputs.get("min") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            return Err(ApiError::invalid(
                "inputs.min",
                "an amount in the chain's token, as a string (\"1.5\")",
            ))
        }
    };
    let spec = BalanceSpec {
        account: address(inputs)?,
        direction: direction(inputs)?,
        min,
    };
    FilterSpec::Balance(spec)
        .validate(source, event)
        .map_err(|mut e| {
            e.field = e.field.map(|f| match f.as_str() {
                "filter.balance.account" => "inputs.address".to_owned(),
                "filter.balance.direction" => "inputs.direction".to_owned(),
                "filter.balance.min" => "inputs.min".to_owned(),
                _ => f,
            });
            e
        })
}

fn address(inputs: &Map<String, Value>) -> ApiResult<String> {
    match inputs.get("address") {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(required("address")),
        Some(_) => Err(ApiError::invalid(
            "inputs.address",
            "an address, as a string",
        )),
    }
}

fn direction(inputs: &Map<String, Value>) -> ApiResult<Direction> {
    match inputs.get("direction") {
        None | Some(Value::Null) => Ok(Direction::In),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| ApiError::invalid("inputs.direction", "in, out or any")),
    }
}

/// A non-negative integer input (a JSON number or a decimal string), as the predicate operand.
fn integer(inputs: &Map<String, Value>, name: &str) -> ApiResult<Option<Value>> {
    let value = match inputs.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let text = match value {
        Value::Number(n) => crate::integer::to_u64(n)
            .map(|n| n.to_string())
            .unwrap_or_default(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    // At most 39 digits: every u128 (balances, asset ids) fits.
    if !text.is_empty() && text.len() <= 39 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Some(json!(text)))
    } else {
        Err(ApiError::invalid(
            format!("inputs.{name}"),
            "a whole number, 0 or more",
        ))
    }
}

/// The tracks a person gave, by id or by the chain's name for them ([`crate::tracks`]), as ids.
fn tracks(inputs: &Map<String, Value>, source: &Source) -> ApiResult<Option<Value>> {
    let list = match inputs.get("tracks") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) if !list.is_empty() && list.len() <= MAX_TRACKS => list,
        Some(_) => {
            return Err(ApiError::invalid(
                "inputs.tracks",
                format!("a list of 1 to {MAX_TRACKS} tracks, by id or name"),
            ))
        }
    };
    let ids = list
        .iter()
        .enumerate()
        .map(|(i, t)| {
            crate::tracks::resolve(t, &source.tracks, source.chain.as_str())
                .map(|id| json!(id))
                .map_err(|why| ApiError::invalid(format!("inputs.tracks[{i}]"), why))
        })
        .collect::<ApiResult<Vec<Value>>>()?;
    Ok(Some(Value::Array(ids)))
}

fn account_rule(
    inputs: &Map<String, Value>,
    source: &Source,
    fields: &[&str],
    and: Vec<Predicate>,
) -> ApiResult<Filter> {
    let account = address(inputs)?;
    let id = AccountId::from_ss58_for(&account, source.ss58_prefix).map_err(|e| {
        ApiError::invalid(
            "inputs.address",
            format!("{account:?} is not an address on {}: {e}", source.chain),
        )
    })?;
    Ok(Filter::Recipe(RecipeRule {
        account,
        account_hex: id.to_hex(),
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        and,
        min: None,
    }))
}
