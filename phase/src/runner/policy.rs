//! What an error leads to — decided here, in one place, from where it happened and the
//! error's class and code — and carrying it out. The reference runner repeats this ladder at
//! every call site.
//!
//! | error                          | outcome                                                   |
//! |--------------------------------|-----------------------------------------------------------|
//! | `run_state_changed`, cancelled | propagate (transcript captured where there is a session)  |
//! | artifact wait/read failure     | the run fails                                             |
//! | stale artifact not removable   | the run fails                                             |
//! | other fatal                    | the run fails, its sessions are disposed                  |
//! | recoverable or human_required  | a human gate: the phase fails, the run pauses             |
//! | the human gate's own step      | the run fails (`approval_request_failed`; `gate.rs`)      |

use devflow_core::{Class, Code, Error, Result};
use devflow_session::SessionHandle;
use serde_json::json;

use super::context::Ctx;
use super::gate::HumanGate;

/// Where in the phase an error happened. `repair`: in a wait after the invocation's first,
/// handled as the reference handles a repair attempt's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// Removing a stale artifact before a prompt.
    StaleArtifact,
    SessionStart,
    /// Re-adopting the role's existing session.
    SessionResume,
    PromptSend {
        repair: bool,
    },
    /// Waiting for, reading or recording the artifact.
    ArtifactWait {
        repair: bool,
    },
    /// Probing and restarting the agent after a timeout.
    TimeoutRecovery,
}

/// What the runner does with an error.
#[derive(Debug)]
pub(crate) enum Disposition {
    /// Hand the error to the caller unchanged.
    Propagate,
    /// Pause the run at this human gate, and return its error.
    Gate(HumanGate),
    /// Fail the phase and the run, and return the original error.
    FailRun { reason: &'static str },
}

pub(crate) fn decide(site: Site, error: &Error) -> Disposition {
    if error.is(Code::RunStateChanged) || error.is(Code::ActivityCancelled) {
        return Disposition::Propagate;
    }
    // Per site: the failure's reason; the code a recoverable error exhausted at a gate becomes
    // (`None`: the site never gates); whether the gate marks the session `CRASHED` first; and
    // whether its request names the expected artifact path.
    let (send, timeout) = (Some(Code::PromptSendExhausted), Some(Code::ArtifactTimeoutExhausted));
    let (reason, gate_code, mark_crashed, with_path) = match site {
        Site::StaleArtifact => ("stale_artifact_remove_failed", None, false, false),
        Site::ArtifactWait { repair: false } => ("artifact_validation_failed", None, false, false),
        Site::ArtifactWait { repair: true } => ("artifact_repair_failed", None, false, false),
        Site::SessionStart => ("session_start_failed", send, false, false),
        Site::SessionResume => ("session_resume_failed", send, true, false),
        Site::PromptSend { repair } => ("prompt_send_failed", send, true, repair),
        Site::TimeoutRecovery => ("artifact_timeout_recovery_failed", timeout, false, true),
    };
    match gate_code {
        Some(code) if error.class() != Class::Fatal => Disposition::Gate(HumanGate {
            reason,
            error: human_required(error, code),
            payload: json!({ "errorCode": error.code().as_str() }),
            mark_crashed,
            with_path,
        }),
        _ => Disposition::FailRun { reason },
    }
}

/// The error a gate carries: a human_required error as it is (with a hint), or a recoverable
/// one that exhausted its retries turned into `code`.
fn human_required(error: &Error, code: Code) -> Error {
    let hint = error.recovery_hint().unwrap_or(error.message()).to_owned();
    if error.class() == Class::HumanRequired {
        return error.clone().with_hint(hint);
    }
    let message = format!("{} after retries: {}", error.code(), error.message());
    let mut gate = Error::new(code, message).with_hint(hint).with_source(error.clone());
    if let (Some(run_id), Some(phase_id)) = (error.run_id(), error.phase_id()) {
        gate = gate.in_phase(run_id, phase_id);
    }
    gate
}

/// Where in the phase an error happened, beyond the site: the attempt, the session (possibly a
/// reserved id without a row yet), and the agent this invocation runs — whose transcript is
/// captured, and which a failed run disposes. `running` is `None` before a session runs, and
/// during re-entry, as the reference does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub attempt: u32,
    pub session_id: Option<&'a str>,
    pub running: Option<&'a SessionHandle>,
}

