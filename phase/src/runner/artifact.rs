//! Waiting for an attempt's artifact, and recording what it is (`crate::artifact` looks at the
//! file).

use devflow_core::Result;

use super::context::Ctx;
use super::steps::ArtifactOutcome;
use crate::artifact::{self, Signature, WaitOutcome, wait_for_artifact};

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
        let (file, settings) = (&self.phase.file, &self.phase.spec.wait);
        let waited = wait_for_artifact(file, settings, baseline.as_ref(), &self.cancel);
        if waited.await? == WaitOutcome::TimedOut {
            let state = self.classify_timed_out_session(session_id).await?;
            self.record_artifact_timeout(attempt, session_id, state).await?;
            return Ok(None);
        }
        self.set_phase_validating().await?;
        self.validate_current(attempt).await.map(Some)
    }

    /// Reads, hashes and validates the artifact on disk, and records it.
    pub(crate) async fn validate_current(&self, attempt: u32) -> Result<ArtifactOutcome> {
        let (phase, max_bytes) = (&self.phase, self.phase.spec.wait.max_artifact_bytes);
        let read = artifact::read(&phase.file, max_bytes, &phase.spec.schema);
        let (hash, validation) = read.await?;
        self.record_artifact(attempt, hash, validation).await
    }
}
