//! `devflow doctor`: is tmux there, does the database open, and for each role of the workflow:
//! is its CLI installed, its version, and which known first-run dialog its configuration will
//! still show (`doctor/role.rs`). It changes nothing: no `.devflow/`, no database file, no
//! agent configuration. One `ok`/`warn`/`FAIL`/`skip` line per finding.

mod role;

use std::path::Path;

use devflow_core::Error;
use devflow_phase::Workflow;

use crate::args::Place;
use crate::context::Context;
use crate::exit::{self, Status};
use crate::programs::find_program;

pub async fn run(workflow: Option<&Path>, place: &Place) -> Result<Status, Error> {
    let context = Context::new(place)?;
    let mut ok = check_tmux(&context);
    ok &= check_database(&context).await;
    let default = context.devflow_dir().join("workflow.toml");
    let path = workflow.map(Path::to_path_buf).or_else(|| default.exists().then_some(default));
    match path.map(|path| Workflow::load(&path)) {
        None => {
            out!(
                "skip  no workflow given (and no .devflow/workflow.toml): role commands not checked"
            );
        }
        Some(Err(error)) => {
            ok = false;
            out!("FAIL  workflow: {}", error.message());
        }
        Some(Ok(workflow)) => {
            for (name, role) in &workflow.roles {
                ok &= role::check(name, role, &context.worktree).await;
            }
        }
    }
    Ok(if ok { exit::COMPLETED } else { exit::FAILED })
}

fn check_tmux(context: &Context) -> bool {
    let Some(tmux) = find_program("tmux") else {
        out!(
            "FAIL  tmux: not found on PATH (install tmux: apt-get install tmux, brew install tmux)"
        );
        return false;
    };
    let socket = crate::tmux::socket_path(&context.worktree);
    if let Some(folder) = socket.parent().filter(|_| crate::tmux::is_fallback(&context.worktree))
        && let Err(error) = crate::tmux::private_folder(folder)
    {
        out!("FAIL  tmux: {}", error.message());
        return false;
    }
    out!("ok    tmux {}; devflow's server socket: {}", tmux.display(), socket.display());
    true
}

async fn check_database(context: &Context) -> bool {
    let label = context.db_label();
    if context.sqlite_file().is_some_and(|file| !file.exists()) {
        out!(
            "ok    database {label}: not created yet (`devflow run` or `devflow migrate` creates it)"
        );
        return true;
    }
    match context.open_existing().await {
        Ok(db) => {
            out!("ok    database {} ({})", db.url(), db.backend());
            true
        }
        Err(error) => {
            out!("FAIL  database {label}: {}", error.message());
            false
        }
    }
}
