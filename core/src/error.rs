//! The one error type of devflow: a stable code, the class that code belongs to, and context.
//!
//! Every layer returns this type. What an error *leads to* (retry, human gate, failed run) is
//! decided from `class()` and `code()` by the phase runner's policy, in one place.

use std::fmt;
use std::sync::Arc;

/// What kind of failure an error is; decides what the runner does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Cannot be fixed by retrying or by a human at a gate: the run fails.
    Fatal,
    /// Transient: retried with backoff, within a budget.
    Recoverable,
    /// Needs a person: the run pauses at a gate until `devflow resume` or `approve`.
    HumanRequired,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Fatal => "fatal",
            Class::Recoverable => "recoverable",
            Class::HumanRequired => "human_required",
        }
    }
}

/// A stable, snake_case error code. Each code belongs to exactly one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    // The reference runner's codes.
    InternalStateCorruption,
    RunStateChanged,
    ArtifactTimeoutExhausted,
    ArtifactInvalidAfterRepair,
    PromptSendExhausted,
    WorkspacePermissions,
    SessionNotFound,
    SessionFailedNeedsHuman,
    ActivityCancelled,
    // Ours.
    /// A session backend call failed in a way that may pass (tmux busy, a scripted transient failure).
    SessionUnavailable,
    /// A session backend call failed for good (the agent command cannot start, a scripted fatal failure).
    SessionBackendFailed,
    /// tmux is not installed or not on PATH.
    TmuxMissing,
    /// An artifact path resolves outside the worktree.
    ArtifactOutsideWorktree,
    /// A workflow file, argument or other input is malformed.
    InvalidInput,
    /// A JSON Schema does not compile.
    SchemaInvalid,
    /// The database cannot be opened or reached.
    DatabaseUnavailable,
    /// The database is locked by another writer for longer than the busy timeout.
    DatabaseBusy,
    /// A query failed for a reason that is neither of the above.
    DatabaseFailed,
    /// The run named does not exist.
    RunNotFound,
    /// Another driver holds the run's lease.
    RunLeased,
}

impl Code {
    /// Every code, for tests and documentation.
    pub const ALL: &'static [Code] = &[
        Code::InternalStateCorruption,
        Code::RunStateChanged,
        Code::ArtifactTimeoutExhausted,
        Code::ArtifactInvalidAfterRepair,
        Code::PromptSendExhausted,
        Code::WorkspacePermissions,
        Code::SessionNotFound,
        Code::SessionFailedNeedsHuman,
        Code::ActivityCancelled,
        Code::SessionUnavailable,
        Code::SessionBackendFailed,
        Code::TmuxMissing,
        Code::ArtifactOutsideWorktree,
        Code::InvalidInput,
        Code::SchemaInvalid,
        Code::DatabaseUnavailable,
        Code::DatabaseBusy,
        Code::DatabaseFailed,
        Code::RunNotFound,
        Code::RunLeased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::InternalStateCorruption => "internal_state_corruption",
            Code::RunStateChanged => "run_state_changed",
            Code::ArtifactTimeoutExhausted => "artifact_timeout_exhausted",
            Code::ArtifactInvalidAfterRepair => "artifact_invalid_after_repair",
            Code::PromptSendExhausted => "prompt_send_exhausted",
            Code::WorkspacePermissions => "workspace_permissions",
            Code::SessionNotFound => "session_not_found",
            Code::SessionFailedNeedsHuman => "session_failed_needs_human",
            Code::ActivityCancelled => "activity_cancelled",
            Code::SessionUnavailable => "session_unavailable",
            Code::SessionBackendFailed => "session_backend_failed",
            Code::TmuxMissing => "tmux_missing",
            Code::ArtifactOutsideWorktree => "artifact_outside_worktree",
            Code::InvalidInput => "invalid_input",
            Code::SchemaInvalid => "schema_invalid",
            Code::DatabaseUnavailable => "database_unavailable",
            Code::DatabaseBusy => "database_busy",
            Code::DatabaseFailed => "database_failed",
            Code::RunNotFound => "run_not_found",
            Code::RunLeased => "run_leased",
        }
    }

    /// The class a code belongs to. Exhaustive on purpose: a new code is classified when it is added.
    pub fn class(self) -> Class {
        match self {
            Code::InternalStateCorruption
            | Code::WorkspacePermissions
            | Code::SessionBackendFailed
            | Code::TmuxMissing
            | Code::ArtifactOutsideWorktree
            | Code::InvalidInput
            | Code::SchemaInvalid
            | Code::DatabaseUnavailable
            | Code::DatabaseFailed
            | Code::RunNotFound => Class::Fatal,
            Code::ActivityCancelled | Code::SessionUnavailable | Code::DatabaseBusy => {
                Class::Recoverable
            }
            // A pane that vanished (tmux server killed, machine rebooted) is for a person to
            // look at, and `devflow resume` starts a fresh agent: not a reason to fail the run.
            Code::SessionNotFound
            | Code::RunStateChanged
            | Code::ArtifactTimeoutExhausted
            | Code::ArtifactInvalidAfterRepair
            | Code::PromptSendExhausted
            | Code::SessionFailedNeedsHuman
            | Code::RunLeased => Class::HumanRequired,
        }
    }

    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|code| code.as_str() == text)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A devflow error: what went wrong (`code`, `message`), where (`run_id`, `phase_id`), and
