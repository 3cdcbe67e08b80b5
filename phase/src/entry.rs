//! Entering a phase: a new attempt from `pending`, or re-entry after a crash, deciding from
//! the rows and events which step comes next (the reference's `enterInitialPhase` and
//! `recoverAwaitingArtifactReplay`).

use devflow_core::{Code, Error, PhaseState, SessionState, Validation};
use devflow_db::{PhaseRow, SessionRow};
use serde_json::{Value, json};

use crate::context::Ctx;
use crate::event::Event;
use crate::keys;
use crate::spec::Restart;
use crate::steps::ArtifactOutcome;
use crate::wait::{Signature, signature};

/// Where the runner picks up.
#[derive(Debug)]
pub(crate) struct Entry {
    pub attempt: u32,
    /// Whether this attempt is the phase's one repair attempt.
    pub repair: bool,
    /// What the repair prompt says was wrong (from the attempt's `phase.started`).
    pub problems: Vec<String>,
    /// The session to continue with; `None` starts (or re-adopts) the role's session.
    pub session_id: Option<String>,
    pub next: Next,
    /// Set when this attempt is a person's restart of a phase that stopped at a gate.
    pub restarted: Option<Restart>,
}

/// The step that comes next.
#[derive(Debug)]
pub(crate) enum Next {
    /// Deliver the attempt's prompt.
    Send,
    /// The prompt went out before the crash: wait for its artifact.
    Wait {
        prompt_id: String,
        baseline: Option<Signature>,
        record_prompt: bool,
    },
    /// The artifact is on disk: validate it.
    Validate { prompt_id: String },
    /// The artifact was validated and recorded before the crash.
    Recorded {
        prompt_id: String,
        outcome: ArtifactOutcome,
    },
}

impl Entry {
    fn fresh(attempt: u32) -> Entry {
        Entry {
            attempt,
            repair: false,
            problems: Vec::new(),
            session_id: None,
            next: Next::Send,
            restarted: None,
        }
    }
}

/// What re-entry reads about the attempt in progress.
struct Attempt {
    phase: PhaseRow,
    repair: bool,
    problems: Vec<String>,
    dedup_key: String,
    session: Option<SessionRow>,
}

