//! A Spin-compatible host for Aurras' tests.
//!
//! It reads `spin.toml`, routes HTTP requests to the compiled components it names with Spin's
//! rules, and provides the Spin interfaces Aurras uses: `fermyon:spin/key-value@2.0.0` and
//! `wasi:keyvalue@0.2.0-draft2` on sqlite, `fermyon:spin/variables@2.0.0`, and `wasi:http`
//! outgoing requests limited to each component's `allowed_outbound_hosts`, with the runtime
//! config's `[outbound_networking] block_networks` and `[[client_tls]]`. Users run real
//! `spin up`; this host exists because Spin cannot be installed where the tests run. See the
//! README beside this crate for what it implements and how it differs from Spin.
//!
//! # Layout
//!
//! - [`manifest`]: the `spin.toml` model; [`runtime_config`]: store locations, and the outbound
//!   networking settings in [`blocked_networks`] and [`tls`].
//! - [`app`]: loading and validating an app; [`server`]: serving it.
//! - [`routes`], [`variables`], [`key_value`], [`outbound`]: one Spin feature each.
//! - `bindings`, `state`: the wasmtime glue; `outbound_http`: sending outbound requests.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use aurras_testhost::{AppOptions, TestHost};
//! let host = TestHost::start(&AppOptions::new("spin.toml"), "127.0.0.1:0".parse()?).await?;
//! println!("serving on {}", host.url());
//! host.stop().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod app;
mod bindings;
pub mod blocked_networks;
pub mod key_value;
pub mod key_value_redis;
pub mod manifest;
pub mod outbound;
mod outbound_http;
pub mod routes;
pub mod runtime_config;
pub mod server;
mod state;
pub mod tls;
pub mod variables;

pub use app::{AppOptions, LoadedApp};
pub use server::TestHost;
