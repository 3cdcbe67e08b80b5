//! Carrying out what the policy decided for an error, and the gates the flow itself raises
//! (an artifact that never came, or stayed invalid after its repair).

use devflow_core::{Code, Error, Result};
use devflow_session::SessionHandle;
use serde_json::json;

use crate::context::Ctx;
use crate::crash::crash_point;
use crate::policy::{Disposition, Site, decide};
use crate::steps::ArtifactOutcome;

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

/// A gate the flow itself raises.
#[derive(Debug)]
pub(crate) enum FlowGate<'a> {
    /// The artifact never came, or the agent's readiness cannot be known; with the hint.
    TimedOut(String),
    /// The artifact stayed invalid after its one repair.
    Invalid(&'a ArtifactOutcome),
}

impl<'a> At<'a> {
    /// Around session `session_id`, whose agent is not (or not known to be) running.
    pub fn session(attempt: u32, session_id: &'a str) -> At<'a> {
        At { attempt, session_id: Some(session_id), handle: None, with_path: false }
    }

    /// With the agent `handle` running, or not (`None`).
    pub fn running(attempt: u32, handle: Option<&'a SessionHandle>, with_path: bool) -> At<'a> {
        let session_id = handle.map(|handle| handle.session_id.as_str());
        At { attempt, session_id, handle, with_path }
    }
}

impl Ctx {
    /// `result`, with what the policy says for its error at `site` done.
    pub(crate) async fn on_error<T>(&self, site: Site, at: At<'_>, result: Result<T>) -> Result<T> {
        match result {
            Ok(value) => Ok(value),
            Err(error) => Err(self.fail_at(site, error, at).await),
        }
    }

    /// Does what the policy says for `error` at `site`, and returns the error for the caller.
    pub(crate) async fn fail_at(&self, site: Site, error: Error, at: At<'_>) -> Error {
        let error = error.in_phase(self.phase.run_id(), self.phase.phase_id());
        let done = match decide(site, &error) {
            Disposition::Propagate => self.capture_if_running(at.handle).await,
            Disposition::Gate { reason, error: gate_error, mark_crashed } => {
                let payload = json!({ "errorCode": error.code().as_str() });
                let gated = self.human_gate(at, reason, gate_error, payload, mark_crashed);
                return gated.await;
            }
            Disposition::FailRun { reason } => {
                let unlisted = at.session_id.filter(|_| site == Site::SessionStart);
                self.fail_run(at.attempt, reason, at.handle, unlisted).await
            }
        };
        done.err().unwrap_or(error)
    }

    /// Stops at a gate the flow itself raises, keyed by its error's code. Without a running
    /// agent, the role's session fails.
    pub(crate) async fn flow_gate(
        &self,
        attempt: u32,
        gate: FlowGate<'_>,
        handle: Option<&SessionHandle>,
    ) -> Error {
        let path = &self.phase.artifact;
        let (reason, error, payload) = match gate {
            FlowGate::TimedOut(hint) => {
                let message = "no valid artifact appeared in time, even after recovery";
                let error = Error::new(Code::ArtifactTimeoutExhausted, message);
                ("artifact_timeout", error.with_hint(hint), json!({}))
            }
            FlowGate::Invalid(outcome) => {
                let id = &outcome.artifact_id;
                let message = "the artifact remained invalid after its repair";
                let error = Error::new(Code::ArtifactInvalidAfterRepair, message);
                let hint = format!("artifact={id};path={path}");
                let payload = json!({ "artifactId": id });
                ("artifact_invalid", error.with_hint(hint), payload)
            }
        };
        let role = match handle {
            Some(_) => None,
            None => self.session_for_role().await.ok().flatten(),
        };
        let mut at = At::running(attempt, handle, true);
        at.session_id = at.session_id.or(role.as_ref().map(|row| row.id.as_str()));
        self.human_gate(at, reason, error, payload, false).await
    }

    pub(crate) async fn capture_if_running(&self, handle: Option<&SessionHandle>) -> Result<()> {
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
    ) -> Result<()> {
        crash_point!("before_stale_artifact_removed");
        let removed = match std::fs::remove_file(self.phase.artifact_path()) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                let path = &self.phase.artifact;
                let message = format!("cannot remove the stale artifact {path}: {error}");
                Err(Error::new(Code::WorkspacePermissions, message).with_hint(path.clone()))
            }
            _ => Ok(()),
        };
        crash_point!("after_stale_artifact_removed");
        let at = At::running(attempt, handle, false);
        self.on_error(Site::StaleArtifact, at, removed).await
    }
}
