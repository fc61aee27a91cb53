//! Property tests of everything in the domain that reads outside input: SS58 addresses, amounts,
//! filters, sources, triggers and actions through `parse_json` and validation, names and topics,
//! the relay → dispatch batches and envelopes, webhook signatures on arbitrary headers, and what
//! push and webhook answers mean.
//!
//! Each property runs a bounded number of cases so the file stays within a minute in a debug
//! build; `PROPTEST_CASES=100000 cargo test -p aurras-domain --test properties --release` runs
//! every property that many times (docs/testing.md). `cargo fuzz` needs a nightly toolchain, which
//! CI does not have; these properties stand in for it.
//!
//! # Layout
//!
//! - `support`: strategies (arbitrary JSON, address- and amount-like text, request shapes).
//! - `addresses`: SS58 and amounts. `filters`: filter validation and evaluation.
//! - `models`: names, topics, sources, triggers, actions. `wire`: batches, envelopes,
//!   signatures, answer classification, notifications.
//! - `limits`: 10,000-deep JSON and megabyte inputs, and the regression cases of the bugs found.

mod addresses;
mod filters;
mod limits;
mod models;
mod support;
mod wire;
