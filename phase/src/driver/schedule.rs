//! Which phases of a run start now: a pure function of the workflow's graph, the phase rows and
//! the phases this driver runs already.

use std::collections::BTreeSet;

use devflow_core::PhaseState;
use devflow_db::PhaseRow;

use crate::workflow::Workflow;

/// The phases to start, at most `room` of them: not completed and not running here, everything
/// they need completed, and their agent not busy with another phase (a shared role's agent does
/// one phase at a time). A phase that was under way before (re-entered after a crash or a gate)
/// comes before a pending one, so the phase that holds a shared agent gets it back; otherwise
/// the file's order decides.
pub(crate) fn to_start<'r>(
    workflow: &Workflow,
    rows: &'r [PhaseRow],
    running: &BTreeSet<String>,
    room: usize,
) -> Vec<&'r PhaseRow> {
    let done: BTreeSet<&str> = rows
        .iter()
        .filter(|row| row.state == PhaseState::Completed)
        .map(|row| row.phase_key.as_str())
        .collect();
    let mut busy: BTreeSet<String> = rows
        .iter()
        .filter(|row| running.contains(&row.phase_key))
        .filter_map(|row| workflow.phase(&row.phase_key).map(|def| workflow.agent_of(def)))
        .collect();
    let mut ready: Vec<&PhaseRow> = rows
        .iter()
        .filter(|row| row.state != PhaseState::Completed && !running.contains(&row.phase_key))
        .filter(|row| {
            workflow
                .phase(&row.phase_key)
                .is_some_and(|def| def.needs.iter().all(|need| done.contains(need.as_str())))
        })
        .collect();
    ready.sort_by_key(|row| row.state == PhaseState::Pending);
    let mut start = Vec::new();
    for row in ready {
        let Some(def) = workflow.phase(&row.phase_key) else { continue };
        if start.len() == room {
            break;
        }
        if busy.insert(workflow.agent_of(def)) {
            start.push(row);
        }
    }
    start
}

#[cfg(test)]
mod tests;
