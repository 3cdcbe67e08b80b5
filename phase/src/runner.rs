//! The phase runner: carries one phase from `pending` (or from where a crash left it) to
//! `completed`, to `awaiting_approval`, or to a human gate.

use std::sync::Arc;

use devflow_core::{Error, PhaseState, PromptEnvelope};
use devflow_db::Db;
use devflow_session::{RetryPolicy, SessionAdapter, SessionHandle};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::context::Ctx;
use crate::entry::Next;
use crate::failure::At;
use crate::policy::Site;
use crate::repair::{repair_instructions, timeout_problem, validation_problems};
use crate::spec::{Phase, PhaseSpec, Restart};
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
        PhaseRunner {
            db,
            adapter,
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> PhaseRunner {
        self.retry = retry;
        self
    }

    /// Runs (or re-enters) one phase. `Err` carries a `human_required` error when the run
    /// waits at a human gate or left its active state, and a `fatal` one when the run failed.
    pub async fn run(
        &self,
        spec: PhaseSpec,
        cancel: CancellationToken,
    ) -> Result<PhaseReport, Error> {
        let ctx = Ctx {
            db: self.db.clone(),
            adapter: Arc::clone(&self.adapter),
            retry: self.retry.clone(),
            phase: Arc::new(Phase::resolve(spec)?),
            cancel,
        };
        ctx.run()
            .await
            .map_err(|error| error.in_phase(ctx.run_id(), ctx.phase_id()))
    }
}

/// The attempt in progress.
struct Attempt {
    number: u32,
    repair: bool,
    problems: Vec<String>,
    /// Whether this is the first wait of this invocation: its failures and timeouts are
    /// handled as the reference handles a phase's first wait, later ones as repair waits.
    first: bool,
}

/// What one prompt-and-wait produced.
enum Obtained {
    Artifact {
        outcome: ArtifactOutcome,
        prompt_id: String,
        idle_recorded: bool,
    },
    TimedOut,
}

impl Ctx {
    pub(crate) async fn run(&self) -> Result<PhaseReport, Error> {
        let entry = self.enter().await?;
        if entry.restarted == Some(Restart::AfterGate)
            && let Some(report) = self.adopt_present_artifact(entry.attempt).await?
        {
            return Ok(report);
        }
        let mut attempt = Attempt {
            number: entry.attempt,
            repair: entry.repair,
            problems: entry.problems,
            first: true,
        };
        let mut handle = match &entry.session_id {
            Some(session_id) => self.handle_for(session_id).await?,
            None => {
                self.remove_stale_artifact(attempt.number, None).await?;
                self.start_session(attempt.number).await?
            }
        };
        let mut next = entry.next;
        loop {
            let (outcome, prompt_id) = match self.obtain(&handle, &attempt, next).await? {
                Obtained::Artifact {
                    outcome,
                    prompt_id,
                    idle_recorded,
                } => {
                    let holds_for_approval =
                        outcome.validation.is_valid() && self.phase.spec.approval_gate.is_some();
                    if !idle_recorded && !holds_for_approval {
                        self.mark_session_idle(&handle.session_id, &prompt_id)
                            .await?;
                    }
                    (outcome, prompt_id)
                }
                Obtained::TimedOut => {
                    self.recover_after_timeout(&handle, &attempt).await?;
                    handle = self.handle_for(&handle.session_id).await?;
                    let problems = vec![timeout_problem(
                        &self.phase.artifact,
                        self.phase.spec.wait.timeout_ms,
                    )];
                    let reason = json!({ "reason": "artifact_timeout" });
                    attempt = self
                        .start_repair(PhaseState::AwaitingArtifact, problems, reason, &handle)
                        .await?;
                    next = Next::Send;
                    continue;
                }
            };
            if outcome.validation.is_valid() {
                return self
                    .finish(outcome, prompt_id, &handle.session_id, true)
                    .await;
            }
            if attempt.repair {
                return Err(self.gate_invalid_artifact(&outcome, &handle).await);
            }
            let problems = validation_problems(&outcome.validation);
            attempt = self
                .start_repair(PhaseState::Validating, problems, json!({}), &handle)
                .await?;
            next = Next::Send;
        }
    }

    /// Sends the attempt's prompt (or continues a re-entered one) and waits for its artifact.
    async fn obtain(
        &self,
        handle: &SessionHandle,
        attempt: &Attempt,
        next: Next,
    ) -> Result<Obtained, Error> {
        let envelope = self.envelope(attempt.number, attempt.repair, &attempt.problems);
        let at = At {
            attempt: attempt.number,
            session_id: Some(&handle.session_id),
            handle: Some(handle),
            with_path: !attempt.first,
        };
        let wait_site = Site::ArtifactWait {
            repair: !attempt.first,
        };
        let (prompt_id, waited) = match next {
            Next::Recorded { prompt_id, outcome } => {
                return self.continue_recorded(handle, prompt_id, outcome).await;
            }
            Next::Send => {
                let sent = match self.send_prompt(handle, &envelope, attempt.repair).await {
                    Ok(sent) => sent,
                    Err(error) => return Err(self.fail_at(Site::PromptSend, error, at).await),
                };
                let waited = self
                    .wait_and_validate(attempt.number, &handle.session_id, sent.baseline)
                    .await;
                (sent.prompt_id, waited)
            }
            Next::Wait {
                prompt_id,
                baseline,
                record_prompt,
            } => {
                if record_prompt {
                    self.record_prompt(attempt.repair, &envelope.dedup_key)
                        .await?;
                }
                (
                    prompt_id,
                    self.wait_and_validate(attempt.number, &handle.session_id, baseline)
                        .await,
                )
            }
            Next::Validate { prompt_id } => {
                self.record_prompt(attempt.repair, &envelope.dedup_key)
                    .await?;
                (
                    prompt_id,
                    self.validate_current(attempt.number).await.map(Some),
                )
            }
        };
        match waited {
            Ok(Some(outcome)) => Ok(Obtained::Artifact {
                outcome,
                prompt_id,
                idle_recorded: false,
            }),
            Ok(None) => Ok(Obtained::TimedOut),
            Err(error) => Err(self.fail_at(wait_site, error, at).await),
        }
    }

