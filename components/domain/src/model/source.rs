//! Event sources: a chain, how to reach it (light client chain spec or RPC URLs), which pallet
//! events to publish, and the token they are counted in.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use aurras_known_chains::KnownChain;

use crate::error::{ApiError, ApiResult};
use crate::names::{ChainName, EventName, Topic};

/// The most events one source may publish.
pub const MAX_EVENTS: usize = 256;
/// The most RPC URLs one source may list.
pub const MAX_RPC_URLS: usize = 16;
/// SS58 prefix assumed when neither the request nor the chain spec gives one (generic Substrate).
pub const DEFAULT_SS58_PREFIX: u16 = 42;

/// The token a chain counts balances in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenInfo {
    /// `PAS`, `DOT`: 1 to 12 ASCII letters or digits.
    pub symbol: String,
    /// Decimal places of one unit: 10 for DOT and PAS.
    #[serde(deserialize_with = "crate::integer::unsigned")]
    pub decimals: u8,
}

impl TokenInfo {
    fn validate(&self) -> ApiResult<()> {
        let s = &self.symbol;
        if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ApiError::invalid(
                "token.symbol",
                format!("{s:?} is not a token symbol: 1 to 12 ASCII letters or digits"),
            ));
        }
        if self.decimals > 38 {
            return Err(ApiError::invalid(
                "token.decimals",
                format!(
                    "{} decimals cannot be counted in 128 bits; at most 38",
                    self.decimals
                ),
            ));
        }
        Ok(())
    }
}

/// `POST /api/sources`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSource {
    /// The chain's name, which prefixes its topics; a known chain's own name (`_` as `-`) when
    /// absent.
    pub chain: Option<String>,
    /// A well-known chain by name (`polkadot`, `kusama_asset_hub`, …): followed with the embedded
    /// light client from the chain specs compiled into Aurras.
    pub known_chain: Option<String>,
    /// WebSocket RPC endpoints (`ws://`, `wss://`).
    #[serde(default)]
    pub rpc: Vec<String>,
    /// A chain spec for the light client.
    pub chain_spec: Option<Value>,
    /// The relay chain's spec, when `chain_spec` is a parachain.
    pub relay_chain_spec: Option<Value>,
    /// `Pallet.Event` names to publish.
    pub events: Vec<String>,
    /// The chain's token; read from the chain spec's properties when absent.
    pub token: Option<TokenInfo>,
    /// The chain's SS58 address prefix; read from the chain spec, else 42.
    #[serde(default, deserialize_with = "crate::integer::optional_unsigned")]
    pub ss58_prefix: Option<u16>,
}

/// `PATCH /api/sources/{id}`: every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcePatch {
    /// Replace the event list.
    pub events: Option<Vec<String>>,
    /// Events to add.
    #[serde(default)]
    pub add_events: Vec<String>,
    /// Events to stop publishing.
    #[serde(default)]
    pub remove_events: Vec<String>,
    /// Replace the RPC URLs (RPC sources only).
    pub rpc: Option<Vec<String>>,
    /// Replace the token.
    pub token: Option<TokenInfo>,
    /// Replace the chain's referendum tracks ([`crate::tracks`]).
    pub tracks: Option<Vec<crate::envelope::Track>>,
    /// Replace the chain's assets ([`crate::assets`]), kept beside the source record.
    pub assets: Option<Vec<crate::assets::AssetEntry>>,
}

/// A registered source, as stored. The chain specs live under their own keys (they are large).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// `src_…`.
    pub id: String,
    /// The chain's name.
    pub chain: ChainName,
    /// RPC endpoints; empty for light-client sources.
    pub rpc: Vec<String>,
    /// Whether a chain spec is stored (light client).
    pub light_client: bool,
    /// Whether a relay chain spec is stored (a parachain on the light client).
    pub has_relay_chain_spec: bool,
    /// The known chain whose compiled-in specs the light client uses, when registered by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_chain: Option<String>,
    /// The published events.
    pub events: BTreeSet<EventName>,
    /// The chain's token, if known.
    pub token: Option<TokenInfo>,
    /// The chain's SS58 prefix.
    pub ss58_prefix: u16,
    /// The chain's referendum tracks, by the runtime's names ([`crate::tracks`]), when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracks: Vec<crate::envelope::Track>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// What validation of a [`NewSource`] yields: the source and the specs to store beside it.
