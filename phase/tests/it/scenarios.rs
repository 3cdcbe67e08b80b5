//! Every branch of the reference runner as a scenario of the fake agent, on every backend,
//! asserting the final rows and the exact event sequence.

use std::time::Duration;

use devflow_core::{Code, PhaseState, RunState, SessionState};
use devflow_phase::Ending;
use tokio_util::sync::CancellationToken;

use crate::support::{Harness, VALID_PLAN, harnesses, types};

const START: &[&str] = &[
    "phase.started",
    "session.created",
    "session.ready",
    "session.busy",
    "prompt.sent",
    "artifact.expected",
];

fn with(prefix: &[&str], rest: &[&str]) -> Vec<String> {
    types(&[prefix, rest].concat())
}

/// Every prompt recorded in the log reached the fake agent exactly once.
async fn assert_each_prompt_delivered_once(h: &Harness) {
    let events = h.events().await;
    let prompts: Vec<_> = events.iter().filter(|event| event.kind.starts_with("prompt.")).collect();
    for event in &prompts {
        let dedup = event.payload["dedupKey"].as_str().unwrap();
        assert_eq!(h.fake.deliveries(dedup), 1, "{} on {}", event.kind, h.backend());
    }
    assert_eq!(h.fake.deliveries_total() as usize, prompts.len(), "on {}", h.backend());
}

#[tokio::test]
async fn ok_completes_the_phase_and_the_run() {
    for h in harnesses().await {
        let report = h.run(h.spec("plan", &format!("Scenario: ok\n{VALID_PLAN}"))).await.unwrap();
        assert_eq!(report.ending, Ending::Completed);
        assert_eq!(
            h.event_types().await,
            with(
                START,
                &["artifact.validated", "session.idle", "phase.completed", "run.completed"]
            ),
            "{}",
            h.backend()
        );
        assert_eq!(h.run_row().await.state, RunState::Completed);
        let phase = h.phase_row("plan").await;
        assert_eq!((phase.state, phase.attempts), (PhaseState::Completed, 1));
        assert_eq!(h.session_row().await.state, SessionState::Ready);
        assert!(report.transcript_seq > 0, "the transcript was captured");
        assert_each_prompt_delivered_once(&h).await;
    }
}

#[tokio::test]
async fn invalid_then_repaired_tells_the_agent_what_was_wrong() {
    for h in harnesses().await {
        h.run(h.spec("plan", &format!("Scenario: invalid\nRepair-Scenario: ok\n{VALID_PLAN}")))
            .await
            .unwrap();
        let repair = [
            "artifact.invalid",
            "session.idle",
            "phase.started",
            "session.busy",
            "prompt.repaired",
            "artifact.expected",
            "artifact.validated",
            "session.idle",
            "phase.completed",
            "run.completed",
        ];
        assert_eq!(h.event_types().await, with(START, &repair), "{}", h.backend());
        let events = h.events().await;
        let restarted = events.iter().filter(|event| event.kind == "phase.started").nth(1).unwrap();
        assert_eq!(restarted.payload["repair"], true);
        let problems = restarted.payload["problems"].as_array().unwrap();
        assert!(problems.iter().any(|p| p.as_str().unwrap().contains("title")), "{problems:?}");
        assert_eq!(h.phase_row("plan").await.attempts, 2);
        assert_each_prompt_delivered_once(&h).await;
    }
}

#[tokio::test]
async fn invalid_twice_stops_at_a_human_gate() {
    for h in harnesses().await {
        let error =
            h.run(h.spec("plan", "Scenario: invalid\nRepair-Scenario: invalid")).await.unwrap_err();
        assert_eq!(error.code(), Code::ArtifactInvalidAfterRepair, "{error}");
        // The repair wrote the same invalid bytes: `artifact.invalid:{phase}:{path}:{hash}` is the
        // reference's key, so the second check replays the first event instead of adding one.
        let types = h.event_types().await;
        let tail = [
            "prompt.repaired",
            "artifact.expected",
            "session.idle",
            "phase.failed",
            "run.paused",
            "session.failed",
            "approval.requested",
        ];
        assert_eq!(types[types.len() - tail.len()..], types_of(&tail), "{}", h.backend());
        assert_eq!(types.iter().filter(|kind| *kind == "artifact.invalid").count(), 1);
        assert_gate(&h, "artifact_invalid_after_repair").await;
        // The gate says what is wrong with the artifact, not only where it is.
        let approvals = h.approvals().await;
        let gate = &approvals.last().unwrap().payload;
        assert!(gate["problems"][0].as_str().unwrap().contains("title"), "{gate}");
        let hint = gate["recoveryHint"].as_str().unwrap();
        assert!(
            hint.contains("is still invalid: at the document") || hint.contains("title"),
            "{hint}"
        );
        assert!(hint.contains("devflow resume run-1"), "{hint}");
    }
}