impl<'a> At<'a> {
    /// Around session `session_id`, whose agent is not (or not known to be) running.
    pub fn session(attempt: u32, session_id: &'a str) -> At<'a> {
        At { attempt, session_id: Some(session_id), running: None }
    }

    /// With the agent `running`, or none.
    pub fn running(attempt: u32, running: Option<&'a SessionHandle>) -> At<'a> {
        At { attempt, session_id: running.map(|handle| handle.session_id.as_str()), running }
    }
}

impl Ctx {
    /// `result`, with what the policy says for its error at `site` done.
    pub(crate) async fn on_error<T>(&self, site: Site, at: At<'_>, result: Result<T>) -> Result<T> {
        match result {
            Ok(value) => Ok(value),
            Err(error) => Err(self.fail_at(site, error, at).await),
        }
    }

    /// Does what the policy says for `error` at `site`, and returns the error for the caller.
    pub(crate) async fn fail_at(&self, site: Site, error: Error, at: At<'_>) -> Error {
        let error = error.in_phase(self.phase.run_id(), self.phase.phase_id());
        let done = match decide(site, &error) {
            Disposition::Propagate => self.capture_running(at.running).await,
            Disposition::Gate(gate) => return self.human_gate(at, gate).await,
            Disposition::FailRun { reason } => self.fail_run(at.attempt, reason, at.running).await,
        };
        done.err().unwrap_or(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: Code) -> Error {
        Error::new(code, "boom")
    }

    #[test]
    fn run_state_changes_and_cancellation_always_propagate() {
        for site in [
            Site::SessionStart,
            Site::PromptSend { repair: false },
            Site::ArtifactWait { repair: false },
            Site::TimeoutRecovery,
        ] {
            assert!(matches!(decide(site, &error(Code::RunStateChanged)), Disposition::Propagate));
            assert!(matches!(
                decide(site, &error(Code::ActivityCancelled)),
                Disposition::Propagate
            ));
        }
    }

    #[test]
    fn an_exhausted_recoverable_send_becomes_a_prompt_send_gate() {
        let Disposition::Gate(gate) =
            decide(Site::PromptSend { repair: true }, &error(Code::SessionUnavailable))
        else {
            panic!("expected a gate");
        };
        assert_eq!(
            (gate.reason, gate.error.code(), gate.mark_crashed, gate.with_path),
            ("prompt_send_failed", Code::PromptSendExhausted, true, true)
        );
        assert_eq!(gate.error.recovery_hint(), Some("boom"));
        assert_eq!(gate.payload, json!({ "errorCode": "session_unavailable" }));
    }

    #[test]
    fn a_recovery_failure_gate_is_artifact_timeout_exhausted() {
        let Disposition::Gate(gate) =
            decide(Site::TimeoutRecovery, &error(Code::SessionUnavailable))
        else {
            panic!("expected a gate");
        };
        assert_eq!(gate.error.code(), Code::ArtifactTimeoutExhausted);
    }

    #[test]
    fn fatal_errors_fail_the_run_and_human_errors_keep_their_code() {
        assert!(matches!(
            decide(Site::PromptSend { repair: false }, &error(Code::SessionBackendFailed)),
            Disposition::FailRun { .. }
        ));
        assert!(matches!(
            decide(Site::ArtifactWait { repair: false }, &error(Code::SessionUnavailable)),
            Disposition::FailRun { .. }
        ));
        let Disposition::Gate(gate) = decide(Site::SessionResume, &error(Code::SessionNotFound))
        else {
            panic!("expected a gate");
        };
        assert_eq!(gate.error.code(), Code::SessionNotFound);
    }
}
