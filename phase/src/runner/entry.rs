//! Entering a phase: a new attempt from `pending` (or from the gate a person restarts it from),
//! or re-entry after a crash at the step that the rows and events say comes next — the
//! reference's `enterInitialPhase` and `recoverAwaitingArtifactReplay`. What re-entry reads is
//! gathered once ([`Found`]); what it makes of that is one pure function ([`resume`]).

use devflow_core::{Error, PhaseState, Result, SessionState, Validation};
use devflow_db::{ArtifactRow, SessionRow, Tx};
use serde_json::{Value, json};

use super::attempt::Attempt;
use super::context::{Ctx, read};
use super::event::Event;
use super::spec::{Phase, Restart};
use super::steps::{ArtifactOutcome, wrong_phase_state};
use crate::artifact::Signature;
use crate::keys;

/// Where the runner picks up.
#[derive(Debug)]
pub(crate) struct Entry {
    pub attempt: Attempt,
    /// The session to continue with; `None` starts (or re-adopts) the role's session.
    pub session_id: Option<String>,
    pub next: Next,
}

/// The step that comes next.
#[derive(Debug)]
pub(crate) enum Next {
    /// Deliver the attempt's prompt; `adopt`: first take a valid artifact that a person wrote
    /// while the phase stood at a human gate.
    Send { adopt: bool },
    /// The prompt may be on the agent's screen already: never send it again, wait for its
    /// artifact (ignoring the file as it is, if `baseline`).
    Wait { baseline: Option<Signature> },
    /// The artifact is on disk: validate it.
    Validate,
    /// The artifact was validated and recorded before the crash.
    Recorded(ArtifactOutcome),
}

/// What re-entry reads of the attempt in progress.
struct Found {
    facts: Facts,
    attempt: Attempt,
    session: Option<SessionRow>,
    /// The artifact recorded since this attempt's prompt went out.
    recorded: Option<ArtifactRow>,
}

/// What re-entry's decision depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Facts {
    phase: PhaseState,
    /// The role's session's state, if it has one.
    session: Option<SessionState>,
    /// The session was given this attempt's prompt, for this artifact and schema.
    ours: bool,
    /// The attempt's `prompt.sent` / `prompt.repaired` and its `artifact.expected` are in.
    prompted: bool,
    expected: bool,
    /// The session recovered from a timeout in this phase (`session.recovered`).
    recovered_here: bool,
    /// A file is at the artifact path.
    on_disk: bool,
    /// An artifact was recorded since this attempt's prompt went out.
    recorded: bool,
}

/// How re-entry continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// Start (or re-adopt) the role's session and send the attempt's prompt.
    Start,
    Wait {
        baseline: bool,
        record_prompt: bool,
    },
    Validate,
    /// Replay the recorded artifact's check event and go on with it.
    Replay,
    /// The agent timed out before the crash: finish its recovery, then start the repair.
    Recover,
}

