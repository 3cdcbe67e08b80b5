//! The session state machine: the life of one agent in its terminal.

use super::state_names;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    Created,
    Bootstrapping,
    Ready,
    Busy,
    WaitingForApproval,
    ArtifactTimeout,
    Hung,
    Crashed,
    Resuming,
    Rebootstrapped,
    FailedNeedsHuman,
}

state_names!(SessionState, "session", {
    Created => "CREATED",
    Bootstrapping => "BOOTSTRAPPING",
    Ready => "READY",
    Busy => "BUSY",
    WaitingForApproval => "WAITING_FOR_APPROVAL",
    ArtifactTimeout => "ARTIFACT_TIMEOUT",
    Hung => "HUNG",
    Crashed => "CRASHED",
    Resuming => "RESUMING",
    Rebootstrapped => "REBOOTSTRAPPED",
    FailedNeedsHuman => "FAILED_NEEDS_HUMAN",
});

impl SessionState {
    /// The states an artifact timeout leaves a session in, from which recovery continues.
    pub fn is_timeout_recovery(self) -> bool {
        use SessionState::*;
        matches!(self, ArtifactTimeout | Hung | Crashed | Resuming | Rebootstrapped)
    }

    fn allows(self, to: SessionState) -> bool {
        use SessionState::*;
        match (self, to) {
            (Created, Bootstrapping) | (Bootstrapping, Ready) => true,
            (Ready, Busy | WaitingForApproval) => true,
            (Busy, Ready | WaitingForApproval | ArtifactTimeout | Hung | Crashed) => true,
            // Reusing a role's session for a later phase re-adopts it as ready.
            (WaitingForApproval | ArtifactTimeout | Hung | Crashed, Ready) => true,
            (Resuming | Rebootstrapped, Ready) => true,
            (ArtifactTimeout | Hung | Crashed, Resuming) => true,
            (Resuming, Rebootstrapped) => true,
            (Ready | WaitingForApproval | ArtifactTimeout | Hung, Crashed) => true,
            (Resuming | Rebootstrapped, Crashed) => true,
            // After a human gate, `devflow resume` starts a fresh agent for the role.
            (FailedNeedsHuman, Bootstrapping) => true,
            (from, FailedNeedsHuman) => from != FailedNeedsHuman,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SessionState::*;
    use crate::state::StateMachine;

    #[test]
    fn start_prompt_timeout_and_recovery_are_allowed() {
        let path = [Created, Bootstrapping, Ready, Busy, Hung, Resuming, Rebootstrapped, Ready];
        for pair in path.windows(2) {
            assert!(pair[0].can_transition(pair[1]), "{} -> {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn any_live_state_can_fail_to_a_human_but_not_twice() {
        for state in <super::SessionState as StateMachine>::ALL {
            assert_eq!(state.can_transition(FailedNeedsHuman), *state != FailedNeedsHuman);
        }
        assert!(FailedNeedsHuman.assert_assignment(FailedNeedsHuman).is_ok());
        assert!(!Created.can_transition(Busy));
        assert!(!Ready.can_transition(Rebootstrapped));
    }
}
