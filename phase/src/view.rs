//! How runs, a run and its events look from outside, built once for every reader: the JSON
//! of `status --json` and `events --json`, which the web API serves as it is, the order a
//! person reads runs in, and times as people read them (`time`).
//!
//! Shapes are kept as they were when the CLI built them (snake_case keys, epoch milliseconds):
//! scripts read them. A field may be added; none is renamed or removed.

pub mod time;

use std::collections::HashMap;

use devflow_core::{Error, PhaseState, RunState, StateMachine};
use devflow_db::{ApprovalRow, Db, EventRow, PhaseRow, RunRow};
use serde_json::{Value, json};

/// A run with its phases and gates: what `status RUN` shows.
#[derive(Debug, Clone)]
pub struct RunView {
    pub run: RunRow,
    pub phases: Vec<PhaseRow>,
    pub gates: Vec<ApprovalRow>,
}

impl RunView {
    /// The run, or `None` when the database has no such run.
    pub async fn load(db: &Db, run_id: &str) -> Result<Option<RunView>, Error> {
        let id = run_id.to_owned();
        db.read(move |tx| {
            Box::pin(async move {
                let Some(run) = tx.run(&id).await? else { return Ok(None) };
                let phases = tx.phases(&id).await?;
                let gates = tx.approvals(&id).await?;
                Ok(Some(RunView { run, phases, gates }))
            })
        })
        .await
    }

    /// `status RUN --json`.
    pub fn to_json(&self) -> Value {
        run_json(&self.run, &self.phases, &self.gates)
    }

    /// The phase a person would call current: the first that has not completed.
    pub fn current_phase(&self) -> Option<&PhaseRow> {
        current_phase(&self.phases)
    }

    /// The keys of the phases under way, joined by `, ` (one, or several running at once);
    /// `None` when every phase completed.
    pub fn current_phase_keys(&self) -> Option<String> {
        current_phase_keys(&self.phases)
    }

    /// The key of the phase with this id (the id itself for a phase the run does not have).
    pub fn phase_key<'a>(&'a self, phase_id: &'a str) -> &'a str {
        self.phases.iter().find(|p| p.id == phase_id).map_or(phase_id, |p| p.phase_key.as_str())
    }
}

/// Every run with its phases, in the order a person reads them ([`attention_order`]).
pub async fn load_runs(db: &Db) -> Result<Vec<(RunRow, Vec<PhaseRow>)>, Error> {
    let mut runs = db
        .read(|tx| {
            Box::pin(async move {
                let mut out = Vec::new();
                for run in tx.runs().await? {
                    let phases = tx.phases(&run.id).await?;
                    out.push((run, phases));
                }
                Ok(out)
            })
        })
        .await?;
    runs.sort_by_key(|(run, _)| attention_order(run));
    Ok(runs)
}

/// Runs waiting for a person first, then newest first.
pub fn attention_order(run: &RunRow) -> (bool, std::cmp::Reverse<i64>) {
    (!waits_for_a_person(run.state), std::cmp::Reverse(run.created_at))
}

/// Whether a run in this state waits for a person: at an approval gate or a human gate.
pub fn waits_for_a_person(state: RunState) -> bool {
    matches!(state, RunState::AwaitingApproval | RunState::Paused)
}

/// The first phase that has not completed (of several under way at once, the first in the
/// workflow's order).
pub fn current_phase(phases: &[PhaseRow]) -> Option<&PhaseRow> {
    current_phases(phases).first().copied()
}

/// [`RunView::current_phase_keys`] of `phases`.
pub fn current_phase_keys(phases: &[PhaseRow]) -> Option<String> {
    let keys: Vec<&str> =
        current_phases(phases).iter().map(|phase| phase.phase_key.as_str()).collect();
    (!keys.is_empty()).then(|| keys.join(", "))
}

/// The phases a person would call current: those under way (started, not completed), several
/// when phases run at once; else the first that has not completed.
pub fn current_phases(phases: &[PhaseRow]) -> Vec<&PhaseRow> {
    let under_way: Vec<&PhaseRow> = phases
        .iter()
        .filter(|phase| !matches!(phase.state, PhaseState::Completed | PhaseState::Pending))
        .collect();
    if !under_way.is_empty() {
        return under_way;
    }
    phases.iter().find(|phase| phase.state != PhaseState::Completed).into_iter().collect()
}

