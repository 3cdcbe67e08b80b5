//! Checking what a workflow says of managed git worktrees: the `[worktree]` table, a phase's
//! `worktree = "own"`, and merge phases, which have no role, artifact or prompt of their own.

use std::path::{Component, Path, PathBuf};

use devflow_core::Error;
use serde_json::json;
use toml::Spanned;

use super::check::Checker;
use super::file::{FilePhase, FilePhaseWorktree, FileWorktree};
use super::{Kind, Managed, PhaseDef, PhaseWorktree, Wait, Workflow};

/// The base a run's worktree is made from when `[worktree]` names none.
pub const DEFAULT_BASE: &str = "HEAD";

/// The schema id of a merge phase, which validates no artifact.
const MERGE_SCHEMA_ID: &str = "devflow:merge";

pub(super) fn phase_worktree(phase: &FilePhase) -> PhaseWorktree {
    match phase.worktree.as_ref().map(|worktree| *worktree.get_ref()) {
        Some(FilePhaseWorktree::Own) => PhaseWorktree::Own,
        Some(FilePhaseWorktree::Run) | None => PhaseWorktree::Run,
    }
}

impl Checker<'_> {
    /// `[worktree]`: the repository relative to the workflow file, the base, what to copy in.
    pub(super) fn managed(&self, table: &Spanned<FileWorktree>) -> Result<Managed, Error> {
        let file = table.get_ref();
        // Unnamed, it is the folder the run is started in, which `Managed::in_folder` fills in.
        let repo = file.repo.as_ref().map(|repo| {
            let repo = self.base.join(repo.get_ref());
            std::path::absolute(&repo).unwrap_or(repo).display().to_string()
        });
        for entry in &file.include {
            let path = Path::new(entry.get_ref());
            let inside = path.components().all(|part| matches!(part, Component::Normal(_)));
            if !inside || entry.get_ref().is_empty() {
                let message =
                    format!("include {:?} is not a path inside the repository", entry.get_ref());
                return Err(self.error(
                    entry,
                    message,
                    "a path relative to the repository, without `..`, e.g. \".env\"",
                ));
            }
        }
        if let Some(setup) = file.setup.as_ref().filter(|setup| setup.get_ref().trim().is_empty()) {
            return Err(self.error(
                setup,
                "the setup command is empty",
                "setup = \"npm ci\", or no setup",
            ));
        }
        Ok(Managed {
            repo: repo.unwrap_or_default(),
            base: file.base.as_ref().map_or(DEFAULT_BASE, |base| base.get_ref()).to_owned(),
            include: file.include.iter().map(|entry| entry.get_ref().clone()).collect(),
            setup: file.setup.as_ref().map(|setup| setup.get_ref().clone()),
        })
    }

    /// A `kind = "merge"` phase: what it needs, and nothing an agent phase has.
    pub(super) fn merge_phase(
        &self,
        phase: &Spanned<FilePhase>,
        key: &str,
        needs: Vec<String>,
    ) -> Result<PhaseDef, Error> {
        let file = phase.get_ref();
        let agent_keys = [
            ("role", file.role.as_ref()),
            ("artifact", file.artifact.as_ref()),
            ("schema", file.schema.as_ref()),
            ("instructions", file.instructions.as_ref()),
            ("instructions_file", file.instructions_file.as_ref()),
            ("approval_gate", file.approval_gate.as_ref()),
        ];
        if let Some(worktree) = &file.worktree {
            let message = format!("merge phase {key:?} has a worktree: it merges into the run's");
            return Err(self.error(worktree, message, "remove `worktree` from the merge phase"));
        }
        if let Some((name, value)) =
            agent_keys.iter().find_map(|(name, value)| value.map(|value| (name, value)))
        {
            let message =
                format!("merge phase {key:?} has a {name}, which only an agent's phase has");
            return Err(self.error(
                value,
                message,
                "a merge phase has a key, kind = \"merge\" and needs",
            ));
        }
        if needs.is_empty() {
            let message = format!("merge phase {key:?} needs nothing, so it has nothing to merge");
            return Err(self.error(
                &file.key,
                message,
                "needs = [\"the phases whose branches it merges\"]",
            ));
        }
        Ok(PhaseDef {
            key: key.to_owned(),
            kind: Kind::Merge,
            worktree: PhaseWorktree::Run,
            role: String::new(),
            needs,
            artifact: String::new(),
            schema_id: MERGE_SCHEMA_ID.to_owned(),
            schema: json!({}),
            instructions: String::new(),
            approval_gate: None,
            wait: Wait::default(),
        })
    }
}

