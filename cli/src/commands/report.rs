//! Driving with a status line and interrupts (Ctrl-C, SIGTERM, SIGHUP), and telling a person
//! where the run stopped.

use std::future::Future;

use devflow_core::{Code, Error};
use devflow_phase::{Driver, Outcome, Workflow};
use tokio_util::sync::CancellationToken;

use crate::exit::{self, Status};
use crate::progress::Progress;

/// Runs `drive` with the status line; an interrupt cancels it (the driver releases the run's
/// lease, and the run stays where it is).
pub async fn driving<F, Fut>(driver: &Driver, run_id: &str, drive: F) -> Result<Outcome, Error>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = Result<Outcome, Error>>,
{
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let signals = tokio::spawn(async move {
        crate::signals::interrupted().await;
        on_signal.cancel();
    });
    let progress = Progress::start(driver.db().clone(), run_id.to_owned());
    let outcome = drive(cancel).await;
    progress.finish();
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
            for (phase, path) in artifacts(driver, run_id).await? {
                out!("  {phase}: {path}");
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
    }
}

/// Each phase's artifact path, absolute.
async fn artifacts(driver: &Driver, run_id: &str) -> Result<Vec<(String, String)>, Error> {
    let id = run_id.to_owned();
    let run = driver.db().read(move |tx| Box::pin(async move { tx.run(&id).await })).await?;
    let Some(run) = run else {
        return Ok(Vec::new());
    };
    let workflow = Workflow::from_definition(&run.definition)?;
    let root = std::path::Path::new(&run.worktree);
    Ok(workflow
        .phases
        .iter()
        .map(|phase| (phase.key.clone(), root.join(&phase.artifact).display().to_string()))
        .collect())
}
