//! Output of errors and the exit status: one place.
//!
//! 0 the run completed; 1 it failed; 2 bad usage, configuration or input (every fatal error a
//! person's input caused); 3 the run waits for a person (approval or a human gate).

use std::process::ExitCode;

use devflow_core::{Class, Code, Error};

pub const COMPLETED: u8 = 0;
pub const FAILED: u8 = 1;
pub const BAD_INPUT: u8 = 2;
pub const WAITING: u8 = 3;

/// What a command reports: the exit status it ends with.
pub type Status = u8;

pub fn finish(result: Result<Status, Error>) -> ExitCode {
    match result {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            print_error(&error);
            ExitCode::from(status_of(&error))
        }
    }
}

pub fn status_of(error: &Error) -> Status {
    if caused_by_input(error.code()) {
        return BAD_INPUT;
    }
    match error.class() {
        Class::HumanRequired => WAITING,
        Class::Recoverable | Class::Fatal => FAILED,
    }
}

/// Refusals of what a person asked for (whatever their class elsewhere): exit 2.
fn caused_by_input(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidInput
            | Code::SchemaInvalid
            | Code::ArtifactOutsideWorktree
            | Code::DatabaseUnavailable
            | Code::DatabaseBusy
            | Code::RunNotFound
            | Code::RunLeased
            | Code::TmuxMissing
    )
}

/// `error: <message>` and `  hint: <hint>` on stderr.
pub fn print_error(error: &Error) {
    eprintln!("error: {} [{}]", error.message(), error.code());
    if let Some(hint) = error.recovery_hint() {
        eprintln!("  hint: {hint}");
    }
}

pub fn io_failure(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(FAILED)
}
