//! Each recipe's default message: plain sentences per event, as templates over the event
//! ([`crate::message`]), so a person who writes their own `message` replaces them the same way
//! and a field a runtime lacks falls back to the generic text, said in the delivery status.

use crate::message::MessageSpec;

/// `… on <chain> at block #n.` and the block's link when the operator set an explorer.
const WHERE: &str = " on {{ chain }} at block #{{ block }}.{% if link %} {{ link }}{% endif %}";

/// The default title and body of recipe `id`'s notifications; `None` keeps the generic text
/// (which already says what a balance transfer is).
pub fn default_message(id: &str) -> Option<MessageSpec> {
    let (title, body) = match id {
        "assets" => (
            "{% if asset %}{{ asset.symbol }}{% else %}Asset {{ fields.asset_id }}{% endif %} on \
             {{ chain }}",
            "{% if event == \"Assets.Issued\" %}{{ asset_amount(fields.amount) }}{{ OF }} minted \
             to {{ short(fields.owner) }}{% else %}{{ short(fields.to) }} received \
             {{ asset_amount(fields.amount) }}{{ OF }} from {{ short(fields.from) }}{% endif %}",
        ),
        "staking_reward" => (
            "Staking reward on {{ chain }}",
            "{% if event == \"NominationPools.PaidOut\" %}Pool {{ fields.pool_id }} paid \
             {{ short(fields.member) }} {{ amount(fields.payout) }}{% else %}\
             {{ short(fields.stash) }} was paid a staking reward of {{ amount(fields.amount) }}\
             {% endif %}",
        ),
        "staking_alert" => (
            "Staking alert on {{ chain }}",
            "{% if event == \"Staking.Slashed\" %}{{ short(fields.staker) }} was slashed \
             {{ amount(fields.amount) }}{% elif event == \"Staking.Chilled\" %}\
             {{ short(fields.stash) }} was chilled: it no longer validates or nominates\
             {% else %}{{ short(fields.nominator) }} was kicked from the nominators of validator \
             {{ short(fields.stash) }}{% endif %}",
        ),
        "referendum_new" => (
            "New referendum on {{ chain }}",
            "Referendum {{ fields.index }} was submitted on {{ TRACK }}",
        ),
        "referendum_outcome" => (
            "Referendum {{ fields.index }} on {{ chain }}",
            "Referendum {{ fields.index }}{% if track %} on the {{ track.name | replace(\"_\", \" \") \
             | title }} track{% endif %} was {% if event == \"Referenda.Confirmed\" %}approved\
             {% elif event == \"Referenda.Rejected\" %}rejected{% elif event == \
             \"Referenda.Cancelled\" %}cancelled{% elif event == \"Referenda.TimedOut\" %}\
             timed out{% else %}killed{% endif %}",
        ),
        "account_security" => (
            "Account security on {{ chain }}",
            "{% if event == \"Proxy.ProxyAdded\" %}A proxy was added to \
             {{ short(fields.delegator) }}: {{ short(fields.delegatee) }} may now act for it \
             ({{ fields.proxy_type }}){% elif event == \"Proxy.PureCreated\" %}\
             {{ short(fields.who) }} created the pure proxy {{ short(fields.pure) }}\
             {% elif event == \"Multisig.NewMultisig\" %}A multisig operation of \
             {{ short(fields.multisig) }} waits for approvals (started by \
             {{ short(fields.approving) }}){% elif event == \"Identity.JudgementGiven\" %}\
             Registrar {{ fields.registrar_index }} judged the identity of \
             {{ short(fields.target) }}{% elif event == \"Identity.IdentityCleared\" %}\
             The identity of {{ short(fields.who) }} was cleared{% else %}The identity of \
             {{ short(fields.who) }} was removed by the chain's governance{% endif %}",
        ),
        _ => return None,
    };
    // A track by its name in the runtime ("the Small Tipper track"), else by its id.
    let body = body.replace(
        "{{ TRACK }}",
        "{% if track %}the {{ track.name | replace(\"_\", \" \") | title }} track{% else %}track \
         {{ fields.track }}{% endif %}",
    );
    // An asset without metadata is named by its id after the plain number.
    let body = body.replace(
        "{{ OF }}",
        "{% if not asset %} of asset {{ fields.asset_id }}{% endif %}",
    );
    Some(MessageSpec {
        title: Some(title.to_owned()),
        body: Some(format!("{body}{WHERE}")),
    })
}
