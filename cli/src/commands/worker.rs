//! `devflow worker [--concurrency N] [--exit-when-idle] [--move-agents]`: claim submitted runs
//! and drive them, up to N at once in this process, each over its own worktree's tmux server;
//! with `--move-agents`, also runs whose agents live on another host, moved here. Send their
//! notifications. Ctrl-C (or SIGTERM) stops the drives, which give their leases back.

use std::sync::Arc;
use std::time::Duration;

use devflow_core::{Code, Error};
use devflow_phase::Worker;
use devflow_phase::worker::Drivers;
use devflow_web::notify::{Notifier, Scope};

use crate::args::Place;
use crate::context::{Context, driver_for_row};
use crate::exit::{self, Status};
use crate::output::note;

/// What `devflow worker`'s flags ask for.
pub struct Settings {
    pub concurrency: usize,
    pub exit_when_idle: bool,
    /// `--move-agents`: also take over runs whose agents live on another host.
    pub move_agents: bool,
}

pub async fn run(settings: Settings, place: &Place) -> Result<Status, Error> {
    let Settings { concurrency, exit_when_idle, move_agents } = settings;
    let context = Context::new(place)?;
    // Without tmux every run it claimed would fail to start its agents: refuse before claiming.
    if crate::programs::find_program("tmux").is_none() {
        return Err(Error::new(Code::TmuxMissing, "tmux not found on PATH: a worker drives its runs' agents in tmux")
            .with_hint("install tmux (apt-get install tmux / brew install tmux), then start the worker again; no run was claimed"));
    }
    let db = context.open_existing().await?;
    let drivers_db = db.clone();
    let drivers: Drivers = Arc::new(move |run| driver_for_row(drivers_db.clone(), run));
    let notice = Arc::new(|text: &str| note(&format!("devflow worker: {text}")));
    let worker = Worker::new(db.clone(), concurrency, drivers)
        .with_notice(notice)
        .moving_agents(move_agents);
    note(&format!(
        "devflow worker: {} drives up to {concurrency} run(s) of {}{}{}",
        worker.id(),
        context.db_label(),
        if move_agents { ", moving agents from other hosts here" } else { "" },
        if exit_when_idle { " until none is left" } else { "; Ctrl-C stops" }
    ));
    let notifier = Notifier::new(db, Scope::Every, super::driving::user_notify()).spawn();
    let (stop, signals) = crate::signals::cancel_on_interrupt();
    let worked = worker.run(exit_when_idle, stop).await;
    signals.abort();
    notifier.finish(Duration::from_secs(5)).await;
    let worked = worked?;
    note(&format!(
        "devflow worker: stopped: {} completed, {} waiting for a person, {} failed or aborted, {} stopped by an error; {} tmux clients started",
        worked.completed,
        worked.waiting,
        worked.ended,
        worked.errors,
        devflow_session::tmux::clients_started()
    ));
    Ok(if worked.errors > 0 { exit::FAILED } else { exit::COMPLETED })
}
