//! Reading an artifact: never outside the worktree, never more than the size limit, hashed
//! and validated against its schema.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use devflow_core::{Code, Error, Result, Schema, Validation, ValidationIssue, hash_bytes, to_hex};
use sha2::{Digest, Sha256};

use super::paths::check_still_inside;

/// Up to this size an artifact is read and validated without leaving the task's thread.
const INLINE_MAX_BYTES: u64 = 256 * 1024;

/// Reads, hashes and validates the artifact at `path`: a small one on the spot, a large one on
/// the blocking pool, where parsing megabytes holds up no other task. An artifact that is not
/// JSON, too big, or a symlink out of `worktree` is an *invalid artifact* (the agent gets to
/// repair it), never a failure of devflow; only a file that cannot be read at all is an error.
pub(crate) async fn read(
    worktree: &Path,
    path: &Path,
    max_bytes: u64,
    schema: &Arc<Schema>,
) -> Result<(String, Validation)> {
    if std::fs::metadata(path).is_ok_and(|meta| meta.len() <= INLINE_MAX_BYTES) {
        return read_now(worktree, path, max_bytes, schema);
    }
    let (worktree, path, schema) = (worktree.to_owned(), path.to_owned(), Arc::clone(schema));
    let read = tokio::task::spawn_blocking(move || read_now(&worktree, &path, max_bytes, &schema));
    read.await.expect("artifact validation does not panic")
}

fn read_now(
    worktree: &Path,
    path: &Path,
    max_bytes: u64,
    schema: &Schema,
) -> Result<(String, Validation)> {
    if let Err(reason) = check_still_inside(worktree, path) {
        let target = std::fs::read_link(path).unwrap_or_default();
        let hash = hash_bytes(format!("symlink:{}", target.display()).as_bytes());
        return Ok((hash, invalid(reason)));
    }
    let unreadable = |error: std::io::Error| {
        let message = format!("cannot read the artifact {}: {error}", path.display());
        Error::new(Code::WorkspacePermissions, message).with_hint(path.display().to_string())
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let len = file.metadata().map_err(unreadable)?.len();
    if len > max_bytes {
        // Hashed in chunks, never held whole.
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).map_err(unreadable)?;
        let reason = format!(
            "the artifact is {len} bytes, over the limit of {max_bytes} bytes: write a smaller file"
        );
        return Ok((to_hex(&hasher.finalize()), invalid(reason)));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max_bytes + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > max_bytes {
        let reason =
            format!("the artifact grew over the limit of {max_bytes} bytes while it was read");
        return Ok((hash_bytes(&bytes), invalid(reason)));
    }
    Ok((hash_bytes(&bytes), schema.validate_bytes(&bytes)))
}

fn invalid(reason: String) -> Validation {
    Validation::Invalid(vec![ValidationIssue::of_document(reason)])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::compile("plan.schema.json", &json!({ "type": "object" })).unwrap())
    }

    #[tokio::test]
    async fn an_artifact_over_the_limit_is_invalid_and_hashed_as_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (root, path) = (dir.path().canonicalize().unwrap(), dir.path().join("plan.json"));
        let bytes = vec![b' '; 300 * 1024];
        std::fs::write(&path, &bytes).unwrap();
        let (hash, validation) = read(&root, &path, 1024, &schema()).await.unwrap();
        assert_eq!(hash, hash_bytes(&bytes), "the streamed hash is the hash of the bytes");
        let message = &validation.issues()[0].message;
        assert!(message.contains("307200 bytes, over the limit of 1024 bytes"), "{message}");
    }

    #[tokio::test]
    async fn an_artifact_is_validated_small_or_large() {
        let dir = tempfile::tempdir().unwrap();
        let (root, path) = (dir.path().canonicalize().unwrap(), dir.path().join("plan.json"));
        let large = format!("{{\"text\": \"{}\"}}", "x".repeat(300 * 1024));
        for (text, valid) in [("{}", true), ("[]", false), (large.as_str(), true)] {
            std::fs::write(&path, text).unwrap();
            let (hash, validation) = read(&root, &path, 1 << 20, &schema()).await.unwrap();
            assert_eq!((hash, validation.is_valid()), (hash_bytes(text.as_bytes()), valid));
        }
    }

    #[tokio::test]
    async fn a_missing_artifact_is_an_error_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let (root, path) = (dir.path().canonicalize().unwrap(), dir.path().join("plan.json"));
        let error = read(&root, &path, 1024, &schema()).await.unwrap_err();
        assert_eq!(error.code(), Code::WorkspacePermissions);
        assert!(error.message().contains("plan.json"), "{error}");
    }
}
