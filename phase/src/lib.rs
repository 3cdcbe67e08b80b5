//! devflow-phase: the phase runner, a small durable state machine over devflow-db and
//! devflow-session.
//!
//! `PhaseRunner::run` carries one phase from `pending` to `completed`, to
//! `awaiting_approval`, or to a human gate, with the behaviour of the reference runner
//! (`shared/seed/phase-runner.ts`): every change of state is one durable step whose events carry
//! fixed idempotency keys (`event`), side effects sit between steps, and a phase left
//! `running`, `awaiting_artifact` or `validating` by a crash is re-entered from what the rows
//! and events say comes next (`entry`). What an error leads to is decided in one place
//! (`policy`).

mod agent;
mod artifact;
mod attempt;
mod check;
mod context;
pub mod crash;
mod entry;
mod event;
mod failure;
pub mod keys;
mod paths;
mod policy;
mod recovery;
mod repair;
mod runner;
mod spec;
mod steps;
mod transcript;
mod wait;

pub use repair::repair_instructions;
pub use runner::{Ending, PhaseReport, PhaseRunner};
pub use spec::{AgentLaunch, ApprovalGate, PhaseSpec, Restart, WaitSettings};
pub use transcript::DbTranscriptSink;

pub mod driver;
pub mod workflow;

pub use driver::{Decision, Driver, Gate, Outcome};
pub use workflow::Workflow;
