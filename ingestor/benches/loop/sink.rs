//! Where a row's `M` triggers deliver, and what arrived there: the webhook receiver (one hook
//! per trigger, each delivery's `webhook-id` identifies its (event, trigger)) or the push service
//! (one subscription per trigger; it decrypts every message, and the `Topic` header, derived from
//! the event id, with the subscription identifies its (event, trigger)).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use aurras_e2e::push_service::Subscription;
use aurras_e2e::webhook_receiver::Hook;
use aurras_e2e::world::{World, BOB};
use serde_json::json;

use crate::scenario::Channel;

pub enum Sink {
    Hooks(Vec<Hook>),
    Push(Vec<Subscription>),
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
    /// `triggers` triggers on Bob's incoming transfers, delivering over `channel`.
    pub async fn create(w: &World, channel: Channel, triggers: usize) -> Self {
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
                    w.push_trigger(&subscription, "0.5")
                        .await
                        .expect("push trigger");
                    subscriptions.push(subscription);
                }
                Sink::Push(subscriptions)
            }
        }
    }

    /// Requests accepted so far, copies included (cheap: no payloads copied for webhooks).
    pub fn attempts(&self, w: &World) -> usize {
        match self {
            Sink::Hooks(hooks) => hooks.iter().map(|h| w.hooks.attempts(h).len()).sum(),
            Sink::Push(subs) => subs.iter().map(|s| w.push.attempts(s).len()).sum(),
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
        let rejections = match self {
            Sink::Hooks(_) => w.hooks.rejections(),
            Sink::Push(_) => w.push.rejections(),
        };
        let mut reasons = HashMap::new();
        for r in &rejections {
            *reasons
                .entry(format!("{} {}", r.status, r.reason))
                .or_insert(0) += 1;
        }
        (rejections.len(), reasons)
    }
}
