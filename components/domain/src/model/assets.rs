//! A chain's assets as its runtime describes them (`Assets.Metadata`: id, symbol, decimals), which
//! the operator (or `aurras-ingestor recipes`, reading the chain) stores beside the source under
//! `source/<id>/assets`, so a person can pick an asset by symbol and an asset the chain lacks is
//! refused when the trigger is made.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// The most assets a source keeps.
pub const MAX_ASSETS: usize = 10_000;
/// The longest symbol.
pub const MAX_SYMBOL_CHARS: usize = 16;

/// One asset of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetEntry {
    /// Its id in the `Assets` pallet.
    #[serde(deserialize_with = "crate::integer::unsigned")]
    pub id: u32,
    /// Its symbol (`USDT`).
    pub symbol: String,
    /// Its decimals.
    #[serde(deserialize_with = "crate::integer::unsigned")]
    pub decimals: u8,
}

/// A source's assets, checked: ids unique, symbols short and printable.
pub fn validate(assets: Vec<AssetEntry>, field: &str) -> ApiResult<Vec<AssetEntry>> {
    if assets.len() > MAX_ASSETS {
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_ASSETS} assets"),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, a) in assets.iter().enumerate() {
        if a.symbol.is_empty()
            || a.symbol.chars().count() > MAX_SYMBOL_CHARS
            || a.symbol.chars().any(char::is_control)
        {
            return Err(ApiError::invalid(
                format!("{field}[{i}].symbol"),
                format!("1 to {MAX_SYMBOL_CHARS} characters, no control characters"),
            ));
        }
        if !seen.insert(a.id) {
            return Err(ApiError::invalid(
                format!("{field}[{i}].id"),
                format!("asset {} is listed twice", a.id),
            ));
        }
    }
    Ok(assets)
}

/// The asset a person gave (its id, or its symbol on the chain) as its id. With no assets known
/// for the chain only ids are taken, unchecked; with them, an id or symbol the chain lacks is
/// refused, and a symbol several assets share asks for the id.
pub fn resolve(given: &Value, known: &[AssetEntry], chain: &str) -> Result<u32, String> {
    let id = match given {
        Value::Number(n) => Some(
            n.as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .ok_or("an asset id is 0 to 4294967295")?,
        ),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Some(
            s.parse::<u32>()
                .map_err(|_| "an asset id is 0 to 4294967295")?,
        ),
        Value::String(_) => None,
        _ => return Err("an asset id, or an asset's symbol".into()),
    };
    if let Some(id) = id {
        return if known.is_empty() || known.iter().any(|a| a.id == id) {
            Ok(id)
        } else {
            Err(format!("{chain} has no asset {id}"))
        };
    }
    let symbol = given.as_str().unwrap_or_default();
    if known.is_empty() {
        return Err(format!(
            "{chain}'s assets are not known here (the operator runs `aurras-ingestor recipes --chain {chain}`); give the asset's id"
        ));
    }
    let matching: Vec<&AssetEntry> = known
        .iter()
        .filter(|a| a.symbol.eq_ignore_ascii_case(symbol.trim()))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.id),
        [] => Err(format!("{chain} has no asset with the symbol {symbol:?}")),
        many => Err(format!(
            "{} assets on {chain} use the symbol {symbol:?} (ids {}): give the id",
            many.len(),
            many.iter()
                .map(|a| a.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known() -> Vec<AssetEntry> {
        [(1984, "USDt"), (1337, "USDC"), (7, "USDC")]
            .map(|(id, symbol)| AssetEntry {
                id,
                symbol: symbol.into(),
                decimals: 6,
            })
            .to_vec()
    }

    #[test]
    fn symbols_and_ids_resolve_against_the_chains_assets() {
        let k = known();
        assert_eq!(resolve(&json!("USDT"), &k, "hub"), Ok(1984));
        assert_eq!(resolve(&json!(1984), &k, "hub"), Ok(1984));
        assert_eq!(resolve(&json!("1984"), &k, "hub"), Ok(1984));
        assert!(resolve(&json!(42), &k, "hub")
            .expect_err("unknown")
            .contains("no asset 42"));
        assert!(resolve(&json!("DOGE"), &k, "hub")
            .expect_err("unknown")
            .contains("no asset with the symbol"));
        assert!(resolve(&json!("usdc"), &k, "hub")
            .expect_err("shared")
            .contains("ids 1337, 7"));
        assert_eq!(
            resolve(&json!(42), &[], "hub"),
            Ok(42),
            "not known: ids as given"
        );
        assert!(resolve(&json!("USDT"), &[], "hub").is_err());
    }

    #[test]
    fn whole_numbers_written_with_a_fraction_are_read() {
        let entry: AssetEntry =
            serde_json::from_value(json!({"id": 1984.0, "symbol": "USDt", "decimals": 6.0}))
                .expect("read");
        assert_eq!((entry.id, entry.decimals), (1984, 6));
        assert!(serde_json::from_value::<AssetEntry>(
            json!({"id": 1.5, "symbol": "X", "decimals": 0})
        )
        .is_err());
    }

    #[test]
    fn a_source_assets_are_checked() {
        assert!(validate(known(), "assets").is_ok());
        let twice = vec![
            AssetEntry {
                id: 1,
                symbol: "A".into(),
                decimals: 0,
            },
            AssetEntry {
                id: 1,
                symbol: "B".into(),
                decimals: 0,
            },
        ];
        assert_eq!(
            validate(twice, "assets")
                .expect_err("twice")
                .field
                .as_deref(),
            Some("assets[1].id")
        );
    }
}
