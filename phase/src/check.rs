//! Waiting for an attempt's artifact, then reading, validating and recording it.

use devflow_core::Result;

use crate::artifact::read_and_validate;
use crate::context::Ctx;
use crate::steps::ArtifactOutcome;
use crate::wait::{Signature, WaitOutcome, wait_for_artifact};

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
            tokio::task::spawn_blocking(move || read_and_validate(&phase))
                .await
                .expect("artifact validation does not panic")?
        };
        self.record_artifact(attempt, hash, validation).await
    }
}
