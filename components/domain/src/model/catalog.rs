//! What Aurras knows about common events before any metadata arrives: their field names, and for
//! balance-moving events which field is the receiving account, the sending account and the amount.
//!
//! Field names are those of the metadata (FRAME pallets' event fields), which is what the envelope
//! carries. Events missing here are accepted; their filters are checked when they run.

/// Where the balance filter looks in one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceFields {
    /// The account that receives (`direction: in`), if the event has one.
    pub incoming: Option<&'static str>,
    /// The account that pays (`direction: out`), if the event has one.
    pub outgoing: Option<&'static str>,
    /// The amount moved.
    pub amount: &'static str,
}

/// One known event.
#[derive(Debug, Clone, Copy)]
pub struct KnownEvent {
    /// `Pallet.Event`.
    pub name: &'static str,
    /// Its field names.
    pub fields: &'static [&'static str],
    /// How the balance filter reads it, for events that move balance.
    pub balance: Option<BalanceFields>,
}

const fn moves(
    incoming: Option<&'static str>,
    outgoing: Option<&'static str>,
    amount: &'static str,
) -> Option<BalanceFields> {
    Some(BalanceFields {
        incoming,
        outgoing,
        amount,
    })
}

/// The catalog.
pub const KNOWN_EVENTS: &[KnownEvent] = &[
    KnownEvent {
        name: "Balances.Transfer",
        fields: &["from", "to", "amount"],
        balance: moves(Some("to"), Some("from"), "amount"),
    },
    KnownEvent {
        name: "Balances.Deposit",
        fields: &["who", "amount"],
        balance: moves(Some("who"), None, "amount"),
    },
    KnownEvent {
        name: "Balances.Withdraw",
        fields: &["who", "amount"],
        balance: moves(None, Some("who"), "amount"),
    },
    KnownEvent {
        name: "Balances.Endowed",
        fields: &["account", "free_balance"],
        balance: moves(Some("account"), None, "free_balance"),
    },
    KnownEvent {
        name: "Balances.Minted",
        fields: &["who", "amount"],
        balance: moves(Some("who"), None, "amount"),
    },
    KnownEvent {
        name: "Balances.Burned",
        fields: &["who", "amount"],
        balance: moves(None, Some("who"), "amount"),
    },
    KnownEvent {
        name: "Balances.Reserved",
        fields: &["who", "amount"],
        balance: moves(None, Some("who"), "amount"),
    },
    KnownEvent {
        name: "Balances.Unreserved",
        fields: &["who", "amount"],
        balance: moves(Some("who"), None, "amount"),
    },
    KnownEvent {
        name: "Balances.DustLost",
        fields: &["account", "amount"],
        balance: moves(None, Some("account"), "amount"),
    },
    KnownEvent {
        name: "Balances.Slashed",
        fields: &["who", "amount"],
        balance: moves(None, Some("who"), "amount"),
    },
    KnownEvent {
        name: "Balances.BalanceSet",
        fields: &["who", "free"],
        balance: None,
    },
    KnownEvent {
        name: "Staking.EraPaid",
        fields: &["era_index", "validator_payout", "remainder"],
        balance: None,
    },
    KnownEvent {
        name: "Staking.Rewarded",
        fields: &["stash", "dest", "amount"],
        balance: moves(Some("stash"), None, "amount"),
    },
    KnownEvent {
        name: "Staking.Slashed",
        fields: &["staker", "amount"],
        balance: moves(None, Some("staker"), "amount"),
    },
    KnownEvent {
        name: "Staking.Bonded",
        fields: &["stash", "amount"],
        balance: None,
    },
    KnownEvent {
        name: "Staking.Unbonded",
        fields: &["stash", "amount"],
        balance: None,
    },
    KnownEvent {
        name: "Staking.Withdrawn",
        fields: &["stash", "amount"],
        balance: None,
    },
    KnownEvent {
        name: "System.NewAccount",
        fields: &["account"],
        balance: None,
    },
    KnownEvent {
        name: "System.KilledAccount",
        fields: &["account"],
        balance: None,
    },
    KnownEvent {
        name: "System.ExtrinsicSuccess",
        fields: &["dispatch_info"],
        balance: None,
    },
    KnownEvent {
        name: "System.ExtrinsicFailed",
        fields: &["dispatch_error", "dispatch_info"],
        balance: None,
    },
    KnownEvent {
        name: "TransactionPayment.TransactionFeePaid",
        fields: &["who", "actual_fee", "tip"],
        balance: moves(None, Some("who"), "actual_fee"),
    },
];

/// Looks an event up by `Pallet.Event`.
pub fn known_event(name: &str) -> Option<&'static KnownEvent> {
    KNOWN_EVENTS.iter().find(|e| e.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balance_fields_are_fields_of_their_event() {
        for e in KNOWN_EVENTS {
            if let Some(b) = e.balance {
                for f in [b.incoming, b.outgoing, Some(b.amount)]
                    .into_iter()
                    .flatten()
                {
                    assert!(e.fields.contains(&f), "{}: {f}", e.name);
                }
            }
        }
        assert!(known_event("Balances.Transfer").is_some());
        assert!(known_event("Nope.Nope").is_none());
    }
}
