//! `devflow doctor`: is tmux there, does the database open, is each role's command found.

use std::path::{Path, PathBuf};

use devflow_core::Error;
use devflow_phase::Workflow;

use crate::args::Place;
use crate::context::Context;
use crate::exit::{self, Status};

pub async fn run(workflow: Option<&Path>, place: &Place) -> Result<Status, Error> {
    let context = Context::new(place)?;
    let mut ok = true;
    match crate::tmux::adapter(&context.worktree) {
        Ok(adapter) => {
            out!("ok    tmux found; devflow's server socket: {}", adapter.socket_path().display())
        }
        Err(error) => {
            ok = false;
            out!("FAIL  tmux: {}", error.message());
        }
    }
    match context.connect().await {
        Ok(db) => out!("ok    database {} ({})", db.url(), db.backend()),
        Err(error) => {
            ok = false;
            out!("FAIL  database {}: {}", context.db_url, error.message());
        }
    }
    let default = context.devflow_dir().join("workflow.toml");
    let path = workflow.map(Path::to_path_buf).or_else(|| default.exists().then_some(default));
    match path.map(|path| Workflow::load(&path)) {
        None => out!(
            "skip  no workflow given (and no .devflow/workflow.toml): role commands not checked"
        ),
        Some(Err(error)) => {
            ok = false;
            out!("FAIL  workflow: {}", error.message());
        }
        Some(Ok(workflow)) => {
            for (name, role) in &workflow.roles {
                match role.command.program().map(find_program) {
                    Some(Some(found)) => out!("ok    role {name}: {}", found.display()),
                    _ => {
                        ok = false;
                        out!(
                            "FAIL  role {name}: {:?} is not on PATH",
                            role.command.program().unwrap_or("")
                        );
                    }
                }
            }
        }
    }
    Ok(if ok { exit::COMPLETED } else { exit::FAILED })
}

/// Where a program is: `devflow` is this binary; a path is checked as is; a name on `PATH`.
fn find_program(program: &str) -> Option<PathBuf> {
    if program == "devflow" {
        return std::env::current_exe().ok();
    }
    if program.contains('/') {
        return Path::new(program).is_file().then(|| PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())
}
