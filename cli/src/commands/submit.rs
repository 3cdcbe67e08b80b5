//! `devflow submit WORKFLOW`: record a run queued for workers, and print its id.

use std::path::Path;

use devflow_core::Error;

use super::run::checked;
use crate::args::{Place, Worktrees};
use crate::exit::{self, Status};
use crate::output::note;

pub async fn run(
    workflow: &Path,
    run_id: Option<String>,
    worktrees: &Worktrees,
    place: &Place,
) -> Result<Status, Error> {
    // Checked as `devflow run` checks it, before anything is written.
    let (workflow, context) = checked(workflow, run_id.as_deref(), worktrees, place).await?;
    let driver = context.driver().await?;
    let run_id = driver.submit(&workflow, run_id, &context.worktree).await?;
    out!("{run_id}");
    note(&format!(
        "devflow: run {run_id} of workflow {} is queued; `devflow worker` drives it (`devflow status {run_id}` shows it)",
        workflow.name
    ));
    Ok(exit::COMPLETED)
}
