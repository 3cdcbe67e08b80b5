//! The rows the phase runner decides on: read back by the step that wrote them (on PostgreSQL
//! behind its deferred writes, in the COMMIT's pipeline), or read on their own.

use devflow_core::{Code, Error, PhaseState, RunState, SessionState};
use devflow_db::testing::TestDb;
use devflow_db::{Db, NewEvent, NewSession, PhaseKey, PhaseRows};
use serde_json::json;

use crate::{conformance, expect_code, seed_run};

conformance!(
    a_step_reads_back_what_it_wrote,
    the_newest_attempt_and_session_of_the_role_are_read,
    a_failed_step_reads_nothing_and_writes_nothing,
);

const ROLE: &str = "planner";
const ATTEMPT_KIND: &str = "phase.started";

fn key<'a>(run_id: &'a str, phase_id: &'a str) -> PhaseKey<'a> {
    PhaseKey { run_id, phase_id, role_id: ROLE, attempt_kind: ATTEMPT_KIND }
}

fn session<'a>(run_id: &'a str, id: &'a str, role_id: &'a str) -> NewSession<'a> {
    NewSession {
        id,
        run_id,
        role_id,
        backend: "fake",
        cwd: "/work/tree",
        expected_artifact_path: "out/plan.json",
        expected_schema: "plan.schema.json",
        state: SessionState::Created,
    }
}

/// Records an event the way the runner does (deferred on PostgreSQL).
async fn record(tx: &mut devflow_db::Tx, run: &str, phase: &str, kind: &str, key: &str) {
    let event = NewEvent {
        run_id: run,
        phase_id: Some(phase),
        kind,
        payload: &json!({}),
        idempotency_key: key,
    };
    tx.record_event(&event).await.unwrap();
}

async fn read(db: &Db, run: &str, phase: &str) -> PhaseRows {
    db.read_phase_rows(&key(run, phase)).await.unwrap()
}

async fn a_step_reads_back_what_it_wrote(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::Executing, 1).await;
    let phase = phases[0].clone();
    let before = read(&t.db, &run, &phase).await;
    assert_eq!((before.phase.state, before.phase.attempts), (PhaseState::Pending, 0));
    assert!(before.event_keys.is_empty() && before.attempt_event.is_none());
    assert!(before.session.is_none() && before.artifact.is_none());

    let (r, p) = (run.clone(), phase.clone());
    let (attempt, rows) =
        t.db.step_reading(&run, &key(&run, &phase), move |tx, _run| {
            Box::pin(async move {
                let attempt = tx.try_start_phase(&r, &p, &[PhaseState::Pending]).await?;
                record(tx, &r, &p, ATTEMPT_KIND, &format!("phase.started:{p}:1")).await;
                tx.insert_session_if_absent(&session(&r, "s1", ROLE)).await?;
                // The last write of the step, deferred on PostgreSQL until its COMMIT: the read
                // back must come after it.
                record(tx, &r, &p, "session.ready", "session.ready:s1:0").await;
                Ok(attempt)
            })
        })
        .await
        .unwrap();
    assert_eq!(attempt, Some(1));
    let rows = rows.expect("the step read its rows back");
    assert_eq!((rows.phase.state, rows.phase.attempts), (PhaseState::Running, 1));
    let mut keys = rows.event_keys.clone();
    keys.sort();
    assert_eq!(keys, [format!("phase.started:{phase}:1"), "session.ready:s1:0".to_owned()]);
    let started = rows.attempt_event.as_ref().expect("the attempt's event");
    assert_eq!(started.idempotency_key, format!("phase.started:{phase}:1"));
    assert_eq!(rows.session.as_ref().map(|s| s.id.as_str()), Some("s1"));

    // What the step read back is what a read of its own finds after the commit.
    let after = read(&t.db, &run, &phase).await;
    assert_eq!(after.phase, rows.phase);
    assert_eq!(after.session, rows.session);
    let mut after_keys = after.event_keys.clone();
    after_keys.sort();
    assert_eq!(after_keys, keys);
    assert_eq!(after.attempt_event.map(|e| e.id), rows.attempt_event.map(|e| e.id));
}

async fn the_newest_attempt_and_session_of_the_role_are_read(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::Executing, 1).await;
    let phase = phases[0].clone();
    for (id, role) in [("s-old", ROLE), ("s-other-role", "reviewer")] {
        let r = run.clone();
        t.db.step(&run, move |tx, _| {
            Box::pin(async move { tx.insert_session_if_absent(&session(&r, id, role)).await })
        })
        .await
        .unwrap();
    }
    // Later than the first: created in a later millisecond, or in the same one with a greater
    // id, as the runner's ids are.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (r, p) = (run.clone(), phase.clone());
    t.db.step(&run, move |tx, _| {
        Box::pin(async move {
            tx.insert_session_if_absent(&session(&r, "s-new", ROLE)).await?;
            for n in 1..=2 {
                record(tx, &r, &p, ATTEMPT_KIND, &format!("phase.started:{p}:{n}")).await;
                record(tx, &r, &p, "prompt.sent", &format!("prompt.sent:{n}")).await;
            }
            Ok(())
        })
    })
    .await
    .unwrap();
    let rows = read(&t.db, &run, &phase).await;
    assert_eq!(rows.session.map(|s| s.id), Some("s-new".to_owned()), "the role's newest");
    let started = rows.attempt_event.expect("the newest attempt's event");
    assert_eq!(started.idempotency_key, format!("phase.started:{phase}:2"));
    assert_eq!(rows.event_keys.len(), 4);
}

async fn a_failed_step_reads_nothing_and_writes_nothing(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::Executing, 1).await;
    let phase = phases[0].clone();
    let (r, p) = (run.clone(), phase.clone());
    let failed: devflow_db::Result<((), Option<PhaseRows>)> =
        t.db.step_reading(&run, &key(&run, &phase), move |tx, _| {
            Box::pin(async move {
                tx.try_start_phase(&r, &p, &[PhaseState::Pending]).await?;
                record(tx, &r, &p, ATTEMPT_KIND, &format!("phase.started:{p}:1")).await;
                Err(Error::new(Code::SessionUnavailable, "the agent went away"))
            })
        })
        .await;
    expect_code(failed, Code::SessionUnavailable);
    let rows = read(&t.db, &run, &phase).await;
    assert_eq!((rows.phase.state, rows.phase.attempts), (PhaseState::Pending, 0));
    assert!(rows.event_keys.is_empty());
}
