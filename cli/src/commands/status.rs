//! `devflow status [RUN] [--json]`: one run's phases and gates, or a table of the runs. Tables
//! show local times and ages; the JSON (shaped by `devflow_phase::view`, as the web API is)
//! keeps epoch milliseconds.

use devflow_core::{Error, StateMachine};
use devflow_phase::view::{self, RunView, time};
use serde_json::Value;

use crate::args::Place;
use crate::context::Context;
use crate::exit::{self, Status};
use crate::output::{inline, json};

pub async fn run(run_id: Option<&str>, as_json: bool, place: &Place) -> Result<Status, Error> {
    let db = Context::new(place)?.open_existing().await?;
    let Some(run_id) = run_id else {
        let mut runs = view::load_runs(&db).await?;
        // The JSON list keeps the database's order, newest first, as it always had.
        runs.sort_by_key(|(run, _)| std::cmp::Reverse((run.created_at, run.id.clone())));
        print_runs(&runs, as_json);
        return Ok(exit::COMPLETED);
    };
    let Some(view) = RunView::load(&db, run_id).await? else {
        return Err(crate::context::not_found(run_id));
    };
    if as_json {
        out!("{}", json(&view.to_json()));
    } else {
        print_run(&view);
    }
    Ok(exit::COMPLETED)
}

/// A time as `2026-12-02 16:39:05 (3 min ago)`.
fn when(epoch_ms: i64) -> String {
    format!("{} ({})", time::local(epoch_ms), time::age(devflow_db::now_ms(), epoch_ms))
}

fn print_run(view: &RunView) {
    let run = &view.run;
    let (id, workflow) = (inline(&run.id), inline(&run.workflow));
    out!("run {id}  workflow {workflow}  state {}", run.state);
    out!("worktree {}", inline(&run.worktree));
    out!("created {}  updated {}", when(run.created_at), when(run.updated_at));
    out!();
    let workflow = devflow_phase::Workflow::from_definition(&run.definition).ok();
    let needs = |key: &str| {
        let def = workflow.as_ref().and_then(|workflow| workflow.phase(key));
        def.map_or_else(
            || "-".to_owned(),
            |def| match def.needs.is_empty() {
                true => "-".to_owned(),
                false => def.needs.join(","),
            },
        )
    };
    out!(
        "{:<20} {:<18} {:<8} {:<20} {:<20} TOOK",
        "PHASE",
        "STATE",
        "ATTEMPTS",
        "NEEDS",
        "STARTED"
    );
    for phase in &view.phases {
        let started = phase.started_at.map_or_else(|| "-".to_owned(), time::local);
        let took = match (phase.started_at, phase.ended_at) {
            (Some(start), Some(end)) => time::duration(end - start),
            (Some(start), None) => {
                format!("{} so far", time::duration(devflow_db::now_ms() - start))
            }
            _ => "-".to_owned(),
        };
        out!(
            "{:<20} {:<18} {:<8} {:<20} {:<20} {took}",
            inline(&phase.phase_key),
            phase.state.as_str(),
            phase.attempts,
            inline(&needs(&phase.phase_key)),
            started
        );
    }
    if let Some(workflow) = workflow.as_ref().filter(|workflow| workflow.worktree.is_some()) {
        out!();
        out!("{:<20} {:<32} WORKTREE", "PHASE", "BRANCH");
        for def in &workflow.phases {
            let branch = workflow.branch_of(&run.id, def).unwrap_or_default();
            let folder = workflow.workdir(std::path::Path::new(&run.worktree), &run.id, def);
            out!(
                "{:<20} {:<32} {}",
                inline(&def.key),
                inline(&branch),
                inline(&folder.display().to_string())
            );
        }
    }
    if !view.gates.is_empty() {
        out!();
        out!("{:<32} {:<20} {:<10} {:<20} DECIDED BY", "GATE", "PHASE", "STATE", "OPENED");
        for gate in &view.gates {
            out!(
                "{:<32} {:<20} {:<10} {:<20} {}",
                inline(&gate.gate_key),
                inline(view.phase_key(&gate.phase_id)),
                gate.state.as_str(),
                time::local(gate.created_at),
                inline(gate.decided_by.as_deref().unwrap_or("-"))
            );
            // What a person waiting at the gate needs: what happened, and what to do.
            let hint = gate.payload.get("recoveryHint").and_then(|hint| hint.as_str());
            if gate.state == devflow_db::ApprovalState::Pending
                && let Some(hint) = hint.filter(|hint| !hint.is_empty())
            {
                out!("  hint: {}", inline(hint));
            }
        }
    }
}

fn print_runs(runs: &[(devflow_db::RunRow, Vec<devflow_db::PhaseRow>)], as_json: bool) {
    if as_json {
        let list: Vec<Value> =
            runs.iter().map(|(run, phases)| view::run_summary_json(run, phases)).collect();
        out!("{}", json(&Value::Array(list)));
        return;
    }
    if runs.is_empty() {
        out!("no runs yet: `devflow run WORKFLOW` starts one");
        return;
    }
    out!("{:<38} {:<16} {:<18} {:<16} UPDATED", "RUN", "WORKFLOW", "STATE", "PHASE");
    for (run, phases) in runs {
        let (id, workflow) = (inline(&run.id), inline(&run.workflow));
        let phase = view::current_phase_keys(phases).unwrap_or_else(|| "-".to_owned());
        out!(
            "{id:<38} {workflow:<16} {:<18} {:<16} {}",
            run.state.as_str(),
            inline(&phase),
            when(run.updated_at)
        );
    }
}
