//! The phase's transition table: from what the database and the disk hold now, the one step
//! that comes next.
//!
//! The runner reads the facts after every step and asks [`next`]; so the forward path and
//! re-entry after a crash are one path. `next` is pure — no I/O, no clock — and every pair it
//! can return is in the tests below. Reading top to bottom, an attempt goes:
//!
//! ```text
//! pending ──StartAttempt──▶ running: [Adopt ▶ FinishAdopted] RemoveStale ▶ Start/ResumeSession
//!   ▶ MarkBusy ▶ Deliver ▶ ExpectArtifact ▶ Wait ─┬─ ready ▶ Validate ▶ MarkIdle ▶ Complete
//!                                     │                  ├▶ RequestApproval (gated)
//!                                     │                  └▶ Repair(Invalid) │ Gate(InvalidAfterRepair)
//!                                     └─ timed out ▶ Recover ▶ Repair(Timeout) │ Gate(TimedOut)
//! ```

use devflow_core::{PhaseState, SessionState};

use super::begin::RepairOf;
use super::facts::{AttemptFacts, Facts, SessionFacts};
use super::spec::Restart;

/// The step that comes next; each is one leaf of the runner (`runner.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A new attempt (`phase.started`), from the state the phase is in.
    StartAttempt(PhaseState),
    /// Validate and record the file a person left at the path while the phase stood at a gate.
    Adopt,
    /// The phase ends with the valid artifact a person wrote.
    FinishAdopted,
    /// Remove an artifact an earlier attempt or run left, before this attempt's prompt.
    RemoveStale,
    /// Start the role's agent: a new session, one a crash left `CREATED`, or a fresh agent for
    /// one that failed to a person.
    StartSession,
    /// Re-adopt the role's agent for this phase.
    ResumeSession,
    /// Mark the session `BUSY` with the attempt's prompt.
    MarkBusy,
    /// Deliver the prompt of a `BUSY` session as the terminal says it stands, and record it.
    Deliver,
    /// `awaiting_artifact` and `artifact.expected`.
    ExpectArtifact,
    /// Wait for the artifact; then `validating`, or the timeout recorded.
    Wait,
    /// Read, validate and record the artifact on disk.
    Validate,
    /// The session `READY` again (`session.idle`).
    MarkIdle,
    Complete,
    RequestApproval,
    /// The one repair attempt.
    Repair(RepairOf),
    /// Bring a timed-out agent back before its repair.
    Recover,
    /// A human gate the flow itself raises.
    Gate(FlowGate),
    /// The phase cannot be entered from where it is.
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlowGate {
    /// No artifact came even after recovery, or the repair's did not.
    TimedOut,
    InvalidAfterRepair,
}

/// `Step::arm` and `Step::ARMS` from one list: the match is exhaustive (no `_` arm), so a new
/// variant does not compile until it is named here, and the list of names cannot drift from it.
macro_rules! arms {
    ($($step:pat => $name:literal,)*) => {
        #[cfg(any(test, feature = "test-support"))]
        impl Step {
            /// Every arm of the table, by its name (what [`Step::arm`] returns).
            pub const ARMS: &'static [&'static str] = &[$($name),*];

            /// The arm's name, for the test that the scenarios reach every arm.
            pub fn arm(self) -> &'static str {
                match self {
                    $($step => $name,)*
                }
            }
        }
    };
}

arms! {
    Step::StartAttempt(PhaseState::Pending) => "StartAttempt(pending)",
    Step::StartAttempt(PhaseState::Failed) => "StartAttempt(failed)",
    Step::StartAttempt(_) => "StartAttempt(awaiting_approval)",
    Step::Adopt => "Adopt",
    Step::FinishAdopted => "FinishAdopted",
    Step::RemoveStale => "RemoveStale",
    Step::StartSession => "StartSession",
    Step::ResumeSession => "ResumeSession",
    Step::MarkBusy => "MarkBusy",
    Step::Deliver => "Deliver",
    Step::ExpectArtifact => "ExpectArtifact",
    Step::Wait => "Wait",
    Step::Validate => "Validate",
    Step::MarkIdle => "MarkIdle",
    Step::Complete => "Complete",
    Step::RequestApproval => "RequestApproval",
    Step::Repair(RepairOf::Invalid) => "Repair(invalid)",
    Step::Repair(RepairOf::Timeout) => "Repair(timeout)",
    Step::Recover => "Recover",
    Step::Gate(FlowGate::TimedOut) => "Gate(timed_out)",
    Step::Gate(FlowGate::InvalidAfterRepair) => "Gate(invalid_after_repair)",
    Step::Refuse => "Refuse",
}

/// The transition table.
pub(crate) fn next(facts: &Facts) -> Step {
    let step = decide(facts);
    #[cfg(feature = "test-support")]
    crate::testing::reached(step.arm());
    step
}

fn decide(facts: &Facts) -> Step {
    use PhaseState::*;
    match (facts.phase, facts.restart, &facts.attempt) {
        (Pending, _, _) => Step::StartAttempt(Pending),
        (Failed, Some(Restart::AfterGate), _) => Step::StartAttempt(Failed),
        (AwaitingApproval, Some(Restart::Rejected), _) => Step::StartAttempt(AwaitingApproval),
        (Running | AwaitingArtifact | Validating, _, Some(attempt)) => in_attempt(facts, attempt),
        _ => Step::Refuse,
    }
}

/// Within an attempt: before its prompt went out, or after.
fn in_attempt(facts: &Facts, attempt: &AttemptFacts) -> Step {
    match facts.session {
        Some(session) if session.ours => after_prompt(facts, attempt, session.state),
        session => before_prompt(facts, attempt, session),
    }
}

fn before_prompt(facts: &Facts, attempt: &AttemptFacts, session: Option<SessionFacts>) -> Step {
    use SessionState::*;
    match (attempt.adopting, attempt.adopted) {
        (true, None) if facts.on_disk => return Step::Adopt,
        (true, Some(true)) => return Step::FinishAdopted,
        _ => {}
    }
    // A repair's agent reads and fixes the invalid artifact where it is.
    if facts.on_disk && !attempt.repair {
        return Step::RemoveStale;
    }
    match session.map(|session| (session.state, session.ready_here)) {
        None | Some((Created | Bootstrapping | FailedNeedsHuman, _)) => Step::StartSession,
        Some((Ready, true)) => Step::MarkBusy,
        Some(_) => Step::ResumeSession,
    }
}

fn after_prompt(facts: &Facts, attempt: &AttemptFacts, session: SessionState) -> Step {
    if let Some(valid) = attempt.recorded {
        return match (valid, facts.gated, attempt.idle) {
            // An artifact held for approval keeps its agent waiting, not idle.
            (true, true, _) => Step::RequestApproval,
            (_, _, false) => Step::MarkIdle,
            (true, false, true) => Step::Complete,
            (false, _, true) if attempt.repair => Step::Gate(FlowGate::InvalidAfterRepair),
            (false, _, true) => Step::Repair(RepairOf::Invalid),
        };
    }
    if attempt.timed_out {
        return match session {
            _ if attempt.repair => Step::Gate(FlowGate::TimedOut),
            SessionState::Ready => Step::Repair(RepairOf::Timeout),
            SessionState::FailedNeedsHuman => Step::Refuse,
            _ => Step::Recover,
        };
    }
    if !attempt.prompted {
        return Step::Deliver;
    }
    match (attempt.expected, facts.phase) {
        (false, _) => Step::ExpectArtifact,
        (true, PhaseState::Validating) => Step::Validate,
        (true, _) => Step::Wait,
    }
}

#[cfg(test)]
mod tests;
