//! Where a row's `M` triggers deliver, and what arrived there: the webhook receiver (one hook
//! per trigger, each delivery's `webhook-id` identifies its (event, trigger)), the push service
//! (one subscription per trigger; it decrypts every message, and the `Topic` header, derived from
//! the event id, with the subscription identifies its (event, trigger)), or a local chat, phone or
//! mail platform (one chat, webhook, topic, room or confirmed address per trigger; each call the
//! platform accepted after the triggers were made is a delivery; only Matrix's transaction ids
//! tell a copy sent again from a new message, so the others count no duplicates).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use aurras_e2e::channels::Platforms;
use aurras_e2e::platforms::{Exchange, Rejection};
use aurras_e2e::push_service::Subscription;
use aurras_e2e::webhook_receiver::Hook;
use aurras_e2e::world::{World, BOB};
use serde_json::{json, Value};

use crate::scenario::Channel;

pub enum Sink {
    Hooks(Vec<Hook>),
    Push(Vec<Subscription>),
    Platform {
        channel: Channel,
        platforms: Box<Platforms>,
        /// When the last trigger was made: every accepted call after it is a delivery.
        since: Instant,
    },
}

/// The message of every trigger a row makes: `AURRAS_LOOP_MESSAGE`, a `message` object of
/// `POST /api/triggers` (title and body templates), to measure rendering; the default text when
/// unset.
fn message() -> Value {
    match std::env::var("AURRAS_LOOP_MESSAGE") {
        Ok(m) if !m.is_empty() => {
            let message: Value = serde_json::from_str(&m).expect("AURRAS_LOOP_MESSAGE is JSON");
            json!({ "message": message })
        }
        _ => json!({}),
    }
}

/// `triggers` triggers on Bob's incoming transfers delivering to `channel`'s platform, each to a
/// chat, webhook, topic, room or address of its own (mail addresses confirmed).
async fn platform_triggers(w: &World, p: &Platforms, channel: Channel, triggers: usize) {
    let bob_in = json!({"balance": {"account": BOB, "direction": "in"}});
    for i in 0..triggers {
        let action = match channel {
            Channel::Telegram => {
                json!({"telegram": {"chat_id": p.telegram.person(&format!("P{i}")).id}})
            }
            Channel::Discord => json!({"discord": {"url": p.discord.webhook().url}}),
            Channel::Slack => json!({"slack": {"url": p.slack.webhook().url}}),
            Channel::Ntfy => json!({"ntfy": {"topic": format!("bench_{i}")}}),
            Channel::Matrix => {
                let person = p.matrix.user(&format!("p{i}"));
                let room = p.matrix_room(&format!("bench-{i}"), &person);
                json!({"matrix": {"room": room.room_id}})
            }
            Channel::Email => json!({"email": {"address": format!("p{i}@example.com")}}),
            Channel::Webhook | Channel::Push => unreachable!("not a platform"),
        };
        w.trigger(Some(bob_in.clone()), action, message())
            .await
            .expect("platform trigger");
        if channel == Channel::Email {
            p.confirm_email(&w.app.url(), &format!("p{i}@example.com"))
                .await
                .expect("address confirmed");
        }
    }
}

impl Channel {
    /// The calls to the platform that deliver a message (Telegram and Matrix also take others).
    fn delivers(self, path: &str) -> bool {
        match self {
            Channel::Telegram => path.ends_with("/sendMessage"),
            Channel::Matrix => path.contains("/send/m.room.message/"),
            _ => true,
        }
    }
}

/// What `channel`'s platform server accepted and refused.
fn server_of(p: &Platforms, channel: Channel) -> (Vec<Exchange>, Vec<Rejection>) {
    match channel {
        Channel::Telegram => (
            p.telegram.server().attempts(),
            p.telegram.server().rejections(),
        ),
        Channel::Discord => (
            p.discord.server().attempts(),
            p.discord.server().rejections(),
        ),
        Channel::Slack => (p.slack.server().attempts(), p.slack.server().rejections()),
        Channel::Ntfy => (p.ntfy.server().attempts(), p.ntfy.server().rejections()),
        Channel::Matrix => (p.matrix.server().attempts(), p.matrix.server().rejections()),
        Channel::Email => (p.mail.server().attempts(), p.mail.server().rejections()),
        Channel::Webhook | Channel::Push => (Vec::new(), Vec::new()),
    }
}

