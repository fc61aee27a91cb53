//! Trigger filters: the balance filter (an account, a direction, a minimum amount in the token's
//! units) and general predicates on event fields, combined with `all` or `any`.
//!
//! A [`FilterSpec`] is what a client sends; validation against the source and event turns it into a
//! [`Filter`], which carries what evaluation needs (the account's bytes, the minimum in base units).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::amount::parse_units;
use crate::catalog::{known_event, BalanceFields, KNOWN_EVENTS};
use crate::error::{ApiError, ApiResult};
use crate::names::EventName;
use crate::source::Source;
use crate::ss58::AccountId;

/// The most predicates one filter may hold.
pub const MAX_PREDICATES: usize = 32;
/// The most values an `in` predicate may list.
pub const MAX_IN_VALUES: usize = 100;

/// Which side of a balance movement the account is on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The account receives.
    In,
    /// The account pays.
    Out,
    /// Either.
    #[default]
    Any,
}

/// A predicate's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal (accounts compare by key, whatever their SS58 prefix; integers by value).
    Eq,
    /// Not equal.
    Ne,
    /// Greater than (integers).
    Gt,
    /// Greater than or equal (integers).
    Gte,
    /// Less than (integers).
    Lt,
    /// Less than or equal (integers).
    Lte,
    /// Equal to one of a list.
    In,
}

/// One predicate on an event field: `{"field": "amount", "op": "gte", "value": "100"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    /// A field name, or a dotted path into nested fields.
    pub field: String,
    /// The operator.
    pub op: Op,
    /// The operand: a scalar, or a list for `in`.
    pub value: Value,
}

/// The balance filter as a client writes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceSpec {
    /// SS58 address on the source's chain.
    pub account: String,
    /// `in`, `out` or `any` (default).
    #[serde(default)]
    pub direction: Direction,
    /// Minimum amount in token units, as a decimal string ("1.5").
    pub min: Option<String>,
}

/// A filter as a client writes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FilterSpec {
    /// Balance movements of one account.
    Balance(BalanceSpec),
    /// Every predicate holds.
    All(Vec<Predicate>),
    /// At least one predicate holds.
    Any(Vec<Predicate>),
}

/// A validated balance filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceRule {
    /// The address as given (SS58 with the chain's prefix).
    pub account: String,
    /// The account's public key, hex: what indexes and comparisons use.
    pub account_hex: String,
    /// The direction.
    pub direction: Direction,
    /// The minimum in token units, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    /// The minimum in base units (decimal string: it may exceed 2^53).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_units: Option<String>,
}

/// A validated filter, as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Balance movements of one account.
    Balance(BalanceRule),
    /// Every predicate holds.
    All(Vec<Predicate>),
    /// At least one predicate holds.
    Any(Vec<Predicate>),
    /// What a recipe about one account expands to (never written by clients: they name the
    /// recipe and its inputs).
    Recipe(crate::recipe::RecipeRule),
    /// The referendum's track is one of these (from the event's `track` field, or the track the
    /// ingestor read for the referendum); an event whose track is not known does not match.
    /// What `referendum_outcome` with `tracks` expands to.
    Tracks(Vec<u16>),
}

