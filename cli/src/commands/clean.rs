//! `devflow clean RUN`: remove the git worktrees devflow made for a run that has ended, and
//! its phases' branches; the run's own branch (its result) stays.

use devflow_core::Error;

use crate::args::Place;
use crate::context::Context;
use crate::exit::{self, Status};
use crate::output::inline;

pub async fn run(run_id: &str, place: &Place) -> Result<Status, Error> {
    let (driver, _) = Context::new(place)?.driver_for_run(run_id).await?;
    let cleaned = driver.clean(run_id).await?;
    if cleaned.removed.is_empty() {
        out!("run {run_id} has no worktrees of devflow's to remove");
    }
    for path in &cleaned.removed {
        out!("removed {}", inline(path));
    }
    if let Some(branch) = &cleaned.kept_branch {
        out!(
            "kept branch {} (the run's result): `git branch -D {}` deletes it",
            inline(branch),
            inline(branch)
        );
    }
    Ok(exit::COMPLETED)
}