/// The reference's re-entry decision; `None`: the phase cannot be re-entered.
fn resume(facts: Facts) -> Option<Resume> {
    use SessionState::*;
    let Facts { phase, session, ours, prompted, expected, .. } = facts;
    match phase {
        PhaseState::Running => match session {
            None => Some(Resume::Start),
            Some(Created | Bootstrapping | Ready) if prompted && facts.on_disk => {
                Some(Resume::Validate)
            }
            Some(Created | Bootstrapping | Ready) => Some(Resume::Start),
            Some(Busy) if ours => Some(Resume::Wait { baseline: !prompted, record_prompt: false }),
            _ => None,
        },
        PhaseState::AwaitingArtifact if ours => match session? {
            state if state.is_timeout_recovery() => Some(Resume::Recover),
            Ready if facts.recovered_here => Some(Resume::Recover),
            FailedNeedsHuman => None,
            _ => Some(Resume::Wait {
                baseline: !prompted && expected,
                record_prompt: !prompted && !expected,
            }),
        },
        PhaseState::Validating if facts.recorded => Some(Resume::Replay),
        PhaseState::Validating if ours => Some(Resume::Validate),
        _ => None,
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
        for (from, extra) in [(PhaseState::Pending, json!({}))].into_iter().chain(restart) {
            if let Some(number) = self.try_start_attempt(from, extra).await? {
                let attempt = Attempt::new(&self.phase, number, false, &[]);
                // Only a restart after a human gate starts from `failed`.
                let next = Next::Send { adopt: from == PhaseState::Failed };
                return Ok(Entry { attempt, session_id: None, next });
            }
        }
        let found = self.find().await?;
        let how = resume(found.facts).ok_or_else(|| cannot_enter(found.facts.phase))?;
        let Found { mut attempt, session, recorded, .. } = found;
        let session_id = session.map(|row| row.id);
        let next = match how {
            Resume::Start => {
                return Ok(Entry { attempt, session_id: None, next: Next::Send { adopt: false } });
            }
            Resume::Validate => Next::Validate,
            Resume::Wait { baseline, record_prompt } => {
                let baseline = if baseline { self.phase.file.signature()? } else { None };
                if record_prompt {
                    self.record_prompt(&attempt).await?;
                }
                Next::Wait { baseline }
            }
            Resume::Replay => Next::Recorded(self.replay_artifact(&attempt, recorded).await?),
            Resume::Recover => {
                let sid = session_id.as_deref().expect("a recovering phase has a session");
                self.recover_or_gate(&attempt, sid, None).await?;
                // The repair's first wait is this invocation's first.
                attempt = Attempt { first: true, ..self.start_repair(None).await? };
                Next::Send { adopt: false }
            }
        };
        Ok(Entry { attempt, session_id, next })
    }

    /// Reads what re-entry decides on, in one go. A phase with no attempt in progress cannot be
    /// re-entered.
    async fn find(&self) -> Result<Found> {
        read!(self, |tx, phase| {
            let row = tx.phase(phase.phase_id()).await?;
            let row = row.ok_or_else(|| Error::corruption("run phase does not exist"))?;
            let started = Event::phase_started(phase, row.attempts, Value::Null);
            let started = match row.state.is_reentrant() && row.attempts > 0 {
                true => tx.event_by_key(&started.key).await?,
                false => None,
            };
            let Some(started) = started else {
                return Err(cannot_enter(row.state));
            };
            let attempt = Attempt::started(phase, row.attempts, &started.payload);
            let session = tx.session_for_role(phase.run_id(), phase.role_id()).await?;
            let prompt = Event::prompt(phase, attempt.repair, attempt.dedup_key());
            let prompted = has_event(tx, phase, prompt).await?;
            let expected =
                has_event(tx, phase, Event::artifact_expected(phase, row.attempts)).await?;
            let (run, phase_id, schema) = (phase.run_id(), phase.phase_id(), phase.schema_id());
            let recovered = tx.phase_events(run, phase_id, keys::SESSION_RECOVERED).await?;
            let latest = tx.latest_artifact(run, phase_id, &phase.artifact, schema).await?;
            let prompted_session = session
                .as_ref()
                .filter(|row| row.last_prompt_hash.as_deref() == Some(attempt.dedup_key()));
            let ours = prompted_session.is_some_and(|row| {
                row.expected_artifact_path == phase.artifact && row.expected_schema == schema
            });
            let recovered_here = session.as_ref().is_some_and(|row| {
                let sid = Some(row.id.as_str());
                recovered
                    .iter()
                    .any(|event| event.payload.get("sessionId").and_then(Value::as_str) == sid)
            });
            let recorded = latest.filter(|artifact| {
                prompted_session
                    .is_some_and(|row| artifact.created_at >= row.last_prompt_at.unwrap_or(0))
            });
            let facts = Facts {
                phase: row.state,
                session: session.as_ref().map(|row| row.state),
                ours,
                prompted,
                expected,
                recovered_here,
                on_disk: phase.file.signature()?.is_some(),
                recorded: recorded.is_some(),
            };
            Ok(Found { facts, attempt, session, recorded })
        })
    }

    /// Re-appends the check event of the artifact recorded before the crash (a no-op replay if
    /// it made it) and goes on with that artifact.
    async fn replay_artifact(
        &self,
        attempt: &Attempt,
        recorded: Option<ArtifactRow>,
    ) -> Result<ArtifactOutcome> {
        let artifact = recorded.expect("a replay has its artifact");
        let validation = Validation::from_stored(artifact.valid, &artifact.validation_error);
        let validation = validation.ok_or_else(|| {
            Error::corruption("invalid artifact replay is missing validation errors")
        })?;
        self.replay_artifact_event(&artifact, &validation).await?;
        let (artifact_id, hash) = (artifact.id, artifact.hash);
        Ok(ArtifactOutcome { attempt: attempt.number, artifact_id, hash, validation })
    }
}

