//! The phase state machine.

use super::state_names;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhaseState {
    Pending,
    Running,
    AwaitingArtifact,
    Validating,
    AwaitingApproval,
    Completed,
    Failed,
}

state_names!(PhaseState, "phase", {
    Pending => "pending",
    Running => "running",
    AwaitingArtifact => "awaiting_artifact",
    Validating => "validating",
    AwaitingApproval => "awaiting_approval",
    Completed => "completed",
    Failed => "failed",
});

impl PhaseState {
    /// States a crashed driver can leave a phase in and re-enter from.
    pub fn is_reentrant(self) -> bool {
        matches!(self, PhaseState::Running | PhaseState::AwaitingArtifact | PhaseState::Validating)
    }

    fn allows(self, to: PhaseState) -> bool {
        use PhaseState::*;
        match (self, to) {
            (Pending, Running) => true,
            (Running, AwaitingArtifact) => true,
            (AwaitingArtifact, Validating) => true,
            // A repair attempt, after a timeout or an invalid artifact, starts the phase again.
            (AwaitingArtifact | Validating, Running) => true,
            // Re-entry can validate an artifact found on disk straight from `running`.
            (Running | Validating, Completed | AwaitingApproval) => true,
            // `approve` completes the phase; `reject` sends it back as a new attempt.
            (AwaitingApproval, Completed | Running) => true,
            // `resume` after a human gate retries the phase.
            (Failed, Running) => true,
            // A merge of its branch that conflicts sends a completed phase back to its agent,
            // as a rejection does (the driver's merge phase, once).
            (Completed, AwaitingApproval) => true,
            (from, Failed) => from != Completed && from != Failed,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PhaseState::*;
    use crate::state::StateMachine;

    #[test]
    fn the_happy_path_and_the_repair_loop_are_allowed() {
        let path = [Pending, Running, AwaitingArtifact, Validating, Running, AwaitingArtifact];
        for pair in path.windows(2) {
            assert!(pair[0].can_transition(pair[1]), "{} -> {}", pair[0], pair[1]);
        }
        assert!(Validating.can_transition(Completed));
        assert!(!Completed.can_transition(Failed));
        assert!(!Pending.can_transition(Completed));
        assert!(Running.is_reentrant() && !Pending.is_reentrant());
    }
}
