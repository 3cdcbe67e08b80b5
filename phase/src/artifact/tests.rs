//! The artifact's file operations against an agent that plays tricks with the file system:
//! folders swapped for links out of the worktree after the path was checked, links at the
//! path, `..`, FIFOs, sockets and folders where the file should be.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use devflow_core::{Code, Schema, Validation, hash_bytes};
use serde_json::json;

use super::{ArtifactFile, read, relative_inside};

const SECRET: &[u8] = br#"{"title": "secret"}"#;

/// A worktree, a folder outside it holding `plan.json`, and the artifact `relative` in the
/// worktree, checked and built as a phase builds it.
struct World {
    worktree: tempfile::TempDir,
    outside: tempfile::TempDir,
    root: PathBuf,
}

impl World {
    fn new() -> World {
        let (worktree, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(outside.path().join("plan.json"), SECRET).unwrap();
        let root = worktree.path().canonicalize().unwrap();
        World { worktree, outside, root }
    }

    fn artifact(&self, relative: &str) -> ArtifactFile {
        let relative = relative_inside(self.worktree.path(), &self.root, Path::new(relative));
        ArtifactFile::new(&self.root, &relative.unwrap()).unwrap()
    }

    fn at(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Replaces the worktree's folder `name` (made if missing) by a link to `target`.
    fn swap_for_link(&self, name: &str, target: &Path) {
        let _ = std::fs::remove_dir_all(self.at(name));
        symlink(target, self.at(name)).unwrap();
    }

    fn secret_is_intact(&self) {
        let bytes = std::fs::read(self.outside.path().join("plan.json")).unwrap();
        assert_eq!(bytes, SECRET, "the file outside the worktree is untouched");
    }
}

/// Reads the artifact on a thread of its own, and fails instead of hanging if it blocks.
fn read_with_watchdog(file: &ArtifactFile) -> (String, Validation) {
    let (file, (sender, receiver)) = (file.clone(), std::sync::mpsc::channel());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let schema = Arc::new(Schema::compile("s.json", &json!({"type": "object"})).unwrap());
        let signature = file.signature().unwrap();
        let _ = sender.send((signature, runtime.block_on(read(&file, 1 << 20, &schema))));
    });
    let (signature, read) = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the artifact's look or read blocked");
    assert!(signature.is_some(), "something is at the path");
    read.unwrap()
}

fn invalid_because(file: &ArtifactFile, says: &str) -> String {
    let (hash, validation) = read_with_watchdog(file);
    assert!(!validation.is_valid());
    let message = &validation.issues()[0].message;
    assert!(message.contains(says), "{says:?} not in {message}");
    assert_ne!(hash, hash_bytes(SECRET), "the outside file was not read");
    message.clone()
}

#[test]
fn a_folder_swapped_for_a_link_out_after_the_check_is_neither_read_nor_removed() {
    let world = World::new();
    std::fs::create_dir(world.at("artifacts")).unwrap();
    let file = world.artifact("artifacts/plan.json");
    world.swap_for_link("artifacts", world.outside.path());

    let error = file.remove_stale().unwrap_err();
    assert_eq!(error.code(), Code::ArtifactOutsideWorktree);
    assert!(error.message().contains(&file.path().display().to_string()), "{error}");
    world.secret_is_intact();
    let message = invalid_because(&file, "is a symbolic link");
    assert!(message.contains("make") && message.contains("a real folder"), "{message}");
    assert!(!file.create_folders().unwrap(), "a link is in the way");
}

#[test]
fn a_file_link_out_is_invalid_and_removing_it_removes_the_link_alone() {
    let world = World::new();
    let file = world.artifact("plan.json");
    symlink(world.outside.path().join("plan.json"), file.path()).unwrap();
    let message = invalid_because(&file, "is a symbolic link");
    assert!(message.contains("write a regular file"), "{message}");
    file.remove_stale().unwrap();
    assert!(std::fs::symlink_metadata(file.path()).is_err(), "the link is gone");
    world.secret_is_intact();
}