impl Ctx {
    pub async fn enter(&self) -> Result<Entry, Error> {
        if let Some(attempt) = self
            .try_start_attempt(&[PhaseState::Pending], json!({}))
            .await?
        {
            return Ok(Entry::fresh(attempt));
        }
        if let Some(restart) = self.phase.spec.restart {
            let from: &'static [PhaseState] = match restart.from_state() {
                PhaseState::Failed => &[PhaseState::Failed],
                _ => &[PhaseState::AwaitingApproval],
            };
            if let Some(attempt) = self
                .try_start_attempt(from, json!({ "restart": restart.as_str() }))
                .await?
            {
                return Ok(Entry {
                    restarted: Some(restart),
                    ..Entry::fresh(attempt)
                });
            }
        }
        let current = self.load_attempt().await?;
        let state = current.phase.state;
        let entry = match state {
            PhaseState::Running => self.reenter_running(current).await?,
            PhaseState::AwaitingArtifact => self.reenter_awaiting_artifact(current).await?,
            PhaseState::Validating => self.reenter_validating(current).await?,
            _ => None,
        };
        entry.ok_or_else(|| self.cannot_replay(state))
    }

    async fn load_attempt(&self) -> Result<Attempt, Error> {
        let phase_id = self.phase_id();
        let phase = self
            .db
            .read(move |tx| Box::pin(async move { tx.phase(phase_id).await }))
            .await?
            .ok_or_else(|| {
                Error::corruption("run phase does not exist")
                    .in_phase(self.run_id(), self.phase_id())
            })?;
        if !phase.state.is_reentrant() || phase.attempts == 0 {
            return Err(self.cannot_replay(phase.state));
        }
        let started = Event::phase_started(&self.phase, phase.attempts, Value::Null);
        let started = self.event(started).await?;
        let Some(started) = started else {
            return Err(self.cannot_replay(phase.state));
        };
        let repair = started.payload.get("repair") == Some(&json!(true));
        let problems = started
            .payload
            .get("problems")
            .and_then(|list| list.as_array())
            .map_or_else(Vec::new, |list| {
                list.iter()
                    .filter_map(|problem| problem.as_str().map(str::to_owned))
                    .collect()
            });
        let dedup_key = self.envelope(phase.attempts, repair, &problems).dedup_key;
        let session = self.session_for_role().await?;
        Ok(Attempt {
            phase,
            repair,
            problems,
            dedup_key,
            session,
        })
    }

    async fn reenter_running(&self, current: Attempt) -> Result<Option<Entry>, Error> {
        let attempt = current.phase.attempts;
        let entry = |session_id: Option<String>, next| Entry {
            attempt,
            repair: current.repair,
            problems: current.problems.clone(),
            session_id,
            next,
            restarted: None,
        };
        let Some(session) = &current.session else {
            return Ok(Some(entry(None, Next::Send)));
        };
        let prompted = self
            .event_exists(Event::prompt(
                &self.phase,
                current.repair,
                &current.dedup_key,
            ))
            .await?;
        match session.state {
            SessionState::Created | SessionState::Bootstrapping | SessionState::Ready => {
                if prompted && signature(self.phase.artifact_path())?.is_some() {
                    let next = Next::Validate {
                        prompt_id: current.dedup_key.clone(),
                    };
                    return Ok(Some(entry(Some(session.id.clone()), next)));
                }
                Ok(Some(entry(None, Next::Send)))
            }
            SessionState::Busy if self.awaits_this_prompt(session, &current.dedup_key) => {
                // Delivered or not, the prompt may be on the agent's screen: never send it again.
                let baseline = if prompted {
                    None
                } else {
                    signature(self.phase.artifact_path())?
                };
                let next = Next::Wait {
                    prompt_id: current.dedup_key.clone(),
                    baseline,
                    record_prompt: false,
                };
                Ok(Some(entry(Some(session.id.clone()), next)))
            }
            _ => Ok(None),
        }
    }

    async fn reenter_awaiting_artifact(&self, current: Attempt) -> Result<Option<Entry>, Error> {
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
            return self
                .recover_awaiting_artifact(current.phase.attempts, &session.id, current.repair)
                .await
                .map(Some);
        }
        if session.state == SessionState::FailedNeedsHuman {
            return Ok(None);
        }
        let prompted = self
            .event_exists(Event::prompt(
                &self.phase,
                current.repair,
                &current.dedup_key,
            ))
            .await?;
        let attempt = current.phase.attempts;
        let waiting = self
            .event_exists(Event::artifact_expected(&self.phase, attempt))
            .await?;
        let baseline = if prompted || !waiting {
            None
        } else {
            signature(self.phase.artifact_path())?
        };
        let prompt_id = session.last_prompt_hash.clone().unwrap_or_default();
        Ok(Some(Entry {
            attempt,
            repair: current.repair,
            problems: current.problems,
            session_id: Some(session.id.clone()),
            next: Next::Wait {
                prompt_id,
                baseline,
                record_prompt: !prompted && !waiting,
            },
            restarted: None,
        }))
    }

    async fn reenter_validating(&self, current: Attempt) -> Result<Option<Entry>, Error> {
        let Some(session) = &current.session else {
            return Ok(None);
        };
        let attempt = current.phase.attempts;
        let entry = |next| Entry {
            attempt,
            repair: current.repair,
            problems: current.problems.clone(),
            session_id: Some(session.id.clone()),
            next,
            restarted: None,
        };
        let prompt_id = session.last_prompt_hash.clone().unwrap_or_default();
        let recorded = self.latest_artifact().await?.filter(|artifact| {
            session.last_prompt_hash.as_deref() == Some(current.dedup_key.as_str())
                && artifact.created_at >= session.last_prompt_at.unwrap_or(0)
        });
        if let Some(artifact) = recorded {
            let validation = Validation::from_stored(artifact.valid, &artifact.validation_error)
                .ok_or_else(|| {
                    Error::corruption("invalid artifact replay is missing validation errors")
                        .in_phase(self.run_id(), self.phase_id())
                })?;
            self.replay_artifact_event(&artifact, &validation).await?;
            let outcome = ArtifactOutcome {
                attempt,
                artifact_id: artifact.id,
                hash: artifact.hash,
                validation,
            };
            return Ok(Some(entry(Next::Recorded { prompt_id, outcome })));
        }
        if self.awaits_this_prompt(session, &current.dedup_key) {
            return Ok(Some(entry(Next::Validate { prompt_id })));
        }
        Ok(None)
    }

    /// The session was given this attempt's prompt for this artifact and schema.
    fn awaits_this_prompt(&self, session: &SessionRow, dedup_key: &str) -> bool {
        session.last_prompt_hash.as_deref() == Some(dedup_key)
            && session.expected_artifact_path == self.phase.artifact
            && session.expected_schema == self.phase.schema_id()
    }

    async fn session_recovered_in_phase(&self, session_id: &str) -> Result<bool, Error> {
        let (run_id, phase_id) = (self.run_id(), self.phase_id());
        let events = self
            .db
            .read(move |tx| {
                Box::pin(async move {
                    tx.phase_events(run_id, phase_id, keys::SESSION_RECOVERED)
                        .await
                })
            })
            .await?;
        Ok(events.iter().any(|event| {
            event.payload.get("sessionId").and_then(|id| id.as_str()) == Some(session_id)
        }))
    }

    async fn latest_artifact(&self) -> Result<Option<devflow_db::ArtifactRow>, Error> {
        let phase = &self.phase;
        self.db
            .read(move |tx| {
                Box::pin(async move {
                    tx.latest_artifact(
                        phase.run_id(),
                        phase.phase_id(),
                        &phase.artifact,
                        phase.schema_id(),
                    )
                    .await
                })
            })
            .await
    }

    fn cannot_replay(&self, state: PhaseState) -> Error {
        Error::new(
            Code::InternalStateCorruption,
            "cannot enter the phase from its current state",
        )
        .with_hint(format!("phase_state={state}"))
        .in_phase(self.run_id(), self.phase_id())
    }
}
