//! The scripted fake adapter: agents that follow the `Scenario:` lines of their prompts, with
//! their state persisted in a directory so that a restarted process finds them again.

mod store;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use devflow_core::{Code, Error, PromptEnvelope, Result};

use crate::scenario::{self, Failure, Operation, Scenario, Script};
use crate::{
    CAPTURE_BYTES_MAX, Capture, HINT_LIVENESS_ONLY, ProbeResult, PromptReceipt, SessionAdapter,
    SessionHandle, SessionSpec, now_ms, render_prompt,
};
use store::{Locked, Record, Status, Store};

/// How far in the past a hung fake session's last output lies.
const HUNG_SILENCE_MS: i64 = 24 * 60 * 60 * 1_000;

/// The exit status a crashed fake agent reports.
const CRASH_EXIT_STATUS: i32 = 3;

/// An in-process adapter scripted by the directive lines of its prompts (see the crate docs).
#[derive(Debug, Clone)]
pub struct FakeAdapter {
    store: Store,
}

impl FakeAdapter {
    /// Sessions and deliveries live in one journal in `state_dir` (created on first write).
    pub fn new(state_dir: &Path) -> FakeAdapter {
        FakeAdapter { store: Store::new(state_dir) }
    }

    /// Prompts ever delivered under `dedup_key`, by any adapter on this directory.
    pub fn deliveries(&self, dedup_key: &str) -> u32 {
        self.store.count_deliveries(Some(dedup_key))
    }

    /// Prompts ever delivered, by any adapter on this directory.
    pub fn deliveries_total(&self) -> u32 {
        self.store.count_deliveries(None)
    }

    /// Runs `f` on a live record (not missing, not disposed, started) after the scripted
    /// failures of `op` had their say.
    fn with_session<T>(
        &self,
        handle: &SessionHandle,
        op: Operation,
        f: impl FnOnce(&mut Record, i64) -> Result<T>,
    ) -> Result<T> {
        self.store.update(&handle.session_id, |record| {
            let record = match record {
                Some(record) if !matches!(record.status, Status::Disposed | Status::Starting) => {
                    record
                }
                _ => return Err(not_found(&handle.session_id)),
            };
            let script = session_script(record);
            fail_if_scripted(record, op, &script)?;
            f(record, now_ms())
        })
    }
}

