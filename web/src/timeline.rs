//! A run's timeline, read off its event log: a row per phase, a bar per attempt (from its
//! `phase.started` to its `phase.completed`, `phase.failed`, `approval.requested` or the next
//! attempt), a bar for each wait at a gate (to its `approval.decided`), and marks where the
//! artifact timed out, an agent crashed or was recovered, an artifact was invalid, or the run
//! paused. The drawing (`svg`) is the one the server's pages and `devflow report` both show.

mod svg;

use std::collections::HashMap;

use devflow_core::Error;
use devflow_db::{Db, EventRow, PhaseRow, RunRow};
use devflow_phase::event::{
    self, ApprovalDecided, ApprovalRequested, ArtifactTimeout, PhaseFailed, PhaseStarted,
    RunPaused, kind,
};
use serde::de::DeserializeOwned;

pub use svg::{svg, svg_document};

#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub run_id: String,
    pub start_ms: i64,
    /// The run's end, or now while it goes on.
    pub end_ms: i64,
    pub rows: Vec<Row>,
}

/// One phase's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub phase_key: String,
    pub phase_state: String,
    pub bars: Vec<Bar>,
    pub marks: Vec<Mark>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarKind {
    Attempt,
    /// The one repair attempt after a missing or invalid artifact.
    Repair,
    /// Waiting for a person at a gate.
    Gate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub kind: BarKind,
    pub attempt: u32,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Still going (drawn to now).
    pub open: bool,
    /// How it ended: `completed`, `failed: …`, `at gate plan_review`, `approved by ann`, …
    pub outcome: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    Timeout,
    Crashed,
    Recovered,
    Invalid,
    Gate,
    Paused,
}

impl MarkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkKind::Timeout => "timeout",
            MarkKind::Crashed => "crashed",
            MarkKind::Recovered => "recovered",
            MarkKind::Invalid => "invalid",
            MarkKind::Gate => "gate",
            MarkKind::Paused => "paused",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub kind: MarkKind,
    pub at_ms: i64,
    pub label: String,
}

impl Timeline {
    /// Loads the run's rows and events and builds its timeline; `None` for no such run.
    pub async fn load(db: &Db, run_id: &str, now_ms: i64) -> Result<Option<Timeline>, Error> {
        let id = run_id.to_owned();
        let loaded = db
            .read(move |tx| {
                Box::pin(async move {
                    let Some(run) = tx.run(&id).await? else { return Ok(None) };
                    let phases = tx.phases(&id).await?;
                    let events = tx.events(&id, 0).await?;
                    Ok(Some((run, phases, events)))
                })
            })
            .await?;
        Ok(loaded.map(|(run, phases, events)| Timeline::build(&run, &phases, &events, now_ms)))
    }

    pub fn build(run: &RunRow, phases: &[PhaseRow], events: &[EventRow], now_ms: i64) -> Timeline {
        let end_ms = run.ended_at.unwrap_or(now_ms).max(run.created_at + 1);
        let mut builder = Builder { rows: HashMap::new(), last_phase: None };
        for event in events {
            builder.event(event);
        }
        let mut rows: Vec<Row> = phases
            .iter()
            .map(|phase| {
                let (bars, marks) = builder.rows.remove(&phase.id).unwrap_or_default();
                Row {
                    phase_key: phase.phase_key.clone(),
                    phase_state: phase.state.to_string(),
                    bars,
                    marks,
                }
            })
            .collect();
        for row in &mut rows {
            for bar in row.bars.iter_mut().filter(|bar| bar.open) {
                bar.end_ms = end_ms;
                if run.state.is_terminal() {
                    bar.open = false;
                    bar.outcome = format!("run {}", run.state);
                }
            }
        }
        Timeline { run_id: run.id.clone(), start_ms: run.created_at, end_ms, rows }
    }
}

/// Each phase's bars and marks, by phase id, as the events come.
struct Builder {
    rows: HashMap<String, (Vec<Bar>, Vec<Mark>)>,
    /// The phase of the latest phase event (a run event such as `run.paused` is marked there).
    last_phase: Option<String>,
}

