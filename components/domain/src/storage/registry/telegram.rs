//! Telegram deep links in the registry ([`crate::channel::telegram_link`]): an unlinked Telegram
//! trigger gets a one-time code when it is stored, indexed under `telegram/link/<hash>`; the
//! code's `/start` links the chat by compare-and-swap on the trigger record (re-sealed like any
//! change), and the index entry goes once it is used, replaced, expired or its trigger deleted.
//!
//! An index entry is only a pointer: the trigger's own sealed record decides, so an entry left
//! behind (a create that failed after writing it, a code replaced meanwhile) links nothing and
//! is deleted when presented.

use super::{Caller, Registry, MAX_CAS_ATTEMPTS};
use crate::action::Action;
use crate::cas::{decode, encode};
use crate::channel::telegram::ChatId;
use crate::channel::telegram_link::{code_key, is_code, LinkRecord, PendingLink};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::kv::KeyValue;
use crate::trigger::Trigger;

/// Unix milliseconds of an RFC 3339 time (the registry's `now`).
pub(super) fn unix_ms(now: &str) -> ApiResult<u64> {
    let t = humantime::parse_rfc3339_weak(now)
        .map_err(|e| ApiError::internal(format!("the time {now:?} is not RFC 3339: {e}")))?;
    let since = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| ApiError::internal(format!("the time {now:?} is before 1970")))?;
    Ok(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

fn pending(t: &Trigger) -> Option<&PendingLink> {
    match &t.action {
        Action::Telegram(tg) if tg.chat_id.is_none() => tg.link.as_ref(),
        _ => None,
    }
}

impl<'a, S: KeyValue + ?Sized> Registry<'a, S> {
    /// The same registry making deep links for `bot` (`telegram_bot_name`).
    pub fn with_telegram_bot(mut self, bot: Option<String>) -> Self {
        self.telegram_bot = bot;
        self
    }

    /// Gives an unlinked Telegram trigger a live code (a new one unless it has one) and indexes
    /// the code under the trigger's current id, before the trigger is stored; a linked one
    /// keeps no code. Anything else is left alone.
    pub(super) fn prepare_telegram_link(&self, t: &mut Trigger, now: &str) -> ApiResult<()> {
        let Action::Telegram(tg) = &mut t.action else {
            return Ok(());
        };
        if tg.chat_id.is_some() {
            tg.link = None;
            return Ok(());
        }
        let now_ms = unix_ms(now)?;
        if !tg.link.as_ref().is_some_and(|l| l.is_live(now_ms)) {
            let bot = self.telegram_bot.as_deref().ok_or_else(|| {
                ApiError::invalid(
                    "action.telegram.chat_id",
                    "required on this server: deep links are not enabled (the operator sets the Spin variable telegram_bot_name)",
                )
            })?;
            tg.link = Some(PendingLink::new(bot, now_ms)?);
        }
        if let Some(link) = &tg.link {
            let record = LinkRecord {
                trigger: t.id.clone(),
                expires_ms: link.expires_ms,
            };
            // A fresh random key (or the same pointer again): nothing races on it.
            self.kv.set(&link.key(), &encode(&record)?)?;
        }
        Ok(())
    }

    /// Deletes the index entry of `old`'s code unless `new` (what replaced it) still uses it.
    pub(super) fn retire_telegram_link(
        &self,
        old: &Trigger,
        new: Option<&Trigger>,
    ) -> ApiResult<()> {
        let Some(link) = pending(old) else {
            return Ok(());
        };
        if new.and_then(pending).is_some_and(|n| n.code == link.code) {
            return Ok(());
        }
        Ok(self.kv.delete(&link.key())?)
    }

    /// Links the chat that sent `/start <code>` to the code's trigger: the trigger, now linked,
    /// or `None` for a code that is malformed, unknown, used, replaced or expired (its index
    /// entry is deleted on the way). The link is a compare-and-swap on the trigger record, so
    /// a change made meanwhile is read again, and of two chats racing with one code only one
    /// wins.
    pub fn link_telegram_chat(
        &self,
        code: &str,
        chat: i64,
        now_ms: u64,
    ) -> ApiResult<Option<Trigger>> {
        if !is_code(code) {
            return Ok(None);
        }
        self.redeem_code(
            &code_key(code),
            now_ms,
            |t| pending(t).is_some_and(|l| l.is_code(code) && l.is_live(now_ms)),
            |next| {
                if let Action::Telegram(tg) = &mut next.action {
                    tg.chat_id = Some(ChatId::Id(chat));
                    tg.link = None;
                }
                Ok(())
            },
        )
    }

    /// Redeems a one-time code (a Telegram link, an email confirmation) indexed under `key`:
    /// `change` applied to its trigger by compare-and-swap while `waiting` still holds (the
    /// trigger's own sealed copy of the code decides, not the index entry), then the index
    /// entry deleted. `None`, and the entry deleted, for an expired, unreadable, stale or
    /// orphaned entry; `None` when there is none.
    pub(super) fn redeem_code(
        &self,
        key: &str,
        now_ms: u64,
        waiting: impl Fn(&Trigger) -> bool,
        mut change: impl FnMut(&mut Trigger) -> ApiResult<()>,
    ) -> ApiResult<Option<Trigger>> {
        let Some(bytes) = self.kv.get(key)? else {
            return Ok(None);
        };
        let record = match decode::<LinkRecord>(key, &bytes) {
            Ok(record) if record.expires_ms > now_ms => record,
            // Expired, or unreadable: either way it will never redeem anything.
            _ => {
                self.kv.delete(key)?;
                return Ok(None);
            }
        };
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (current, read) = match self.read_trigger(&record.trigger, Caller::Operator) {
                Ok(found) => found,
                Err(e) if e.code == ErrorCode::NotFound => {
                    self.kv.delete(key)?;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            if !waiting(&current) {
                self.kv.delete(key)?;
                return Ok(None);
            }
            let mut next = current.clone();
            change(&mut next)?;
            match self.store_change(&current, &read, &next) {
                Ok(()) => {
                    self.kv.delete(key)?;
                    return Ok(Some(next));
                }
                Err(e) if e.code == ErrorCode::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::new(
            ErrorCode::Busy,
            "too many concurrent changes to the trigger; retry",
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::channel::telegram_link::LINK_TTL_MS;
    use crate::kv::MemoryStore;
    use crate::source::Source;
    use crate::vault::TEST_KEYRING;

    const NOW: &str = "2025-01-01T00:00:00.000Z";
    const NOW_MS: u64 = 1_735_689_600_000;

    fn registry(kv: &MemoryStore) -> Registry<'_, MemoryStore> {
        Registry::new(kv, &TEST_KEYRING).with_telegram_bot(Some("aurras_bot".into()))
    }

    fn source(reg: &Registry<'_, MemoryStore>) -> Source {
        let req = serde_json::from_value(json!({"chain": "paseo", "rpc": ["ws://127.0.0.1:9944"],
            "events": ["Balances.Transfer"], "token": {"symbol": "PAS", "decimals": 10}}))
        .expect("shape");
        reg.create_source(req, NOW).expect("source")
    }

    fn create(reg: &Registry<'_, MemoryStore>, src: &Source, action: Value) -> (Trigger, String) {
        let body = json!({"source": src.id, "event": "Balances.Transfer", "name": "Bob's income",
                          "action": action});
        let created = reg
            .create_trigger(serde_json::from_value(body).expect("shape"), NOW)
            .expect("trigger");
        (created.trigger, created.token)
    }

    fn link_of(t: &Trigger) -> PendingLink {
        pending(t).cloned().expect("pending link")
    }

    fn link_keys(kv: &MemoryStore) -> Vec<String> {
        kv.keys()
            .into_iter()
            .filter(|k| k.starts_with("telegram/link/"))
            .collect()
    }

    #[test]
    fn a_code_links_its_chat_once_and_is_gone() {
        let kv = MemoryStore::default();
        let reg = registry(&kv);
        let src = source(&reg);
        let (t, token) = create(&reg, &src, json!({"telegram": {}}));
        let link = link_of(&t);
        assert!(link.url.starts_with("https://t.me/aurras_bot?start="));
        assert_eq!(link.expires_ms, NOW_MS + LINK_TTL_MS);
        assert_eq!(link_keys(&kv), [link.key()]);
        // The code is sealed in the record, never in the clear.
        let raw = String::from_utf8(
            kv.get(&crate::keys::trigger(&t.id))
                .expect("get")
                .expect("record"),
        )
        .expect("utf8");
        assert!(!raw.contains(&link.code));
        let view = t.view();
        assert_eq!(view["action"]["telegram"]["linked"], false);
        assert_eq!(view["action"]["telegram"]["link"], link.url);

        assert_eq!(
            reg.link_telegram_chat("unknown_code", 42, NOW_MS)
                .expect("unknown"),
            None
        );
        let linked = reg
            .link_telegram_chat(&link.code, 42, NOW_MS + 1)
            .expect("link")
            .expect("linked");
        assert_eq!(linked.id, t.id);
        let stored = reg.trigger(&t.id, &token).expect("read");
        assert!(
            matches!(&stored.action, Action::Telegram(tg) if tg.chat_id == Some(ChatId::Id(42)) && tg.link.is_none())
        );
        assert_eq!(stored.view()["action"]["telegram"]["linked"], true);
        assert!(link_keys(&kv).is_empty(), "the code is used up");
        // Used once: another chat presenting it links nothing.
        assert_eq!(
            reg.link_telegram_chat(&link.code, 43, NOW_MS + 2)
                .expect("reused"),
            None
        );
        let stored = reg.trigger(&t.id, &token).expect("read");
        assert!(
            matches!(&stored.action, Action::Telegram(tg) if tg.chat_id == Some(ChatId::Id(42)))
        );
    }

    #[test]
    fn expired_codes_are_refused_and_cleaned_up_and_a_change_makes_a_new_one() {
        let kv = MemoryStore::default();
        let reg = registry(&kv);
        let src = source(&reg);
        let (t, token) = create(&reg, &src, json!({"telegram": {}}));
        let old = link_of(&t);
        assert_eq!(
            reg.link_telegram_chat(&old.code, 42, old.expires_ms)
                .expect("expired"),
            None
        );
        assert!(
            link_keys(&kv).is_empty(),
            "the expired code's entry is deleted"
        );
        // Asking again (PATCH with the same action) after the expiry makes a fresh code …
        let later = crate::rfc3339(old.expires_ms + 1);
        let patch = serde_json::from_value(json!({"action": {"telegram": {}}})).expect("patch");
        let changed = reg
            .patch_trigger(&t.id, &token, patch, &later)
            .expect("patch");
        let fresh = link_of(&changed);
        assert_ne!(fresh.code, old.code);
        assert_eq!(link_keys(&kv), [fresh.key()]);
        // … while a live one is kept as it is.
        let patch = serde_json::from_value(json!({"name": "renamed"})).expect("patch");
        let renamed = reg
            .patch_trigger(&t.id, &token, patch, &later)
            .expect("patch");
        assert_eq!(link_of(&renamed), fresh);
        assert!(reg
            .link_telegram_chat(&fresh.code, 7, old.expires_ms + 2)
            .expect("link")
            .is_some());
        // A linked trigger patched with {"telegram": {}} keeps its chat.
        let patch = serde_json::from_value(json!({"action": {"telegram": {}}})).expect("patch");
        let kept = reg
            .patch_trigger(&t.id, &token, patch, &later)
            .expect("patch");
        assert!(matches!(&kept.action, Action::Telegram(tg) if tg.chat_id == Some(ChatId::Id(7))));
        assert!(link_keys(&kv).is_empty());
    }

    #[test]
    fn replaced_or_deleted_triggers_leave_no_working_code() {
        let kv = MemoryStore::default();
        let reg = registry(&kv);
        let src = source(&reg);
        let (t, token) = create(&reg, &src, json!({"telegram": {}}));
        let code = link_of(&t).code;
        let patch = serde_json::from_value(json!({"action": {"telegram": {"chat_id": -100}}}))
            .expect("patch");
        reg.patch_trigger(&t.id, &token, patch, NOW).expect("patch");
        assert!(link_keys(&kv).is_empty());
        assert_eq!(
            reg.link_telegram_chat(&code, 42, NOW_MS).expect("replaced"),
            None
        );

        let (t, token) = create(&reg, &src, json!({"telegram": {}}));
        let code = link_of(&t).code;
        reg.delete_trigger(&t.id, &token).expect("delete");
        assert!(link_keys(&kv).is_empty());
        assert_eq!(
            reg.link_telegram_chat(&code, 42, NOW_MS).expect("deleted"),
            None
        );

        // A stale entry (its trigger has another code now) links nothing and is dropped.
        let (t, _) = create(&reg, &src, json!({"telegram": {}}));
        let stale = PendingLink::new("aurras_bot", NOW_MS).expect("code");
        let record = LinkRecord {
            trigger: t.id.clone(),
            expires_ms: stale.expires_ms,
        };
        kv.set(&stale.key(), &encode(&record).expect("json"))
            .expect("set");
        assert_eq!(
            reg.link_telegram_chat(&stale.code, 42, NOW_MS)
                .expect("stale"),
            None
        );
        assert_eq!(link_keys(&kv), [link_of(&t).key()]);
    }

    #[test]
    fn dispatch_skips_a_trigger_until_its_chat_is_linked() {
        use crate::dispatch::{fires, Skip};
        let kv = MemoryStore::default();
        let reg = registry(&kv);
        let src = source(&reg);
        let (t, _) = create(&reg, &src, json!({"telegram": {}}));
        let envelope: crate::envelope::Envelope = serde_json::from_value(json!({
            "id": "0x01", "version": 1, "chain": "paseo", "genesis_hash": "0x00",
            "block": {"number": 1, "hash": "0x02"}, "event_index": 0, "extrinsic_index": null,
            "phase": "apply_extrinsic", "pallet": "Balances", "event": "Transfer",
            "spec_version": 1, "fields": {}
        }))
        .expect("envelope");
        assert_eq!(fires(&t, &envelope, Some(&src)), Err(Skip::Unlinked));
        let linked = reg
            .link_telegram_chat(&link_of(&t).code, 42, NOW_MS)
            .expect("link")
            .expect("linked");
        assert_eq!(fires(&linked, &envelope, Some(&src)), Ok(()));
    }

    #[test]
    fn a_client_cannot_bring_its_own_link() {
        let platforms = crate::channel::Platforms::from_variables(|n| match n {
            "telegram_bot_token" => Some("1:abc".into()),
            "telegram_bot_name" => Some("aurras_bot".into()),
            _ => None,
        });
        let spec: crate::action::ActionSpec = serde_json::from_value(json!({"telegram": {"link": {
            "code": "abc", "url": "https://t.me/aurras_bot?start=abc", "expires_ms": 1}}}))
        .expect("shape");
        let err = spec.admit(&platforms, false).expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("action.telegram.link"));
        let spec: crate::action::ActionSpec =
            serde_json::from_value(json!({"telegram": {}})).expect("shape");
        spec.admit(&platforms, false).expect("a deep link");
    }

    #[test]
    fn deep_links_need_the_bot_name_and_given_chats_get_no_code() {
        let kv = MemoryStore::default();
        let reg = registry(&kv);
        let src = source(&reg);
        let (t, _) = create(&reg, &src, json!({"telegram": {"chat_id": "@aurras_news"}}));
        assert!(pending(&t).is_none());
        assert_eq!(
            t.view()["action"]["telegram"],
            json!({"linked": true, "chat_id": "@aurras_news"})
        );
        assert!(link_keys(&kv).is_empty());
        let nameless = Registry::new(&kv, &TEST_KEYRING);
        let body =
            json!({"source": src.id, "event": "Balances.Transfer", "action": {"telegram": {}}});
        let err = nameless
            .create_trigger(serde_json::from_value(body).expect("shape"), NOW)
            .expect_err("no bot name");
        assert_eq!(err.field.as_deref(), Some("action.telegram.chat_id"));
    }
}
