//! The timeline read off event logs the runner writes: attempts, a repair, a gate wait, marks.

use devflow_core::{PhaseState, RunState};
use devflow_db::{EventRow, PhaseRow, RunRow};
use devflow_phase::event::RunCreated;
use serde::Serialize;
use serde_json::json;

use super::*;

fn run(state: RunState, ended_at: Option<i64>) -> RunRow {
    RunRow {
        id: "r".into(),
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
        created_at: 1_000,
        updated_at: 1_000,
        ended_at,
    }
}

fn phase(key: &str, ordinal: i32, state: PhaseState) -> PhaseRow {
    PhaseRow {
        id: format!("p-{key}"),
        run_id: "r".into(),
        phase_key: key.into(),
        ordinal,
        state,
        attempts: 1,
        started_at: None,
        ended_at: None,
        artifact_id: None,
    }
}

/// An event as the runner writes it: `payload` is its kind's struct.
fn event(id: i64, at: i64, phase: Option<&str>, kind: &str, payload: impl Serialize) -> EventRow {
    EventRow {
        id,
        run_id: "r".into(),
        phase_id: phase.map(|key| format!("p-{key}")),
        kind: kind.into(),
        payload: serde_json::to_value(payload).unwrap(),
        idempotency_key: format!("k{id}"),
        created_at: at,
    }
}

fn started(attempt: u32, repair: bool) -> PhaseStarted {
    let repair = repair.then_some(true);
    PhaseStarted {
        phase_key: "p".into(),
        attempt,
        repair,
        problems: None,
        reason: None,
        restart: None,
    }
}

fn failed(reason: &str) -> PhaseFailed {
    PhaseFailed { phase_key: "p".into(), attempt: 1, reason: reason.into() }
}

fn requested(gate_key: &str) -> ApprovalRequested {
    ApprovalRequested {
        approval_request_id: "a1".into(),
        approval_idempotency_key: "ak1".into(),
        gate_key: gate_key.into(),
    }
}

fn checked() -> devflow_phase::event::ArtifactChecked {
    devflow_phase::event::ArtifactChecked {
        artifact_id: "art".into(),
        hash: "h".into(),
        path: "out/p.json".into(),
        schema_id: "s".into(),
        errors: Some(Vec::new()),
    }
}

fn created() -> RunCreated {
    RunCreated { workflow: "w".into(), phases: vec!["plan".into()], worktree: "/wt".into() }
}

fn completed(attempt: u32) -> devflow_phase::event::PhaseCompleted {
    devflow_phase::event::PhaseCompleted { phase_key: "p".into(), attempt, approved_by: None }
}

fn timeout(session_state: &str) -> ArtifactTimeout {
    ArtifactTimeout {
        path: "out/p.json".into(),
        schema_id: "s".into(),
        attempt: 1,
        session_state: session_state.into(),
    }
}

fn recovery() -> devflow_phase::event::SessionRecovery {
    devflow_phase::event::SessionRecovery {
        session_id: "s1".into(),
        role_id: "planner".into(),
        recovery_attempts: 1,
    }
}

