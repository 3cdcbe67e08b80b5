//! Artifact paths: relative to the worktree and never escaping it, decided from the text of the
//! path alone. What is on disk is not consulted here — an agent can change it at any moment —
//! but by every operation of `file` when it acts.

use std::path::{Component, Path, PathBuf};

use devflow_core::{Code, Error, Result};

/// The artifact path relative to the worktree: `path` is relative to it, or absolute under
/// `raw_root` (as given) or `canonical_root`. `.` is dropped and `..` folded lexically; a path
/// that then leaves the worktree, or names the worktree itself, is refused.
pub fn relative_inside(raw_root: &Path, canonical_root: &Path, path: &Path) -> Result<PathBuf> {
    let relative = if path.is_absolute() {
        let absolute = fold(path);
        [fold(raw_root), Some(canonical_root.to_path_buf())]
            .iter()
            .flatten()
            .find_map(|root| absolute.as_ref()?.strip_prefix(root).ok().map(Path::to_path_buf))
    } else {
        fold(path)
    };
    match relative {
        Some(relative) if !relative.as_os_str().is_empty() => Ok(relative),
        _ => Err(outside(path, canonical_root)),
    }
}

/// Only `Normal` components (and a leading root): `.` dropped, `..` folded. `None` when a `..`
/// climbs above the start.
fn fold(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                if !matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    return None;
                }
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

fn outside(path: &Path, root: &Path) -> Error {
    let (path, root) = (path.display(), root.display());
    let message = format!("artifact path {path} is outside the worktree {root}");
    let hint = "give the artifact a path inside the worktree, relative to it";
    Error::new(Code::ArtifactOutsideWorktree, message).with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let canonical = dir.path().canonicalize().unwrap();
        (dir, canonical)
    }

    #[test]
    fn relative_and_absolute_paths_inside_become_relative() {
        let (dir, canonical) = root();
        let relative = |path: &Path| relative_inside(dir.path(), &canonical, path).unwrap();
        assert_eq!(relative(Path::new("out/./plan.json")), Path::new("out/plan.json"));
        assert_eq!(relative(&dir.path().join("a/../b.json")), Path::new("b.json"));
        assert_eq!(relative(&canonical.join("c.json")), Path::new("c.json"));
    }

    #[test]
    fn dotdot_absolute_and_empty_paths_are_refused() {
        let (dir, canonical) = root();
        for escape in ["../evil.json", "a/../../evil.json", "/etc/passwd", ".", "a/..", ""] {
            let error = relative_inside(dir.path(), &canonical, Path::new(escape)).unwrap_err();
            assert_eq!(error.code(), Code::ArtifactOutsideWorktree, "{escape}");
            assert!(error.message().contains("outside the worktree"), "{error}");
        }
    }

    #[test]
    fn what_is_on_disk_does_not_change_the_path() {
        // A symlinked folder is not followed here: the operations refuse it when they act.
        let (dir, canonical) = root();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("link")).unwrap();
        let relative = relative_inside(dir.path(), &canonical, Path::new("link/plan.json"));
        assert_eq!(relative.unwrap(), Path::new("link/plan.json"));
    }
}