#[tokio::test]
async fn malformed_json_is_an_invalid_artifact_and_gets_repaired() {
    for h in harnesses().await {
        h.run(h.spec("plan", &format!("Scenario: malformed\n{VALID_PLAN}"))).await.unwrap();
        let events = h.events().await;
        let invalid = events.iter().find(|event| event.kind == "artifact.invalid").unwrap();
        let message = invalid.payload["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("not valid JSON"), "{message}");
        assert_eq!(h.run_row().await.state, RunState::Completed);
    }
}

#[tokio::test]
async fn no_artifact_is_recovered_and_repaired() {
    for h in harnesses().await {
        h.run(h.spec("plan", &format!("Scenario: none\nRepair-Scenario: ok\n{VALID_PLAN}")))
            .await
            .unwrap();
        let recovery = [
            "artifact.timeout",
            "session.recovered",
            "phase.started",
            "session.busy",
            "prompt.repaired",
            "artifact.expected",
            "artifact.validated",
            "session.idle",
            "phase.completed",
            "session.ready",
            "run.completed",
        ];
        assert_eq!(h.event_types().await, with(START, &recovery), "{}", h.backend());
        let events = h.events().await;
        let timeout = events.iter().find(|event| event.kind == "artifact.timeout").unwrap();
        assert_eq!(timeout.payload["sessionState"], "ARTIFACT_TIMEOUT");
        let repair = events.iter().filter(|event| event.kind == "phase.started").nth(1).unwrap();
        assert_eq!(repair.payload["reason"], "artifact_timeout");
        assert!(repair.payload["problems"][0].as_str().unwrap().contains("no artifact appeared"));
        assert_eq!(h.session_row().await.recovery_attempts, 1);
        assert_each_prompt_delivered_once(&h).await;
    }
}

#[tokio::test]
async fn no_artifact_twice_stops_at_a_human_gate() {
    for h in harnesses().await {
        let error =
            h.run(h.spec("plan", "Scenario: none\nRepair-Scenario: none")).await.unwrap_err();
        assert_eq!(error.code(), Code::ArtifactTimeoutExhausted, "{error}");
        let types = h.event_types().await;
        assert_eq!(types.iter().filter(|kind| *kind == "artifact.timeout").count(), 2);
        assert_eq!(types.last().unwrap(), "approval.requested");
        assert_gate(&h, "artifact_timeout_exhausted").await;
    }
}

#[tokio::test]
async fn a_hung_agent_is_classified_hung_and_restarted() {
    for h in harnesses().await {
        h.run(h.spec("plan", &format!("Scenario: hang\nRepair-Scenario: ok\n{VALID_PLAN}")))
            .await
            .unwrap();
        let events = h.events().await;
        let timeout = events.iter().find(|event| event.kind == "artifact.timeout").unwrap();
        assert_eq!(timeout.payload["sessionState"], "HUNG", "{}", h.backend());
        assert!(events.iter().any(|event| event.kind == "session.recovered"));
        assert_eq!(h.run_row().await.state, RunState::Completed);
    }
}

#[tokio::test]
async fn a_crashed_agent_is_classified_crashed_and_restarted() {
    for h in harnesses().await {
        h.run(h.spec("plan", &format!("Scenario: crash\nRepair-Scenario: ok\n{VALID_PLAN}")))
            .await
            .unwrap();
        let types = h.event_types().await;
        let at = types.iter().position(|kind| kind == "artifact.timeout").unwrap();
        assert_eq!(
            types[at..at + 3],
            types_of(&["artifact.timeout", "session.crashed", "session.recovered"]),
            "{}",
            h.backend()
        );
        let events = h.events().await;
        assert_eq!(events[at].payload["sessionState"], "CRASHED");
        assert_eq!(
            h.session_row().await.recovery_attempts,
            2,
            "one for the crash, one for the recovery"
        );
        assert_eq!(h.run_row().await.state, RunState::Completed);
    }
}

#[tokio::test]
async fn recovery_failing_fatally_fails_the_run() {
    for h in harnesses().await {
        let error =
            h.run(h.spec("plan", "Scenario: none\nFail-Rebootstrap: fatal")).await.unwrap_err();
        assert_eq!(error.code(), Code::SessionBackendFailed, "{error}");
        assert_failed(&h, "artifact_timeout_recovery_failed").await;
    }
}

#[tokio::test]
async fn recovery_failing_recoverably_past_its_budget_stops_at_a_gate() {
    for h in harnesses().await {
        let error = h
            .run(h.spec("plan", "Scenario: none\nFail-Rebootstrap: recoverable 9"))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::ArtifactTimeoutExhausted, "{error}");
        assert_gate(&h, "artifact_timeout_exhausted").await;
        let failed =
            h.events().await.into_iter().find(|event| event.kind == "phase.failed").unwrap();
        assert_eq!(failed.payload["reason"], "artifact_timeout_recovery_failed");
    }
}

