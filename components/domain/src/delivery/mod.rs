//! Getting an event to people: the relay → dispatch contract and which triggers fire, the
//! fan-out that claims, sends and records, the answers and retries, what a person reads (default
//! text and templates) and each channel's request, Web Push and webhook signatures, refused
//! destinations and test fires.
//!
//! A trigger's delivery state (last attempt, recent claims) is this module's own items
//! (`state.rs`).

pub mod answer;
pub mod channel;
pub mod claims;
pub mod destination;
pub mod dispatch;
pub mod fanout;
pub mod message;
pub mod notification;
pub mod signature;
mod state;
pub mod test_fire;
pub mod webpush;

pub use state::*;