#[derive(Debug)]
pub struct ValidatedSource {
    /// The record.
    pub source: Source,
    /// The chain spec, if any.
    pub chain_spec: Option<Value>,
    /// The relay chain spec, if any.
    pub relay_chain_spec: Option<Value>,
}

impl NewSource {
    /// Validates every field and builds the record.
    pub fn validate(self, id: String, now: &str) -> ApiResult<ValidatedSource> {
        let known = self.known_chain()?;
        let chain = match (&self.chain, known) {
            (Some(chain), _) => chain.clone(),
            (None, Some(known)) => known.default_chain_name(),
            (None, None) => {
                return Err(ApiError::invalid(
                    "chain",
                    "name the chain (1 to 64 of a-z, 0-9 and '-'), or register a `known_chain`",
                ))
            }
        };
        let chain = ChainName::parse(&chain).map_err(|m| ApiError::invalid("chain", m))?;
        let events = parse_events(&self.events, "events")?;
        if events.is_empty() {
            return Err(ApiError::invalid(
                "events",
                "list at least one Pallet.Event to publish",
            ));
        }
        match (&self.chain_spec, self.rpc.is_empty()) {
            _ if known.is_some() => {}
            (Some(_), false) => {
                return Err(ApiError::invalid(
                    "rpc",
                    "give either `rpc` URLs or a `chain_spec` for the light client, not both",
                ))
            }
            (None, true) => {
                return Err(ApiError::invalid(
                    "rpc",
                    "give `rpc` URLs (ws:// or wss://) or a `chain_spec` for the light client",
                ))
            }
            _ => {}
        }
        validate_rpc(&self.rpc)?;
        let properties = match (&self.chain_spec, known) {
            (Some(spec), _) => Some(validate_chain_spec(spec, "chain_spec")?),
            (None, Some(known)) => Some(validate_chain_spec(&known_spec(known)?, "known_chain")?),
            (None, None) => None,
        };
        if let Some(relay) = &self.relay_chain_spec {
            if self.chain_spec.is_none() {
                return Err(ApiError::invalid(
                    "relay_chain_spec",
                    "a relay chain spec goes with a parachain `chain_spec`",
                ));
            }
            validate_chain_spec(relay, "relay_chain_spec")?;
        }
        if let Some(props) = &properties {
            if props.is_parachain && self.relay_chain_spec.is_none() && known.is_none() {
                return Err(ApiError::invalid(
                    "relay_chain_spec",
                    "the chain spec is a parachain's: the light client needs its relay chain's spec too",
                ));
            }
        }
        let token = match self.token {
            Some(token) => Some(token),
            None => properties.as_ref().and_then(|p| p.token.clone()),
        };
        if let Some(token) = &token {
            token.validate()?;
        }
        let ss58_prefix = self
            .ss58_prefix
            .or_else(|| properties.as_ref().and_then(|p| p.ss58_prefix))
            .unwrap_or(DEFAULT_SS58_PREFIX);
        if ss58_prefix > 16_383 {
            return Err(ApiError::invalid(
                "ss58_prefix",
                "SS58 prefixes run from 0 to 16383",
            ));
        }
        Ok(ValidatedSource {
            source: Source {
                id,
                chain,
                rpc: self.rpc,
                light_client: self.chain_spec.is_some() || known.is_some(),
                has_relay_chain_spec: self.relay_chain_spec.is_some()
                    || known.is_some_and(|k| k.relay.is_some()),
                known_chain: known.map(|k| k.name.to_owned()),
                events,
                token,
                ss58_prefix,
                tracks: Vec::new(),
                created_at: now.to_owned(),
                updated_at: now.to_owned(),
            },
            chain_spec: self.chain_spec,
            relay_chain_spec: self.relay_chain_spec,
        })
    }

