//! The durable steps of a phase: each one transaction that locks the run, checks it, changes
//! rows and appends the events whose keys `keys` fixes. Replaying a step appends nothing new.

mod artifact;
mod finish;
mod gate;
mod phase;
mod prompt;
mod session;

pub(crate) use artifact::ArtifactOutcome;
pub(crate) use phase::wrong_phase_state;
pub(crate) use session::no_session_row;