/// A webhook trigger on `account`'s incoming transfers, posting to a new hook on the receiver.
pub async fn watch(w: &World, account: &str) -> Hook {
    let hook = w.hooks.pending_hook();
    let created = w
        .trigger(
            Some(json!({"balance": {"account": account, "direction": "in"}})),
            json!({"webhook": {"url": hook.url()}}),
            json!({"isJSONData": true}),
        )
        .await
        .expect("webhook trigger");
    w.hooks
        .set_secret(&hook, created["secret"].as_str().expect("secret"))
        .expect("secret");
    hook
}

impl Sink {
    /// `triggers` triggers on Bob's incoming transfers, delivering over `channel` (for a
    /// platform, the platforms started and the app restarted pointed at them first).
    pub async fn create(w: &mut World, channel: Channel, triggers: usize) -> Self {
        match channel {
            Channel::Webhook => {
                let mut hooks = Vec::with_capacity(triggers);
                for _ in 0..triggers {
                    hooks.push(watch(w, BOB).await);
                }
                Sink::Hooks(hooks)
            }
            Channel::Push => {
                let mut subscriptions = Vec::with_capacity(triggers);
                for _ in 0..triggers {
                    let subscription = w.push.subscribe();
                    // Every transfer of the bench is 1 PAS.
                    w.trigger(
                        Some(json!({"balance": {"account": BOB, "direction": "in", "min": "0.5"}})),
                        json!({"web_push": subscription.to_json()}),
                        message(),
                    )
                    .await
                    .expect("push trigger");
                    subscriptions.push(subscription);
                }
                Sink::Push(subscriptions)
            }
            platform => {
                let platforms = Platforms::start(w).await.expect("platforms");
                platform_triggers(w, &platforms, platform, triggers).await;
                Sink::Platform {
                    channel,
                    platforms: Box::new(platforms),
                    since: Instant::now(),
                }
            }
        }
    }

    /// Requests accepted so far, copies included (cheap: no payloads copied for webhooks).
    pub fn attempts(&self, w: &World) -> usize {
        match self {
            Sink::Hooks(hooks) => hooks.iter().map(|h| w.hooks.attempts(h).len()).sum(),
            Sink::Push(subs) => subs.iter().map(|s| w.push.attempts(s).len()).sum(),
            Sink::Platform { .. } => self.arrivals(w).len(),
        }
    }

    /// Each accepted delivery: what identifies its (event, trigger), and when it arrived.
    pub fn arrivals(&self, w: &World) -> Vec<(String, Instant)> {
        match self {
            Sink::Hooks(hooks) => hooks
                .iter()
                .flat_map(|h| w.hooks.received(h))
                .map(|d| (d.id, d.at))
                .collect(),
            Sink::Push(subs) => subs
                .iter()
                .enumerate()
                .flat_map(|(i, s)| {
                    w.push.received(s).into_iter().map(move |m| {
                        let topic = m.topic.unwrap_or_default();
                        (format!("{i}/{topic}"), m.at)
                    })
                })
                .collect(),
            Sink::Platform {
                channel,
                platforms,
                since,
            } => {
                let (attempts, _) = server_of(platforms, *channel);
                attempts
                    .into_iter()
                    .filter(|a| a.at >= *since && (200..300).contains(&a.status))
                    .filter(|a| channel.delivers(&a.path))
                    .enumerate()
                    .map(|(i, a)| match channel {
                        Channel::Matrix => (a.path, a.at),
                        _ => (i.to_string(), a.at),
                    })
                    .collect()
            }
        }
    }

    /// Distinct deliveries so far.
    pub fn distinct(&self, w: &World) -> usize {
        let ids = self.arrivals(w).into_iter().map(|(id, _)| id);
        ids.collect::<HashSet<String>>().len()
    }

    /// What the receiving side refused (bad signature or encryption, a failed handshake), each
    /// reason with its count, and their total.
    pub fn refusals(&self, w: &World) -> (usize, HashMap<String, usize>) {
        let reasons: Vec<String> = match self {
            Sink::Hooks(_) => w
                .hooks
                .rejections()
                .iter()
                .map(|r| format!("{} {}", r.status, r.reason))
                .collect(),
            Sink::Push(_) => w
                .push
                .rejections()
                .iter()
                .map(|r| format!("{} {}", r.status, r.reason))
                .collect(),
            Sink::Platform {
                channel, platforms, ..
            } => {
                let (_, rejections) = server_of(platforms, *channel);
                rejections
                    .iter()
                    .map(|r| format!("{} {}", r.status, r.reason))
                    .collect()
            }
        };
        let mut counted = HashMap::new();
        for reason in &reasons {
            *counted.entry(reason.clone()).or_insert(0) += 1;
        }
        (reasons.len(), counted)
    }
}
