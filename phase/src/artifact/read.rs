//! Reading an artifact: only a regular file inside the worktree (`file` opens it), never more
//! than the size limit, hashed and validated against its schema.

use std::io::Read;
use std::sync::Arc;

use devflow_core::{Code, Error, Result, Schema, Validation, ValidationIssue, hash_bytes, to_hex};
use sha2::{Digest, Sha256};

use super::file::{ArtifactFile, Opened};

/// Up to this size an artifact is read and validated without leaving the task's thread.
const INLINE_MAX_BYTES: u64 = 256 * 1024;

/// Reads, hashes and validates the artifact: a small one on the spot, a large one on the
/// blocking pool, where parsing megabytes holds up no other task. An artifact that is not JSON,
/// too big, not a regular file, behind a symbolic link, or gone again is an *invalid artifact*
/// (the agent gets to repair it), never a failure of devflow; only a file that cannot be read
/// at all is an error.
pub(crate) async fn read(
    file: &ArtifactFile,
    max_bytes: u64,
    schema: &Arc<Schema>,
) -> Result<(String, Validation)> {
    let path = file.path().display().to_string();
    let opened = match file.open_regular()? {
        Opened::File(opened) => opened,
        Opened::NotRegular(found) => {
            return Ok((found.stand_in_hash(), invalid(found.reason(file.path()))));
        }
        Opened::Missing => {
            let reason = format!("{path} was gone again when devflow read it: write it again");
            return Ok((hash_bytes(b"not read: missing"), invalid(reason)));
        }
        Opened::Unstable => {
            let reason = format!(
                "{path} was replaced again and again while devflow opened it: write it once, then leave it"
            );
            return Ok((hash_bytes(b"not read: unstable"), invalid(reason)));
        }
    };
    let len = opened.metadata().map_err(|error| unreadable(&path, error))?.len();
    if len <= INLINE_MAX_BYTES {
        return read_open(opened, len, &path, max_bytes, schema);
    }
    let schema = Arc::clone(schema);
    let read =
        tokio::task::spawn_blocking(move || read_open(opened, len, &path, max_bytes, &schema));
    read.await.expect("artifact validation does not panic")
}

fn read_open(
    mut file: std::fs::File,
    len: u64,
    path: &str,
    max_bytes: u64,
    schema: &Schema,
) -> Result<(String, Validation)> {
    if len > max_bytes {
        // Hashed in chunks, never held whole.
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).map_err(|error| unreadable(path, error))?;
        let reason = format!(
            "the artifact is {len} bytes, over the limit of {max_bytes} bytes: write a smaller file"
        );
        return Ok((to_hex(&hasher.finalize()), invalid(reason)));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    let read = file.take(max_bytes + 1).read_to_end(&mut bytes);
    read.map_err(|error| unreadable(path, error))?;
    if bytes.len() as u64 > max_bytes {
        let reason =
            format!("the artifact grew over the limit of {max_bytes} bytes while it was read");
        return Ok((hash_bytes(&bytes), invalid(reason)));
    }
    Ok((hash_bytes(&bytes), schema.validate_bytes(&bytes)))
}

fn unreadable(path: &str, error: std::io::Error) -> Error {
    let message = format!("cannot read the artifact {path}: {error}");
    Error::new(Code::WorkspacePermissions, message).with_hint(path.to_owned())
}

fn invalid(reason: String) -> Validation {
    Validation::Invalid(vec![ValidationIssue::of_document(reason)])
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::compile("plan.schema.json", &json!({ "type": "object" })).unwrap())
    }

    fn artifact(dir: &tempfile::TempDir) -> ArtifactFile {
        ArtifactFile::new(&dir.path().canonicalize().unwrap(), Path::new("plan.json")).unwrap()
    }

    #[tokio::test]
    async fn an_artifact_over_the_limit_is_invalid_and_hashed_as_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = vec![b' '; 300 * 1024];
        std::fs::write(dir.path().join("plan.json"), &bytes).unwrap();
        let (hash, validation) = read(&artifact(&dir), 1024, &schema()).await.unwrap();
        assert_eq!(hash, hash_bytes(&bytes), "the streamed hash is the hash of the bytes");
        let message = &validation.issues()[0].message;
        assert!(message.contains("307200 bytes, over the limit of 1024 bytes"), "{message}");
    }

    #[tokio::test]
    async fn an_artifact_is_validated_small_or_large() {
        let dir = tempfile::tempdir().unwrap();
        let large = format!("{{\"text\": \"{}\"}}", "x".repeat(300 * 1024));
        for (text, valid) in [("{}", true), ("[]", false), (large.as_str(), true)] {
            std::fs::write(dir.path().join("plan.json"), text).unwrap();
            let (hash, validation) = read(&artifact(&dir), 1 << 20, &schema()).await.unwrap();
            assert_eq!((hash, validation.is_valid()), (hash_bytes(text.as_bytes()), valid));
        }
    }

    #[tokio::test]
    async fn a_missing_artifact_is_invalid_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let (_, validation) = read(&artifact(&dir), 1024, &schema()).await.unwrap();
        let message = &validation.issues()[0].message;
        assert!(message.contains("plan.json was gone again"), "{message}");
    }
}
