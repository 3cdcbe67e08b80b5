//! Output of errors and the exit status: one place.
//!
//! 0 the run completed; 1 the run failed, was aborted or interrupted, or devflow failed while
//! it worked; 2 devflow refused what was asked or could not start on it, and did nothing: bad
//! usage, configuration or input, or a database or tmux it cannot use; 3 the run waits for a
//! person (an approval gate or a human gate). An error's status comes from its code, in
//! [`status_for`]: one exhaustive match, so a new code is placed on purpose.

use std::process::ExitCode;

use devflow_core::{Code, Error};

pub const COMPLETED: u8 = 0;
pub const FAILED: u8 = 1;
pub const REFUSED: u8 = 2;
pub const WAITING: u8 = 3;

/// What a command reports: the exit status it ends with.
pub type Status = u8;

pub fn finish(result: Result<Status, Error>) -> ExitCode {
    let status = match result {
        Ok(status) => status,
        Err(error) => {
            print_error(&error);
            status_for(error.code())
        }
    };
    // Output that could not be written is a failure; a reader that went away is not.
    if status == COMPLETED && crate::output::failed() {
        return ExitCode::from(FAILED);
    }
    ExitCode::from(status)
}

/// The exit status of an error with `code`.
pub fn status_for(code: Code) -> Status {
    match code {
        // What a person asked for, or configured, cannot be done as it stands.
        Code::InvalidInput
        | Code::SchemaInvalid
        | Code::ArtifactOutsideWorktree
        | Code::RunNotFound
        | Code::WorkspacePermissions => REFUSED,
        // Another devflow drives the run, or the artifact asked to be approved changed since it
        // was validated: nothing was done.
        Code::RunLeased | Code::ArtifactChanged => REFUSED,
        // An environment devflow cannot work in: no tmux, a database it cannot open or reach,
        // or one held by another writer past the busy timeout. Nothing was done.
        Code::TmuxMissing | Code::GitMissing | Code::DatabaseUnavailable | Code::DatabaseBusy => {
            REFUSED
        }
        // The run stopped for a person (these normally become a human gate, exit 3 too).
        Code::ArtifactTimeoutExhausted
        | Code::ArtifactInvalidAfterRepair
        | Code::PromptSendExhausted
        | Code::SessionNotFound
        | Code::SessionFailedNeedsHuman
        | Code::AgentNeedsInput
        | Code::AgentNotReady
        | Code::PromptDeliveryUnverified
        | Code::RecoveryLimit
        | Code::AgentsElsewhere
        | Code::GitFailed
        | Code::SetupFailed
        | Code::MergeConflict => WAITING,
        // Interrupted (Ctrl-C, SIGTERM, SIGHUP): the run stays where it was.
        Code::ActivityCancelled => FAILED,
        // The run changed under this driver, or another took it over: this one stopped.
        Code::RunStateChanged | Code::LeaseLost => FAILED,
        // devflow or what it drives failed while it worked.
        Code::InternalStateCorruption
        | Code::SessionUnavailable
        | Code::SessionBackendFailed
        | Code::DatabaseFailed
        | Code::ServerFailed => FAILED,
    }
}

/// `error: <message>` and `  hint: <hint>` on stderr.
pub fn print_error(error: &Error) {
    crate::output::note(&format!("error: {} [{}]", error.message(), error.code()));
    if let Some(hint) = error.recovery_hint() {
        crate::output::note(&format!("  hint: {hint}"));
    }
}

pub fn io_failure(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_status_of_the_four() {
        for code in Code::ALL {
            assert!([FAILED, REFUSED, WAITING].contains(&status_for(*code)), "{code}");
        }
        assert_eq!(status_for(Code::DatabaseBusy), REFUSED);
        assert_eq!(status_for(Code::ActivityCancelled), FAILED);
    }
}
