//! Driving with a status line and interrupts (Ctrl-C, SIGTERM, SIGHUP), and telling a person
//! where the run stopped.

use std::future::Future;
use std::time::Duration;

use devflow_core::{Code, Error};
use devflow_phase::notify::Notify;
use devflow_phase::{Driver, Outcome, Workflow};
use devflow_web::notify::{Notifier, Scope};
use tokio_util::sync::CancellationToken;

use crate::exit::{self, Status};
use crate::progress::Progress;

/// The longest a driving command stays, once the run stopped, to send what is due to be told.
const NOTIFY_AT_EXIT_MS: u64 = 15_000;

/// Runs `drive` with the status line and the run's notifier; an interrupt cancels it (the
/// driver releases the run's lease, and the run stays where it is). The notifications the run
/// made are sent before this returns, for a bounded time; what is left waits for a later
/// devflow (`serve`, or the next command on the run).
pub async fn driving<F, Fut>(driver: &Driver, run_id: &str, drive: F) -> Result<Outcome, Error>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = Result<Outcome, Error>>,
{
    let (cancel, signals) = crate::signals::cancel_on_interrupt();
    let progress = Progress::start(driver.db().clone(), run_id.to_owned());
    let scope = Scope::Run(run_id.to_owned());
    let notifier = Notifier::new(driver.db().clone(), scope, user_notify()).spawn();
    let outcome = drive(cancel).await;
    progress.finish();
    let left = notifier.finish(Duration::from_millis(NOTIFY_AT_EXIT_MS)).await;
    if left > 0 {
        crate::output::note(&format!(
            "devflow: {left} notification(s) of run {run_id} not sent yet; `devflow serve` or the next command on the run sends them"
        ));
    }
    signals.abort();
    outcome.map_err(|error| {
        if error.is(Code::ActivityCancelled) {
            Error::new(
                Code::ActivityCancelled,
                format!("interrupted; run {run_id} stays where it was"),
            )
            .with_hint(format!("continue it with `devflow resume {run_id}`"))
        } else {
            error
        }
    })
}

/// Prints where the run stopped and returns the exit status for it.
pub async fn outcome(driver: &Driver, run_id: &str, outcome: Outcome) -> Result<Status, Error> {
    match outcome {
        Outcome::Completed => {
            out!("run {run_id} completed");
            let (artifacts, branch) = artifacts(driver, run_id).await?;
            for (phase, path) in artifacts {
                out!("  {phase}: {path}");
            }
            if let Some(branch) = branch {
                out!(
                    "  branch: {branch} holds the run's work; `devflow clean {run_id}` removes its worktrees"
                );
            }
            Ok(exit::COMPLETED)
        }
        Outcome::AwaitingApproval(gate) => {
            out!(
                "run {run_id} is waiting for approval at gate {} (phase {})",
                gate.gate_key,
                gate.phase_key
            );
            if let Some(path) = gate.hint {
                out!("  artifact: {path}");
            }
            out!("  approve: devflow approve {run_id}");
            out!("  reject:  devflow reject {run_id} --note \"what to change\"");
            Ok(exit::WAITING)
        }
        Outcome::Paused(gate) => {
            out!(
                "run {run_id} is paused at a human gate: {} (phase {})",
                gate.gate_key,
                gate.phase_key
            );
            if let Some(hint) = gate.hint {
                out!("  hint: {hint}");
            }
            out!("  then: devflow resume {run_id}   (or: devflow abort {run_id})");
            Ok(exit::WAITING)
        }
        Outcome::Failed { reason } => {
            crate::output::note(&format!("error: run {run_id} failed: {reason}"));
            crate::output::note(&format!("  hint: `devflow events {run_id}` shows what happened"));
            Ok(exit::FAILED)
        }
        Outcome::Aborted => {
            out!("run {run_id} was aborted");
            Ok(exit::FAILED)
        }
        Outcome::Queued => {
            out!("run {run_id} is queued: a worker drives it on (`devflow worker`)");
            Ok(exit::COMPLETED)
        }
    }
}

/// Each agent phase's artifact path, absolute, in the worktree it worked in; and the run's
/// branch, when devflow made its worktrees.
type Artifacts = (Vec<(String, String)>, Option<String>);

async fn artifacts(driver: &Driver, run_id: &str) -> Result<Artifacts, Error> {
    let id = run_id.to_owned();
    let run = driver.db().read(move |tx| Box::pin(async move { tx.run(&id).await })).await?;
    let Some(run) = run else {
        return Ok((Vec::new(), None));
    };
    let workflow = Workflow::from_definition(&run.definition)?;
    let folder = std::path::Path::new(&run.worktree);
    let branch = workflow.worktree.as_ref().map(|_| devflow_phase::workflow::run_branch(&run.id));
    let artifacts = workflow
        .phases
        .iter()
        // A merge phase writes no artifact: its commit is on the run's branch.
        .filter(|phase| phase.kind == devflow_phase::workflow::Kind::Agent)
        .map(|phase| {
            let workdir = workflow.workdir(folder, &run.id, phase);
            (phase.key.clone(), workdir.join(&phase.artifact).display().to_string())
        })
        .collect();
    Ok((artifacts, branch))
}

/// The user's notification settings (`notify.toml`); a file that does not parse is said on
/// stderr and left out: a notification must never stop a run.
pub fn user_notify() -> Option<Notify> {
    match devflow_phase::notify::load_user_file() {
        Ok(notify) => notify,
        Err(error) => {
            crate::output::note(&format!(
                "devflow: notifications of your own file are off: {error}"
            ));
            if let Some(hint) = error.recovery_hint() {
                crate::output::note(&format!("  hint: {hint}"));
            }
            None
        }
    }
}
