//! The recipes: what each watches, which fields name the person's account, and what a person
//! gives. Field names are those of the runtimes' metadata (FRAME pallets' event fields), which
//! the envelope carries.

use serde_json::{json, Value};

/// One input a recipe takes.
#[derive(Debug, Clone, Copy)]
pub struct Input {
    /// Its name in `inputs`.
    pub name: &'static str,
    /// `address`, `direction`, `amount`, `integer`, `integers`.
    pub kind: &'static str,
    /// Whether the recipe needs it.
    pub required: bool,
    /// One line for people.
    pub about: &'static str,
}

impl Input {
    /// As `GET /api/recipes` shows it.
    pub fn view(&self) -> Value {
        json!({"name": self.name, "kind": self.kind, "required": self.required, "about": self.about})
    }
}

/// A recipe.
#[derive(Debug, Clone, Copy)]
pub struct Recipe {
    /// `staking_alert`.
    pub id: &'static str,
    /// "Slashed, chilled or kicked".
    pub title: &'static str,
    /// A sentence for people choosing.
    pub about: &'static str,
    /// `Pallet.Event`s it watches where the runtime has them.
    pub events: &'static [&'static str],
    /// The fields that name the person's account, any of which may: empty when the recipe is
    /// not about one account.
    pub account_fields: &'static [&'static str],
    /// What a person gives.
    pub inputs: &'static [Input],
}

impl Recipe {
    /// Whether its triggers follow one account (and are indexed by it).
    pub fn by_account(&self) -> bool {
        !self.account_fields.is_empty()
    }
}

const ADDRESS: Input = Input {
    name: "address",
    kind: "address",
    required: true,
    about: "the account, as an address on the chain",
};

const DIRECTION: Input = Input {
    name: "direction",
    kind: "direction",
    required: false,
    about: "in (received, the default), out (sent) or any",
};

/// The recipes, in the order the page offers them.
pub const RECIPES: &[Recipe] = &[
    Recipe {
        id: "funds",
        title: "Funds received or sent",
        about: "A transfer of the chain's own token to or from an address, above a minimum.",
        events: &["Balances.Transfer"],
        account_fields: &["to", "from"],
        inputs: &[
            ADDRESS,
            DIRECTION,
            Input {
                name: "min",
                kind: "amount",
                required: false,
                about: "the smallest amount worth a notice, in the chain's token (\"1.5\")",
            },
        ],
    },
    Recipe {
        id: "assets",
        title: "Stablecoins and assets",
        about: "An asset (USDT, USDC, any asset id) received, minted to or sent from an address on an Asset Hub.",
        events: &["Assets.Transferred", "Assets.Issued"],
        account_fields: &["to", "owner", "from"],
        inputs: &[
            ADDRESS,
            Input {
                name: "asset",
                kind: "integer",
                required: true,
                about: "the asset's id (1984 is USDT and 1337 USDC on Polkadot Asset Hub)",
            },
            DIRECTION,
            Input {
                name: "min",
                kind: "amount",
                required: false,
                about: "the smallest amount worth a notice, in the asset's own units (\"2.5\"), read with the decimals of its metadata on the chain",
            },
        ],
    },
    Recipe {
        id: "staking_reward",
        title: "Staking reward paid",
        about: "A staking reward paid to a stash, or a nomination pool paying out to a member.",
        events: &["Staking.Rewarded", "NominationPools.PaidOut"],
        account_fields: &["stash", "member"],
        inputs: &[Input {
            about: "the stash, or the pool member",
            ..ADDRESS
        }],
    },
    Recipe {
        id: "staking_alert",
        title: "Slashed, chilled or kicked",
        about: "A stash slashed or chilled, or a nominator kicked by a validator.",
        events: &["Staking.Slashed", "Staking.Chilled", "Staking.Kicked"],
        account_fields: &["staker", "stash", "nominator"],
        inputs: &[Input {
            about: "the stash or nominator",
            ..ADDRESS
        }],
    },
    Recipe {
        id: "referendum_new",
        title: "New referendum",
        about: "A referendum submitted, on every track or on the tracks chosen.",
        events: &["Referenda.Submitted"],
        account_fields: &[],
        inputs: &[Input {
            name: "tracks",
            kind: "integers",
            required: false,
            about: "the track ids to follow (0 root, 11 treasurer, 30 small tipper, …); all when left out",
        }],
    },
    Recipe {
        id: "referendum_outcome",
        title: "A referendum's outcome",
        about: "A referendum confirmed, rejected, cancelled, timed out or killed.",
        events: &[
            "Referenda.Confirmed",
            "Referenda.Rejected",
            "Referenda.Cancelled",
            "Referenda.TimedOut",
            "Referenda.Killed",
        ],
        account_fields: &[],
        inputs: &[
            Input {
                name: "referendum",
                kind: "integer",
                required: false,
                about: "the referendum's index; every referendum when left out",
            },
            Input {
                name: "tracks",
                kind: "integers",
                required: false,
                about: "instead of one referendum, every referendum on these track ids",
            },
        ],
    },
    Recipe {
        id: "account_security",
        title: "Account security",
        about: "A proxy added to an account or a pure proxy created by it, a multisig operation waiting, or its identity judged or cleared.",
        events: &[
            "Proxy.ProxyAdded",
            "Proxy.PureCreated",
            "Multisig.NewMultisig",
            "Identity.JudgementGiven",
            "Identity.IdentityCleared",
            "Identity.IdentityKilled",
        ],
        account_fields: &["delegator", "who", "multisig", "target"],
        inputs: &[ADDRESS],
    },
];

/// The recipe with id `id`.
pub fn recipe(id: &str) -> Option<&'static Recipe> {
    RECIPES.iter().find(|r| r.id == id)
}
