//! devflow-core: the vocabulary every layer shares — the error codes and their classes, the run,
//! phase and session state machines, the prompt envelope, canonical JSON and hashing, JSON
//! Schema validation, the clock, and text made safe for a terminal.
//!
//! This crate does no I/O and knows nothing of tokio, SQL or tmux; its one reading of the world
//! is the wall clock (`clock::SystemClock`, behind the `Clock` trait that everything else is
//! handed). The rest is pure functions of their arguments, which is what lets the phase runner
//! decide its next step from database rows alone.

mod canonical;
pub mod clock;
mod envelope;
mod error;
mod schema;
pub mod state;
pub mod text;

pub use canonical::{MAX_SAFE_INTEGER, canonical_json, hash_bytes, hash_json, to_hex};
pub use clock::{Clock, SystemClock};
pub use envelope::PromptEnvelope;
pub use error::{Class, Code, Error, Result};
pub use schema::{
    PARSE_ERROR_KEY, Schema, SchemaRegistry, Validation, ValidationIssue, parse_artifact,
};
pub use state::{Move, PhaseState, RunState, SessionState, StateMachine};
