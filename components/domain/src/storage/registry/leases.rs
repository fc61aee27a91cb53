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
        let chain = self.source(id)?.chain.to_string();
        let mut refused = None;
        let taken = cas::update(
            self.kv,
            &keys::lease(&chain),
            |lease: &mut Lease| match lease.take(req, now_ms, &chain) {
                Ok(next) => {
                    refused = None;
                    *lease = next.clone();
                    Some(next)
                }
                Err(e) => {
                    refused = Some(e);
                    None
                }
            },
        )?;
        match (taken, refused) {
            (Some(lease), _) => Ok(lease.view(&chain, now_ms)),
            (None, Some(e)) => Err(e),
            (None, None) => Err(ApiError::internal("a lease was neither taken nor refused")),
        }
    }

    /// The lease on the chain of source `id`: holder (`null` when free), time left, progress.
    pub fn lease(&self, id: &str, now_ms: u64) -> ApiResult<Value> {
        let chain = self.source(id)?.chain;
        let lease: Lease = self.read(&keys::lease(chain.as_str()))?.unwrap_or_default();
        Ok(lease.view(chain.as_str(), now_ms))
    }
}