/// Whether this event was appended for this phase.
async fn has_event(tx: &mut Tx, phase: &Phase, event: Event<'_>) -> Result<bool> {
    let row = tx.event_by_key(&event.key).await?;
    Ok(row.is_some_and(|row| row.phase_id.as_deref() == Some(phase.phase_id())))
}

fn cannot_enter(state: PhaseState) -> Error {
    wrong_phase_state("cannot enter the phase from its current state", state)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Facts of a phase in `phase` whose role's session is in `session`, nothing else known.
    fn facts(phase: PhaseState, session: Option<SessionState>) -> Facts {
        let (ours, prompted, expected, recovered_here, on_disk, recorded) =
            (false, false, false, false, false, false);
        Facts { phase, session, ours, prompted, expected, recovered_here, on_disk, recorded }
    }

    fn wait(baseline: bool, record_prompt: bool) -> Option<Resume> {
        Some(Resume::Wait { baseline, record_prompt })
    }

    #[test]
    fn a_running_phase_waits_for_a_prompt_it_may_have_sent_and_never_sends_it_again() {
        use {PhaseState::Running, SessionState::*};
        let busy = Facts { ours: true, ..facts(Running, Some(Busy)) };
        assert_eq!(resume(busy), wait(true, false), "unrecorded: ignore the file as it is");
        assert_eq!(resume(Facts { prompted: true, ..busy }), wait(false, false));
        assert_eq!(resume(facts(Running, Some(Busy))), None, "busy with another prompt");
        assert_eq!(resume(facts(Running, Some(Hung))), None);
    }

    #[test]
    fn a_running_phase_without_a_sent_prompt_starts_over_with_the_role_session() {
        use {PhaseState::Running, SessionState::*};
        assert_eq!(resume(facts(Running, None)), Some(Resume::Start));
        assert_eq!(resume(facts(Running, Some(Created))), Some(Resume::Start));
        let prompted = Facts { prompted: true, ..facts(Running, Some(Ready)) };
        assert_eq!(resume(prompted), Some(Resume::Start), "no file: the prompt goes again");
        assert_eq!(resume(Facts { on_disk: true, ..prompted }), Some(Resume::Validate));
    }

    #[test]
    fn an_awaiting_phase_recovers_a_timed_out_agent_or_waits_on() {
        use {PhaseState::AwaitingArtifact, SessionState::*};
        let ours = |state| Facts { ours: true, ..facts(AwaitingArtifact, Some(state)) };
        for state in [ArtifactTimeout, Hung, Crashed, Resuming, Rebootstrapped] {
            assert_eq!(resume(ours(state)), Some(Resume::Recover), "{state}");
        }
        assert_eq!(resume(Facts { recovered_here: true, ..ours(Ready) }), Some(Resume::Recover));
        assert_eq!(resume(ours(Busy)), wait(false, true), "the prompt's record is missing");
        assert_eq!(resume(Facts { expected: true, ..ours(Busy) }), wait(true, false));
        assert_eq!(resume(Facts { prompted: true, ..ours(Busy) }), wait(false, false));
        assert_eq!(resume(ours(FailedNeedsHuman)), None);
        assert_eq!(resume(facts(AwaitingArtifact, Some(Busy))), None, "not this prompt");
    }

    #[test]
    fn a_validating_phase_replays_a_recorded_artifact_or_validates_again() {
        use {PhaseState::Validating, SessionState::Busy};
        let recorded = Facts { recorded: true, ..facts(Validating, Some(Busy)) };
        assert_eq!(resume(recorded), Some(Resume::Replay));
        let ours = Facts { ours: true, ..facts(Validating, Some(Busy)) };
        assert_eq!(resume(ours), Some(Resume::Validate));
        assert_eq!(resume(facts(Validating, Some(Busy))), None);
    }

    #[test]
    fn other_phase_states_are_not_re_entered() {
        for phase in [PhaseState::Pending, PhaseState::Completed, PhaseState::Failed] {
            let all =
                Facts { ours: true, prompted: true, ..facts(phase, Some(SessionState::Busy)) };
            assert_eq!(resume(all), None, "{phase}");
        }
    }
}
