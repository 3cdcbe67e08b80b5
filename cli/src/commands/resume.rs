//! `devflow resume RUN [--move-agents]`: continue a run after a human gate or a killed devflow;
//! with `--move-agents`, with fresh agents on this host when its agents live on another.

use devflow_core::{Error, RunState};

use super::driving;
use crate::args::Place;
use crate::context::{Context, decided_by, invalid};
use crate::exit::Status;

pub async fn run(run_id: &str, move_agents: bool, place: &Place) -> Result<Status, Error> {
    let (driver, run) = Context::new(place)?.driver_for_run(run_id).await?;
    if let Some((ended, kind)) = ended(run.state) {
        return Err(invalid(format!(
            "run {run_id} {ended}; {kind} run cannot be resumed: start a new run"
        ))
        .with_hint(format!("`devflow events {run_id}` shows how it ended")));
    }
    crate::programs::check_run_roles(driver.db(), &run).await?;
    let resuming = &driver;
    let outcome = driving::driving(&driver, run_id, |cancel| async move {
        match move_agents {
            true => resuming.resume_moving_agents(run_id, decided_by(), cancel).await,
            false => resuming.resume(run_id, decided_by(), cancel).await,
        }
    })
    .await?;
    driving::outcome(&driver, run_id, outcome).await
}

/// How a run that has ended is said to have ended, and what it is; `None` while it can go on.
fn ended(state: RunState) -> Option<(&'static str, &'static str)> {
    match state {
        RunState::Failed => Some(("failed", "a failed")),
        RunState::Completed => Some(("completed", "a completed")),
        RunState::Aborted => Some(("was aborted", "an aborted")),
        RunState::Queued
        | RunState::Planning
        | RunState::Executing
        | RunState::AwaitingApproval
        | RunState::Paused => None,
    }
}