    /// Re-entry found the attempt's artifact already recorded: what is left is the session's
    /// `idle`, unless the artifact is held for approval.
    async fn continue_recorded(
        &self,
        handle: &SessionHandle,
        prompt_id: String,
        outcome: ArtifactOutcome,
    ) -> Result<Obtained, Error> {
        let holds_for_approval =
            outcome.validation.is_valid() && self.phase.spec.approval_gate.is_some();
        if !holds_for_approval {
            self.mark_session_idle(&handle.session_id, &prompt_id)
                .await?;
        }
        Ok(Obtained::Artifact {
            outcome,
            prompt_id,
            idle_recorded: !holds_for_approval,
        })
    }

    /// Probes and restarts the agent after the first timeout; a later one, a repair attempt
    /// that timed out, or an agent whose readiness cannot be known, stops at a human gate.
    async fn recover_after_timeout(
        &self,
        handle: &SessionHandle,
        attempt: &Attempt,
    ) -> Result<(), Error> {
        let path_hint = self.phase.artifact.clone();
        if !attempt.first {
            return Err(self
                .gate_timeout(attempt.number, path_hint, Some(handle))
                .await);
        }
        let at = At {
            attempt: attempt.number,
            session_id: Some(&handle.session_id),
            handle: Some(handle),
            with_path: true,
        };
        let recovery = match self.recover_from_timeout(&handle.session_id).await {
            Ok(recovery) => recovery,
            Err(error) => return Err(self.fail_at(Site::TimeoutRecovery, error, at).await),
        };
        if !recovery.recovered {
            return Err(self
                .gate_timeout(
                    attempt.number,
                    recovery.hint.unwrap_or(path_hint),
                    Some(handle),
                )
                .await);
        }
        if attempt.repair {
            return Err(self
                .gate_timeout(attempt.number, path_hint, Some(handle))
                .await);
        }
        Ok(())
    }

    /// Starts the phase's one repair attempt and clears the way for its prompt.
    async fn start_repair(
        &self,
        from: PhaseState,
        problems: Vec<String>,
        extra: serde_json::Value,
        handle: &SessionHandle,
    ) -> Result<Attempt, Error> {
        let from: &'static [PhaseState] = match from {
            PhaseState::AwaitingArtifact => &[PhaseState::AwaitingArtifact],
            _ => &[PhaseState::Validating],
        };
        let mut payload = json!({ "repair": true, "problems": problems });
        if let (Some(payload), serde_json::Value::Object(extra)) = (payload.as_object_mut(), extra)
        {
            payload.extend(extra);
        }
        let number = self.start_repair_attempt(from, payload).await?;
        self.remove_stale_artifact(number, Some(handle)).await?;
        Ok(Attempt {
            number,
            repair: true,
            problems,
            first: false,
        })
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
    ) -> Result<PhaseReport, Error> {
        let mut transcript_seq = 0;
        let ending = match &self.phase.spec.approval_gate {
            Some(gate) => {
                let payload = self.approval_payload(gate, &outcome);
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
    async fn adopt_present_artifact(&self, attempt: u32) -> Result<Option<PhaseReport>, Error> {
        if signature(self.phase.artifact_path())?.is_none() {
            return Ok(None);
        }
        let outcome = self.validate_current(attempt).await?;
        if !outcome.validation.is_valid() {
            return Ok(None);
        }
        let session = self.session_for_role().await?;
        let session_id = session.map(|row| row.id).unwrap_or_default();
        self.finish(outcome, String::new(), &session_id, false)
            .await
            .map(Some)
    }

    fn approval_payload(
        &self,
        gate: &crate::spec::ApprovalGate,
        outcome: &ArtifactOutcome,
    ) -> serde_json::Value {
        gate.payload.clone().unwrap_or_else(|| {
            json!({ "artifactId": outcome.artifact_id, "expectedArtifactPath": self.phase.artifact, "schemaId": self.phase.schema_id() })
        })
    }

    /// The prompt of an attempt; rebuilt identically on re-entry, so its dedup key is too.
    pub(crate) fn envelope(
        &self,
        attempt: u32,
        repair: bool,
        problems: &[String],
    ) -> PromptEnvelope {
        let spec = &self.phase.spec;
        let instructions = if repair {
            repair_instructions(&spec.instructions, problems)
        } else {
            spec.instructions.clone()
        };
        PromptEnvelope::new(
            uuid::Uuid::new_v4().to_string(),
            &spec.run_id,
            &spec.role_id,
            &spec.phase_key,
            attempt,
            &self.phase.artifact,
            self.phase.schema_id(),
            &instructions,
        )
    }
}