fn balance_capable_events() -> String {
    KNOWN_EVENTS
        .iter()
        .filter(|e| e.balance.is_some())
        .map(|e| e.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl FilterSpec {
    /// Validates the filter for `event` of `source`. Field paths in errors start at `filter`.
    pub fn validate(self, source: &Source, event: &EventName) -> ApiResult<Filter> {
        let known = known_event(&event.to_string());
        match self {
            FilterSpec::Balance(spec) => {
                let fields = known.and_then(|k| k.balance).ok_or_else(|| {
                    ApiError::invalid(
                        "filter.balance",
                        format!(
                            "the balance filter applies to events that move balance ({}); use `all`/`any` predicates for {event}",
                            balance_capable_events()
                        ),
                    )
                })?;
                validate_balance(spec, source, event, fields).map(Filter::Balance)
            }
            FilterSpec::All(predicates) => {
                validate_predicates(&predicates, "filter.all", known.map(|k| k.fields))?;
                Ok(Filter::All(predicates))
            }
            FilterSpec::Any(predicates) => {
                validate_predicates(&predicates, "filter.any", known.map(|k| k.fields))?;
                Ok(Filter::Any(predicates))
            }
        }
    }
}

fn validate_balance(
    spec: BalanceSpec,
    source: &Source,
    event: &EventName,
    fields: BalanceFields,
) -> ApiResult<BalanceRule> {
    let account = AccountId::from_ss58_for(&spec.account, source.ss58_prefix).map_err(|e| {
        ApiError::invalid(
            "filter.balance.account",
            format!(
                "{:?} is not an address on {}: {e}",
                spec.account, source.chain
            ),
        )
    })?;
    let side_missing = match spec.direction {
        Direction::In => fields.incoming.is_none(),
        Direction::Out => fields.outgoing.is_none(),
        Direction::Any => false,
    };
    if side_missing {
        return Err(ApiError::invalid(
            "filter.balance.direction",
            format!(
                "{event} has no {:?} side; use another direction",
                spec.direction
            ),
        ));
    }
    let min_units = match &spec.min {
        None => None,
        Some(min) => {
            let token = source.token.as_ref().ok_or_else(|| {
                ApiError::invalid(
                    "filter.balance.min",
                    "the source has no token decimals, so amounts cannot be read; set the source's token first",
                )
            })?;
            let units = parse_units(min, token.decimals).map_err(|e| {
                ApiError::invalid("filter.balance.min", format!("{e} ({})", token.symbol))
            })?;
            Some(units.to_string())
        }
    };
    Ok(BalanceRule {
        account: spec.account,
        account_hex: account.to_hex(),
        direction: spec.direction,
        min: spec.min,
        min_units,
    })
}

fn validate_predicates(
    predicates: &[Predicate],
    at: &str,
    known: Option<&[&str]>,
) -> ApiResult<()> {
    if predicates.is_empty() || predicates.len() > MAX_PREDICATES {
        return Err(ApiError::invalid(
            at,
            format!("give 1 to {MAX_PREDICATES} predicates"),
        ));
    }
    for (i, p) in predicates.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let path_ok = !p.field.is_empty()
            && p.field.split('.').all(|seg| {
                !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
        if !path_ok {
            return Err(ApiError::invalid(
                format!("{here}.field"),
                format!("{:?} is not a field name or dotted path", p.field),
            ));
        }
        if let Some(fields) = known {
            let top = p.field.split('.').next().unwrap_or_default();
            if !fields.contains(&top) {
                return Err(ApiError::invalid(
                    format!("{here}.field"),
                    format!(
                        "the event has no field {top:?}; its fields are {}",
                        fields.join(", ")
                    ),
                ));
            }
        }
        let value_ok = match p.op {
            Op::Eq | Op::Ne => is_scalar(&p.value),
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => as_integer(&p.value).is_some(),
            Op::In => matches!(&p.value, Value::Array(a)
                if !a.is_empty() && a.len() <= MAX_IN_VALUES && a.iter().all(is_scalar)),
        };
        if !value_ok {
            let want = match p.op {
                Op::Eq | Op::Ne => "a string, number or boolean".to_owned(),
                Op::In => format!("a list of 1 to {MAX_IN_VALUES} strings, numbers or booleans"),
                _ => "an integer, or an integer as a string".to_owned(),
            };
            return Err(ApiError::invalid(
                format!("{here}.value"),
                format!("`{:?}` needs {want}", p.op),
            ));
        }
    }
    Ok(())
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// An integer as a sign and decimal digits without leading zeros, so values beyond 2^64 compare
/// exactly (u128 balances arrive as strings).
#[derive(Debug, PartialEq, Eq)]
struct Integer {
    negative: bool,
    digits: String,
}

fn as_integer(v: &Value) -> Option<Integer> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return None,
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    Some(Integer {
        negative: negative && digits != "0",
        digits: digits.to_owned(),
    })
}

impl Ord for Integer {
    fn cmp(&self, other: &Self) -> Ordering {
        let magnitude = self
            .digits
            .len()
            .cmp(&other.digits.len())
            .then_with(|| self.digits.cmp(&other.digits));
        match (self.negative, other.negative) {
            (false, false) => magnitude,
            (true, true) => magnitude.reverse(),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Integer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Reads an account from a field value: SS58 (any prefix) or 32-byte hex.
pub fn as_account(v: &Value) -> Option<AccountId> {
    let s = v.as_str()?;
    AccountId::from_hex(s).or_else(|| AccountId::from_ss58(s).ok().map(|(id, _)| id))
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (as_account(a), as_account(b)) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (as_integer(a), as_integer(b)) {
        return x == y;
    }
    a == b
}

fn lookup<'a>(fields: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = fields.get(parts.next()?)?;
    for part in parts {
        current = match current {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

impl Predicate {
    /// Whether the predicate holds for an event's fields. A missing field never matches.
    pub fn holds(&self, fields: &Map<String, Value>) -> bool {
        let Some(actual) = lookup(fields, &self.field) else {
            return false;
        };
        let ordered =
            |want: fn(Ordering) -> bool| match (as_integer(actual), as_integer(&self.value)) {
                (Some(a), Some(b)) => want(a.cmp(&b)),
                _ => false,
            };
        match self.op {
            Op::Eq => scalar_eq(actual, &self.value),
            Op::Ne => !scalar_eq(actual, &self.value),
            Op::Gt => ordered(Ordering::is_gt),
            Op::Gte => ordered(Ordering::is_ge),
            Op::Lt => ordered(Ordering::is_lt),
            Op::Lte => ordered(Ordering::is_le),
            Op::In => self
                .value
                .as_array()
                .is_some_and(|options| options.iter().any(|o| scalar_eq(actual, o))),
        }
    }
}

impl Filter {
    /// Whether an event (`event` with its named `fields`) passes the filter.
    pub fn matches(&self, event: &EventName, fields: &Map<String, Value>) -> bool {
        self.matches_in(event, fields, None, None)
    }

    /// [`Filter::matches`] for an envelope: with what the ingestor read beside its fields (the
    /// asset's metadata, which a recipe's minimum is read in; the referendum's track).
    pub fn matches_envelope(
        &self,
        event: &EventName,
        envelope: &crate::envelope::Envelope,
    ) -> bool {
        self.matches_in(
            event,
            &envelope.fields,
            envelope.asset.as_ref(),
            envelope.track.as_ref().map(|t| t.id),
        )
    }

    fn matches_in(
        &self,
        event: &EventName,
        fields: &Map<String, Value>,
        asset: Option<&crate::source::TokenInfo>,
        track: Option<u16>,
    ) -> bool {
        match self {
            Filter::Balance(rule) => rule.matches(event, fields),
            Filter::All(ps) => ps.iter().all(|p| p.holds(fields)),
            Filter::Any(ps) => ps.iter().any(|p| p.holds(fields)),
            Filter::Recipe(rule) => rule.matches(fields, asset),
            Filter::Tracks(tracks) => {
                let named = fields
                    .get("track")
                    .and_then(Value::as_u64)
                    .and_then(|t| u16::try_from(t).ok());
                named.or(track).is_some_and(|t| tracks.contains(&t))
            }
        }
    }

    /// The account whose index the trigger belongs in, if the filter names one.
    pub fn indexed_account(&self) -> Option<&str> {
        match self {
            Filter::Balance(rule) => Some(&rule.account_hex),
            Filter::Recipe(rule) => Some(&rule.account_hex),
            _ => None,
        }
    }
}

impl BalanceRule {
    fn matches(&self, event: &EventName, fields: &Map<String, Value>) -> bool {
        let Some(spec) = known_event(&event.to_string()).and_then(|k| k.balance) else {
            return false;
        };
        let Some(me) = AccountId::from_hex(&self.account_hex) else {
            return false;
        };
        let is_me = |field: Option<&str>| {
            field
                .and_then(|f| fields.get(f))
                .and_then(as_account)
                .is_some_and(|a| a == me)
        };
        let side = match self.direction {
            Direction::In => is_me(spec.incoming),
            Direction::Out => is_me(spec.outgoing),
            Direction::Any => is_me(spec.incoming) || is_me(spec.outgoing),
        };
        let enough = match &self.min_units {
            None => true,
            Some(min) => match (
                fields.get(spec.amount).and_then(as_integer),
                as_integer(&Value::String(min.clone())),
            ) {
                (Some(amount), Some(min)) => amount >= min,
                _ => false,
            },
        };
        side && enough
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
