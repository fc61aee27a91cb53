//! A row of the sweep, as written in `AURRAS_LOOP_ROWS`: `NxM[@backlog][+stored][/channel]`.

use std::str::FromStr;

/// Where the `M` matching triggers deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Signed webhooks to the local HTTPS receiver (one host).
    Webhook,
    /// Web Push to the local push service (one host), which decrypts every message.
    Push,
    /// Telegram: one chat per trigger, through the local Bot API.
    Telegram,
    /// Discord: one webhook per trigger.
    Discord,
    /// Slack: one incoming webhook per trigger.
    Slack,
    /// ntfy: one topic per trigger.
    Ntfy,
    /// Matrix: one room per trigger, each with the operator's bot in it.
    Matrix,
    /// Email through the local Resend: one confirmed address per trigger.
    Email,
}

impl Channel {
    const ALL: [Channel; 8] = [
        Channel::Webhook,
        Channel::Push,
        Channel::Telegram,
        Channel::Discord,
        Channel::Slack,
        Channel::Ntfy,
        Channel::Matrix,
        Channel::Email,
    ];
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Channel::Webhook => "webhook",
            Channel::Push => "push",
            Channel::Telegram => "telegram",
            Channel::Discord => "discord",
            Channel::Slack => "slack",
            Channel::Ntfy => "ntfy",
            Channel::Matrix => "matrix",
            Channel::Email => "email",
        })
    }
}

/// A row: `N` transfers in one block, `M` triggers on their recipient delivering over
/// `channel`, the webhook receiver's accept queue, and `stored` triggers on other accounts of the
/// same event that never fire. Written `NxM`, then in any order `@backlog` (default 4096),
/// `+stored` (default 0) and `/channel` (default webhook; `push`, `telegram`, `discord`, `slack`,
/// `ntfy`, `matrix`, `email`): `100x50`, `100x50@5`, `100x50+10000`, `100x50/push`,
/// `100x10/telegram`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    pub transfers: u64,
    pub triggers: usize,
    pub backlog: u32,
    pub stored: usize,
    pub channel: Channel,
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let marker = |c: char| matches!(c, '@' | '+' | '/');
        let load_end = s.find(marker).unwrap_or(s.len());
        let (n, m) = s[..load_end]
            .split_once('x')
            .ok_or(format!("{s:?}: not NxM[@backlog][+stored][/channel]"))?;
        let number = |v: &str| v.trim().parse::<u64>().map_err(|e| format!("{s:?}: {e}"));
        let mut scenario = Scenario {
            transfers: number(n)?,
            triggers: number(m)? as usize,
            backlog: 4096,
            stored: 0,
            channel: Channel::Webhook,
        };
        let mut rest = &s[load_end..];
        while let Some(kind) = rest.chars().next() {
            let end = rest[1..].find(marker).map_or(rest.len(), |i| i + 1);
            let value = rest[1..end].trim();
            match kind {
                '@' => scenario.backlog = number(value)? as u32,
                '+' => scenario.stored = number(value)? as usize,
                _ => {
                    scenario.channel = Channel::ALL
                        .into_iter()
                        .find(|c| c.to_string() == value)
                        .ok_or_else(|| {
                            let names: Vec<String> =
                                Channel::ALL.iter().map(ToString::to_string).collect();
                            format!(
                                "{s:?}: channel {value:?} is not one of {}",
                                names.join(", ")
                            )
                        })?
                }
            }
            rest = &rest[end..];
        }
        Ok(scenario)
    }
}

impl std::fmt::Display for Scenario {
    /// The load and the accept queue, as the first column has always shown them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{} @{}", self.transfers, self.triggers, self.backlog)
    }
}

impl Scenario {
    /// The stored triggers and channel, short: `+10k push`.
    pub fn variant(&self) -> String {
        let stored = match self.stored {
            0 => String::new(),
            n if n % 1000 == 0 => format!("+{}k ", n / 1000),
            n => format!("+{n} "),
        };
        format!("{stored}{}", self.channel)
    }
}