#[tokio::test]
async fn a_probe_failing_recoverably_classifies_as_timeout() {
    for h in harnesses().await {
        h.run(h.spec(
            "plan",
            &format!(
                "Scenario: none\nRepair-Scenario: ok\nFail-Probe: recoverable 1\n{VALID_PLAN}"
            ),
        ))
        .await
        .unwrap();
        let timeout =
            h.events().await.into_iter().find(|event| event.kind == "artifact.timeout").unwrap();
        assert_eq!(timeout.payload["sessionState"], "ARTIFACT_TIMEOUT");
        assert_eq!(h.run_row().await.state, RunState::Completed);
    }
}

#[tokio::test]
async fn a_probe_failing_fatally_fails_the_run() {
    for h in harnesses().await {
        let error = h.run(h.spec("plan", "Scenario: none\nFail-Probe: fatal")).await.unwrap_err();
        assert_eq!(error.code(), Code::SessionBackendFailed, "{error}");
        assert_failed(&h, "artifact_validation_failed").await;
    }
}

#[tokio::test]
async fn a_send_failing_recoverably_within_budget_is_retried_and_delivered_once() {
    for h in harnesses().await {
        h.run(h.spec("plan", &format!("Scenario: ok\nFail-Send: recoverable 2\n{VALID_PLAN}")))
            .await
            .unwrap();
        assert_eq!(h.run_row().await.state, RunState::Completed);
        assert_each_prompt_delivered_once(&h).await;
    }
}

#[tokio::test]
async fn a_send_failing_recoverably_past_its_budget_stops_at_a_gate() {
    for h in harnesses().await {
        let error =
            h.run(h.spec("plan", "Scenario: ok\nFail-Send: recoverable 9")).await.unwrap_err();
        assert_eq!(error.code(), Code::PromptSendExhausted, "{error}");
        let expected = [
            "phase.started",
            "session.created",
            "session.ready",
            "session.busy",
            "phase.failed",
            "run.paused",
            "session.crashed",
            "session.failed",
            "approval.requested",
        ];
        assert_eq!(h.event_types().await, types_of(&expected), "{}", h.backend());
        assert_gate(&h, "prompt_send_exhausted").await;
        assert_eq!(h.fake.deliveries_total(), 0);
    }
}

#[tokio::test]
async fn a_send_failing_fatally_fails_the_run() {
    for h in harnesses().await {
        let error = h.run(h.spec("plan", "Scenario: ok\nFail-Send: fatal")).await.unwrap_err();
        assert_eq!(error.code(), Code::SessionBackendFailed);
        let expected = [
            "phase.started",
            "session.created",
            "session.ready",
            "session.busy",
            "phase.failed",
            "run.failed",
            "session.failed",
        ];
        assert_eq!(h.event_types().await, types_of(&expected), "{}", h.backend());
        assert_failed(&h, "prompt_send_failed").await;
    }
}

#[tokio::test]
async fn a_session_start_failing_recoverably_stops_at_a_gate() {
    for h in harnesses().await {
        let error =
            h.run(h.spec("plan", "Scenario: ok\nFail-Start: recoverable 1")).await.unwrap_err();
        assert_eq!(error.code(), Code::PromptSendExhausted, "{error}");
        let expected =
            ["phase.started", "phase.failed", "run.paused", "session.failed", "approval.requested"];
        assert_eq!(h.event_types().await, types_of(&expected), "{}", h.backend());
        assert_gate(&h, "prompt_send_exhausted").await;
    }
}

