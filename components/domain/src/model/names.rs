//! Chain names, `Pallet.Event` names and the topics they make: `<chain>.<Pallet>.<Event>`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A chain's name: lowercase `[a-z0-9-]`, 1 to 64 characters, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChainName(String);

impl ChainName {
    /// Validates a chain name.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && !s.starts_with('-')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a chain name: use 1 to 64 of a-z, 0-9 and '-', not starting with '-'"
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ChainName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<ChainName> for String {
    fn from(c: ChainName) -> String {
        c.0
    }
}

impl fmt::Display for ChainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pallet event, `Pallet.Event`, as metadata names them (`Balances.Transfer`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventName {
    pallet: String,
    event: String,
}

fn is_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl EventName {
    /// Parses `Pallet.Event`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.split_once('.') {
            Some((pallet, event)) if is_identifier(pallet) && is_identifier(event) => Ok(Self {
                pallet: pallet.to_owned(),
                event: event.to_owned(),
            }),
            _ => Err(format!(
                "{s:?} is not a pallet event: write it as Pallet.Event, e.g. \"Balances.Transfer\""
            )),
        }
    }

    /// Builds from parts known to be valid (e.g. decoded from metadata).
    pub fn new(pallet: &str, event: &str) -> Result<Self, String> {
        Self::parse(&format!("{pallet}.{event}"))
    }

    /// The pallet (`Balances`).
    pub fn pallet(&self) -> &str {
        &self.pallet
    }

    /// The event (`Transfer`).
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The broker topic for this event on `chain`.
    pub fn topic(&self, chain: &ChainName) -> Topic {
        Topic(format!("{chain}.{}.{}", self.pallet, self.event))
    }
}

impl TryFrom<String> for EventName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<EventName> for String {
    fn from(e: EventName) -> String {
        e.to_string()
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.pallet, self.event)
    }
}

/// A broker topic: `<chain>.<Pallet>.<Event>`. Valid Kafka topic names by construction (Kafka allows
/// `[a-zA-Z0-9._-]`, at most 249 characters).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Topic(String);

impl Topic {
    /// Parses `<chain>.<Pallet>.<Event>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (chain, event) = s
            .split_once('.')
            .ok_or_else(|| format!("{s:?} is not a topic: <chain>.<Pallet>.<Event>"))?;
        Ok(EventName::parse(event)?.topic(&ChainName::parse(chain)?))
    }

    /// `<chain>.<middle>.<last>` from parts known to be valid topic characters (a recipe's
    /// index topic, `crate::recipe::recipe_topic`).
    pub(crate) fn from_parts(chain: &ChainName, middle: &str, last: &str) -> Self {
        Topic(format!("{chain}.{middle}.{last}"))
    }

    /// The topic name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_join_chain_pallet_and_event() {
        let chain = ChainName::parse("paseo").expect("chain");
        let event = EventName::parse("Balances.Transfer").expect("event");
        assert_eq!(event.topic(&chain).as_str(), "paseo.Balances.Transfer");
        assert_eq!(event.pallet(), "Balances");
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "Paseo", "pa seo", "-x", "a.b", &"x".repeat(65)] {
            assert!(ChainName::parse(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "Balances",
            "Balances.",
            ".Transfer",
            "Balances.Trans-fer",
            "Balances.Transfer.x",
            "1a.B",
        ] {
            assert!(EventName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ChainName::parse("asset-hub-polkadot").is_ok());
    }
}
