//! The filter a recipe about one account expands to: the account in any of the recipe's fields
//! (each event names it in its own: `stash`, `staker`, `nominator`), and predicates that must
//! hold as well (the asset, a minimum). Stored in the trigger as its filter, indexed by the
//! account like a balance filter.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::filter::{as_account, Predicate};
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
}

impl RecipeRule {
    /// Whether an event with these `fields` names the account and passes the predicates.
    pub fn matches(&self, fields: &Map<String, Value>) -> bool {
        let Some(me) = AccountId::from_hex(&self.account_hex) else {
            return false;
        };
        let names_me = self
            .fields
            .iter()
            .any(|f| fields.get(f).and_then(as_account).is_some_and(|a| a == me));
        names_me && self.and.iter().all(|p| p.holds(fields))
    }
}
