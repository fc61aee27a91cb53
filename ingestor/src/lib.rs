//! The native half of Aurras: the ingestor follows a chain's finalized blocks with subxt, decodes
//! every event against the metadata of the runtime that emitted it, and produces JSON envelopes to
//! one broker topic per pallet event, keeping a cursor so restarts lose nothing.
//!
//! # Layout
//!
//! - [`chain`]: connecting (RPC or light client), heads, a block's events as envelopes;
//!   [`decode`]: SCALE values to the envelope's JSON.
//! - [`sink`]: the Kafka producer and topic creation; [`cursor`]: the resume point.
//! - [`pipeline`]: the loop; [`metrics`]: `/status` and `/metrics`; [`sources`]: the management
//!   API client; [`bench`]: the benchmark command.
//! - [`ingest`]: one chain's ingestion from a checked plan, shared by `ingest` and the worker.
//! - [`relay`]: the `relay` command, from the event topics to the app's `dispatch` component.
//! - [`worker`]: every registered source's ingestion and the relay, supervised in one process.
//! - [`launch`]: the `up` command, the whole pipeline on one machine.
//! - [`ops`]: `status` and `topics`, for operators.
#![warn(missing_docs)]

pub mod bench;
pub mod chain;
pub mod cursor;
pub mod decode;
pub mod enrich;
pub mod ingest;
pub mod launch;
pub mod lease;
pub mod metrics;
pub mod ops;
pub mod pipeline;
pub mod relay;
pub mod sink;
pub mod sources;
pub mod worker;

/// Why the ingestor stopped, mapped to its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad configuration: exit code 2.
    Config(anyhow::Error),
    /// The chain could not be reached at startup: exit code 3.
    Unreachable(anyhow::Error),
    /// Anything else: exit code 1.
    Runtime(anyhow::Error),
}

impl Failure {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Config(_) => 2,
            Failure::Unreachable(_) => 3,
            Failure::Runtime(_) => 1,
        }
    }

    /// The error.
    pub fn error(&self) -> &anyhow::Error {
        match self {
            Failure::Config(e) | Failure::Unreachable(e) | Failure::Runtime(e) => e,
        }
    }
}
