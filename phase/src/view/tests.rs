//! The shapes scripts read, and the order and times people read.

use devflow_core::{PhaseState, RunState};
use devflow_db::{EventRow, PhaseRow, RunRow};
use serde_json::json;

use super::time::{age, duration};
use super::*;

fn run(id: &str, state: RunState, created_at: i64) -> RunRow {
    RunRow {
        id: id.into(),
        workflow: "w".into(),
        state,
        current_phase_id: None,
        paused_from_state: None,
        worktree: "/wt".into(),
        definition: json!({}),
        lease_owner: None,
        lease_expires_at: None,
        lease_epoch: 0,
        submitted_at: None,
        agent_host: None,
        lease_takeovers: 0,
        created_at,
        updated_at: created_at,
        ended_at: None,
    }
}

fn phase(key: &str, state: PhaseState) -> PhaseRow {
    PhaseRow {
        id: format!("id-{key}"),
        run_id: "r".into(),
        phase_key: key.into(),
        ordinal: 0,
        state,
        attempts: 1,
        started_at: None,
        ended_at: None,
        artifact_id: None,
    }
}

#[test]
fn runs_waiting_for_a_person_come_first_then_the_newest() {
    let mut runs = [
        run("old-done", RunState::Completed, 1),
        run("new-running", RunState::Executing, 5),
        run("old-gate", RunState::AwaitingApproval, 2),
        run("paused", RunState::Paused, 3),
    ];
    runs.sort_by_key(attention_order);
    let ids: Vec<&str> = runs.iter().map(|run| run.id.as_str()).collect();
    assert_eq!(ids, ["paused", "old-gate", "new-running", "old-done"]);
}

#[test]
fn the_summary_and_the_event_line_keep_their_keys() {
    let phases = [phase("plan", PhaseState::Completed), phase("build", PhaseState::Running)];
    let summary = run_summary_json(&run("r", RunState::Executing, 7), &phases);
    assert_eq!(summary["current_phase"], "build");
    assert_eq!(summary["created_at"], 7);
    let event = EventRow {
        id: 3,
        run_id: "r".into(),
        phase_id: Some("id-plan".into()),
        kind: "phase.started".into(),
        payload: json!({"attempt": 1}),
        idempotency_key: "k".into(),
        created_at: 9,
    };
    let line = event_json(&event, &phase_keys(&phases));
    let expected = json!({"id": 3, "type": "phase.started", "phase_key": "plan", "idempotency_key": "k", "payload": {"attempt": 1}, "created_at": 9});
    assert_eq!(line, expected);
}

#[test]
fn ages_and_durations_read_as_people_say_them() {
    let now = 10_000_000_000;
    assert_eq!(age(now, now - 1_000), "just now");
    assert_eq!(age(now, now - 42_000), "42 s ago");
    assert_eq!(age(now, now - 3 * 60_000 - 5_000), "3 min ago");
    assert_eq!(age(now, now - 2 * 3_600_000), "2 h ago");
    assert_eq!(age(now, now - 86_400_000), "1 day ago");
    assert_eq!(age(now, now - 5 * 86_400_000), "5 days ago");
    assert_eq!(age(now, now + 60_000), "just now");
    assert_eq!(duration(850), "850 ms");
    assert_eq!(duration(12_340), "12.3 s");
    assert_eq!(duration(245_000), "4 min 05 s");
    assert_eq!(duration(2 * 3_600_000 + 7 * 60_000), "2 h 07 min");
    assert_eq!(time::local(0).len(), "1970-01-01 00:00:00".len());
}