/// One element of `status --json`'s list of runs.
pub fn run_summary_json(run: &RunRow, phases: &[PhaseRow]) -> Value {
    json!({
        "id": run.id, "workflow": run.workflow, "state": run.state.as_str(),
        "current_phase": current_phase(phases).map(|phase| &phase.phase_key),
        "current_phases": current_phases(phases).iter().map(|phase| &phase.phase_key).collect::<Vec<_>>(),
        "created_at": run.created_at, "updated_at": run.updated_at,
    })
}

/// `status RUN --json`: the run, its phases and its gates.
pub fn run_json(run: &RunRow, phases: &[PhaseRow], gates: &[ApprovalRow]) -> Value {
    let phase_key = |id: &str| {
        phases.iter().find(|p| p.id == id).map_or(id.to_owned(), |p| p.phase_key.clone())
    };
    // What the run's stored workflow says of each phase: what it needs, which agent does it.
    let workflow = crate::Workflow::from_definition(&run.definition).ok();
    let graph = |key: &str| {
        let def = workflow.as_ref().and_then(|workflow| workflow.phase(key));
        let needs = def.map(|def| def.needs.clone()).unwrap_or_default();
        let of = workflow.as_ref().zip(def);
        let agent =
            of.map(|(workflow, def)| workflow.agent_of(def)).filter(|agent| !agent.is_empty());
        let folder = std::path::Path::new(&run.worktree);
        let worktree =
            of.map(|(workflow, def)| workflow.workdir(folder, &run.id, def).display().to_string());
        let branch = of.and_then(|(workflow, def)| workflow.branch_of(&run.id, def));
        (needs, agent, worktree, branch)
    };
    json!({
        "id": run.id, "workflow": run.workflow, "state": run.state.as_str(), "worktree": run.worktree,
        "paused_from_state": run.paused_from_state.map(|s| s.as_str()),
        "created_at": run.created_at, "updated_at": run.updated_at, "ended_at": run.ended_at,
        "lease_owner": run.lease_owner, "lease_expires_at": run.lease_expires_at, "lease_epoch": run.lease_epoch,
        "lease_takeovers": run.lease_takeovers, "submitted_at": run.submitted_at, "agent_host": run.agent_host,
        "phases": phases.iter().map(|p| {
            let (needs, agent, worktree, branch) = graph(&p.phase_key);
            json!({
                "key": p.phase_key, "state": p.state.as_str(), "attempts": p.attempts,
                "started_at": p.started_at, "ended_at": p.ended_at, "needs": needs, "agent": agent,
                "worktree": worktree, "branch": branch,
            })
        }).collect::<Vec<_>>(),
        "gates": gates.iter().map(|g| json!({
            "id": g.id, "gate_key": g.gate_key, "phase_key": phase_key(&g.phase_id), "state": g.state.as_str(),
            "decided_by": g.decided_by, "note": g.decision_note, "payload": g.payload,
        })).collect::<Vec<_>>(),
    })
}

/// Phase ids to their keys, for [`event_json`].
pub fn phase_keys(phases: &[PhaseRow]) -> HashMap<String, String> {
    phases.iter().map(|phase| (phase.id.clone(), phase.phase_key.clone())).collect()
}

/// One line of `events RUN --json`.
pub fn event_json(event: &EventRow, keys: &HashMap<String, String>) -> Value {
    json!({
        "id": event.id, "type": event.kind, "phase_key": event_phase_key(event, keys),
        "idempotency_key": event.idempotency_key, "payload": event.payload, "created_at": event.created_at,
    })
}

/// The key of the event's phase (its id when the phase is not known), `None` for a run event.
pub fn event_phase_key(event: &EventRow, keys: &HashMap<String, String>) -> Option<String> {
    event.phase_id.as_ref().map(|id| keys.get(id).cloned().unwrap_or_else(|| id.clone()))
}

#[cfg(test)]
mod tests;
