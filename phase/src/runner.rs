//! The phase runner: carries one phase from `pending` (or from where a crash left it) to
//! `completed`, to `awaiting_approval`, or to a human gate.

use std::sync::Arc;

use devflow_core::Result;
use devflow_db::Db;
use devflow_session::{RetryPolicy, SessionAdapter, SessionHandle};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::attempt::Attempt;
use crate::context::Ctx;
use crate::entry::{Entry, Next};
use crate::failure::{At, FlowGate};
use crate::policy::Site;
use crate::spec::{Phase, PhaseSpec};
use crate::steps::ArtifactOutcome;
use crate::wait::signature;

/// How a phase that did not stop at a gate ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    AwaitingApproval,
}

/// What `run` reports for a phase that ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseReport {
    pub ending: Ending,
    pub session_id: String,
    pub prompt_id: String,
    pub artifact_id: String,
    pub artifact_hash: String,
    /// The transcript's last captured sequence number.
    pub transcript_seq: i64,
}

/// Runs phases against one database with one session backend.
#[derive(Clone)]
pub struct PhaseRunner {
    db: Db,
    adapter: Arc<dyn SessionAdapter>,
    retry: RetryPolicy,
}

impl PhaseRunner {
    pub fn new(db: Db, adapter: Arc<dyn SessionAdapter>) -> PhaseRunner {
        PhaseRunner { db, adapter, retry: RetryPolicy::default() }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> PhaseRunner {
        self.retry = retry;
        self
    }

    /// Runs (or re-enters) one phase. `Err` carries a `human_required` error when the run
    /// waits at a human gate or left its active state, and a `fatal` one when the run failed.
    pub async fn run(&self, spec: PhaseSpec, cancel: CancellationToken) -> Result<PhaseReport> {
        let ctx = Ctx {
            db: self.db.clone(),
            adapter: Arc::clone(&self.adapter),
            retry: self.retry.clone(),
            phase: Arc::new(Phase::resolve(spec)?),
            cancel,
        };
        ctx.run().await.map_err(|error| error.in_phase(ctx.phase.run_id(), ctx.phase.phase_id()))
    }
}

impl Ctx {
    pub(crate) async fn run(&self) -> Result<PhaseReport> {
        let Entry { mut attempt, session_id, mut next, after_gate } = self.enter().await?;
        if after_gate && let Some(report) = self.adopt_present_artifact(attempt.number).await? {
            return Ok(report);
        }
        let mut handle = match &session_id {
            Some(session_id) => self.handle_for(session_id).await?,
            None => {
                self.remove_stale_artifact(attempt.number, None).await?;
                self.start_session(attempt.number).await?
            }
        };
        // The session is the same for every attempt; only where its agent lives may change.
        let sid = handle.session_id.clone();
        loop {
            let Some((outcome, prompt_id)) = self.obtain(&handle, &attempt, next).await? else {
                self.recover_or_gate(&attempt, &sid, Some(&handle)).await?;
                handle = self.handle_for(&sid).await?;
                attempt = self.start_repair(None, Some(&handle)).await?;
                next = Next::Send;
                continue;
            };
            let valid = outcome.validation.is_valid();
            // An artifact held for approval keeps its agent waiting, not idle.
            if !valid || self.phase.spec.approval_gate.is_none() {
                self.mark_session_idle(&sid, &prompt_id).await?;
            }
            if valid {
                return self.finish(outcome, prompt_id, &sid, true).await;
            }
            if attempt.repair {
                let invalid = FlowGate::Invalid(&outcome);
                return Err(self.flow_gate(outcome.attempt, invalid, Some(&handle)).await);
            }
            let invalid = Some(&outcome.validation);
            attempt = self.start_repair(invalid, Some(&handle)).await?;
            next = Next::Send;
        }
    }

    /// Sends the attempt's prompt (or continues a re-entered one) and waits for its artifact:
    /// the artifact recorded, with the prompt's id, or `None` once the wait timed out.
    async fn obtain(
        &self,
        handle: &SessionHandle,
        attempt: &Attempt,
        next: Next,
    ) -> Result<Option<(ArtifactOutcome, String)>> {
        let (envelope, sid) = (self.envelope(attempt), &handle.session_id);
        let at = At::running(attempt.number, Some(handle), !attempt.first);
        let (prompt_id, waited) = match next {
            Next::Recorded(outcome) => return Ok(Some((outcome, envelope.dedup_key))),
            Next::Send => {
                let sent = self.send_prompt(handle, &envelope, attempt.repair).await;
                let (prompt_id, baseline) = self.on_error(Site::PromptSend, at, sent).await?;
                let waited = self.wait_and_validate(attempt.number, sid, baseline);
                (prompt_id, waited.await)
            }
            Next::Wait { baseline } => {
                let waited = self.wait_and_validate(attempt.number, sid, baseline);
                (envelope.dedup_key, waited.await)
            }
            Next::Validate => {
                self.record_prompt(attempt.repair, &envelope.dedup_key).await?;
                let validated = self.validate_current(attempt.number).await;
                (envelope.dedup_key, validated.map(Some))
            }
        };
        let repair = !attempt.first;
        let waited = self.on_error(Site::ArtifactWait { repair }, at, waited).await?;
        Ok(waited.map(|outcome| (outcome, prompt_id)))
    }

    /// The valid artifact's phase ends: awaiting approval where the workflow gates it,
    /// completed otherwise. The agent's transcript is captured once — before the approval
    /// request, or after completion, as the reference does; `by_agent` is false for an artifact
    /// a person wrote, which has no agent to capture.
    async fn finish(
        &self,
        outcome: ArtifactOutcome,
        prompt_id: String,
        session_id: &str,
        by_agent: bool,
    ) -> Result<PhaseReport> {
        let mut transcript_seq = 0;
        let ending = match &self.phase.spec.approval_gate {
            Some(gate) => {
                let payload = gate.payload.clone().unwrap_or_else(|| {
                    json!({ "artifactId": outcome.artifact_id, "expectedArtifactPath": self.phase.artifact, "schemaId": self.phase.schema_id() })
                });
                if by_agent {
                    transcript_seq = self.capture_transcript(session_id).await?;
                }
                self.request_workflow_approval(outcome.attempt, session_id, &gate.key, payload)
                    .await?;
                Ending::AwaitingApproval
            }
            None => {
                let moved = self.complete_phase(outcome.attempt, session_id).await?;
                if by_agent {
                    transcript_seq = match &moved {
                        Some(row) => self.capture_transcript_from(row).await?,
                        None => self.capture_transcript(session_id).await?,
                    };
                }
                Ending::Completed
            }
        };
        Ok(PhaseReport {
            ending,
            session_id: session_id.to_owned(),
            prompt_id,
            artifact_id: outcome.artifact_id,
            artifact_hash: outcome.hash,
            transcript_seq,
        })
    }

    /// After a human gate, a person may have written the artifact themselves: if a valid one is
    /// at the path when the phase is resumed, the phase ends with it and no agent is asked.
    async fn adopt_present_artifact(&self, attempt: u32) -> Result<Option<PhaseReport>> {
        if signature(self.phase.artifact_path())?.is_none() {
            return Ok(None);
        }
        let outcome = self.validate_current(attempt).await?;
        if !outcome.validation.is_valid() {
            return Ok(None);
        }
        let session = self.session_for_role().await?;
        let session_id = session.map(|row| row.id).unwrap_or_default();
        self.finish(outcome, String::new(), &session_id, false).await.map(Some)
    }
}
