//! Reading what the next step depends on: the phase's row and which events it has, the role's
//! session, the artifact recorded in the current attempt (`devflow_db::PhaseRows`), and the file
//! at the artifact path — after every step. The rows come with the step that wrote last: it
//! read them in its own transaction (`Fresh`, `Db::step_reading`), so only a leaf that ended
//! without a step, a failure and the start read them on their own.
//! [`next`](super::next::next) decides from the [`Facts`]; the leaves act on the rest of
//! [`Known`].

use devflow_core::{PhaseState, Result, SessionState};
use devflow_db::{ArtifactRow, PhaseRow, PhaseRows, SessionRow};

use super::attempt::Attempt;
use super::context::Ctx;
use super::spec::{Phase, Restart};
use crate::artifact::Signature;
use crate::event::{self, Event, artifact_timeout_key, phase_started_key, prompt_key};

/// What the next step depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub phase: PhaseState,
    /// The driver asks for a new attempt after a human gate or a rejection.
    pub restart: Option<Restart>,
    /// The phase's current attempt; `None` before the first.
    pub attempt: Option<AttemptFacts>,
    /// The role's session in the run, if it has one.
    pub session: Option<SessionFacts>,
    /// A file is at the artifact path.
    pub on_disk: bool,
    /// The workflow puts an approval gate on the phase.
    pub gated: bool,
}

/// What the events say of the current attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct AttemptFacts {
    /// The phase's one repair attempt.
    pub repair: bool,
    /// A restart after a human gate: a valid artifact a person left at the path is taken.
    pub adopting: bool,
    /// What a person left at the path was recorded in this attempt: whether it was valid.
    pub adopted: Option<bool>,
    /// `prompt.sent` / `prompt.repaired` of this attempt's prompt is in.
    pub prompted: bool,
    /// `artifact.expected` of this attempt is in.
    pub expected: bool,
    /// `artifact.timeout` of this attempt is in.
    pub timed_out: bool,
    /// An artifact was recorded since this attempt's prompt went out: whether it was valid.
    pub recorded: Option<bool>,
    /// `session.idle` of this attempt's prompt is in.
    pub idle: bool,
}

/// What the rows say of the role's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionFacts {
    pub state: SessionState,
    /// It was given this attempt's prompt (for this artifact and schema).
    pub ours: bool,
    /// It was started, re-adopted or recovered in this phase, at its current recovery count.
    pub ready_here: bool,
}

/// What the runner knows after a step: the facts `next` decides on, and what the leaves need.
#[derive(Debug)]
pub(crate) struct Known {
    pub facts: Facts,
    pub phase: PhaseRow,
    /// The current attempt, its prompt rebuilt from its `phase.started`.
    pub attempt: Option<Attempt>,
    pub session: Option<SessionRow>,
    /// The artifact recorded in the current attempt.
    pub artifact: Option<ArtifactRow>,
    /// The file at the artifact path now.
    pub on_disk: Option<Signature>,
}

impl Known {
    /// The current attempt; the transition table asks for a step of one only when there is one.
    pub fn attempt(&self) -> &Attempt {
        self.attempt.as_ref().expect("a step of an attempt is taken only in an attempt")
    }

    pub fn session(&self) -> &SessionRow {
        self.session.as_ref().expect("a step of a session is taken only with a session")
    }

    /// What the attempt's wait ignores: the file as it was when the prompt went out.
    pub fn baseline(&self) -> Option<Signature> {
        self.session.as_ref()?.artifact_baseline.as_deref().and_then(Signature::decode)
    }
}

impl Ctx {
    /// Reads what the next step depends on: the rows the leaf's last step read back in its own
    /// transaction (`Fresh`), or else a read of them, and the file at the artifact path now.
    /// `previous` is the attempt last read, reused when the phase is still in it (building a
    /// prompt hashes its whole text).
    pub(crate) async fn known(&self, previous: Option<Attempt>) -> Result<Known> {
        let on_disk = self.phase.file.signature()?;
        let rows = match self.fresh.take() {
            Some(rows) => rows,
            None => self.db.read_phase_rows(&self.phase.rows_key()).await?,
        };
        self.phase.understand(rows, on_disk, previous)
    }
}

impl Phase {
    fn understand(
        &self,
        rows: PhaseRows,
        on_disk: Option<Signature>,
        previous: Option<Attempt>,
    ) -> Result<Known> {
        let PhaseRows { phase, event_keys, attempt_event, session, artifact } = rows;
        let has = |key: &str| event_keys.iter().any(|event_key| event_key == key);
        let key = phase_started_key(self.phase_id(), phase.attempts);
        let started = attempt_event.filter(|event| event.idempotency_key == key);
        let attempt = match (started, previous) {
            (None, _) => None,
            (Some(_), Some(attempt)) if attempt.number == phase.attempts => Some(attempt),
            (Some(started), _) => Some(Attempt::started(self, &event::read(&started)?)),
        };
        let session_facts = session.as_ref().map(|row| SessionFacts {
            state: row.state,
            ours: attempt.as_ref().is_some_and(|attempt| self.prompted(row, attempt)),
            ready_here: has(&Event::session_ready(self, &row.id, row.recovery_attempts).key)
                || has(&Event::session_recovered(self, &row.id, row.recovery_attempts).key),
        });
        let ours = session_facts.is_some_and(|facts| facts.ours);
        let valid = artifact.as_ref().map(|artifact| artifact.valid);
        let attempt_facts = attempt.as_ref().map(|attempt| {
            let number = attempt.number;
            AttemptFacts {
                repair: attempt.repair,
                adopting: attempt.adopting,
                adopted: valid.filter(|_| attempt.adopting && !ours),
                prompted: has(&prompt_key(attempt.repair, attempt.dedup_key())),
                expected: has(&Event::artifact_expected(self, number).key),
                timed_out: has(&artifact_timeout_key(self, number)),
                recorded: valid.filter(|_| ours),
                idle: session.as_ref().is_some_and(|row| {
                    has(&Event::session_idle(self, &row.id, attempt.dedup_key()).key)
                }),
            }
        });
        let facts = Facts {
            phase: phase.state,
            restart: self.spec.restart,
            attempt: attempt_facts,
            session: session_facts,
            on_disk: on_disk.is_some(),
            gated: self.spec.approval_gate.is_some(),
        };
        Ok(Known { facts, phase, attempt, session, artifact, on_disk })
    }

    /// Whether `session` was given `attempt`'s prompt, for this phase's artifact and schema.
    fn prompted(&self, session: &SessionRow, attempt: &Attempt) -> bool {
        session.last_prompt_hash.as_deref() == Some(attempt.dedup_key())
            && session.expected_artifact_path == self.artifact
            && session.expected_schema == self.schema_id()
    }
}