#[async_trait]
impl SessionAdapter for FakeAdapter {
    fn backend(&self) -> &'static str {
        "fake"
    }

    async fn start(&self, spec: &SessionSpec) -> Result<SessionHandle> {
        self.store.update(&spec.session_id, |record| {
            let record = record.get_or_insert_with(|| {
                Record::new(&spec.session_id, &spec.cwd, &spec.instructions)
            });
            match record.status {
                // A disposed session started again is a fresh agent under the same id (what
                // `devflow resume` asks for after a human gate).
                Status::Disposed => {
                    *record = Record::new(&spec.session_id, &spec.cwd, &spec.instructions);
                }
                // Starting twice adopts the session that is already there.
                Status::Alive | Status::Hung | Status::Crashed => return Ok(()),
                Status::Starting => {}
            }
            fail_if_scripted(record, Operation::Start, &scenario::parse(&spec.instructions))?;
            record.status = Status::Alive;
            record.say(
                now_ms(),
                format!("fake agent started for role {} in {}", spec.role_id, spec.cwd.display()),
            );
            Ok(())
        })?;
        Ok(SessionHandle::for_session(&spec.session_id))
    }

    async fn send_prompt(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
    ) -> Result<PromptReceipt> {
        let prompt = render_prompt(envelope);
        let script = scenario::parse(&prompt);
        let slow = self.store.update_with(&handle.session_id, |record, journal| {
            let record = match record {
                Some(record) if !matches!(record.status, Status::Disposed | Status::Starting) => {
                    record
                }
                _ => return Err(not_found(&handle.session_id)),
            };
            fail_if_scripted(record, Operation::Send, &script)?;
            deliver(journal, record, envelope, &prompt, &script)
        })?;
        if let Some((path, bytes)) = slow {
            tokio::spawn(write_slowly(
                self.store.clone(),
                handle.session_id.clone(),
                path,
                bytes,
                script.slow_ms,
            ));
        }
        Ok(PromptReceipt { prompt_id: envelope.dedup_key.clone() })
    }

    async fn probe(&self, handle: &SessionHandle) -> Result<ProbeResult> {
        self.with_session(handle, Operation::Probe, |record, _| {
            let alive = matches!(record.status, Status::Alive | Status::Hung);
            let hint = if session_script(record).readiness_unknown {
                Some(HINT_LIVENESS_ONLY.to_owned())
            } else if alive {
                None
            } else {
                Some(format!("pane_dead_status={CRASH_EXIT_STATUS}"))
            };
            Ok(ProbeResult {
                alive,
                pane_active: true,
                last_output_at_ms: record.last_output_at_ms,
                hint,
            })
        })
    }

    async fn resume(&self, handle: &SessionHandle) -> Result<SessionHandle> {
        self.with_session(handle, Operation::Resume, |record, now| {
            // Re-adopting is not output of the agent: keep its last output time.
            let last_output_at_ms = record.last_output_at_ms;
            record.say(now, "session re-adopted");
            record.last_output_at_ms = last_output_at_ms;
            Ok(SessionHandle::for_session(&record.session_id))
        })
    }

    async fn rebootstrap(&self, handle: &SessionHandle) -> Result<SessionHandle> {
        self.with_session(handle, Operation::Rebootstrap, |record, now| {
            record.status = Status::Alive;
            record.say(now, "fake agent restarted (rebootstrap)");
            Ok(SessionHandle::for_session(&record.session_id))
        })
    }

    async fn capture(&self, handle: &SessionHandle, from_seq: i64) -> Result<Capture> {
        let record = self.store.read(&handle.session_id)?;
        let record = record.ok_or_else(|| not_found(&handle.session_id))?;
        Ok(Capture { chunks: record.chunks_after(from_seq, CAPTURE_BYTES_MAX) })
    }

    async fn dispose(&self, handle: &SessionHandle) -> Result<()> {
        self.store.update(&handle.session_id, |record| {
            if let Some(record) = record.as_mut().filter(|r| r.status != Status::Disposed) {
                record.status = Status::Disposed;
                record.say(now_ms(), "session disposed");
            }
            Ok(())
        })
    }
}

/// Records the delivery and plays the scenario. Returns what a slow agent still has to write.
fn deliver(
    journal: &mut Locked<'_>,
    record: &mut Record,
    envelope: &PromptEnvelope,
    prompt: &str,
    script: &Script,
) -> Result<Option<(PathBuf, Vec<u8>)>> {
    if record.status == Status::Crashed {
        return Err(Error::new(
            Code::SessionUnavailable,
            "the fake agent has exited; nothing takes the prompt",
        )
        .with_hint("rebootstrap the session"));
    }
    let now = now_ms();
    journal.record_delivery(&envelope.dedup_key, &record.session_id, now)?;
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
async fn write_slowly(
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

/// The directives in force for a session: its latest prompt's, else its start instructions'.
fn session_script(record: &Record) -> Script {
    let start = scenario::parse(&record.instructions);
    let Some(prompt) = &record.last_prompt else {
        return start;
    };
    let mut latest = scenario::parse(prompt);
    for (op, failure) in start.failures {
        latest.failures.entry(op).or_insert(failure);
    }
    latest.readiness_unknown |= start.readiness_unknown;
    latest
}

/// Fails the call as the script says, counting recoverable failures per session and operation.
fn fail_if_scripted(record: &mut Record, op: Operation, script: &Script) -> Result<()> {
    match script.failure(op) {
        None => Ok(()),
        Some(Failure::Fatal) => Err(Error::new(
            Code::SessionBackendFailed,
            format!("scripted fatal failure of {}", op.as_str()),
        )),
        Some(Failure::Recoverable(times)) => {
            let seen = record.failures_seen.entry(op.as_str().to_owned()).or_insert(0);
            if *seen >= times {
                return Ok(());
            }
            *seen += 1;
            Err(Error::new(
                Code::SessionUnavailable,
                format!("scripted recoverable failure {seen} of {times} of {}", op.as_str()),
            ))
        }
    }
}

fn artifact_path(cwd: &Path, expected: &str) -> PathBuf {
    let path = Path::new(expected);
    if path.is_absolute() { path.to_owned() } else { cwd.join(path) }
}

fn not_found(session_id: &str) -> Error {
    Error::new(Code::SessionNotFound, format!("no fake session {session_id}"))
        .with_hint("the session was disposed or never started")
}
