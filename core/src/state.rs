//! The run, phase and session state machines: plain enums that round-trip through a row, each
//! with one table of allowed moves.

mod phase;
mod run;
mod session;

pub use phase::PhaseState;
pub use run::RunState;
pub use session::SessionState;

use crate::{Code, Error};

/// What every state machine of devflow offers: a stored name and a transition table.
pub trait StateMachine: Copy + Eq + std::fmt::Debug + 'static {
    /// The machine's name in error messages.
    const MACHINE: &'static str;
    const ALL: &'static [Self];

    fn as_str(self) -> &'static str;

    /// Whether `self -> to` is a move the table allows. Staying put is not a move.
    fn can_transition(self, to: Self) -> bool;

    fn parse(text: &str) -> Result<Self, Error> {
        Self::ALL
            .iter()
            .copied()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| Error::corruption(format!("unknown {} state {text:?}", Self::MACHINE)))
    }

    /// A move from `self` to `to`; anything the table does not allow is a corrupted state.
    fn assert_transition(self, to: Self) -> Result<(), Error> {
        if self.can_transition(to) {
            return Ok(());
        }
        Err(Error::new(
            Code::InternalStateCorruption,
            format!(
                "{} state cannot move from {} to {}",
                Self::MACHINE,
                self.as_str(),
                to.as_str()
            ),
        )
        .with_hint(format!("{}_state={}", Self::MACHINE, self.as_str())))
    }

    /// An assignment: a move the table allows, or staying in the same state.
    fn assert_assignment(self, to: Self) -> Result<(), Error> {
        if self == to {
            return Ok(());
        }
        self.assert_transition(to)
    }
}

/// How a step may change a state: by a move the table allows, or by an assignment (that move,
/// or staying in the same state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Transition,
    Assign,
}

impl Move {
    /// The states from which this rule reaches `to`.
    pub fn sources<S: StateMachine>(self, to: S) -> Vec<S> {
        let stays = self == Move::Assign;
        S::ALL
            .iter()
            .copied()
            .filter(|&from| from.can_transition(to) || stays && from == to)
            .collect()
    }

    /// `from -> to` by this rule, or the state machine's error.
    pub fn check<S: StateMachine>(self, from: S, to: S) -> Result<(), Error> {
        match self {
            Move::Transition => from.assert_transition(to),
            Move::Assign => from.assert_assignment(to),
        }
    }
}

/// Writes `as_str`, `Display` and `FromStr`-like parsing for a state enum from one list of names.
macro_rules! state_names {
    ($ty:ident, $machine:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $crate::state::StateMachine for $ty {
            const MACHINE: &'static str = $machine;
            const ALL: &'static [Self] = &[$($ty::$variant),+];

            fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            fn can_transition(self, to: Self) -> bool {
                self.allows(to)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::state::StateMachine::as_str(*self))
            }
        }
    };
}
pub(crate) use state_names;

#[cfg(test)]
mod tests {
    use super::*;

    fn names_round_trip<S: StateMachine>() {
        for state in S::ALL {
            assert_eq!(S::parse(state.as_str()).unwrap(), *state);
            assert!(!state.can_transition(*state), "{state:?} moves to itself");
            assert!(state.assert_assignment(*state).is_ok());
        }
        assert!(S::parse("no_such_state").is_err());
    }

    #[test]
    fn an_assignment_also_comes_from_the_target_itself_and_a_transition_does_not() {
        let to = PhaseState::Running;
        let moves = Move::Transition.sources(to);
        assert!(moves.contains(&PhaseState::Pending) && !moves.contains(&to), "{moves:?}");
        assert!(moves.iter().all(|from| from.can_transition(to)));
        let mut assignments = Move::Assign.sources(to);
        assignments.retain(|&from| from != to);
        assert_eq!(assignments, moves, "an assignment adds only staying put");
        assert!(Move::Assign.check(to, to).is_ok());
        assert!(Move::Transition.check(to, to).is_err());
    }

    #[test]
    fn every_machine_round_trips_its_names_and_has_no_self_moves() {
        names_round_trip::<RunState>();
        names_round_trip::<PhaseState>();
        names_round_trip::<SessionState>();
    }

    #[test]
    fn a_refused_move_is_internal_state_corruption_with_the_state_as_hint() {
        let error = PhaseState::Completed.assert_transition(PhaseState::Running).unwrap_err();
        assert_eq!(error.code(), Code::InternalStateCorruption);
        assert_eq!(error.recovery_hint(), Some("phase_state=completed"));
    }
}
