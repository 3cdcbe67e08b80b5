//! The artifact on disk, the file half of a phase's contract: where it may be (`paths`: never
//! outside the worktree, from the path's text), how it is touched (`file`: every operation
//! walks the path from a handle on the worktree's folder and follows no symbolic link; `found`:
//! what is there), when it is done (`wait`: new and stable), and what it is (`read`: a regular
//! file, bounded in size, hashed, validated against the schema). Nothing here knows runs, rows
//! or agents; the runner (`runner::artifact`) records what this finds.

mod file;
mod found;
mod paths;
mod read;
mod wait;

#[cfg(test)]
mod tests;

/// What the crate's tests make on disk.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    /// A FIFO at `path` (the shape of a hostile artifact or schema).
    pub fn make_fifo(path: &Path) {
        let mode = rustix::fs::Mode::from_raw_mode(0o600);
        rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, mode, 0)
            .expect("a FIFO can be made");
    }
}

pub use file::ArtifactFile;
pub use found::Signature;
pub(crate) use paths::relative_inside;
pub(crate) use read::read;
pub use wait::{WaitOutcome, wait_for_artifact};

/// How a phase waits for its artifact, and how big the artifact may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitSettings {
    /// Give up waiting after this long (then probe, recover, and ask once for a repair).
    pub timeout_ms: u64,
    /// Fallback polling interval; file-system events usually wake the wait sooner.
    pub poll_ms: u64,
    /// The artifact must stay unchanged this long before it is read.
    pub stable_ms: u64,
    /// A session whose screen has not changed for this long is hung.
    pub max_hung_ms: u64,
    /// A bigger artifact is invalid without being read.
    pub max_artifact_bytes: u64,
}

impl Default for WaitSettings {
    /// The reference runner's defaults (5 s timeout, 25 ms poll, 500 ms stable), a 5 minute
    /// hang threshold, and a 16 MiB artifact limit.
    fn default() -> WaitSettings {
        WaitSettings {
            timeout_ms: 5_000,
            poll_ms: 25,
            stable_ms: 500,
            max_hung_ms: 300_000,
            max_artifact_bytes: 16 * 1024 * 1024,
        }
    }
}