    /// The known chain the request names, which brings its own chain specs: it excludes `rpc`,
    /// `chain_spec` and `relay_chain_spec`.
    fn known_chain(&self) -> ApiResult<Option<&'static KnownChain>> {
        let Some(name) = &self.known_chain else {
            return Ok(None);
        };
        let known = aurras_known_chains::find(name).ok_or_else(|| {
            ApiError::invalid(
                "known_chain",
                format!(
                    "{name:?} is not a known chain; known: {}",
                    aurras_known_chains::names()
                ),
            )
        })?;
        let given = [
            ("rpc", !self.rpc.is_empty()),
            ("chain_spec", self.chain_spec.is_some()),
            ("relay_chain_spec", self.relay_chain_spec.is_some()),
        ];
        if let Some((field, _)) = given.into_iter().find(|(_, present)| *present) {
            return Err(ApiError::invalid(
                field,
                format!("`known_chain` {name} brings its own chain specs; leave out `{field}`"),
            ));
        }
        Ok(Some(known))
    }
}

/// A known chain's spec (`relay: true` for its relay chain's), as served to the ingestor.
pub fn known_chain_spec(name: &str, relay: bool) -> ApiResult<Value> {
    let known = aurras_known_chains::find(name).ok_or_else(|| {
        ApiError::internal(format!("known chain {name} is no longer compiled in"))
    })?;
    match relay {
        false => known_spec(known),
        true => known
            .relay_chain()
            .ok_or_else(|| ApiError::not_found("relay chain spec"))
            .and_then(known_spec),
    }
}

fn known_spec(known: &KnownChain) -> ApiResult<Value> {
    serde_json::from_str(known.spec)
        .map_err(|e| ApiError::internal(format!("compiled-in spec of {}: {e}", known.name)))
}

impl SourcePatch {
    /// Applies the patch to a copy of `source`, validating each field.
    pub fn apply(&self, source: &Source, now: &str) -> ApiResult<Source> {
        let mut next = source.clone();
        if let Some(tracks) = &self.tracks {
            next.tracks = crate::tracks::validate(tracks.clone(), "tracks")?;
        }
        if let Some(events) = &self.events {
            next.events = parse_events(events, "events")?;
        }
        next.events
            .extend(parse_events(&self.add_events, "add_events")?);
        for (i, name) in self.remove_events.iter().enumerate() {
            let event = EventName::parse(name)
                .map_err(|m| ApiError::invalid(format!("remove_events[{i}]"), m))?;
            if !next.events.remove(&event) {
                return Err(ApiError::invalid(
                    format!("remove_events[{i}]"),
                    format!("{event} is not published by this source"),
                ));
            }
        }
        if next.events.is_empty() {
            return Err(ApiError::invalid(
                "events",
                "a source publishes at least one event; delete the source instead",
            ));
        }
        if next.events.len() > MAX_EVENTS {
            return Err(ApiError::invalid(
                "events",
                format!("at most {MAX_EVENTS} events"),
            ));
        }
        if let Some(rpc) = &self.rpc {
            if source.light_client {
                return Err(ApiError::invalid(
                    "rpc",
                    "this source uses the light client",
                ));
            }
            if rpc.is_empty() {
                return Err(ApiError::invalid(
                    "rpc",
                    "list at least one ws:// or wss:// URL",
                ));
            }
            validate_rpc(rpc)?;
            next.rpc = rpc.clone();
        }
        if let Some(token) = &self.token {
            token.validate()?;
            next.token = Some(token.clone());
        }
        next.updated_at = now.to_owned();
        Ok(next)
    }
}