#[test]
fn dotdot_tricks_do_not_leave_the_worktree() {
    let world = World::new();
    for escape in ["../plan.json", "artifacts/../../plan.json"] {
        let refused = relative_inside(world.worktree.path(), &world.root, Path::new(escape));
        assert_eq!(refused.unwrap_err().code(), Code::ArtifactOutsideWorktree, "{escape}");
    }
    // A link named like a folder, pointing at the worktree's parent.
    let file = world.artifact("up/sub/plan.json");
    symlink("..", world.at("up")).unwrap();
    assert!(!file.create_folders().unwrap());
    assert!(!world.root.parent().unwrap().join("sub").exists(), "nothing made outside");
    assert_eq!(file.remove_stale().unwrap_err().code(), Code::ArtifactOutsideWorktree);
    invalid_because(&file, "is a symbolic link");
}

#[test]
fn folders_are_made_inside_and_never_through_a_link() {
    let world = World::new();
    let file = world.artifact("a/b/plan.json");
    assert!(file.create_folders().unwrap());
    assert!(world.at("a/b").is_dir());
    // The folder swapped for a link between the check and the act: nothing is made there.
    let linked = world.artifact("c/d/plan.json");
    world.swap_for_link("c", world.outside.path());
    assert!(!linked.create_folders().unwrap());
    assert!(!world.outside.path().join("d").exists(), "no folder made outside");
}

#[test]
fn a_fifo_at_the_path_is_invalid_and_never_blocks() {
    let world = World::new();
    let file = world.artifact("plan.json");
    super::testing::make_fifo(file.path());
    let message = invalid_because(&file, "is a FIFO, not a regular file: write a regular file");
    assert!(message.contains(&file.path().display().to_string()), "{message}");
    file.remove_stale().unwrap();
}

#[test]
fn a_folder_or_a_socket_at_the_path_is_invalid_with_its_reason() {
    let world = World::new();
    let file = world.artifact("plan.json");
    std::fs::create_dir(file.path()).unwrap();
    invalid_because(&file, "is a folder, not a regular file: remove the folder");
    std::fs::remove_dir(file.path()).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(file.path()).unwrap();
    invalid_because(&file, "is a socket, not a regular file");
}

#[test]
fn a_file_where_a_folder_should_be_blocks_the_path_with_its_reason() {
    let world = World::new();
    let file = world.artifact("artifacts/plan.json");
    std::fs::write(world.at("artifacts"), b"not a folder").unwrap();
    invalid_because(&file, "is a regular file, not a folder");
    file.remove_stale().unwrap();
    assert!(world.at("artifacts").is_file(), "only an artifact is ever removed");
}

#[test]
fn the_same_obstacle_stands_for_the_same_hash() {
    let world = World::new();
    let file = world.artifact("plan.json");
    std::fs::create_dir(file.path()).unwrap();
    let (first, _) = read_with_watchdog(&file);
    std::fs::remove_dir(file.path()).unwrap();
    std::fs::create_dir(file.path()).unwrap();
    assert_eq!(read_with_watchdog(&file).0, first, "a repeat is the same invalid artifact");
}

#[test]
fn a_signature_reads_back_as_it_was_written() {
    let world = World::new();
    let file = world.artifact("plan.json");
    std::fs::write(world.at("plan.json"), b"{}").unwrap();
    let signature = file.signature().unwrap().expect("the file is there");
    assert_eq!(super::Signature::decode(&signature.encode()), Some(signature));
    for text in ["", "-", "f:1:2", "f:1:2:3:4:5:6", "x:1:2:3:4:5", "f:a:b:c:d:e"] {
        assert_eq!(super::Signature::decode(text), None, "{text:?}");
    }
}

/// Time is an argument: on tokio's paused clock a ten-minute wait for an artifact that never
/// comes ends at once, having waited ten minutes of the clock's time.
#[tokio::test(start_paused = true)]
async fn the_wait_runs_on_a_paused_clock() {
    let world = World::new();
    let file = world.artifact("out/plan.json");
    let settings = super::WaitSettings { timeout_ms: 600_000, ..super::WaitSettings::default() };
    let started = tokio::time::Instant::now();
    let cancel = tokio_util::sync::CancellationToken::new();
    let outcome = super::wait_for_artifact(&file, &settings, None, &cancel).await.unwrap();
    assert_eq!(outcome, super::WaitOutcome::TimedOut);
    assert!(started.elapsed() >= Duration::from_secs(600), "{:?}", started.elapsed());
}
