//! The run state machine.

use super::state_names;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    /// Submitted for workers (`devflow submit`), not claimed yet.
    Queued,
    Planning,
    Executing,
    AwaitingApproval,
    Paused,
    Completed,
    Failed,
    Aborted,
}

state_names!(RunState, "run", {
    Queued => "queued",
    Planning => "planning",
    Executing => "executing",
    AwaitingApproval => "awaiting_approval",
    Paused => "paused",
    Completed => "completed",
    Failed => "failed",
    Aborted => "aborted",
});

impl RunState {
    /// Completed, failed and aborted runs never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, RunState::Completed | RunState::Failed | RunState::Aborted)
    }

    /// Phases may only be mutated while the run is planning or executing.
    pub fn allows_phase_mutation(self) -> bool {
        matches!(self, RunState::Planning | RunState::Executing)
    }

    fn allows(self, to: RunState) -> bool {
        use RunState::*;
        match (self, to) {
            // A worker claims a queued run and starts it.
            (Queued | Planning, Executing) => true,
            (Planning | Executing, AwaitingApproval | Completed) => true,
            // `approve` continues the run; resume returns to the state the run was paused from.
            (AwaitingApproval | Paused, Executing) | (Paused, Planning) => true,
            (Planning | Executing | AwaitingApproval, Paused) => true,
            (from, Failed | Aborted) => !from.is_terminal(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RunState::*;
    use crate::state::StateMachine;

    #[test]
    fn terminal_runs_never_move() {
        for from in [Completed, Failed, Aborted] {
            for to in <super::RunState as StateMachine>::ALL {
                assert!(!from.can_transition(*to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn a_queued_run_starts_or_is_aborted_only() {
        for to in <super::RunState as StateMachine>::ALL {
            let allowed = matches!(to, Executing | Failed | Aborted);
            assert_eq!(Queued.can_transition(*to), allowed, "queued -> {to}");
        }
        assert!(!Queued.allows_phase_mutation());
    }

    #[test]
    fn a_run_pauses_and_resumes() {
        assert!(Executing.can_transition(Paused));
        assert!(Paused.can_transition(Executing));
        assert!(AwaitingApproval.can_transition(Executing));
        assert!(!Paused.can_transition(Completed));
        assert!(Executing.allows_phase_mutation() && !Paused.allows_phase_mutation());
    }
}
