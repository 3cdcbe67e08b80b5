//! Waiting for an artifact: it must exist, differ from the baseline seen before the prompt, and
//! stay unchanged for `stable_ms`.
//!
//! File-system events (inotify through `notify`, on the artifact's *folder* so that an agent's
//! write-to-temp-then-rename is seen) wake the wait as soon as something happens; polling every
//! `poll_ms` remains as the fallback for file systems that send no events. Events are hints
//! only: every decision is made from a fresh contained look (`ArtifactFile::signature`, which
//! follows no link and opens nothing). The folder is created through the worktree's handle, and
//! the watch is set through the handle the contained walk reached (`/proc/self/fd/N`), so it is
//! on that very folder: a folder swapped for a link out of the worktree is never watched. Only
//! changes wake the wait (`wakes`): its own looks open the folder, which is an event too.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use devflow_core::{Code, Error, Result};
use notify::{RecursiveMode, Watcher};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::WaitSettings;
use super::file::ArtifactFile;
use super::found::Signature;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    Ready,
    TimedOut,
}

/// Waits for the artifact as described above.
pub async fn wait_for_artifact(
    file: &ArtifactFile,
    settings: &WaitSettings,
    baseline: Option<&Signature>,
    cancel: &CancellationToken,
) -> Result<WaitOutcome> {
    let deadline = Instant::now() + Duration::from_millis(settings.timeout_ms);
    let poll = Duration::from_millis(settings.poll_ms.max(1));
    let stable = Duration::from_millis(settings.stable_ms);
    let changed = Arc::new(Notify::new());
    let mut watcher = None;
    let mut seen: Option<(Signature, Instant)> = None;
    loop {
        if cancel.is_cancelled() {
            return Err(cancelled());
        }
        let now = Instant::now();
        seen = match file.signature()? {
            None => None,
            Some(current) if Some(&current) == baseline => None,
            Some(current) => match seen {
                Some((last, since)) if last == current => Some((last, since)),
                _ => Some((current, now)),
            },
        };
        let mut wake = now + poll;
        if let Some((_, since)) = &seen {
            if now.duration_since(*since) >= stable {
                return Ok(WaitOutcome::Ready);
            }
            wake = wake.min(*since + stable);
        }
        if now >= deadline {
            return Ok(WaitOutcome::TimedOut);
        }
        if watcher.is_none() {
            // Watch only once there is something to wait for (an instant agent's artifact is
            // often there already), then look again at once: a change between the look above
            // and the watch would send no event.
            watcher = Some(watch_folder(file, &changed));
            continue;
        }
        tokio::select! {
            () = changed.notified() => {}
            () = tokio::time::sleep_until(wake.min(deadline)) => {}
            () = cancel.cancelled() => return Err(cancelled()),
        }
    }
}

/// Whether a file-system event wakes the wait: a change does, an access does not. Looking at
/// the artifact opens its folder (the contained walk), and opening a watched folder is itself an
/// event (IN_OPEN, IN_CLOSE_NOWRITE): woken by those, the wait would look again and so wake
/// itself without end — which is where a waiting run's CPU once went. An error wakes it (it
/// then looks, and polls on).
fn wakes(event: &notify::Result<notify::Event>) -> bool {
    !event.as_ref().is_ok_and(|event| event.kind.is_access())
}

/// Watches the artifact's folder (created if missing, through the worktree's handle). Returns
/// `None` when events are unavailable, or something other than a folder is in the way; the wait
/// then relies on polling alone.
fn watch_folder(file: &ArtifactFile, changed: &Arc<Notify>) -> Option<notify::RecommendedWatcher> {
    // The watch is set on the folder the contained walk reached, through its handle's
    // /proc/self/fd entry: the kernel resolves that to the very folder opened, so a folder
    // swapped for a link out of the worktree is never the one watched.
    let handle = file.made_folder().ok()??;
    let through_handle = std::path::PathBuf::from(format!("/proc/self/fd/{}", handle.as_raw_fd()));
    let changed = Arc::clone(changed);
    let wake = move |event: notify::Result<notify::Event>| {
        if wakes(&event) {
            changed.notify_one();
        }
    };
    let mut watcher = notify::recommended_watcher(wake).ok()?;
    let watched = watcher.watch(&through_handle, RecursiveMode::NonRecursive);
    // The watch holds the folder itself from here on; the handle is no longer needed.
    drop(handle);
    match watched {
        Ok(()) => Some(watcher),
        Err(error) => {
            let folder = file.folder().display();
            tracing::debug!(%error, %folder, "no file events; polling only");
            None
        }
    }
}

fn cancelled() -> Error {
    let message = "the phase was cancelled while waiting for its artifact";
    Error::new(Code::ActivityCancelled, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::Path;

    fn settings(timeout_ms: u64, stable_ms: u64) -> WaitSettings {
        WaitSettings { timeout_ms, poll_ms: 1_000, stable_ms, ..WaitSettings::default() }
    }

    #[test]
    fn changes_wake_the_wait_and_its_own_looks_do_not() {
        use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
        use notify::{Event, EventKind};
        let event = |kind| Ok(Event::new(kind));
        for looked in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Access(AccessKind::Read),
        ] {
            assert!(!wakes(&event(looked)), "{looked:?} is the wait's own look");
        }
        for changed in [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Any),
            EventKind::Remove(notify::event::RemoveKind::File),
        ] {
            assert!(wakes(&event(changed)), "{changed:?} is a change");
        }
        assert!(wakes(&Err(notify::Error::generic("watch lost"))), "an error wakes it to look");
    }

    #[tokio::test]
    async fn with_polling_off_a_renamed_file_is_seen_through_file_events() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(&dir, "out/plan.json");
        let path = file.path().to_path_buf();
        let writer = {
            let path = path.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, b"{}").unwrap();
                std::fs::rename(&tmp, &path).unwrap();
            })
        };
        // A poll a day: only a file-system event can wake this wait before the watchdog. (How
        // soon it wakes is measured by `cargo xtask bench`, not here.)
        let day = 24 * 3_600_000;
        let settings = WaitSettings { poll_ms: day, ..settings(2 * day, 0) };
        let cancel = CancellationToken::new();
        let wait = wait_for_artifact(&file, &settings, None, &cancel);
        let outcome = tokio::time::timeout(Duration::from_secs(120), wait).await;
        let outcome = outcome.expect("no file-system event woke the wait").unwrap();
        writer.await.unwrap();
        assert_eq!(outcome, WaitOutcome::Ready);
    }

    #[tokio::test]
    async fn the_baseline_is_ignored_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = artifact(&dir, "plan.json");
        std::fs::write(file.path(), b"old").unwrap();
        let baseline = file.signature().unwrap();
        let outcome = wait_for_artifact(
            &file,
            &settings(100, 0),
            baseline.as_ref(),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(outcome, WaitOutcome::TimedOut);
    }

    #[tokio::test]
    async fn cancellation_is_activity_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        cancel.cancel();
        let file = artifact(&dir, "x.json");
        let error =
            wait_for_artifact(&file, &settings(10_000, 0), None, &cancel).await.unwrap_err();
        assert_eq!(error.code(), Code::ActivityCancelled);
    }

    fn artifact(dir: &tempfile::TempDir, relative: &str) -> ArtifactFile {
        let root = dir.path().canonicalize().unwrap();
        ArtifactFile::new(&root, Path::new(relative)).unwrap()
    }
}
