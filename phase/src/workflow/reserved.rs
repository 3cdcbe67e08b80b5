//! Artifact paths devflow keeps for itself: its own folder (`.devflow/`: the database, the tmux
//! socket), any git folder, and the database file wherever `--db` puts it. An agent's JSON
//! written there would destroy the run history or the repository.

use std::path::{Path, PathBuf};

use devflow_core::{Code, Error};

use super::Workflow;

/// Why the artifact path (plain relative names) is reserved, or `None`. Compared without
/// regard to case: on a case-insensitive file system `.GIT` is `.git`.
pub(super) fn reserved(parts: &[String]) -> Option<String> {
    if parts.first().is_some_and(|first| first.eq_ignore_ascii_case(".devflow")) {
        return Some(
            "is inside .devflow/, devflow's own folder (its database, its tmux socket)".into(),
        );
    }
    if parts.iter().any(|part| part.eq_ignore_ascii_case(".git")) {
        return Some("is inside a .git folder, where it would overwrite the repository".into());
    }
    None
}

impl Workflow {
    /// Refuses an artifact path that is the SQLite database `database` (or one of its `-wal`,
    /// `-shm`, `-journal` files) under the canonical `worktree`. Only the command line knows the
    /// database, so it calls this before the run starts; paths elsewhere are fine.
    pub fn check_artifacts_avoid(&self, worktree: &Path, database: &Path) -> Result<(), Error> {
        let database = absolute(database);
        let files: Vec<PathBuf> = ["", "-wal", "-shm", "-journal"]
            .iter()
            .map(|suffix| {
                let mut name = database.clone().into_os_string();
                name.push(suffix);
                PathBuf::from(name)
            })
            .collect();
        for phase in &self.phases {
            let artifact = worktree.join(&phase.artifact);
            if let Some(file) = files.iter().find(|file| **file == artifact) {
                let message = format!(
                    "{}: phase {:?}: artifact path {:?} is the database file {}: the agent's JSON \
                     would overwrite devflow's run history",
                    self.source,
                    phase.key,
                    phase.artifact,
                    file.display()
                );
                let hint =
                    "give the phase another artifact path, or keep the database elsewhere (--db)";
                return Err(Error::new(Code::InvalidInput, message).with_hint(hint));
            }
        }
        Ok(())
    }
}

/// `path` made absolute (against the current directory, as the database opens it) with its
/// folder canonical where that exists; the file itself may not exist yet.
fn absolute(path: &Path) -> PathBuf {
    let path = std::env::current_dir().map_or_else(|_| path.to_path_buf(), |cwd| cwd.join(path));
    match (path.parent().and_then(|folder| folder.canonicalize().ok()), path.file_name()) {
        (Some(folder), Some(name)) => folder.join(name),
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(path: &str) -> Vec<String> {
        path.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn devflow_s_folder_and_git_folders_are_reserved() {
        for path in
            [".devflow/devflow.db", ".DevFlow/x.json", ".git/config", "sub/.git/HEAD", "a/.Git"]
        {
            assert!(reserved(&parts(path)).is_some(), "{path}");
        }
        for path in ["artifacts/plan.json", "sub/.devflow/x.json", ".gitignore", "git/x.json"] {
            assert!(reserved(&parts(path)).is_none(), "{path}");
        }
    }
}
