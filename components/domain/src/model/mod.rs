//! What Aurras talks about: chains, events and their topics, addresses and amounts, sources,
//! triggers with their filters, actions and recipes, and the event envelope; each with the
//! validation that names the field a person got wrong.

pub mod action;
pub mod amount;
pub mod assets;
pub mod catalog;
pub mod envelope;
pub mod filter;
pub mod integer;
pub mod names;
pub mod recipe;
pub mod source;
pub mod ss58;
pub mod tracks;
pub mod trigger;