impl Workflow {
    /// The repository of a `[worktree]` table that names none: the folder the run is started in.
    pub fn with_repo_default(mut self, run_folder: &Path) -> Workflow {
        if let Some(managed) = self.worktree.as_mut().filter(|managed| managed.repo.is_empty()) {
            managed.repo = run_folder.display().to_string();
        }
        self
    }

    /// Refuses a workflow whose phases need managed worktrees (`worktree = "own"`, a merge) when
    /// it has none: no `[worktree]` table and no `devflow run --repo`.
    pub fn check_managed(&self) -> Result<(), Error> {
        if self.worktree.is_some() {
            return Ok(());
        }
        let Some(phase) = self
            .phases
            .iter()
            .find(|phase| phase.kind == Kind::Merge || phase.worktree == PhaseWorktree::Own)
        else {
            return Ok(());
        };
        let what = match phase.kind {
            Kind::Merge => "merges branches",
            Kind::Agent => "works in a worktree of its own",
        };
        Err(Error::new(
            devflow_core::Code::InvalidInput,
            format!("{}: phase {:?} {what}, and devflow makes no worktrees for this workflow", self.source, phase.key),
        )
        .with_hint("add a [worktree] table (repo, base) to the workflow, or run it with `devflow run WORKFLOW --repo PATH`"))
    }

    /// The phases whose branches a merge phase merges, in the order of its needs: those it
    /// needs that worked in a worktree of their own (the others' work is on the run's branch).
    pub fn merged_phases<'w>(&'w self, merge: &'w PhaseDef) -> impl Iterator<Item = &'w PhaseDef> {
        merge
            .needs
            .iter()
            .filter_map(|need| self.phase(need))
            .filter(|need| need.worktree == PhaseWorktree::Own)
    }

    /// The branches a merge phase merges, in that order.
    pub fn merged_branches(&self, merge: &PhaseDef, run_id: &str) -> Vec<String> {
        self.merged_phases(merge).map(|need| phase_branch(run_id, &need.key)).collect()
    }
}

impl Workflow {
    /// Where `def` works in run `run_id` whose folder is `run_folder`: its own worktree, the
    /// run's managed worktree, or — without `[worktree]` — the run's folder itself. Managed
    /// worktrees live in devflow's own folder there (`.devflow/worktrees/`, git-ignored).
    pub fn workdir(&self, run_folder: &Path, run_id: &str, def: &PhaseDef) -> PathBuf {
        match (&self.worktree, def.worktree) {
            (None, _) => run_folder.to_path_buf(),
            (Some(_), PhaseWorktree::Run) => run_worktree(run_folder, run_id),
            (Some(_), PhaseWorktree::Own) => {
                worktrees_folder(run_folder).join(format!("{run_id}--{}", def.key))
            }
        }
    }

    /// The branch `def` works on, when devflow makes the worktrees.
    pub fn branch_of(&self, run_id: &str, def: &PhaseDef) -> Option<String> {
        self.worktree.as_ref()?;
        Some(match def.worktree {
            PhaseWorktree::Run => run_branch(run_id),
            PhaseWorktree::Own => phase_branch(run_id, &def.key),
        })
    }
}

/// The folder of a run's managed worktrees, in devflow's own folder of the run's folder.
pub fn worktrees_folder(run_folder: &Path) -> PathBuf {
    run_folder.join(".devflow").join("worktrees")
}

/// The run's own managed worktree.
pub fn run_worktree(run_folder: &Path, run_id: &str) -> PathBuf {
    worktrees_folder(run_folder).join(run_id)
}

/// The run's branch.
pub fn run_branch(run_id: &str) -> String {
    format!("devflow/{run_id}")
}

/// The branch of a phase with a worktree of its own: beside the run's branch, not under it
/// (git cannot hold `devflow/<run>` and `devflow/<run>/<phase>` at once).
pub fn phase_branch(run_id: &str, phase_key: &str) -> String {
    format!("devflow/{run_id}--{phase_key}")
}

#[cfg(test)]
mod tests;
