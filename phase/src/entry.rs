//! Entering a phase: a new attempt from `pending`, or re-entry after a crash, deciding from
//! the rows and events which step comes next (the reference's `enterInitialPhase` and
//! `recoverAwaitingArtifactReplay`).

use devflow_core::{Error, PhaseState, Result, SessionState, Validation};
use devflow_db::{PhaseRow, SessionRow};
use serde_json::{Value, json};

use crate::attempt::Attempt;
use crate::context::{Ctx, read};
use crate::event::Event;
use crate::keys;
use crate::spec::Restart;
use crate::steps::{ArtifactOutcome, wrong_phase_state};
use crate::wait::{Signature, signature};

/// Where the runner picks up.
#[derive(Debug)]
pub(crate) struct Entry {
    pub attempt: Attempt,
    /// The session to continue with; `None` starts (or re-adopts) the role's session.
    pub session_id: Option<String>,
    pub next: Next,
    /// Whether this attempt is a person's restart of a phase that stopped at a human gate.
    pub after_gate: bool,
}

/// The step that comes next. Re-entry's prompt id is the attempt's dedup key.
#[derive(Debug)]
pub(crate) enum Next {
    /// Deliver the attempt's prompt.
    Send,
    /// The prompt went out before the crash (and re-entry recorded it, if it had not been):
    /// wait for its artifact.
    Wait { baseline: Option<Signature> },
    /// The artifact is on disk: validate it.
    Validate,
    /// The artifact was validated and recorded before the crash.
    Recorded(ArtifactOutcome),
}

/// What re-entry reads about the attempt in progress.
#[derive(Clone)]
struct Current {
    attempt: Attempt,
    dedup_key: String,
    session: Option<SessionRow>,
}

impl Current {
    /// Carries on with the attempt, in `session` if it is given.
    fn entry(&self, session: Option<&SessionRow>, next: Next) -> Option<Entry> {
        Some(Entry {
            attempt: self.attempt.clone(),
            session_id: session.map(|row| row.id.clone()),
            next,
            after_gate: false,
        })
    }
}

impl Ctx {
    pub async fn enter(&self) -> Result<Entry> {
        let restart = match self.phase.spec.restart {
            Some(Restart::AfterGate) => Some((PhaseState::Failed, "after_gate")),
            Some(Restart::Rejected) => Some((PhaseState::AwaitingApproval, "rejected")),
            None => None,
        };
        let restart = restart.map(|(from, name)| (from, json!({ "restart": name })));
        let starts = [(PhaseState::Pending, json!({}))];
        for (from, extra) in starts.into_iter().chain(restart) {
            if let Some(number) = self.try_start_attempt(from, extra).await? {
                return Ok(Entry {
                    attempt: Attempt::fresh(number),
                    session_id: None,
                    next: Next::Send,
                    // Only a restart after a human gate starts from `failed`.
                    after_gate: from == PhaseState::Failed,
                });
            }
        }
        let row = self.phase_row().await?;
        let entry = match (row.state, self.current(&row).await?) {
            (PhaseState::Running, Some(current)) => self.reenter_running(&current).await?,
            (PhaseState::AwaitingArtifact, Some(current)) => {
                self.reenter_awaiting_artifact(&current).await?
            }
            (PhaseState::Validating, Some(current)) => self.reenter_validating(&current).await?,
            _ => None,
        };
        let message = "cannot enter the phase from its current state";
        entry.ok_or_else(|| wrong_phase_state(message, row.state))
    }

    /// The attempt as its `phase.started` recorded it; `None` if there is none to re-enter.
    async fn current(&self, row: &PhaseRow) -> Result<Option<Current>> {
        let number = row.attempts;
        if !row.state.is_reentrant() || number == 0 {
            return Ok(None);
        }
        let started = Event::phase_started(&self.phase, number, Value::Null);
        let Some(started) = self.event(started).await? else {
            return Ok(None);
        };
        let problems = started.payload.get("problems").and_then(Value::as_array);
        let problems = problems.into_iter().flatten().filter_map(Value::as_str);
        let attempt = Attempt {
            repair: started.payload.get("repair") == Some(&json!(true)),
            problems: problems.map(str::to_owned).collect(),
            ..Attempt::fresh(number)
        };
        let dedup_key = self.envelope(&attempt).dedup_key;
        let session = self.session_for_role().await?;
        Ok(Some(Current { attempt, dedup_key, session }))
    }