/// what a person can do about it (`recovery_hint`). It displays as `message [code] run=… phase=…:
/// source (hint: …)`, each part there only when it is known.
#[derive(Clone, thiserror::Error)]
#[error("{}", self.display())]
pub struct Error {
    code: Code,
    message: String,
    run_id: Option<String>,
    phase_id: Option<String>,
    recovery_hint: Option<String>,
    source: Option<Source>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            run_id: None,
            phase_id: None,
            recovery_hint: None,
            source: None,
        }
    }

    /// A broken invariant found in stored state.
    pub fn corruption(message: impl Into<String>) -> Error {
        Error::new(Code::InternalStateCorruption, message)
    }

    pub fn with_run(mut self, run_id: impl Into<String>) -> Error {
        self.run_id = Some(run_id.into());
        self
    }

    pub fn with_phase(mut self, phase_id: impl Into<String>) -> Error {
        self.phase_id = Some(phase_id.into());
        self
    }

    /// Sets run and phase ids where they are not set yet.
    pub fn in_phase(mut self, run_id: &str, phase_id: &str) -> Error {
        self.run_id.get_or_insert_with(|| run_id.to_owned());
        self.phase_id.get_or_insert_with(|| phase_id.to_owned());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.recovery_hint = Some(hint.into());
        self
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.source = Some(Arc::new(source));
        self
    }

    pub fn code(&self) -> Code {
        self.code
    }

    pub fn class(&self) -> Class {
        self.code.class()
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn run_id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }

    pub fn phase_id(&self) -> Option<&str> {
        self.phase_id.as_deref()
    }

    pub fn recovery_hint(&self) -> Option<&str> {
        self.recovery_hint.as_deref()
    }

    pub fn is(&self, code: Code) -> bool {
        self.code == code
    }

    fn display(&self) -> String {
        let mut text = format!("{} [{}]", self.message, self.code);
        if let Some(run_id) = &self.run_id {
            text.push_str(&format!(" run={run_id}"));
        }
        if let Some(phase_id) = &self.phase_id {
            text.push_str(&format!(" phase={phase_id}"));
        }
        if let Some(source) = &self.source {
            text.push_str(&format!(": {source}"));
        }
        if let Some(hint) = &self.recovery_hint {
            text.push_str(&format!(" (hint: {hint})"));
        }
        text
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(*code));
        }
        let mut names: Vec<_> = Code::ALL.iter().map(|code| code.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len());
    }

    #[test]
    fn reference_codes_keep_their_reference_classes() {
        assert_eq!(Code::InternalStateCorruption.class(), Class::Fatal);
        assert_eq!(Code::WorkspacePermissions.class(), Class::Fatal);
        assert_eq!(Code::RunStateChanged.class(), Class::HumanRequired);
        assert_eq!(Code::ArtifactTimeoutExhausted.class(), Class::HumanRequired);
        assert_eq!(Code::ArtifactInvalidAfterRepair.class(), Class::HumanRequired);
        assert_eq!(Code::PromptSendExhausted.class(), Class::HumanRequired);
        assert_eq!(Code::ActivityCancelled.class(), Class::Recoverable);
    }

    #[test]
    fn display_carries_code_ids_and_hint() {
        let error = Error::new(Code::RunStateChanged, "run left executing")
            .in_phase("r1", "p1")
            .with_hint("run_state=paused");
        assert_eq!(
            error.to_string(),
            "run left executing [run_state_changed] run=r1 phase=p1 (hint: run_state=paused)"
        );
        assert_eq!(error.class(), Class::HumanRequired);
    }

    #[test]
    fn a_source_is_shown_and_chained() {
        let io = std::io::Error::other("disk gone");
        let error = Error::new(Code::DatabaseUnavailable, "cannot commit").with_source(io);
        assert_eq!(error.to_string(), "cannot commit [database_unavailable]: disk gone");
        let source = std::error::Error::source(&error).expect("the source is chained");
        assert_eq!(source.to_string(), "disk gone");
        assert!(std::error::Error::source(&Error::corruption("x")).is_none());
    }
}
