//! Carrying out what the policy decided for an error, and the gates the flow itself raises
//! (an artifact that never came, or stayed invalid after its repair).

use devflow_core::{Code, Error};
use devflow_session::SessionHandle;
use serde_json::json;

use crate::context::Ctx;
use crate::policy::{Disposition, Site, decide};
use crate::steps::{ArtifactOutcome, GateRequest};

/// Where in the phase an error happened, beyond the site.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub attempt: u32,
    pub session_id: Option<&'a str>,
    /// The running agent: its transcript is captured and it is disposed with a failed run.
    /// `None` before a session runs, and during re-entry, as the reference does.
    pub handle: Option<&'a SessionHandle>,
    /// Whether the gate payload names the expected artifact path.
    pub with_path: bool,
}

impl Ctx {
    /// Does what the policy says for `error` at `site`, and returns the error for the caller.
    pub(crate) async fn fail_at(&self, site: Site, error: Error, at: At<'_>) -> Error {
        let error = error.in_phase(self.run_id(), self.phase_id());
        let result = match decide(site, &error) {
            Disposition::Propagate => self.capture_if_running(at.handle).await.map(|()| error),
            Disposition::Gate {
                reason,
                error: gate_error,
                mark_crashed,
            } => {
                let mut payload = json!({
                    "errorCode": error.code().as_str(),
                    "recoveryHint": gate_error.recovery_hint().unwrap_or_default(),
                });
                if at.with_path {
                    payload["expectedArtifactPath"] = json!(self.phase.artifact);
                }
                let request = GateRequest {
                    attempt: at.attempt,
                    reason,
                    gate_key: gate_error.code().as_str().to_owned(),
                    payload,
                    session_id: at.session_id.map(str::to_owned),
                    mark_crashed,
                };
                self.gate_then_capture(request, at.handle)
                    .await
                    .map(|()| gate_error)
            }
            Disposition::FailRun { reason } => {
                self.fail_run(site, reason, at).await.map(|()| error)
            }
        };
        result.unwrap_or_else(|secondary| secondary)
    }

    async fn fail_run(&self, site: Site, reason: &'static str, at: At<'_>) -> Result<(), Error> {
        match at.handle {
            Some(handle) => {
                self.fail_run_and_dispose(at.attempt, reason, handle)
                    .await?
            }
            None => self.fail_phase_and_run(at.attempt, reason).await?,
        }
        if let (Site::SessionStart, Some(session_id)) = (site, at.session_id) {
            self.mark_session_failed(session_id).await?;
        }
        Ok(())
    }

    /// The artifact never came (or the agent's readiness cannot be known): a gate keyed
    /// `artifact_timeout_exhausted`.
    pub(crate) async fn gate_timeout(
        &self,
        attempt: u32,
        hint: String,
        handle: Option<&SessionHandle>,
    ) -> Error {
        let payload = json!({ "expectedArtifactPath": self.phase.artifact, "recoveryHint": hint });
        let error = Error::new(
            Code::ArtifactTimeoutExhausted,
            "no valid artifact appeared in time, even after recovery",
        )
        .with_hint(hint)
        .in_phase(self.run_id(), self.phase_id());
        self.flow_gate(attempt, "artifact_timeout", error, payload, handle)
            .await
    }

    /// The artifact stayed invalid after its one repair.
    pub(crate) async fn gate_invalid_artifact(
        &self,
        outcome: &ArtifactOutcome,
        handle: &SessionHandle,
    ) -> Error {
        let hint = format!(
            "artifact={};path={}",
            outcome.artifact_id, self.phase.artifact
        );
        let payload = json!({ "artifactId": outcome.artifact_id, "expectedArtifactPath": self.phase.artifact, "recoveryHint": hint });
        let error = Error::new(
            Code::ArtifactInvalidAfterRepair,
            "the artifact remained invalid after its repair",
        )
        .with_hint(hint)
        .in_phase(self.run_id(), self.phase_id());
        self.flow_gate(
            outcome.attempt,
            "artifact_invalid",
            error,
            payload,
            Some(handle),
        )
        .await
    }

    async fn flow_gate(
        &self,
        attempt: u32,
        reason: &'static str,
        error: Error,
        payload: serde_json::Value,
        handle: Option<&SessionHandle>,
    ) -> Error {
        let session_id = match handle {
            Some(handle) => Some(handle.session_id.clone()),
            None => self
                .session_for_role()
                .await
                .ok()
                .flatten()
                .map(|row| row.id),
        };
        let request = GateRequest {
            attempt,
            reason,
            gate_key: error.code().as_str().to_owned(),
            payload,
            session_id,
            mark_crashed: false,
        };
        match self.gate_then_capture(request, handle).await {
            Ok(()) => error,
            Err(secondary) => secondary,
        }
    }

    async fn gate_then_capture(
        &self,
        request: GateRequest,
        handle: Option<&SessionHandle>,
    ) -> Result<(), Error> {
        self.request_human_gate(request).await?;
        self.capture_if_running(handle).await
    }

    async fn capture_if_running(&self, handle: Option<&SessionHandle>) -> Result<(), Error> {
        if let Some(handle) = handle {
            self.capture_transcript(&handle.session_id).await?;
        }
        Ok(())
    }

    /// Deletes an artifact left by an earlier attempt, so the wait sees only the new one.
    pub(crate) async fn remove_stale_artifact(
        &self,
        attempt: u32,
        handle: Option<&SessionHandle>,
    ) -> Result<(), Error> {
        crate::crash::crash_point!("before_stale_artifact_removed");
        let removed = match std::fs::remove_file(self.phase.artifact_path()) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(Error::new(
                Code::WorkspacePermissions,
                format!(
                    "cannot remove the stale artifact {}: {error}",
                    self.phase.artifact
                ),
            )
            .with_hint(self.phase.artifact.clone())),
        };
        crate::crash::crash_point!("after_stale_artifact_removed");
        match removed {
            Ok(()) => Ok(()),
            Err(error) => {
                let at = At {
                    attempt,
                    session_id: handle.map(|h| h.session_id.as_str()),
                    handle,
                    with_path: false,
                };
                Err(self.fail_at(Site::StaleArtifact, error, at).await)
            }
        }
    }
}
