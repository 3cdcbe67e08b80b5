//! What an error leads to — decided here, in one place, from where it happened and the
//! error's class and code. The reference runner repeats this ladder at every call site.
//!
//! | error                          | outcome                                                   |
//! |--------------------------------|-----------------------------------------------------------|
//! | `run_state_changed`, cancelled | propagate (transcript captured where there is a session)  |
//! | artifact wait/read failure     | the run fails                                             |
//! | stale artifact not removable   | the run fails                                             |
//! | other fatal                    | the run fails, its sessions are disposed                  |
//! | recoverable or human_required  | a human gate: the phase fails, the run pauses             |

use devflow_core::{Class, Code, Error};

/// Where in the phase an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// Removing a stale artifact before a prompt.
    StaleArtifact,
    SessionStart,
    /// Re-adopting the role's existing session.
    SessionResume,
    PromptSend,
    /// Waiting for, reading or recording the artifact of the first prompt, or of a repair.
    ArtifactWait {
        repair: bool,
    },
    /// Probing and restarting the agent after a timeout.
    TimeoutRecovery,
}

/// What the runner does with an error.
#[derive(Debug, Clone)]
pub(crate) enum Disposition {
    /// Hand the error to the caller unchanged.
    Propagate,
    /// Pause the run at a human gate keyed by `error`'s code, and return `error`.
    Gate { reason: &'static str, error: Error, mark_crashed: bool },
    /// Fail the phase and the run, and return the original error.
    FailRun { reason: &'static str },
}

pub(crate) fn decide(site: Site, error: &Error) -> Disposition {
    if error.is(Code::RunStateChanged) || error.is(Code::ActivityCancelled) {
        return Disposition::Propagate;
    }
    // Per site: the failure's reason, the code a recoverable error exhausted at a gate becomes
    // (`None`: the site never gates), and whether the gate marks the session `CRASHED` first.
    let (reason, gate_code, mark_crashed) = match site {
        Site::StaleArtifact => ("stale_artifact_remove_failed", None, false),
        Site::ArtifactWait { repair: false } => ("artifact_validation_failed", None, false),
        Site::ArtifactWait { repair: true } => ("artifact_repair_failed", None, false),
        Site::SessionStart => ("session_start_failed", Some(Code::PromptSendExhausted), false),
        Site::SessionResume => ("session_resume_failed", Some(Code::PromptSendExhausted), true),
        Site::PromptSend => ("prompt_send_failed", Some(Code::PromptSendExhausted), true),
        Site::TimeoutRecovery => {
            let code = Some(Code::ArtifactTimeoutExhausted);
            ("artifact_timeout_recovery_failed", code, false)
        }
    };
    match gate_code {
        Some(code) if error.class() != Class::Fatal => {
            Disposition::Gate { reason, error: human_required(error, code), mark_crashed }
        }
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
    let mut gate = Error::new(code, message).with_hint(hint);
    gate = gate.with_source(error.clone());
    if let (Some(run_id), Some(phase_id)) = (error.run_id(), error.phase_id()) {
        gate = gate.in_phase(run_id, phase_id);
    }
    gate
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
            Site::PromptSend,
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
        let Disposition::Gate { reason, error, mark_crashed } =
            decide(Site::PromptSend, &error(Code::SessionUnavailable))
        else {
            panic!("expected a gate");
        };
        assert_eq!(
            (reason, error.code(), mark_crashed),
            ("prompt_send_failed", Code::PromptSendExhausted, true)
        );
        assert_eq!(error.recovery_hint(), Some("boom"));
    }

    #[test]
    fn a_recovery_failure_gate_is_artifact_timeout_exhausted() {
        let Disposition::Gate { error, .. } =
            decide(Site::TimeoutRecovery, &error(Code::SessionUnavailable))
        else {
            panic!("expected a gate");
        };
        assert_eq!(error.code(), Code::ArtifactTimeoutExhausted);
    }

    #[test]
    fn fatal_errors_fail_the_run_and_human_errors_keep_their_code() {
        assert!(matches!(
            decide(Site::PromptSend, &error(Code::SessionBackendFailed)),
            Disposition::FailRun { .. }
        ));
        assert!(matches!(
            decide(Site::ArtifactWait { repair: false }, &error(Code::SessionUnavailable)),
            Disposition::FailRun { .. }
        ));
        let Disposition::Gate { error, .. } =
            decide(Site::SessionResume, &error(Code::SessionNotFound))
        else {
            panic!("expected a gate");
        };
        assert_eq!(error.code(), Code::SessionNotFound);
    }
}
