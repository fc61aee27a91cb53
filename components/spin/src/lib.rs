//! What Aurras' Spin components share: the key-value store behind the domain's
//! [`KeyValue`](aurras_domain::kv::KeyValue) trait, HTTP answers and variables, and concurrent
//! outbound requests with time-outs.

pub mod deliver;
pub mod http;
pub mod outbound;
pub mod state;
pub mod store;

pub use state::State;
pub use store::WasiStore;

/// The store every record lives in.
pub const STORE: &str = "default";
