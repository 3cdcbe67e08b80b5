//! `devflow status [RUN] [--json]`: one run's phases and gates, or a table of the runs.

use devflow_core::{Error, StateMachine};
use devflow_db::{ApprovalRow, PhaseRow, RunRow};
use serde_json::{Value, json};

use crate::args::Place;
use crate::context::Context;
use crate::exit::{self, Status};
use crate::output::{inline, json};

pub async fn run(run_id: Option<&str>, as_json: bool, place: &Place) -> Result<Status, Error> {
    let db = Context::new(place)?.open_existing().await?;
    let Some(run_id) = run_id else {
        let runs = db.read(|tx| Box::pin(async move { tx.runs().await })).await?;
        print_runs(&runs, as_json);
        return Ok(exit::COMPLETED);
    };
    let id = run_id.to_owned();
    let (run, phases, gates) = db
        .read(move |tx| {
            Box::pin(async move {
                let Some(run) = tx.run(&id).await? else {
                    return Err(crate::context::not_found(&id));
                };
                let phases = tx.phases(&id).await?;
                let gates = tx.approvals(&id).await?;
                Ok((run, phases, gates))
            })
        })
        .await?;
    let document = run_json(&run, &phases, &gates);
    if as_json {
        out!("{}", json(&document));
    } else {
        print_run(&run, &phases, &gates);
    }
    Ok(exit::COMPLETED)
}

fn run_json(run: &RunRow, phases: &[PhaseRow], gates: &[ApprovalRow]) -> Value {
    let phase_key = |id: &str| {
        phases.iter().find(|p| p.id == id).map_or(id.to_owned(), |p| p.phase_key.clone())
    };
    json!({
        "id": run.id, "workflow": run.workflow, "state": run.state.as_str(), "worktree": run.worktree,
        "paused_from_state": run.paused_from_state.map(|s| s.as_str()),
        "created_at": run.created_at, "updated_at": run.updated_at, "ended_at": run.ended_at,
        "lease_owner": run.lease_owner, "lease_expires_at": run.lease_expires_at,
        "phases": phases.iter().map(|p| json!({
            "key": p.phase_key, "state": p.state.as_str(), "attempts": p.attempts,
            "started_at": p.started_at, "ended_at": p.ended_at,
        })).collect::<Vec<_>>(),
        "gates": gates.iter().map(|g| json!({
            "id": g.id, "gate_key": g.gate_key, "phase_key": phase_key(&g.phase_id), "state": g.state.as_str(),
            "decided_by": g.decided_by, "note": g.decision_note, "payload": g.payload,
        })).collect::<Vec<_>>(),
    })
}

fn print_run(run: &RunRow, phases: &[PhaseRow], gates: &[ApprovalRow]) {
    let (id, workflow) = (inline(&run.id), inline(&run.workflow));
    out!("run {id}  workflow {workflow}  state {}", run.state);
    out!("worktree {}", inline(&run.worktree));
    out!();
    out!("{:<20} {:<18} ATTEMPTS", "PHASE", "STATE");
    for phase in phases {
        out!("{:<20} {:<18} {}", inline(&phase.phase_key), phase.state.as_str(), phase.attempts);
    }
    if !gates.is_empty() {
        out!();
        out!("{:<32} {:<20} {:<10} DECIDED BY", "GATE", "PHASE", "STATE");
        for gate in gates {
            let phase =
                phases.iter().find(|p| p.id == gate.phase_id).map_or("?", |p| p.phase_key.as_str());
            out!(
                "{:<32} {:<20} {:<10} {}",
                inline(&gate.gate_key),
                inline(phase),
                gate.state.as_str(),
                inline(gate.decided_by.as_deref().unwrap_or("-"))
            );
        }
    }
}

fn print_runs(runs: &[RunRow], as_json: bool) {
    if as_json {
        let list: Vec<Value> = runs
            .iter()
            .map(|run| json!({ "id": run.id, "workflow": run.workflow, "state": run.state.as_str(), "created_at": run.created_at, "updated_at": run.updated_at }))
            .collect();
        out!("{}", json(&Value::Array(list)));
        return;
    }
    if runs.is_empty() {
        out!("no runs yet: `devflow run WORKFLOW` starts one");
        return;
    }
    out!("{:<38} {:<16} {:<18} UPDATED (epoch ms)", "RUN", "WORKFLOW", "STATE");
    for run in runs {
        let (id, workflow) = (inline(&run.id), inline(&run.workflow));
        out!("{id:<38} {workflow:<16} {:<18} {}", run.state.as_str(), run.updated_at);
    }
}
