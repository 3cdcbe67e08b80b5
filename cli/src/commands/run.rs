//! `devflow run WORKFLOW`: create a run and drive it.

use std::path::Path;

use devflow_core::Error;
use devflow_phase::Workflow;

use super::driving;
use crate::args::{Place, Worktrees};
use crate::context::Context;
use crate::exit::Status;
use crate::output::note;

pub async fn run(
    workflow: &Path,
    run_id: Option<String>,
    worktrees: &Worktrees,
    place: &Place,
) -> Result<Status, Error> {
    let (workflow, context) = checked(workflow, run_id.as_deref(), worktrees, place).await?;
    let driver = context.driver().await?;
    let run_id = run_id.unwrap_or_else(devflow_db::new_id);
    note(&format!(
        "devflow: run {run_id} of workflow {} ({} phases)",
        workflow.name,
        workflow.phases.len()
    ));
    note(&format!(
        "devflow: watch the agents with: tmux -S {} attach",
        crate::tmux::socket_path(&context.worktree).display()
    ));
    let worktree = context.worktree.clone();
    let started = driving::driving(&driver, &run_id, |cancel| async {
        let id = Some(run_id.clone());
        driver.start(&workflow, id, &worktree, cancel).await.map(|(_, outcome)| outcome)
    })
    .await?;
    driving::outcome(&driver, &run_id, started).await
}

/// What `run` and `submit` check before anything touches the database: the run id, the file,
/// the agents it names, (once the database file is known) that no artifact overwrites it, and
/// the repository and base of managed worktrees, the base pinned to its commit.
pub(super) async fn checked(
    workflow: &Path,
    run_id: Option<&str>,
    worktrees: &Worktrees,
    place: &Place,
) -> Result<(Workflow, Context), Error> {
    if let Some(id) = run_id {
        check_run_id(id)?;
    }
    let mut workflow = Workflow::load(workflow)?;
    if let Some(repo) = &worktrees.repo {
        let repo = std::path::absolute(repo).unwrap_or_else(|_| repo.clone());
        let managed = workflow.worktree.get_or_insert_with(|| devflow_phase::workflow::Managed {
            repo: String::new(),
            base: devflow_phase::workflow::DEFAULT_BASE.to_owned(),
            include: Vec::new(),
            setup: None,
        });
        managed.repo = repo.display().to_string();
    }
    match (&mut workflow.worktree, &worktrees.base) {
        (Some(managed), Some(base)) => managed.base = base.clone(),
        (None, Some(_)) => {
            return Err(crate::context::invalid(
                "--base names the commit devflow's worktrees start from, and this run has none",
            )
            .with_hint("add --repo PATH (or a [worktree] table to the workflow), or drop --base"));
        }
        _ => {}
    }
    workflow.check_managed()?;
    crate::programs::check_roles(&workflow, workflow.roles.keys().map(String::as_str))?;
    let context = Context::new(place)?;
    let workflow = workflow.with_repo_default(&context.worktree);
    if let Some(database) = context.sqlite_file() {
        workflow.check_artifacts_avoid(&context.worktree, &database)?;
    }
    let workflow = devflow_phase::driver::pin_base(&workflow).await?;
    Ok((workflow, context))
}

const RUN_ID_CHARS_MAX: usize = 64;

/// A run id names a tmux session and appears in every line about the run: letters, digits,
/// `-` and `_` only (tmux would fold others into `_`, so `a.b` and `a_b` would share agents),
/// and never a control character or an escape sequence.
fn check_run_id(id: &str) -> Result<(), Error> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !id.is_empty() && id.len() <= RUN_ID_CHARS_MAX && id.chars().all(allowed) {
        return Ok(());
    }
    Err(crate::context::invalid(format!(
        "--run-id {:?} is not a run id",
        devflow_core::text::neutralize_line(id)
    ))
    .with_hint(format!("a run id is 1 to {RUN_ID_CHARS_MAX} letters, digits, '-' and '_'")))
}
