//! The repositories: one file per table, each a block of `impl Tx` methods.

mod approvals;
mod artifacts;
mod events;
pub(crate) mod lease;
mod notifications;
pub(crate) mod phase_rows;
mod phases;
pub(crate) mod runs;
mod sessions;
mod transcripts;
pub(crate) mod workers;
