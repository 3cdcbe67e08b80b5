//! The scripted fake adapter: agents that follow the `Scenario:` lines of their prompts, with
//! their state persisted in a directory so that a restarted process finds them again.

mod play;
mod store;

use std::path::Path;

use async_trait::async_trait;
use devflow_core::{Code, Error, PromptEnvelope, Result};

use crate::scenario::{self, Failure, Operation, Script};
use crate::{
    CAPTURE_BYTES_MAX, Capture, HINT_LIVENESS_ONLY, ProbeResult, PromptLocation, PromptReceipt,
    SessionAdapter, SessionHandle, SessionSpec, now_ms, render_prompt,
};
use store::{Paste, Record, Status, Store};

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

    /// Times the prompt under `dedup_key` was pasted (submitted or not): more than one is a
    /// prompt pasted twice.
    pub fn pastes(&self, dedup_key: &str) -> u32 {
        self.store.count_pastes(dedup_key)
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
            let record = live(record, &handle.session_id)?;
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
                Record::new(&spec.session_id, &spec.run_id, &spec.cwd, &spec.instructions)
            });
            match record.status {
                // A disposed session started again is a fresh agent under the same id (what
                // `devflow resume` asks for after a human gate).
                Status::Disposed => {
                    *record =
                        Record::new(&spec.session_id, &spec.run_id, &spec.cwd, &spec.instructions);
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
            let record = live(record, &handle.session_id)?;
            let first_paste =
                journal.latest_paste(&envelope.dedup_key, &record.session_id).is_none();
            let stuck = match script.failure(Operation::Send) {
                Some(Failure::Unverified) if first_paste => Some(Paste::Pasted),
                Some(Failure::Unknowable) if first_paste => Some(Paste::Unknown),
                Some(Failure::Unverified | Failure::Unknowable) => None,
                _ => {
                    fail_if_scripted(record, Operation::Send, &script)?;
                    None
                }
            };
            if let Some(kind) = stuck {
                journal.record_paste(&envelope.dedup_key, &record.session_id, now_ms(), kind)?;
                record.say(now_ms(), "prompt pasted; it was not seen to be taken");
                return Err(unverified(kind));
            }
            play::deliver(journal, record, envelope, &prompt, &script, Paste::Submitted)
        })?;
        self.finish_slowly(handle, slow, &script);
        Ok(PromptReceipt::new(envelope.dedup_key.clone()))
    }

    async fn locate_prompt(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
    ) -> Result<PromptLocation> {
        self.store.update_with(&handle.session_id, |record, journal| {
            let record = live(record, &handle.session_id)?;
            Ok(match journal.latest_paste(&envelope.dedup_key, &record.session_id) {
                None => PromptLocation::Absent,
                Some(Paste::Submitted | Paste::SubmittedPending) => PromptLocation::Taken,
                Some(Paste::Pasted) => PromptLocation::Pending,
                Some(Paste::Unknown) => PromptLocation::Unknown(
                    "the fake agent was scripted not to tell (Fail-Send: unknowable)".to_owned(),
                ),
            })
        })
    }

    async fn submit_pending(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
    ) -> Result<PromptReceipt> {
        let prompt = render_prompt(envelope);
        let script = scenario::parse(&prompt);
        let slow = self.store.update_with(&handle.session_id, |record, journal| {
            let record = live(record, &handle.session_id)?;
            if journal.latest_paste(&envelope.dedup_key, &record.session_id) != Some(Paste::Pasted)
            {
                return Err(Error::new(
                    Code::PromptDeliveryUnverified,
                    "the prompt is not waiting in the fake agent's input; nothing was sent",
                ));
            }
            play::deliver(journal, record, envelope, &prompt, &script, Paste::SubmittedPending)
        })?;
        self.finish_slowly(handle, slow, &script);
        Ok(PromptReceipt::new(envelope.dedup_key.clone()))
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

    async fn dispose_run(&self, run_id: &str) -> Result<usize> {
        let sessions = self.store.live_sessions_of_run(run_id);
        for session_id in &sessions {
            self.dispose(&SessionHandle::for_session(session_id)).await?;
        }
        Ok(sessions.len())
    }
}

impl FakeAdapter {
    /// A slow scenario writes its artifact after the call has returned.
    fn finish_slowly(
        &self,
        handle: &SessionHandle,
        slow: Option<(std::path::PathBuf, Vec<u8>)>,
        script: &Script,
    ) {
        if let Some((path, bytes)) = slow {
            tokio::spawn(play::write_slowly(
                self.store.clone(),
                handle.session_id.clone(),
                path,
                bytes,
                script.slow_ms,
            ));
        }
    }
}

/// The record of a session that runs (not missing, not disposed, started).
fn live<'r>(record: &'r mut Option<Record>, session_id: &str) -> Result<&'r mut Record> {
    match record {
        Some(record) if !matches!(record.status, Status::Disposed | Status::Starting) => Ok(record),
        _ => Err(not_found(session_id)),
    }
}

fn unverified(kind: Paste) -> Error {
    let what = if kind == Paste::Pasted { "unverified" } else { "unknowable" };
    Error::new(
        Code::PromptDeliveryUnverified,
        format!(
            "the fake agent was scripted to leave the prompt pasted and not seen taken (Fail-Send: {what})"
        ),
    )
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
        // Send's own: played by send_prompt.
        Some(Failure::Unverified | Failure::Unknowable) => Ok(()),
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
        Some(Failure::NeedsInput(times)) => {
            let seen = record.failures_seen.entry("dialog".to_owned()).or_insert(0);
            if *seen >= times {
                return Ok(());
            }
            *seen += 1;
            let message =
                "the fake agent shows a dialog instead of its input box (Fail-Send: needs-input)";
            Err(Error::new(Code::AgentNeedsInput, message)
                .with_hint("answer it in the agent's terminal, then `devflow resume`"))
        }
    }
}

fn not_found(session_id: &str) -> Error {
    Error::new(Code::SessionNotFound, format!("no fake session {session_id}"))
        .with_hint("the session was disposed or never started")
}
