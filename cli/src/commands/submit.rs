//! `devflow submit WORKFLOW`: record a run queued for workers, and print its id.

use std::path::Path;

use devflow_core::Error;
use devflow_phase::Workflow;

use super::run::check_run_id;
use crate::args::Place;
use crate::context::Context;
use crate::exit::{self, Status};
use crate::output::note;

pub async fn run(workflow: &Path, run_id: Option<String>, place: &Place) -> Result<Status, Error> {
    if let Some(id) = &run_id {
        check_run_id(id)?;
    }
    // As `devflow run` checks them: the file, the agents it names, and that no artifact
    // overwrites the database, before anything is written.
    let workflow = Workflow::load(workflow)?;
    crate::programs::check_roles(&workflow, workflow.roles.keys().map(String::as_str))?;
    let context = Context::new(place)?;
    if let Some(database) = context.sqlite_file() {
        workflow.check_artifacts_avoid(&context.worktree, &database)?;
    }
    let driver = context.driver().await?;
    let run_id = driver.submit(&workflow, run_id, &context.worktree).await?;
    out!("{run_id}");
    note(&format!(
        "devflow: run {run_id} of workflow {} is queued; `devflow worker` drives it (`devflow status {run_id}` shows it)",
        workflow.name
    ));
    Ok(exit::COMPLETED)
}
