//! devflow-phase: the phase runner, a small durable state machine over devflow-db and
//! devflow-session, and the workflow driver that runs a workflow's phases with it.
//!
//! `PhaseRunner::run` (`runner`) carries one phase from `pending` to `completed`, to
//! `awaiting_approval`, or to a human gate, with the behaviour of the reference runner
//! (`shared/seed/phase-runner.ts`): every change of state is one durable step whose events carry
//! fixed idempotency keys, side effects sit between steps, and a phase left `running`,
//! `awaiting_artifact` or `validating` by a crash is re-entered from what the rows and events say
//! comes next. The `driver` runs a `workflow`'s phases with it as their graph allows, several
//! at once where they can. `artifact` is the file
//! half of a phase's contract: where the artifact may be, when it is done, and what it is.
//! `worktree` is the git half of parallel workflows: managed worktrees, their setup, commits
//! and merges, each idempotent.

pub mod artifact;
pub mod driver;
pub mod event;
pub mod notify;
mod runner;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod view;
pub mod worker;
pub mod workflow;
pub mod worktree;

pub use artifact::WaitSettings;
pub use driver::{Cleaned, Decision, Driver, Gate, Outcome};
pub use runner::{
    AgentLaunch, ApprovalGate, Ending, PhaseReport, PhaseRunner, PhaseSpec, Restart, RetryPolicy,
    RunEnd, repair_instructions,
};
pub use worker::Worker;
pub use workflow::Workflow;