impl Source {
    /// `Pallet.Event` → topic, for every published event.
    pub fn topics(&self) -> BTreeMap<String, Topic> {
        self.events
            .iter()
            .map(|e| (e.to_string(), e.topic(&self.chain)))
            .collect()
    }

    /// The view anyone may see: no RPC URLs (they often carry API keys).
    pub fn public_view(&self) -> Value {
        let mut view = serde_json::json!({
            "id": self.id,
            "chain": self.chain,
            "events": self.events,
            "topics": self.topics(),
            "token": self.token,
            "ss58_prefix": self.ss58_prefix,
            "light_client": self.light_client,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        });
        if let Some(known) = &self.known_chain {
            view["known_chain"] = Value::from(known.as_str());
        }
        if !self.tracks.is_empty() {
            view["tracks"] = serde_json::json!(self.tracks);
        }
        view
    }

    /// The operator's view: everything but the chain specs themselves.
    pub fn admin_view(&self) -> Value {
        let mut view = self.public_view();
        view["rpc"] = serde_json::json!(self.rpc);
        view["has_relay_chain_spec"] = serde_json::json!(self.has_relay_chain_spec);
        view
    }
}

fn parse_events(names: &[String], field: &str) -> ApiResult<BTreeSet<EventName>> {
    if names.len() > MAX_EVENTS {
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_EVENTS} events"),
        ));
    }
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            EventName::parse(n).map_err(|m| ApiError::invalid(format!("{field}[{i}]"), m))
        })
        .collect()
}

fn validate_rpc(urls: &[String]) -> ApiResult<()> {
    if urls.len() > MAX_RPC_URLS {
        return Err(ApiError::invalid(
            "rpc",
            format!("at most {MAX_RPC_URLS} URLs"),
        ));
    }
    for (i, raw) in urls.iter().enumerate() {
        let field = format!("rpc[{i}]");
        let url = url::Url::parse(raw)
            .map_err(|e| ApiError::invalid(&field, format!("{raw:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "ws" | "wss") || url.host_str().is_none() {
            return Err(ApiError::invalid(
                &field,
                format!("{raw:?} is not a WebSocket URL: use ws:// or wss://"),
            ));
        }
    }
    Ok(())
}

/// What a chain spec tells about its chain.
#[derive(Debug, Default)]
struct SpecProperties {
    token: Option<TokenInfo>,
    ss58_prefix: Option<u16>,
    is_parachain: bool,
}

fn validate_chain_spec(spec: &Value, field: &str) -> ApiResult<SpecProperties> {
    let obj = spec
        .as_object()
        .ok_or_else(|| ApiError::invalid(field, "a chain spec is a JSON object"))?;
    for key in ["name", "id", "genesis"] {
        if !obj.contains_key(key) {
            return Err(ApiError::invalid(
                format!("{field}.{key}"),
                format!("a chain spec has a `{key}`; is this a chain spec file?"),
            ));
        }
    }
    let props = obj.get("properties").and_then(Value::as_object);
    let get = |k: &str| props.and_then(|p| p.get(k));
    // Multi-token chains list several symbols and decimals; the first is the native token.
    let first = |v: Option<&Value>| match v {
        Some(Value::Array(a)) => a.first().cloned(),
        other => other.cloned(),
    };
    let symbol = first(get("tokenSymbol")).and_then(|v| v.as_str().map(str::to_owned));
    let decimals = first(get("tokenDecimals"))
        .and_then(|v| v.as_u64())
        .and_then(|d| u8::try_from(d).ok());
    let token = match (symbol, decimals) {
        (Some(symbol), Some(decimals)) => Some(TokenInfo { symbol, decimals }),
        _ => None,
    };
    let ss58_prefix = get("ss58Format")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok());
    let is_parachain = obj.contains_key("relay_chain") || obj.contains_key("relayChain");
    Ok(SpecProperties {
        token,
        ss58_prefix,
        is_parachain,
    })
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;