#[tokio::test]
async fn a_session_start_failing_fatally_fails_the_run() {
    for h in harnesses().await {
        let error = h.run(h.spec("plan", "Scenario: ok\nFail-Start: fatal")).await.unwrap_err();
        assert_eq!(error.code(), Code::SessionBackendFailed);
        assert_eq!(
            h.event_types().await,
            types_of(&["phase.started", "phase.failed", "run.failed", "session.failed"])
        );
        assert_eq!(h.session_row().await.state, SessionState::FailedNeedsHuman);
        assert_eq!(h.run_row().await.state, RunState::Failed);
    }
}

/// Runs `plan` (not terminal) with an agent whose resume fails as `failure` says, then
/// `review`, which must re-adopt that agent: the review's error. Either way the review's phase
/// fails with `session_resume_failed` and the session is left to a person.
async fn review_resuming_a_session_that_fails(h: &Harness, failure: &str) -> devflow_core::Error {
    let plan = h.spec("plan", &format!("Scenario: ok\nFail-Resume: {failure}\n{VALID_PLAN}"));
    h.run(devflow_phase::PhaseSpec { run_end: devflow_phase::RunEnd::WithTheLastPhase, ..plan })
        .await
        .unwrap();
    let error = h.run(h.spec("review", &format!("Scenario: ok\n{VALID_PLAN}"))).await.unwrap_err();
    let failed = h.events().await.into_iter().find(|event| event.kind == "phase.failed").unwrap();
    assert_eq!(failed.payload["reason"], "session_resume_failed", "{}", h.backend());
    assert_eq!(h.session_row().await.state, SessionState::FailedNeedsHuman);
    error
}

#[tokio::test]
async fn a_later_phase_reuses_the_session_and_a_failing_resume_stops_at_a_gate() {
    for h in harnesses().await {
        let error = review_resuming_a_session_that_fails(&h, "recoverable 9").await;
        assert_eq!(error.code(), Code::PromptSendExhausted, "{error}");
        assert_eq!(h.run_row().await.state, RunState::Paused);
    }
}

#[tokio::test]
async fn a_resume_failing_fatally_fails_the_run() {
    for h in harnesses().await {
        let error = review_resuming_a_session_that_fails(&h, "fatal").await;
        assert_eq!(error.code(), Code::SessionBackendFailed, "{error}");
        assert_eq!(h.run_row().await.state, RunState::Failed);
    }
}

#[tokio::test]
async fn a_later_phase_reuses_the_same_agent() {
    for h in harnesses().await {
        let plan = h.spec("plan", &format!("Scenario: ok\n{VALID_PLAN}"));
        h.run(devflow_phase::PhaseSpec {
            run_end: devflow_phase::RunEnd::WithTheLastPhase,
            ..plan
        })
        .await
        .unwrap();
        assert_eq!(
            h.run_row().await.state,
            RunState::Executing,
            "a non-terminal phase leaves the run executing"
        );
        h.run(h.spec("review", &format!("Scenario: ok\n{VALID_PLAN}"))).await.unwrap();
        let types = h.event_types().await;
        assert_eq!(types.iter().filter(|kind| *kind == "session.created").count(), 1, "{types:?}");
        assert_eq!(types.iter().filter(|kind| *kind == "session.ready").count(), 2, "{types:?}");
        assert_eq!(h.run_row().await.state, RunState::Completed);
    }
}

/// Runs a slow phase and moves its run to `state` while the phase waits for its artifact: the
/// phase's error, and the event types the run had when it left executing.
async fn leave_executing_mid_phase(
    h: &Harness,
    state: RunState,
) -> (devflow_core::Error, Vec<String>) {
    // The first of the slow writer's chunks comes a second after the prompt: time enough for
    // the run to leave executing first, even on a loaded machine.
    let mut spec = h.spec("plan", &format!("Scenario: slow\nSlow-Ms: 3000\n{VALID_PLAN}"));
    spec.wait.timeout_ms = 10_000;
    let runner = h.runner();
    let phase = tokio::spawn(async move { runner.run(spec, CancellationToken::new()).await });
    wait_for_busy(h).await;
    let paused_from = (state == RunState::Paused).then_some(RunState::Executing);
    h.db.step("run-1", move |tx, _run| {
        Box::pin(async move { tx.set_run_state("run-1", state, None, paused_from).await })
    })
    .await
    .unwrap();
    let before = h.event_types().await;
    (phase.await.unwrap().unwrap_err(), before)
}