impl Builder {
    fn event(&mut self, event: &EventRow) {
        let at = event.created_at;
        let Some(phase) = event.phase_id.clone().or_else(|| self.run_event_phase(event)) else {
            return;
        };
        self.last_phase = Some(phase.clone());
        let (bars, marks) = self.rows.entry(phase).or_default();
        let mut mark = |kind, label: String| marks.push(Mark { kind, at_ms: at, label });
        match event.kind.as_str() {
            kind::PHASE_STARTED => {
                close(bars, at, "superseded by the next attempt");
                let started = payload::<PhaseStarted>(event);
                let repair = started.as_ref().and_then(|started| started.repair) == Some(true);
                let attempt = started.map_or(0, |started| started.attempt);
                let kind = if repair { BarKind::Repair } else { BarKind::Attempt };
                bars.push(Bar {
                    kind,
                    attempt,
                    start_ms: at,
                    end_ms: at,
                    open: true,
                    outcome: "running".to_owned(),
                });
            }
            kind::PHASE_COMPLETED => close(bars, at, "completed"),
            kind::PHASE_FAILED => {
                let reason = payload::<PhaseFailed>(event).map(|failed| failed.reason);
                close(bars, at, &format!("failed: {}", reason.unwrap_or_default()));
            }
            kind::APPROVAL_REQUESTED => {
                let requested = payload::<ApprovalRequested>(event);
                let gate = requested.map(|requested| requested.gate_key).unwrap_or_default();
                close(bars, at, &format!("at gate {gate}"));
                mark(MarkKind::Gate, format!("gate {gate} opened"));
                let attempt = bars.last().map_or(0, |bar| bar.attempt);
                let waiting = format!("waiting at gate {gate}");
                bars.push(Bar {
                    kind: BarKind::Gate,
                    attempt,
                    start_ms: at,
                    end_ms: at,
                    open: true,
                    outcome: waiting,
                });
            }
            kind::APPROVAL_DECIDED => {
                let outcome =
                    payload::<ApprovalDecided>(event).map_or_else(String::new, |decided| {
                        let note = decided.note.map(|note| format!(": {note}")).unwrap_or_default();
                        format!("{} by {}{note}", decided.decision, decided.decided_by)
                    });
                if let Some(gate) =
                    bars.iter_mut().rev().find(|bar| bar.open && bar.kind == BarKind::Gate)
                {
                    gate.end_ms = at;
                    gate.open = false;
                    gate.outcome = outcome;
                }
            }
            kind::ARTIFACT_TIMEOUT => {
                let state = payload::<ArtifactTimeout>(event).map(|timeout| timeout.session_state);
                let state = state.unwrap_or_default();
                mark(MarkKind::Timeout, format!("no artifact in time (agent {state})"));
            }
            kind::ARTIFACT_INVALID => mark(MarkKind::Invalid, "invalid artifact".to_owned()),
            kind::SESSION_CRASHED => mark(MarkKind::Crashed, "agent crashed".to_owned()),
            kind::SESSION_RECOVERED => mark(MarkKind::Recovered, "agent recovered".to_owned()),
            kind::RUN_PAUSED => {
                let cause = payload::<RunPaused>(event).map(|paused| paused.cause);
                mark(MarkKind::Paused, format!("run paused: {}", cause.unwrap_or_default()));
            }
            _ => {}
        }
    }

    /// The phase a run event belongs on: `run.paused` names it in its cause
    /// (`human_required:{gate}:{phase}:{attempt}`); else the latest phase.
    fn run_event_phase(&self, event: &EventRow) -> Option<String> {
        if event.kind != kind::RUN_PAUSED {
            return None;
        }
        let cause = payload::<RunPaused>(event).map(|paused| paused.cause).unwrap_or_default();
        let mut parts = cause.rsplitn(3, ':');
        let (_attempt, phase) = (parts.next(), parts.next());
        phase
            .filter(|phase| self.rows.contains_key(*phase))
            .map(str::to_owned)
            .or_else(|| self.last_phase.clone())
    }
}

/// The event's payload as its kind's struct; `None` for one of another shape (which no step
/// writes), drawn without its details rather than not at all.
fn payload<P: DeserializeOwned>(event: &EventRow) -> Option<P> {
    event::read(event).ok()
}

/// Ends the open bar (an attempt or a gate wait) at `at`.
fn close(bars: &mut [Bar], at: i64, outcome: &str) {
    for bar in bars.iter_mut().filter(|bar| bar.open) {
        bar.end_ms = at;
        bar.open = false;
        bar.outcome = outcome.to_owned();
    }
}

#[cfg(test)]
mod tests;
