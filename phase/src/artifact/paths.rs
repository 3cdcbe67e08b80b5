//! Artifact paths: canonical, and never outside the worktree.

use std::path::{Component, Path, PathBuf};

use devflow_core::{Code, Error, Result};

/// Resolves `path` (relative to `raw_root`, or absolute) to a canonical absolute path whose
/// missing tail is kept as written, and refuses one that lands outside `canonical_root` —
/// directly, through `..`, or through a symlink in its existing part.
pub fn resolve_inside(raw_root: &Path, canonical_root: &Path, path: &Path) -> Result<PathBuf> {
    let absolute = if path.is_absolute() { path.to_path_buf() } else { raw_root.join(path) };
    let lexical = normalize(&absolute);
    let rebased = match lexical.strip_prefix(normalize(raw_root)) {
        Ok(inside) => canonical_root.join(inside),
        Err(_) => lexical,
    };
    let resolved = canonicalize_possibly_missing(&rebased);
    if resolved.starts_with(canonical_root) && resolved != canonical_root {
        return Ok(resolved);
    }
    let (path, resolved, root) = (path.display(), resolved.display(), canonical_root.display());
    let message = format!(
        "artifact path {path} resolves to {resolved}, which is outside the worktree {root}"
    );
    let hint = "give the artifact a path inside the worktree, relative to it";
    Err(Error::new(Code::ArtifactOutsideWorktree, message).with_hint(hint))
}

/// Checks, at read time, that the file at `path` (following symlinks) is inside the worktree.
pub fn check_still_inside(canonical_root: &Path, path: &Path) -> Result<(), String> {
    let real = match path.canonicalize() {
        Ok(real) => real,
        Err(_) => return Ok(()), // gone again: the wait will see that
    };
    if real.starts_with(canonical_root) {
        return Ok(());
    }
    Err(format!(
        "the artifact {} resolves to {}, outside the worktree {}: write a regular file inside the worktree",
        path.display(),
        real.display(),
        canonical_root.display()
    ))
}

/// Removes `.` and folds `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The canonical form of the longest existing prefix, with the missing segments appended.
fn canonicalize_possibly_missing(path: &Path) -> PathBuf {
    for existing in path.ancestors() {
        if let Ok(real) = existing.canonicalize() {
            let missing = path.strip_prefix(existing).unwrap_or(Path::new(""));
            return if missing.as_os_str().is_empty() { real } else { real.join(missing) };
        }
    }
    path.to_path_buf()
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
    fn relative_and_missing_paths_resolve_inside() {
        let (dir, canonical) = root();
        let resolved = resolve_inside(dir.path(), &canonical, Path::new("out/plan.json")).unwrap();
        assert_eq!(resolved, canonical.join("out/plan.json"));
        let absolute =
            resolve_inside(dir.path(), &canonical, &dir.path().join("a/../b.json")).unwrap();
        assert_eq!(absolute, canonical.join("b.json"));
        std::fs::write(canonical.join("b.json"), "{}").unwrap();
        let existing = resolve_inside(dir.path(), &canonical, Path::new("b.json")).unwrap();
        assert_eq!(existing.as_os_str(), canonical.join("b.json").as_os_str(), "no trailing /");
    }

    #[test]
    fn dotdot_and_absolute_escapes_are_refused() {
        let (dir, canonical) = root();
        for escape in ["../evil.json", "a/../../evil.json", "/etc/passwd"] {
            let error = resolve_inside(dir.path(), &canonical, Path::new(escape)).unwrap_err();
            assert_eq!(error.code(), Code::ArtifactOutsideWorktree, "{escape}");
            assert!(error.message().contains("outside the worktree"), "{error}");
        }
    }

    #[test]
    fn a_symlinked_folder_pointing_out_is_refused() {
        let (dir, canonical) = root();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("link")).unwrap();
        let error =
            resolve_inside(dir.path(), &canonical, Path::new("link/plan.json")).unwrap_err();
        assert_eq!(error.code(), Code::ArtifactOutsideWorktree);
    }

    #[test]
    fn a_symlinked_file_pointing_out_is_caught_at_read_time() {
        let (dir, canonical) = root();
        let elsewhere = tempfile::NamedTempFile::new().unwrap();
        let artifact = canonical.join("plan.json");
        std::os::unix::fs::symlink(elsewhere.path(), &artifact).unwrap();
        let _ = &dir;
        assert!(
            check_still_inside(&canonical, &artifact).unwrap_err().contains("outside the worktree")
        );
        assert!(check_still_inside(&canonical, &canonical.join("missing.json")).is_ok());
    }
}