#[tokio::test]
async fn a_run_paused_mid_phase_is_run_state_changed() {
    for h in harnesses().await {
        let (error, _) = leave_executing_mid_phase(&h, RunState::Paused).await;
        assert_eq!(error.code(), Code::RunStateChanged, "{error}");
        assert_eq!(error.recovery_hint(), Some("run_state=paused"));
        assert!(!h.event_types().await.contains(&"artifact.validated".to_owned()));
    }
}

#[tokio::test]
async fn a_run_aborted_mid_phase_is_run_state_changed_and_changes_nothing_more() {
    for h in harnesses().await {
        let (error, before) = leave_executing_mid_phase(&h, RunState::Aborted).await;
        assert_eq!(error.code(), Code::RunStateChanged, "{error}");
        assert_eq!(error.recovery_hint(), Some("run_state=aborted"), "{}", h.backend());
        assert_eq!(h.event_types().await, before, "an aborted run's phase records nothing more");
        assert_eq!(h.phase_row("plan").await.state, PhaseState::AwaitingArtifact);
    }
}

#[tokio::test]
async fn cancellation_stops_the_wait_and_leaves_the_phase_reentrant() {
    for h in harnesses().await {
        let mut spec = h.spec("plan", "Scenario: none");
        spec.wait.timeout_ms = 30_000;
        let (runner, cancel) = (h.runner(), CancellationToken::new());
        let token = cancel.clone();
        let phase = tokio::spawn(async move { runner.run(spec, token).await });
        wait_for_busy(&h).await;
        cancel.cancel();
        let error = phase.await.unwrap().unwrap_err();
        assert_eq!(error.code(), Code::ActivityCancelled, "{error}");
        assert_eq!(h.phase_row("plan").await.state, PhaseState::AwaitingArtifact);
    }
}

#[tokio::test]
async fn a_workflow_approval_gate_waits_for_approval() {
    for h in harnesses().await {
        let report = h
            .run(h.gated("plan", &format!("Scenario: ok\n{VALID_PLAN}"), "plan_review"))
            .await
            .unwrap();
        assert_eq!(report.ending, Ending::AwaitingApproval);
        assert_eq!(
            h.event_types().await,
            with(START, &["artifact.validated", "approval.requested"]),
            "{}",
            h.backend()
        );
        assert_eq!(h.run_row().await.state, RunState::AwaitingApproval);
        assert_eq!(h.phase_row("plan").await.state, PhaseState::AwaitingApproval);
        assert_eq!(h.session_row().await.state, SessionState::WaitingForApproval);
        let approvals = h.approvals().await;
        assert_eq!(approvals.len(), 1);
        assert_eq!(approvals[0].gate_key, "plan_review");
        assert_eq!(approvals[0].payload["artifactId"], report.artifact_id.as_str());
    }
}

#[tokio::test]
async fn an_artifact_path_escaping_the_worktree_is_refused_before_any_write() {
    for h in harnesses().await {
        let spec = devflow_phase::PhaseSpec {
            artifact_path: "../escape.json".into(),
            ..h.spec("plan", "Scenario: ok")
        };
        let error = h.run(spec).await.unwrap_err();
        assert_eq!(error.code(), Code::ArtifactOutsideWorktree, "{error}");
        assert!(error.message().contains("outside the worktree"), "{error}");
        assert!(h.events().await.is_empty());
        assert_eq!(h.phase_row("plan").await.state, PhaseState::Pending);
    }
}

