//! Waiting for an artifact: it must exist, differ from the baseline seen before the prompt, and
//! stay unchanged for `stable_ms`.
//!
//! File-system events (inotify through `notify`, on the *parent* directory so that an agent's
//! write-to-temp-then-rename is seen) wake the wait as soon as something happens; polling every
//! `poll_ms` remains as the fallback for file systems that send no events. Events are hints
//! only: every decision is made from a fresh `stat`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use devflow_core::{Code, Error, Result};
use notify::{RecursiveMode, Watcher};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::WaitSettings;

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    len: u64,
    modified_ns: i128,
    inode: u64,
}

impl Signature {
    /// `len:mtime_ns:inode`, as the session row keeps a prompt's baseline.
    pub fn encode(&self) -> String {
        format!("{}:{}:{}", self.len, self.modified_ns, self.inode)
    }

    /// The signature `encode` wrote; `None` for any other text.
    pub fn decode(text: &str) -> Option<Signature> {
        let mut parts = text.split(':');
        let signature = Signature {
            len: parts.next()?.parse().ok()?,
            modified_ns: parts.next()?.parse().ok()?,
            inode: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(signature)
    }
}

/// The artifact's signature, or `None` if there is no file.
pub fn signature(path: &Path) -> Result<Option<Signature>> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(Signature {
            len: meta.len(),
            modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            inode: meta.ino(),
        })),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => {
            let message = format!("cannot stat the artifact {}: {error}", path.display());
            Err(Error::new(Code::WorkspacePermissions, message)
                .with_hint(path.display().to_string()))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    Ready,
    TimedOut,
}

/// Waits for the artifact at `path` as described above.
pub async fn wait_for_artifact(
    path: &Path,
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
        seen = match signature(path)? {
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
            watcher = Some(watch_parent(path, &changed));
            continue;
        }
        tokio::select! {
            () = changed.notified() => {}
            () = tokio::time::sleep_until(wake.min(deadline)) => {}
            () = cancel.cancelled() => return Err(cancelled()),
        }
    }
}

/// Watches the artifact's folder (created if missing: it is inside the worktree). Returns
/// `None` when events are unavailable; the wait then relies on polling alone.
fn watch_parent(path: &Path, changed: &Arc<Notify>) -> Option<notify::RecommendedWatcher> {
    let parent = path.parent()?;
    std::fs::create_dir_all(parent).ok()?;
    let changed = Arc::clone(changed);
    let mut watcher = notify::recommended_watcher(move |_event| changed.notify_one()).ok()?;
    match watcher.watch(parent, RecursiveMode::NonRecursive) {
        Ok(()) => Some(watcher),
        Err(error) => {
            tracing::debug!(%error, folder = %parent.display(), "no file events; polling only");
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

    fn settings(timeout_ms: u64, stable_ms: u64) -> WaitSettings {
        WaitSettings { timeout_ms, poll_ms: 1_000, stable_ms, ..WaitSettings::default() }
    }

    #[tokio::test]
    async fn with_polling_off_a_renamed_file_is_seen_through_file_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/plan.json");
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
        let wait = wait_for_artifact(&path, &settings, None, &cancel);
        let outcome = tokio::time::timeout(Duration::from_secs(120), wait).await;
        let outcome = outcome.expect("no file-system event woke the wait").unwrap();
        writer.await.unwrap();
        assert_eq!(outcome, WaitOutcome::Ready);
    }

    #[test]
    fn a_signature_reads_back_as_it_was_written() {
        let signature = Signature { len: 12, modified_ns: -5, inode: 7 };
        assert_eq!(Signature::decode(&signature.encode()), Some(signature));
        for text in ["", "1:2", "1:2:3:4", "a:b:c"] {
            assert_eq!(Signature::decode(text), None, "{text:?}");
        }
    }

    #[tokio::test]
    async fn the_baseline_is_ignored_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::write(&path, b"old").unwrap();
        let baseline = signature(&path).unwrap();
        let outcome = wait_for_artifact(
            &path,
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
        let error =
            wait_for_artifact(&dir.path().join("x.json"), &settings(10_000, 0), None, &cancel)
                .await
                .unwrap_err();
        assert_eq!(error.code(), Code::ActivityCancelled);
    }
}
