//! Where the models live: the key-value trait and its layout, compare-and-swap updates safe on
//! every Spin backend, the registry of sources and triggers with its indexes, trigger records
//! sealed at rest, and the ingestion leases.

pub mod cas;
pub mod keys;
pub mod kv;
#[cfg(test)]
pub(crate) mod kv_testing;
pub mod lease;
pub mod registry;
pub mod stored;
pub mod vault;
