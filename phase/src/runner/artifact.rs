//! Waiting for an attempt's artifact, then reading it — bounded in size, never outside the
//! worktree — validating and recording it.

use std::io::Read;

use devflow_core::{Code, Error, Result, Validation, ValidationIssue, hash_bytes};
use sha2::{Digest, Sha256};

use super::context::Ctx;
use super::paths::check_still_inside;
use super::spec::Phase;
use super::steps::ArtifactOutcome;
use super::wait::{Signature, WaitOutcome, wait_for_artifact};

/// Up to this size an artifact is read and validated without leaving the task's thread.
const INLINE_VALIDATION_MAX_BYTES: u64 = 256 * 1024;

impl Ctx {
    /// `Some(outcome)` once an artifact is in and recorded; `None` after a timeout, with the
    /// session classified and the timeout recorded.
    pub(crate) async fn wait_and_validate(
        &self,
        attempt: u32,
        session_id: &str,
        baseline: Option<Signature>,
    ) -> Result<Option<ArtifactOutcome>> {
        self.start_artifact_wait(attempt).await?;
        let (path, settings) = (self.phase.artifact_path(), &self.phase.spec.wait);
        let waited = wait_for_artifact(path, settings, baseline.as_ref(), &self.cancel);
        if waited.await? == WaitOutcome::TimedOut {
            let state = self.classify_timed_out_session(session_id).await?;
            self.record_artifact_timeout(attempt, session_id, state).await?;
            return Ok(None);
        }
        self.set_phase_validating().await?;
        self.validate_current(attempt).await.map(Some)
    }

    /// Reads, hashes and validates the artifact on disk, and records it. A small artifact is
    /// checked on the spot; a large one on the blocking pool, where parsing megabytes holds up
    /// no other task.
    pub(crate) async fn validate_current(&self, attempt: u32) -> Result<ArtifactOutcome> {
        let small = std::fs::metadata(self.phase.artifact_path())
            .is_ok_and(|meta| meta.len() <= INLINE_VALIDATION_MAX_BYTES);
        let (hash, validation) = if small {
            read_and_validate(&self.phase)?
        } else {
            let phase = self.phase.clone();
            let checked = tokio::task::spawn_blocking(move || read_and_validate(&phase));
            checked.await.expect("artifact validation does not panic")?
        };
        self.record_artifact(attempt, hash, validation).await
    }
}

/// Reads, hashes and validates the artifact. An artifact that is not JSON, too big, or a
/// symlink out of the worktree is an *invalid artifact* (the agent gets to repair it), never
/// a failure of devflow; only a file that cannot be read at all is an error.
pub fn read_and_validate(phase: &Phase) -> Result<(String, Validation)> {
    let path = phase.artifact_path();
    if let Err(reason) = check_still_inside(&phase.worktree, path) {
        let target = std::fs::read_link(path).unwrap_or_default();
        let hash = hash_bytes(format!("symlink:{}", target.display()).as_bytes());
        return Ok((hash, invalid(reason)));
    }
    let unreadable = |error: std::io::Error| {
        let message = format!("cannot read the artifact {}: {error}", path.display());
        Error::new(Code::WorkspacePermissions, message).with_hint(phase.artifact.clone())
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let limit = phase.spec.wait.max_artifact_bytes;
    let len = file.metadata().map_err(unreadable)?.len();
    if len > limit {
        let hash = stream_hash(&mut file).map_err(unreadable)?;
        let reason = format!(
            "the artifact is {len} bytes, over the limit of {limit} bytes: write a smaller file"
        );
        return Ok((hash, invalid(reason)));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        let reason = format!("the artifact grew over the limit of {limit} bytes while it was read");
        return Ok((hash_bytes(&bytes), invalid(reason)));
    }
    Ok((hash_bytes(&bytes), phase.spec.schema.validate_bytes(&bytes)))
}

fn invalid(message: String) -> Validation {
    Validation::Invalid(vec![ValidationIssue {
        instance_path: String::new(),
        schema_path: String::new(),
        message,
    }])
}

/// SHA-256 in chunks, for files too big to hold.
fn stream_hash(file: &mut std::fs::File) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect())
}
