//! The transition table, pair by pair: every step `next` can return, and the facts that lead
//! there. (`phase/tests/it/arms.rs` proves the scenarios reach every arm.)

use devflow_core::{PhaseState, SessionState};

use super::*;

use PhaseState::{
    AwaitingApproval, AwaitingArtifact, Completed, Failed, Pending, Running, Validating,
};
use SessionState::*;

/// A phase in `phase` with an attempt and nothing else known.
fn facts(phase: PhaseState) -> Facts {
    let attempt = (phase != Pending).then(AttemptFacts::default);
    Facts { phase, restart: None, attempt, session: None, on_disk: false, gated: false }
}

fn with_session(facts: Facts, state: SessionState, ours: bool, ready_here: bool) -> Facts {
    Facts { session: Some(SessionFacts { state, ours, ready_here }), ..facts }
}

fn attempt(facts: Facts, attempt: AttemptFacts) -> Facts {
    Facts { attempt: Some(attempt), ..facts }
}

/// An attempt whose prompt went out to the session, now `state`.
fn prompted(phase: PhaseState, state: SessionState, attempt_facts: AttemptFacts) -> Facts {
    let facts = attempt(facts(phase), AttemptFacts { prompted: true, ..attempt_facts });
    with_session(facts, state, true, true)
}

#[track_caller]
fn check(facts: Facts, expected: Step) {
    assert_eq!(next(&facts), expected, "{facts:#?}");
}

#[test]
fn a_phase_begins_an_attempt_from_pending_or_from_the_gate_a_person_restarts_it_from() {
    check(facts(Pending), Step::StartAttempt(Pending));
    let after_gate = Facts { restart: Some(Restart::AfterGate), ..facts(Failed) };
    check(after_gate, Step::StartAttempt(Failed));
    let rejected = Facts { restart: Some(Restart::Rejected), ..facts(AwaitingApproval) };
    check(rejected, Step::StartAttempt(AwaitingApproval));
}

#[test]
fn a_phase_that_is_not_in_an_attempt_is_refused() {
    for phase in [Completed, Failed, AwaitingApproval] {
        check(facts(phase), Step::Refuse);
    }
    check(Facts { restart: Some(Restart::Rejected), ..facts(Failed) }, Step::Refuse);
    check(Facts { attempt: None, ..facts(Running) }, Step::Refuse);
}

#[test]
fn before_its_prompt_an_attempt_clears_a_stale_file_and_gets_its_agent_ready() {
    check(Facts { on_disk: true, ..facts(Running) }, Step::RemoveStale);
    check(facts(Running), Step::StartSession);
    for state in [Created, Bootstrapping, FailedNeedsHuman] {
        check(with_session(facts(Running), state, false, true), Step::StartSession);
    }
    check(with_session(facts(Running), Ready, false, true), Step::MarkBusy);
    check(with_session(facts(Running), Ready, false, false), Step::ResumeSession);
    for state in [WaitingForApproval, Busy, Hung, Crashed] {
        check(with_session(facts(Running), state, false, true), Step::ResumeSession);
    }
}

#[test]
fn a_repair_keeps_the_invalid_file_for_its_agent() {
    let repair = attempt(facts(Running), AttemptFacts { repair: true, ..Default::default() });
    let repair = with_session(Facts { on_disk: true, ..repair }, Ready, false, true);
    check(repair, Step::MarkBusy);
}

#[test]
fn a_restart_after_a_gate_first_takes_what_a_person_wrote() {
    let adopting = AttemptFacts { adopting: true, ..Default::default() };
    let on_disk = Facts { on_disk: true, ..attempt(facts(Running), adopting) };
    check(on_disk.clone(), Step::Adopt);
    let valid = AttemptFacts { adopted: Some(true), ..adopting };
    check(attempt(on_disk.clone(), valid), Step::FinishAdopted);
    let invalid = AttemptFacts { adopted: Some(false), ..adopting };
    check(attempt(on_disk, invalid), Step::RemoveStale);
    // Nothing there: the agent is asked.
    check(attempt(facts(Running), adopting), Step::StartSession);
}

#[test]
fn a_prompt_marked_busy_is_delivered_as_the_terminal_says_it_stands() {
    // Just marked, or marked before a crash: the delivery asks the terminal first.
    check(with_session(facts(Running), Busy, true, true), Step::Deliver);
}

#[test]
fn a_delivered_prompt_is_waited_for_then_its_artifact_validated() {
    let fresh = AttemptFacts::default();
    check(prompted(Running, Busy, fresh), Step::ExpectArtifact);
    let expected = AttemptFacts { expected: true, ..fresh };
    check(prompted(AwaitingArtifact, Busy, expected), Step::Wait);
    check(prompted(Validating, Busy, expected), Step::Validate);
}

#[test]
fn a_valid_artifact_completes_the_phase_or_holds_it_for_approval() {
    let valid = AttemptFacts { expected: true, recorded: Some(true), ..Default::default() };
    check(prompted(Validating, Busy, valid), Step::MarkIdle);
    check(prompted(Validating, Ready, AttemptFacts { idle: true, ..valid }), Step::Complete);
    let gated = Facts { gated: true, ..prompted(Validating, Busy, valid) };
    check(gated, Step::RequestApproval);
}

#[test]
fn an_invalid_artifact_is_repaired_once_then_stops_at_a_gate() {
    let invalid = AttemptFacts { expected: true, recorded: Some(false), ..Default::default() };
    check(prompted(Validating, Busy, invalid), Step::MarkIdle);
    let idle = AttemptFacts { idle: true, ..invalid };
    check(prompted(Validating, Ready, idle), Step::Repair(RepairOf::Invalid));
    let gated = Facts { gated: true, ..prompted(Validating, Ready, idle) };
    // An invalid artifact is never held for approval.
    check(gated, Step::Repair(RepairOf::Invalid));
    let repair = AttemptFacts { repair: true, ..idle };
    check(prompted(Validating, Ready, repair), Step::Gate(FlowGate::InvalidAfterRepair));
}

#[test]
fn a_timeout_recovers_the_agent_then_repairs_once_then_stops_at_a_gate() {
    let timed_out = AttemptFacts { expected: true, timed_out: true, ..Default::default() };
    for state in [ArtifactTimeout, Hung, Crashed, Resuming, Rebootstrapped] {
        check(prompted(AwaitingArtifact, state, timed_out), Step::Recover);
    }
    check(prompted(AwaitingArtifact, Ready, timed_out), Step::Repair(RepairOf::Timeout));
    check(prompted(AwaitingArtifact, FailedNeedsHuman, timed_out), Step::Refuse);
    let repair = AttemptFacts { repair: true, ..timed_out };
    for state in [ArtifactTimeout, Crashed, Ready] {
        check(prompted(AwaitingArtifact, state, repair), Step::Gate(FlowGate::TimedOut));
    }
}

#[test]
fn every_arm_has_one_name_in_the_list() {
    // `arm` and `ARMS` come from one exhaustive list (`arms!`); what is left to check is that
    // no two arms share a name and that a name is the arm its step takes.
    let mut names: Vec<&str> = Step::ARMS.to_vec();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Step::ARMS.len(), "a name is listed twice");
    assert_eq!(Step::StartAttempt(AwaitingApproval).arm(), "StartAttempt(awaiting_approval)");
    assert_eq!(Step::Repair(RepairOf::Timeout).arm(), "Repair(timeout)");
}
