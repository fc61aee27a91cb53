//! The filter a recipe about one account expands to: the account in any of the recipe's fields
//! (each event names it in its own: `stash`, `staker`, `nominator`), and predicates that must
//! hold as well (the asset, a minimum). Stored in the trigger as its filter, indexed by the
//! account like a balance filter.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::amount::parse_units;
use crate::filter::{as_account, Predicate};
use crate::source::TokenInfo;
use crate::ss58::AccountId;

/// A recipe's account filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeRule {
    /// The address as given (SS58 with the chain's prefix).
    pub account: String,
    /// The account's public key, hex: what indexes and comparisons use.
    pub account_hex: String,
    /// The fields that may name the account; one is enough.
    pub fields: Vec<String>,
    /// Predicates that hold as well.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub and: Vec<Predicate>,
    /// The smallest `amount` worth a notice in the event's asset ("2.5"), read with the decimals
    /// of the asset's metadata the envelope carries. An event of an asset without metadata
    /// passes: better a notice too many than one lost to a number that cannot be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
}

impl RecipeRule {
    /// Whether an event with these `fields` (of `asset`, if it is an asset's) names the account
    /// and passes the predicates and the minimum.
    pub fn matches(&self, fields: &Map<String, Value>, asset: Option<&TokenInfo>) -> bool {
        let Some(me) = AccountId::from_hex(&self.account_hex) else {
            return false;
        };
        let names_me = self
            .fields
            .iter()
            .any(|f| fields.get(f).and_then(as_account).is_some_and(|a| a == me));
        names_me && self.and.iter().all(|p| p.holds(fields)) && self.enough(fields, asset)
    }

    fn enough(&self, fields: &Map<String, Value>, asset: Option<&TokenInfo>) -> bool {
        let (Some(min), Some(asset)) = (&self.min, asset) else {
            return true;
        };
        let Ok(min) = parse_units(min, asset.decimals) else {
            return true;
        };
        let amount = match fields.get("amount") {
            Some(Value::String(s)) => s.parse::<u128>().ok(),
            Some(Value::Number(n)) => n.as_u64().map(u128::from),
            _ => None,
        };
        amount.is_some_and(|a| a >= min)
    }
}
