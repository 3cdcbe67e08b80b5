//! The log's shapes: each payload as the log has always held it, and read back as its struct.

use std::sync::Arc;

use devflow_core::{RunState, Schema, SessionState, Validation, ValidationIssue};
use devflow_db::{ArtifactRow, EventRow};
use serde_json::{Value, json};

use super::*;
use crate::runner::{Phase, Restart};

fn phase() -> Phase {
    let dir = tempfile::tempdir().unwrap().keep();
    let schema = Arc::new(Schema::compile("plan.schema.json", &json!({"type": "object"})).unwrap());
    let spec = crate::testing::fake_phase("run-1", "plan", &dir, &schema, "Plan it.");
    Phase::resolve(spec).unwrap()
}

fn stored(event: &Event) -> EventRow {
    EventRow {
        id: 1,
        run_id: event.run_id.clone(),
        phase_id: event.phase_id.clone(),
        kind: event.kind.to_owned(),
        payload: event.payload.clone(),
        idempotency_key: event.key.clone(),
        created_at: 0,
    }
}

#[test]
fn an_attempt_starts_with_its_repair_and_restart_only_when_it_has_them() {
    let phase = phase();
    let first = Event::phase_started(&phase, 1, Start::default());
    assert_eq!((first.kind, first.key.as_str()), ("phase.started", "phase.started:phase-plan:1"));
    assert_eq!(first.payload, json!({ "phaseKey": "plan", "attempt": 1 }));
    let repair = Start {
        repair: true,
        problems: Some(vec!["at /title: missing".into()]),
        reason: Some("artifact_timeout"),
        restart: None,
    };
    let repair = Event::phase_started(&phase, 2, repair);
    let expected = json!({
        "phaseKey": "plan", "attempt": 2, "repair": true,
        "problems": ["at /title: missing"], "reason": "artifact_timeout",
    });
    assert_eq!(repair.payload, expected);
    let back: PhaseStarted = read(&stored(&repair)).unwrap();
    assert_eq!((back.repair, back.problems.unwrap().len()), (Some(true), 1));
    let restart = Start { restart: Some(Restart::AfterGate), ..Start::default() };
    let restart = Event::phase_started(&phase, 3, restart);
    assert_eq!(restart.payload["restart"], "after_gate");
    let back: PhaseStarted = read(&stored(&restart)).unwrap();
    assert_eq!(back.restart, Some(Restart::AfterGate));
}

#[test]
fn an_invalid_artifact_carries_its_errors_and_a_valid_one_none() {
    let phase = phase();
    let row = ArtifactRow {
        id: "a-1".into(),
        run_id: "run-1".into(),
        phase_id: "phase-plan".into(),
        path: phase.artifact.clone(),
        schema_id: "plan.schema.json".into(),
        hash: "h".into(),
        valid: false,
        validation_error: Value::Null,
        created_at: 0,
    };
    let issue = ValidationIssue::of_document("not JSON".into());
    let invalid = Event::artifact_checked(&phase, &row, &Validation::Invalid(vec![issue]));
    assert_eq!(invalid.kind, "artifact.invalid");
    assert_eq!(invalid.key, format!("artifact.invalid:phase-plan:{}:h", phase.artifact));
    assert_eq!(invalid.payload["errors"][0]["message"], "not JSON");
    let valid = Event::artifact_checked(&phase, &row, &Validation::Valid);
    assert_eq!(valid.kind, "artifact.validated");
    assert!(valid.payload.get("errors").is_none(), "{}", valid.payload);
}

#[test]
fn keys_that_recur_in_a_run_carry_what_makes_them_unique() {
    let phase = phase();
    assert_eq!(Event::session_ready(&phase, "s", 2).key, "session.ready:s:2:phase-plan");
    assert_eq!(Event::session_created(&phase, "s", 0, "fake").key, "session.created:s");
    assert_eq!(Event::session_created(&phase, "s", 1, "fake").key, "session.created:s:1");
    assert_eq!(Event::session_failed(&phase, "s", 1).key, "session.failed:s:1");
    assert_eq!(
        Event::run_resumed("run-1", 2, "ada", RunState::Executing).key,
        "run.resumed:run-1:2"
    );
    let timeout = Event::artifact_timeout(&phase, 1, SessionState::Hung);
    assert_eq!(timeout.key, artifact_timeout_key(&phase, 1));
    assert_eq!(timeout.payload["sessionState"], "HUNG");
}

#[test]
fn a_person_s_approval_is_named_on_the_phase_it_completed() {
    let phase = phase();
    let by_agent = Event::phase_completed(&phase, 1, None);
    assert_eq!(by_agent.payload, json!({ "phaseKey": "plan", "attempt": 1 }));
    let approved = Event::phase_completed(&phase, 1, Some("ada"));
    assert_eq!(approved.payload["approvedBy"], "ada");
    assert_eq!(approved.key, by_agent.key, "the same step, whoever completed it");
}

#[test]
fn a_payload_of_another_shape_is_corruption() {
    let phase = phase();
    let mut row = stored(&Event::phase_started(&phase, 1, Start::default()));
    row.payload = json!({ "phaseKey": 7 });
    let error = read::<PhaseStarted>(&row).unwrap_err();
    assert_eq!(error.code(), devflow_core::Code::InternalStateCorruption);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_notifies_writes_its_notification_once_in_its_step() {
    for test_db in devflow_db::testing::backends().await {
        let db = &test_db.db;
        let phase = phase();
        let run = devflow_db::NewRun {
            id: "run-1".into(),
            workflow: "w".into(),
            state: RunState::Executing,
            worktree: "/tmp".into(),
            definition: json!({}),
        };
        db.write(move |tx| Box::pin(async move { tx.insert_run(&run).await })).await.unwrap();
        // A replayed step (the same event again), and an event that tells nobody anything.
        for _ in 0..2 {
            let (done, ready) =
                (Event::run_completed(&phase), Event::session_ready(&phase, "s", 0));
            db.step("run-1", move |tx, _| {
                Box::pin(async move {
                    done.emit(tx).await?;
                    ready.emit(tx).await
                })
            })
            .await
            .unwrap();
        }
        // A step that fails after its event leaves neither the event nor its notification.
        let failed = Event::run_failed(&phase, "boom");
        let refused: devflow_core::Result<()> = db
            .step("run-1", move |tx, _| {
                Box::pin(async move {
                    failed.emit(tx).await?;
                    Err(devflow_core::Error::corruption("the step fails after its event"))
                })
            })
            .await;
        assert!(refused.is_err());
        let rows =
            db.read(|tx| Box::pin(async move { tx.notifications("run-1").await })).await.unwrap();
        let keys: Vec<(&str, &str)> =
            rows.iter().map(|row| (row.event_key.as_str(), row.topic.as_str())).collect();
        assert_eq!(keys, [("run.completed:run-1", "run_completed")], "{}", test_db.name);
    }
}
