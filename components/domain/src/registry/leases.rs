//! Ingestion leases in the registry: taken, renewed and released by compare-and-swap on
//! `lease/<chain>`, so two ingestors asking at once never both win. The rules are in
//! [`crate::lease`].

use serde_json::Value;

use super::Registry;
use crate::cas;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::kv::KeyValue;
use crate::lease::{Lease, LeaseRequest};

impl<S: KeyValue + ?Sized> Registry<'_, S> {
    /// Takes or renews the lease on the chain of source `id` for `req.holder`, or lets go of it
    /// (`ttl_ms: 0`, keeping its progress for the next holder); the lease's view (with the
    /// progress an ingestor taking over resumes from). `409` while another holds it.
    pub fn take_lease(&self, id: &str, req: &LeaseRequest, now_ms: u64) -> ApiResult<Value> {
        req.validate()?;
        let (chain, taken) =
            self.change_lease(id, |lease, chain| lease.take(req, now_ms, chain).map(Some))?;
        let taken = taken.ok_or_else(|| ApiError::internal("a granted lease was not stored"))?;
        Ok(taken.view(&chain, now_ms))
    }

    /// Applies `change` to the lease on the chain of source `id` by compare-and-swap, retried on
    /// conflict from a fresh read; `change` answers the next lease, `None` to leave it, or the
    /// refusal. The chain's name and the lease written.
    fn change_lease(
        &self,
        id: &str,
        change: impl Fn(&Lease, &str) -> ApiResult<Option<Lease>>,
    ) -> ApiResult<(String, Option<Lease>)> {
        let chain = self.source(id)?.chain.to_string();
        let mut refused = None;
        let written = cas::update(self.kv, &keys::lease(&chain), |lease: &mut Lease| {
            refused = None;
            match change(lease, &chain) {
                Ok(next) => {
                    *lease = next?;
                    Some(lease.clone())
                }
                Err(e) => {
                    refused = Some(e);
                    None
                }
            }
        })?;
        match refused {
            Some(e) => Err(e),
            None => Ok((chain, written)),
        }
    }

    /// The lease on the chain of source `id`: holder (`null` when free), time left, progress.
    pub fn lease(&self, id: &str, now_ms: u64) -> ApiResult<Value> {
        let chain = self.source(id)?.chain;
        let lease: Lease = self.read(&keys::lease(chain.as_str()))?.unwrap_or_default();
        Ok(lease.view(chain.as_str(), now_ms))
    }
}