    async fn reenter_running(&self, current: &Current) -> Result<Option<Entry>> {
        let Some(session) = &current.session else {
            return Ok(current.entry(None, Next::Send));
        };
        let prompted = self.prompted(current).await?;
        match session.state {
            SessionState::Created | SessionState::Bootstrapping | SessionState::Ready => {
                if prompted && signature(self.phase.artifact_path())?.is_some() {
                    return Ok(current.entry(Some(session), Next::Validate));
                }
                Ok(current.entry(None, Next::Send))
            }
            SessionState::Busy if self.awaits_this_prompt(session, &current.dedup_key) => {
                // Delivered or not, the prompt may be on the agent's screen: never send it again.
                let baseline = if prompted { None } else { signature(self.phase.artifact_path())? };
                Ok(current.entry(Some(session), Next::Wait { baseline }))
            }
            _ => Ok(None),
        }
    }

    async fn reenter_awaiting_artifact(&self, current: &Current) -> Result<Option<Entry>> {
        let Some(session) = &current.session else {
            return Ok(None);
        };
        if !self.awaits_this_prompt(session, &current.dedup_key) {
            return Ok(None);
        }
        let recovering = session.state.is_timeout_recovery()
            || (session.state == SessionState::Ready
                && self.session_recovered_in_phase(&session.id).await?);
        if recovering {
            // The agent timed out before the crash: finish its recovery, then start the repair
            // attempt, whose first wait is this invocation's first.
            self.recover_or_gate(&current.attempt, &session.id, None).await?;
            let mut resumed = current.clone();
            resumed.attempt = self.start_repair(None, None).await?;
            resumed.attempt.first = true;
            return Ok(resumed.entry(Some(session), Next::Send));
        }
        if session.state == SessionState::FailedNeedsHuman {
            return Ok(None);
        }
        let prompted = self.prompted(current).await?;
        let expected = Event::artifact_expected(&self.phase, current.attempt.number);
        let waiting = self.event_exists(expected).await?;
        let baseline =
            if prompted || !waiting { None } else { signature(self.phase.artifact_path())? };
        if !prompted && !waiting {
            let (repair, dedup_key) = (current.attempt.repair, &current.dedup_key);
            self.record_prompt(repair, dedup_key).await?;
        }
        Ok(current.entry(Some(session), Next::Wait { baseline }))
    }

    async fn reenter_validating(&self, current: &Current) -> Result<Option<Entry>> {
        let Some(session) = &current.session else {
            return Ok(None);
        };
        let latest = read!(self, |tx, phase| {
            let (run_id, phase_id) = (phase.run_id(), phase.phase_id());
            tx.latest_artifact(run_id, phase_id, &phase.artifact, phase.schema_id()).await
        })?;
        let recorded = latest.filter(|artifact| {
            session.last_prompt_hash.as_deref() == Some(current.dedup_key.as_str())
                && artifact.created_at >= session.last_prompt_at.unwrap_or(0)
        });
        if let Some(artifact) = recorded {
            let validation = Validation::from_stored(artifact.valid, &artifact.validation_error)
                .ok_or_else(|| {
                    Error::corruption("invalid artifact replay is missing validation errors")
                })?;
            self.replay_artifact_event(&artifact, &validation).await?;
            let outcome = ArtifactOutcome {
                attempt: current.attempt.number,
                artifact_id: artifact.id,
                hash: artifact.hash,
                validation,
            };
            return Ok(current.entry(Some(session), Next::Recorded(outcome)));
        }
        if self.awaits_this_prompt(session, &current.dedup_key) {
            return Ok(current.entry(Some(session), Next::Validate));
        }
        Ok(None)
    }

    /// The session was given this attempt's prompt for this artifact and schema.
    fn awaits_this_prompt(&self, session: &SessionRow, dedup_key: &str) -> bool {
        session.last_prompt_hash.as_deref() == Some(dedup_key)
            && session.expected_artifact_path == self.phase.artifact
            && session.expected_schema == self.phase.schema_id()
    }

    /// Whether the attempt's prompt was recorded as delivered.
    async fn prompted(&self, current: &Current) -> Result<bool> {
        let repair = current.attempt.repair;
        let prompt = Event::prompt(&self.phase, repair, &current.dedup_key);
        self.event_exists(prompt).await
    }

    async fn session_recovered_in_phase(&self, session_id: &str) -> Result<bool> {
        let events = read!(self, |tx, phase| {
            tx.phase_events(phase.run_id(), phase.phase_id(), keys::SESSION_RECOVERED).await
        })?;
        Ok(events.iter().any(|event| {
            event.payload.get("sessionId").and_then(Value::as_str) == Some(session_id)
        }))
    }
}
