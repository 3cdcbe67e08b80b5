//! `devflow run WORKFLOW`: create a run and drive it.

use std::path::Path;

use devflow_core::Error;
use devflow_phase::Workflow;

use super::report;
use crate::args::Place;
use crate::context::Context;
use crate::exit::Status;

pub async fn run(workflow: &Path, run_id: Option<String>, place: &Place) -> Result<Status, Error> {
    // The file is checked before anything touches the database.
    let workflow = Workflow::load(workflow)?;
    let context = Context::new(place)?;
    // Only here is the database file known: an artifact must not overwrite it.
    if let Some(database) = context.sqlite_file() {
        workflow.check_artifacts_avoid(&context.worktree, &database)?;
    }
    let driver = context.driver().await?;
    let run_id = run_id.unwrap_or_else(devflow_db::new_id);
    eprintln!(
        "devflow: run {run_id} of workflow {} ({} phases)",
        workflow.name,
        workflow.phases.len()
    );
    eprintln!(
        "devflow: watch the agents with: tmux -S {} attach",
        crate::tmux::socket_path(&context.worktree).display()
    );
    let worktree = context.worktree.clone();
    let (id, outcome) = {
        let id = run_id.clone();
        let started = report::driving(&driver, &run_id, |cancel| async {
            driver.start(&workflow, Some(id), &worktree, cancel).await.map(|(_, outcome)| outcome)
        })
        .await;
        (run_id, started?)
    };
    report::outcome(&driver, &id, outcome).await
}
