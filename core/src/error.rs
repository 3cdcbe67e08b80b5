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

/// `codes! { /// doc  Name "snake_name" Class; … }`: the enum, its names, its classes and
/// `Code::ALL`, from one table. Every row names its class, so a new code is classified on
/// purpose when it is added.
macro_rules! codes {
    ($($(#[$doc:meta])* $code:ident $name:literal $class:ident;)*) => {
        /// A stable, snake_case error code. Each code belongs to exactly one class.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $code,)*
        }

        impl Code {
            /// Every code, in the order of the table.
            pub const ALL: &'static [Code] = &[$(Code::$code),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => $name,)*
                }
            }

            /// The class a code belongs to.
            pub fn class(self) -> Class {
                match self {
                    $(Code::$code => Class::$class,)*
                }
            }
        }
    };
}

codes! {
    // The reference runner's codes.
    InternalStateCorruption "internal_state_corruption" Fatal;
    RunStateChanged "run_state_changed" HumanRequired;
    ArtifactTimeoutExhausted "artifact_timeout_exhausted" HumanRequired;
    ArtifactInvalidAfterRepair "artifact_invalid_after_repair" HumanRequired;
    PromptSendExhausted "prompt_send_exhausted" HumanRequired;
    WorkspacePermissions "workspace_permissions" Fatal;
    /// A pane that vanished (tmux server killed, machine rebooted) is for a person to look at,
    /// and `devflow resume` starts a fresh agent: not a reason to fail the run.
    SessionNotFound "session_not_found" HumanRequired;
    SessionFailedNeedsHuman "session_failed_needs_human" HumanRequired;
    ActivityCancelled "activity_cancelled" Recoverable;
    // Ours.
    /// A session backend call failed in a way that may pass (tmux busy, a scripted transient failure).
    SessionUnavailable "session_unavailable" Recoverable;
    /// A session backend call failed for good (the agent command cannot start, a scripted fatal failure).
    SessionBackendFailed "session_backend_failed" Fatal;
    /// tmux is not installed or not on PATH.
    TmuxMissing "tmux_missing" Fatal;
    /// An artifact path resolves outside the worktree.
    ArtifactOutsideWorktree "artifact_outside_worktree" Fatal;
    /// A workflow file, argument or other input is malformed.
    InvalidInput "invalid_input" Fatal;
    /// A JSON Schema does not compile.
    SchemaInvalid "schema_invalid" Fatal;
    /// The database cannot be opened or reached.
    DatabaseUnavailable "database_unavailable" Fatal;
    /// The database is locked by another writer for longer than the busy timeout.
    DatabaseBusy "database_busy" Recoverable;
    /// A query failed for a reason that is neither of the above.
    DatabaseFailed "database_failed" Fatal;
    /// The run named does not exist.
    RunNotFound "run_not_found" Fatal;
    /// Another driver holds the run's lease.
    RunLeased "run_leased" HumanRequired;
    /// The agent shows a dialog (or a screen that is not its input box) instead of taking a
    /// prompt: a person answers it, or configures the agent so that it does not show it.
    AgentNeedsInput "agent_needs_input" HumanRequired;
    /// The agent's pane never became ready for a paste within its bound; nothing was pasted.
    AgentNotReady "agent_not_ready" HumanRequired;
    /// A prompt was pasted but devflow could not verify that the agent took it; pasting again
    /// could deliver it twice, so a person looks.
    PromptDeliveryUnverified "prompt_delivery_unverified" HumanRequired;
    /// The artifact on disk is not the one that was validated (an approval was asked for
    /// bytes that changed since): nothing is approved until a person looks.
    ArtifactChanged "artifact_changed" HumanRequired;
    /// This driver's lease on the run was taken over (or its epoch moved on): it must write
    /// nothing more.
    LeaseLost "lease_lost" Fatal;
    /// The run's drivers kept dying: its lease was taken over from a dead driver more times in
    /// a row than allowed, so a person looks before it goes round again.
    RecoveryLimit "recovery_limit" HumanRequired;
    /// The run's agents live in tmux on another host: a driver here can neither reach nor stop
    /// them, so it waits for a person to resume the run there or move its agents here.
    AgentsElsewhere "agents_elsewhere" HumanRequired;
    /// `devflow serve` could not go on serving (its listening socket failed).
    ServerFailed "server_failed" Fatal;
    /// git is not installed or not on PATH (managed worktrees need it).
    GitMissing "git_missing" Fatal;
    /// A git command devflow ran on a managed worktree failed (a lock left by another git, a
    /// branch checked out elsewhere, a full disk): a person looks at the repository, then
    /// resumes; every worktree operation converges when it is taken again.
    GitFailed "git_failed" HumanRequired;
    /// A workflow's `setup` command failed in a new worktree; its status and the tail of its
    /// output are in the message.
    SetupFailed "setup_failed" HumanRequired;
    /// Merging a phase's branch conflicted; the conflicting files are in the message.
    MergeConflict "merge_conflict" HumanRequired;
}

impl Code {
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
