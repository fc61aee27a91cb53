//! Email confirmations in the registry ([`crate::channel::email`]): an unconfirmed email
//! trigger gets a one-time code when it is stored, indexed under `email/confirm/<hash>`; opening
//! the link confirms the trigger by compare-and-swap on its record and gives it its unsubscribe
//! token, and the index entry goes once it is used, replaced, expired or its trigger deleted.
//! As for Telegram links, an index entry is only a pointer: the trigger's sealed record decides.

use super::telegram::unix_ms;
use super::Registry;
use crate::action::Action;
use crate::cas::encode;
use crate::channel::email::{confirm_key, unsubscribe_token, PendingConfirm};
use crate::channel::telegram_link::LinkRecord;
use crate::error::ApiResult;
use crate::kv::KeyValue;
use crate::trigger::Trigger;

fn waiting(t: &Trigger) -> Option<&PendingConfirm> {
    match &t.action {
        Action::Email(e) => e.waiting(),
        _ => None,
    }
}

/// Whether a code of at most 64 base64url characters (what [`PendingConfirm::new`] makes).
fn is_code(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl<S: KeyValue + ?Sized> Registry<'_, S> {
    /// Gives an unconfirmed email trigger a live code (a new one unless it has one) and indexes
    /// it under the trigger's current id, before the trigger is stored. Anything else is left
    /// alone.
    pub(super) fn prepare_email_confirm(&self, t: &mut Trigger, now: &str) -> ApiResult<()> {
        let Action::Email(e) = &mut t.action else {
            return Ok(());
        };
        if e.confirmed {
            e.pending = None;
            return Ok(());
        }
        let now_ms = unix_ms(now)?;
        if !e.pending.as_ref().is_some_and(|p| p.is_live(now_ms)) {
            e.pending = Some(PendingConfirm::new(now_ms)?);
        }
        if let Some(p) = &e.pending {
            let record = LinkRecord {
                trigger: t.id.clone(),
                expires_ms: p.expires_ms,
            };
            self.kv.set(&p.key(), &encode(&record)?)?;
        }
        Ok(())
    }

    /// Deletes the index entry of `old`'s code unless `new` still uses it.
    pub(super) fn retire_email_confirm(
        &self,
        old: &Trigger,
        new: Option<&Trigger>,
    ) -> ApiResult<()> {
        let Some(p) = waiting(old) else {
            return Ok(());
        };
        if new.and_then(waiting).is_some_and(|n| n.code == p.code) {
            return Ok(());
        }
        Ok(self.kv.delete(&p.key())?)
    }

    /// Confirms the address of the code's trigger: the trigger, now confirmed, or `None` for a
    /// code that is malformed, unknown, used, replaced or expired. A compare-and-swap on the
    /// trigger record, so a change made meanwhile is read again.
    pub fn confirm_email(&self, code: &str, now_ms: u64) -> ApiResult<Option<Trigger>> {
        if !is_code(code) {
            return Ok(None);
        }
        self.redeem_code(
            &confirm_key(code),
            now_ms,
            |t| waiting(t).is_some_and(|p| p.is_code(code) && p.is_live(now_ms)),
            |next| {
                let token = unsubscribe_token(self.ring, &next.id)?;
                if let Action::Email(e) = &mut next.action {
                    e.confirmed = true;
                    e.pending = None;
                    e.unsubscribe = Some(token);
                }
                Ok(())
            },
        )
    }
}

#[cfg(test)]
#[path = "email_tests.rs"]
mod tests;