#[test]
fn attempts_a_repair_a_gate_wait_and_marks_come_from_the_events() {
    let phases = [phase("plan", 0, PhaseState::Completed), phase("build", 1, PhaseState::Running)];
    let events = [
        event(1, 1_000, None, kind::RUN_CREATED, created()),
        event(2, 1_100, Some("plan"), kind::PHASE_STARTED, started(1, false)),
        event(3, 2_000, Some("plan"), kind::ARTIFACT_INVALID, checked()),
        event(4, 2_100, Some("plan"), kind::PHASE_STARTED, started(2, true)),
        event(5, 3_000, Some("plan"), kind::APPROVAL_REQUESTED, requested("plan_review")),
        event(
            6,
            5_000,
            Some("plan"),
            kind::APPROVAL_DECIDED,
            ApprovalDecided {
                approval_request_id: "a1".into(),
                gate_key: "plan_review".into(),
                decision: "approved".into(),
                decided_by: "ann".into(),
                note: Some("ok".into()),
            },
        ),
        event(7, 5_000, Some("plan"), kind::PHASE_COMPLETED, completed(2)),
        event(8, 5_100, Some("build"), kind::PHASE_STARTED, started(1, false)),
        event(9, 6_000, Some("build"), kind::ARTIFACT_TIMEOUT, timeout("HUNG")),
        event(10, 6_100, Some("build"), kind::SESSION_RECOVERED, recovery()),
    ];
    let timeline = Timeline::build(&run(RunState::Executing, None), &phases, &events, 7_000);
    assert_eq!((timeline.start_ms, timeline.end_ms), (1_000, 7_000));
    let plan = &timeline.rows[0];
    let bars: Vec<(BarKind, i64, i64, &str)> =
        plan.bars.iter().map(|b| (b.kind, b.start_ms, b.end_ms, b.outcome.as_str())).collect();
    assert_eq!(
        bars,
        [
            (BarKind::Attempt, 1_100, 2_100, "superseded by the next attempt"),
            (BarKind::Repair, 2_100, 3_000, "at gate plan_review"),
            (BarKind::Gate, 3_000, 5_000, "approved by ann: ok"),
        ]
    );
    let marks: Vec<MarkKind> = plan.marks.iter().map(|m| m.kind).collect();
    assert_eq!(marks, [MarkKind::Invalid, MarkKind::Gate]);
    let build = &timeline.rows[1];
    assert_eq!(build.bars.len(), 1);
    assert!(build.bars[0].open && build.bars[0].end_ms == 7_000, "a running attempt reaches now");
    let marks: Vec<MarkKind> = build.marks.iter().map(|m| m.kind).collect();
    assert_eq!(marks, [MarkKind::Timeout, MarkKind::Recovered]);
}

#[test]
fn a_human_gate_pauses_on_its_phase_and_an_ended_run_closes_every_bar() {
    let phases = [phase("plan", 0, PhaseState::Failed), phase("build", 1, PhaseState::Pending)];
    let events = [
        event(1, 1_100, Some("plan"), kind::PHASE_STARTED, started(1, false)),
        event(2, 2_000, Some("plan"), kind::PHASE_FAILED, failed("no artifact")),
        event(
            3,
            2_000,
            None,
            kind::RUN_PAUSED,
            RunPaused {
                cause: "human_required:artifact_timeout_exhausted:p-plan:2".into(),
                paused_from_state: "executing".into(),
            },
        ),
        event(
            4,
            2_000,
            Some("plan"),
            kind::APPROVAL_REQUESTED,
            requested("artifact_timeout_exhausted"),
        ),
    ];
    let ended = Timeline::build(&run(RunState::Aborted, Some(9_000)), &phases, &events, 99_000);
    assert_eq!(ended.end_ms, 9_000);
    let plan = &ended.rows[0];
    assert_eq!(plan.bars[0].outcome, "failed: no artifact");
    assert_eq!((plan.bars[1].kind, plan.bars[1].open), (BarKind::Gate, false));
    assert_eq!(plan.bars[1].outcome, "run aborted");
    assert!(plan.marks.iter().any(|m| m.kind == MarkKind::Paused));
    assert!(ended.rows[1].bars.is_empty(), "a phase that never started has an empty row");
}

#[test]
fn the_drawing_escapes_what_it_shows() {
    let hostile = "<script>alert(1)</script>";
    let phases = [phase(hostile, 0, PhaseState::Running)];
    let events = [
        event(1, 1_100, Some(hostile), kind::PHASE_STARTED, started(1, false)),
        event(
            2,
            1_500,
            Some(hostile),
            kind::PHASE_FAILED,
            failed("\"><img src=x onerror=alert(1)>"),
        ),
    ];
    let timeline = Timeline::build(&run(RunState::Executing, None), &phases, &events, 2_000);
    let drawn = svg_document(&timeline);
    assert!(!drawn.contains("<script>") && !drawn.contains("<img"), "{drawn}");
    assert!(drawn.contains("&lt;script&gt;"), "{drawn}");
    assert!(drawn.starts_with("<?xml") && drawn.contains("class=\"bar failed\""), "{drawn}");
}

#[test]
fn an_event_of_another_shape_is_drawn_without_its_details() {
    let phases = [phase("plan", 0, PhaseState::Running)];
    let events = [
        event(1, 1_100, Some("plan"), kind::PHASE_STARTED, json!({"attempt": "one"})),
        event(2, 1_500, Some("plan"), kind::PHASE_FAILED, json!({})),
    ];
    let timeline = Timeline::build(&run(RunState::Executing, None), &phases, &events, 2_000);
    let bars = &timeline.rows[0].bars;
    assert_eq!((bars.len(), bars[0].attempt, bars[0].outcome.as_str()), (1, 0, "failed: "));
}
