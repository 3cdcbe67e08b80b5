//! The repositories: one file per table, each a block of `impl Tx` methods.

mod approvals;
mod artifacts;
mod events;
pub(crate) mod lease;
mod notifications;
mod phases;
pub(crate) mod runs;
mod sessions;
mod transcripts;
pub(crate) mod workers;
