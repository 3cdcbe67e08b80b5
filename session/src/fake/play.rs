//! What the fake agent does with a prompt it is given: record the paste and play its scenario
//! (an artifact at once or slowly, a hang, a crash), and where a prompt is after a crash.

use std::path::{Path, PathBuf};
use std::time::Duration;

use devflow_core::{Code, Error, PromptEnvelope, Result};

use super::store::{Locked, Paste, Record, Status, Store};
use super::{CRASH_EXIT_STATUS, HUNG_SILENCE_MS};
use crate::now_ms;
use crate::scenario::{self, Scenario, Script};

/// Records the delivery and plays the scenario. Returns what a slow agent still has to write.
pub(super) fn deliver(
    journal: &mut Locked<'_>,
    record: &mut Record,
    envelope: &PromptEnvelope,
    prompt: &str,
    script: &Script,
    kind: Paste,
) -> Result<Option<(PathBuf, Vec<u8>)>> {
    if record.status == Status::Crashed {
        return Err(Error::new(
            Code::SessionUnavailable,
            "the fake agent has exited; nothing takes the prompt",
        )
        .with_hint("rebootstrap the session"));
    }
    let now = now_ms();
    journal.record_paste(&envelope.dedup_key, &record.session_id, now, kind)?;
    if record.status == Status::Hung {
        // A hung agent takes the paste and does nothing with it.
        return Ok(None);
    }
    record.last_prompt = Some(prompt.to_owned());
    let scenario = script.scenario;
    record.say(
        now,
        format!("prompt received: dedup_key={} scenario={}", envelope.dedup_key, scenario.as_str()),
    );
    let path = artifact_path(&record.cwd, &envelope.expected_artifact);
    match (scenario, script.artifact_bytes()) {
        (Scenario::Slow, Some(bytes)) => {
            record
                .say(now, format!("working slowly on {} ({} ms)", path.display(), script.slow_ms));
            return Ok(Some((path, bytes)));
        }
        (_, Some(bytes)) => {
            scenario::write_atomic(&path, &bytes).map_err(|e| {
                Error::new(
                    Code::SessionBackendFailed,
                    format!("fake agent cannot write {}", path.display()),
                )
                .with_source(e)
            })?;
            record
                .say(now, format!("artifact written: {} ({} bytes)", path.display(), bytes.len()));
        }
        (Scenario::Hang, None) => {
            record.say(now, "working…");
            record.status = Status::Hung;
            record.last_output_at_ms = Some(now - HUNG_SILENCE_MS);
        }
        (Scenario::Crash, None) => {
            record.say(now, format!("fake agent crashed (exit status {CRASH_EXIT_STATUS})"));
            record.status = Status::Crashed;
        }
        (_, None) => record.say(now, "working… done, no artifact this time"),
    }
    Ok(None)
}

/// Writes `bytes` in place, chunk by chunk, spread over `slow_ms`; each chunk is output.
pub(super) async fn write_slowly(
    store: Store,
    session_id: String,
    path: PathBuf,
    bytes: Vec<u8>,
    slow_ms: u64,
) {
    let chunks = scenario::slow_chunks(&bytes);
    let pause = Duration::from_millis(slow_ms / chunks.len() as u64);
    for (index, chunk) in chunks.iter().enumerate() {
        tokio::time::sleep(pause).await;
        if let Err(error) = append_chunk(&path, chunk, index == 0) {
            tracing::warn!(%error, path = %path.display(), "fake slow agent cannot write");
            return;
        }
        let last = index + 1 == chunks.len();
        let _ = store.update(&session_id, |record| {
            if let Some(record) = record.as_mut().filter(|r| r.status == Status::Alive) {
                let text = if last {
                    format!("artifact written: {} ({} bytes)", path.display(), bytes.len())
                } else {
                    format!("wrote chunk {} of {}", index + 1, chunks.len())
                };
                record.say(now_ms(), text);
            }
            Ok(())
        });
    }
}

fn append_chunk(path: &Path, chunk: &[u8], first: bool) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(!first)
        .truncate(first)
        .open(path)?;
    file.write_all(chunk)
}

pub(super) fn artifact_path(cwd: &Path, expected: &str) -> PathBuf {
    let path = Path::new(expected);
    if path.is_absolute() { path.to_owned() } else { cwd.join(path) }
}