#[tokio::test]
async fn a_symlink_artifact_pointing_out_of_the_worktree_is_invalid_and_never_read() {
    for h in harnesses().await {
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(outside.path(), br#"{"title": "secret", "steps": []}"#).unwrap();
        std::fs::create_dir_all(h.artifact().parent().unwrap()).unwrap();
        let mut spec = h.spec("plan", "Scenario: none\nRepair-Scenario: none");
        spec.wait.timeout_ms = 5_000;
        let runner = h.runner();
        let phase = tokio::spawn(async move { runner.run(spec, CancellationToken::new()).await });
        wait_for_busy(&h).await;
        std::os::unix::fs::symlink(outside.path(), h.artifact()).unwrap();
        let _ = phase.await.unwrap();
        let invalid =
            h.events().await.into_iter().find(|event| event.kind == "artifact.invalid").unwrap();
        let message = invalid.payload["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("outside the worktree"), "{message}");
    }
}

#[tokio::test]
async fn an_oversized_artifact_is_invalid_without_being_read_whole() {
    for h in harnesses().await {
        let mut spec = h.spec("plan", "Scenario: none\nRepair-Scenario: none");
        spec.wait.max_artifact_bytes = 1024;
        spec.wait.timeout_ms = 5_000;
        let runner = h.runner();
        let phase = tokio::spawn(async move { runner.run(spec, CancellationToken::new()).await });
        wait_for_busy(&h).await;
        // The folder first, as an agent makes it: the wait makes it only once it watches,
        // which under load can come after this write.
        std::fs::create_dir_all(h.artifact().parent().unwrap()).unwrap();
        // Written whole and renamed into place: with stable_ms 0 the wait may otherwise read
        // the file between its creation and its bytes, and see an empty (invalid) artifact.
        let partial = h.artifact().with_extension("partial");
        std::fs::write(&partial, vec![b' '; 4096]).unwrap();
        std::fs::rename(&partial, h.artifact()).unwrap();
        let _ = phase.await.unwrap();
        let invalid =
            h.events().await.into_iter().find(|event| event.kind == "artifact.invalid").unwrap();
        let message = invalid.payload["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("over the limit of 1024 bytes"), "{message}");
    }
}

/// The gate left behind: phase failed, run paused, session failed, one pending request.
async fn assert_gate(h: &Harness, gate_key: &str) {
    let run = h.run_row().await;
    assert_eq!(run.state, RunState::Paused, "{}", h.backend());
    assert_eq!(run.paused_from_state, Some(RunState::Executing));
    assert_eq!(h.phase_row("plan").await.state, PhaseState::Failed);
    let approvals = h.approvals().await;
    let gate = approvals
        .iter()
        .find(|request| request.gate_key == gate_key)
        .unwrap_or_else(|| panic!("{approvals:?}"));
    assert_eq!(gate.state, devflow_db::ApprovalState::Pending);
    assert!(
        gate.payload["recoveryHint"].as_str().is_some_and(|hint| !hint.is_empty()),
        "{:?}",
        gate.payload
    );
}

async fn assert_failed(h: &Harness, reason: &str) {
    assert_eq!(h.run_row().await.state, RunState::Failed, "{}", h.backend());
    let failed = h.events().await.into_iter().find(|event| event.kind == "phase.failed").unwrap();
    assert_eq!(failed.payload["reason"], reason);
    assert!(h.event_types().await.contains(&"run.failed".to_owned()));
}

async fn wait_for_busy(h: &Harness) {
    for _ in 0..500 {
        let busy = h.event_types().await.iter().any(|kind| kind == "artifact.expected");
        if busy {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the phase never started waiting");
}

fn types_of(list: &[&str]) -> Vec<String> {
    types(list)
}

#[tokio::test]
async fn resume_after_a_gate_retries_the_phase_with_a_fresh_agent() {
    for h in harnesses().await {
        h.run(h.spec("plan", "Scenario: invalid\nRepair-Scenario: invalid")).await.unwrap_err();
        h.reactivate().await;
        let spec = devflow_phase::PhaseSpec {
            restart: Some(devflow_phase::Restart::AfterGate),
            ..h.spec("plan", &format!("Scenario: ok\n{VALID_PLAN}"))
        };
        h.run(spec).await.unwrap();
        let events = h.events().await;
        let restarted = events.iter().filter(|event| event.kind == "phase.started").nth(2).unwrap();
        assert_eq!(restarted.payload["restart"], "after_gate", "{}", h.backend());
        assert_eq!(restarted.payload["attempt"], 3);
        assert_eq!(
            events.iter().filter(|event| event.kind == "session.created").count(),
            2,
            "a fresh agent"
        );
        assert_eq!(h.run_row().await.state, RunState::Completed);
        assert_eq!(h.session_row().await.recovery_attempts, 1);
    }
}

#[tokio::test]
async fn a_rejected_phase_goes_back_to_the_same_agent() {
    for h in harnesses().await {
        h.run(h.gated("plan", &format!("Scenario: ok\n{VALID_PLAN}"), "plan_review"))
            .await
            .unwrap();
        h.reactivate().await;
        let spec = devflow_phase::PhaseSpec {
            restart: Some(devflow_phase::Restart::Rejected),
            ..h.spec("plan", &format!("Scenario: ok\nReviewer note: add a step\n{VALID_PLAN}"))
        };
        h.run(spec).await.unwrap();
        let types = h.event_types().await;
        assert_eq!(types.iter().filter(|kind| *kind == "session.created").count(), 1, "{types:?}");
        assert_eq!(types.iter().filter(|kind| *kind == "prompt.sent").count(), 2, "{types:?}");
        assert_eq!(h.phase_row("plan").await.attempts, 2);
        assert_eq!(h.run_row().await.state, RunState::Completed);
        assert_each_prompt_delivered_once(&h).await;
    }
}

#[tokio::test]
async fn resume_after_a_gate_uses_an_artifact_a_person_wrote() {
    for h in harnesses().await {
        h.run(h.spec("plan", "Scenario: none\nRepair-Scenario: none")).await.unwrap_err();
        h.reactivate().await;
        std::fs::write(h.artifact(), br#"{"title": "by hand", "steps": []}"#).unwrap();
        let delivered = h.fake.deliveries_total();
        let spec = devflow_phase::PhaseSpec {
            restart: Some(devflow_phase::Restart::AfterGate),
            ..h.spec("plan", "Scenario: none\nRepair-Scenario: none")
        };
        let report = h.run(spec).await.unwrap();
        assert_eq!(report.ending, Ending::Completed, "{}", h.backend());
        let types = h.event_types().await;
        assert_eq!(
            types[types.len() - 4..],
            types_of(&["phase.started", "artifact.validated", "phase.completed", "run.completed"])
        );
        assert_eq!(h.fake.deliveries_total(), delivered, "no agent was asked");
        assert_eq!(
            h.session_row().await.state,
            SessionState::FailedNeedsHuman,
            "the failed agent stays failed"
        );
    }
}

/// Issue 12: a dialog on the agent's screen stops delivery before anything is pasted, at a gate
/// that keeps the agent for the person who answers it; `resume` delivers to that same agent.
#[tokio::test]
async fn a_dialog_stops_delivery_at_a_gate_that_keeps_the_agent_for_resume() {
    for h in harnesses().await {
        let instructions = format!("Scenario: ok\nFail-Send: needs-input 1\n{VALID_PLAN}");
        let error = h.run(h.spec("plan", &instructions)).await.unwrap_err();
        assert_eq!(error.code(), Code::AgentNeedsInput, "{}: {error}", h.backend());
        assert_gate(&h, "agent_needs_input").await;
        assert_eq!(h.fake.deliveries_total(), 0, "nothing was pasted");
        let types = h.event_types().await;
        assert!(!types.iter().any(|kind| kind.starts_with("prompt.")), "{types:?}");
        assert_ne!(
            h.session_row().await.state,
            SessionState::FailedNeedsHuman,
            "the agent is kept"
        );

        h.reactivate().await;
        h.run(h.restarted("plan", &instructions, devflow_phase::Restart::AfterGate)).await.unwrap();
        let types = h.event_types().await;
        assert_eq!(types.iter().filter(|kind| *kind == "session.created").count(), 1, "{types:?}");
        assert_eq!(h.run_row().await.state, RunState::Completed);
        assert_each_prompt_delivered_once(&h).await;
    }
}

/// Issue 12: a prompt the terminal says was pasted but not taken is submitted, not pasted again;
/// one it cannot tell about stops at a gate and is never sent twice.
#[tokio::test]
async fn a_delivery_that_cannot_be_verified_is_never_pasted_twice() {
    for h in harnesses().await {
        let pending = format!("Scenario: ok\nFail-Send: unverified\n{VALID_PLAN}");
        let error = h.run(h.spec("plan", &pending)).await.unwrap_err();
        assert_eq!(error.code(), Code::PromptDeliveryUnverified, "{}: {error}", h.backend());
        assert_gate(&h, "prompt_delivery_unverified").await;
        assert!(!h.event_types().await.iter().any(|kind| kind == "prompt.sent"));
        for kind in h.event_types().await {
            assert!(!kind.starts_with("prompt."), "no prompt recorded that was not verified");
        }
        let pastes: u32 = h
            .events()
            .await
            .iter()
            .filter(|event| event.kind == "session.busy")
            .map(|event| h.fake.pastes(event.payload["dedupKey"].as_str().unwrap()))
            .sum();
        assert_eq!(pastes, 1, "{}: pasted once", h.backend());
    }
}
