//! `run_events`: append-only, idempotent by key, replays compared canonically.

use devflow_core::{Code, RunState};
use devflow_db::testing::TestDb;
use devflow_db::{Appended, NewEvent};
use serde_json::{Value, json};

use crate::{conformance, expect_code, seed_run};

conformance!(
    an_event_is_stored_once_and_replayed_by_key,
    a_replay_that_differs_is_corruption,
    a_recorded_replay_that_differs_fails_its_whole_step,
    events_list_after_an_id_and_by_phase_and_type,
    an_event_needs_its_run,
);

/// Appends one event in its own write transaction.
async fn append(
    t: &TestDb,
    run_id: &str,
    phase_id: Option<&str>,
    kind: &str,
    payload: Value,
    key: &str,
) -> devflow_db::Result<Appended> {
    let (run_id, phase_id, kind, key) =
        (run_id.to_owned(), phase_id.map(str::to_owned), kind.to_owned(), key.to_owned());
    t.db.write(move |tx| {
        Box::pin(async move {
            tx.append_event(&NewEvent {
                run_id: &run_id,
                phase_id: phase_id.as_deref(),
                kind: &kind,
                payload: &payload,
                idempotency_key: &key,
            })
            .await
        })
    })
    .await
}

async fn count_events(t: &TestDb, run_id: &str) -> usize {
    let run_id = run_id.to_owned();
    t.db.read(move |tx| Box::pin(async move { tx.events(&run_id, 0).await })).await.unwrap().len()
}

async fn an_event_is_stored_once_and_replayed_by_key(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::Executing, 1).await;
    let phase = Some(phases[0].as_str());
    let payload = json!({"phaseKey": "plan", "attempt": 1, "nested": {"b": 2, "a": 1}});
    let key = format!("phase.started:{}:1", phases[0]);

    let inserted = append(t, &run, phase, "phase.started", payload.clone(), &key).await.unwrap();
    let Appended::Inserted(row) = &inserted else {
        panic!("first append must insert: {inserted:?}")
    };
    assert!(row.id > 0);
    assert_eq!(row.run_id, run);
    assert_eq!(row.phase_id.as_deref(), phase);
    assert_eq!(row.kind, "phase.started");
    assert_eq!(row.payload, payload);
    assert_eq!(row.idempotency_key, key);
    assert!(!inserted.is_replayed());

    // The same event again, its keys in another order: the stored row, nothing new.
    let reordered: Value =
        serde_json::from_str(r#"{"nested": {"a": 1, "b": 2}, "attempt": 1, "phaseKey": "plan"}"#)
            .unwrap();
    let replayed = append(t, &run, phase, "phase.started", reordered, &key).await.unwrap();
    assert_eq!(replayed, Appended::Replayed(row.clone()));
    assert_eq!(replayed.row(), row);
    assert_eq!(count_events(t, &run).await, 1);

    let key_for_read = key.clone();
    let (by_key, unknown) =
        t.db.read(move |tx| {
            Box::pin(async move {
                Ok((tx.event_by_key(&key_for_read).await?, tx.event_by_key("no-such-key").await?))
            })
        })
        .await
        .unwrap();
    assert_eq!(by_key.as_ref(), Some(row));
    assert_eq!(unknown, None);
}

async fn a_replay_that_differs_is_corruption(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::Executing, 2).await;
    let (other_run, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let phase = Some(phases[0].as_str());
    let payload = json!({"dedupKey": "abc"});
    let key = "prompt.sent:abc";
    append(t, &run, phase, "prompt.sent", payload.clone(), key).await.unwrap();

    let other_type = append(t, &run, phase, "prompt.repaired", payload.clone(), key).await;
    let other_run = append(t, &other_run, phase, "prompt.sent", payload.clone(), key).await;
    let other_phase = append(t, &run, Some(&phases[1]), "prompt.sent", payload.clone(), key).await;
    let no_phase = append(t, &run, None, "prompt.sent", payload.clone(), key).await;
    let other_payload =
        append(t, &run, phase, "prompt.sent", json!({"dedupKey": "abd"}), key).await;
    for (what, result) in [
        ("type", other_type),
        ("run", other_run),
        ("phase", other_phase),
        ("missing phase", no_phase),
        ("payload", other_payload),
    ] {
        eprintln!("replay with another {what}");
        expect_code(result, Code::InternalStateCorruption);
    }
    assert_eq!(count_events(t, &run).await, 1);
}

async fn events_list_after_an_id_and_by_phase_and_type(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::Executing, 2).await;
    let (other_run, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let (p0, p1) = (Some(phases[0].as_str()), Some(phases[1].as_str()));
    let mut ids = Vec::new();
    for (phase, kind, key) in [
        (None, "run.started", "k1"),
        (p0, "phase.started", "k2"),
        (p0, "artifact.expected", "k3"),
        (p1, "phase.started", "k4"),
        (p0, "phase.started", "k5"),
    ] {
        let appended = append(t, &run, phase, kind, json!({"key": key}), key).await.unwrap();
        ids.push(appended.row().id);
    }
    append(t, &other_run, None, "run.started", json!({}), "k6").await.unwrap();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "ids ascend: {ids:?}");

    let (run_id, phase_id) = (run.clone(), phases[0].clone());
    let (all, after, started) =
        t.db.read(move |tx| {
            Box::pin(async move {
                Ok((
                    tx.events(&run_id, 0).await?,
                    tx.events(&run_id, ids[1]).await?,
                    tx.phase_events(&run_id, &phase_id, "phase.started").await?,
                ))
            })
        })
        .await
        .unwrap();
    let keys = |rows: &[devflow_db::EventRow]| -> Vec<String> {
        rows.iter().map(|row| row.idempotency_key.clone()).collect()
    };
    assert_eq!(keys(&all), ["k1", "k2", "k3", "k4", "k5"]);
    assert_eq!(keys(&after), ["k3", "k4", "k5"]);
    assert_eq!(keys(&started), ["k2", "k5"]);
}

async fn an_event_needs_its_run(t: &TestDb) {
    let result = append(t, "no-such-run", None, "run.started", json!({}), "orphan").await;
    expect_code(result, Code::InvalidInput);
}

/// `record_event` checks a replay in the pipeline with the step's COMMIT on PostgreSQL: a
/// replay that differs must fail the step and undo its other writes, as on SQLite.
async fn a_recorded_replay_that_differs_fails_its_whole_step(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::Executing, 1).await;
    let phase = phases[0].clone();
    append(t, &run, Some(&phase), "prompt.sent", json!({"dedupKey": "abc"}), "prompt.sent:abc")
        .await
        .unwrap();
    let record = |payload: Value| {
        let (run, phase) = (run.clone(), phase.clone());
        async move {
            t.db.step(&run.clone(), move |tx, _| {
                Box::pin(async move {
                    tx.set_run_state(&run, RunState::Paused, None, Some(RunState::Executing))
                        .await?;
                    tx.record_event(&NewEvent {
                        run_id: &run,
                        phase_id: Some(&phase),
                        kind: "prompt.sent",
                        payload: &payload,
                        idempotency_key: "prompt.sent:abc",
                    })
                    .await?;
                    tx.record_event(&NewEvent {
                        run_id: &run,
                        phase_id: None,
                        kind: "run.paused",
                        payload: &json!({}),
                        idempotency_key: &format!("run.paused:{run}"),
                    })
                    .await
                })
            })
            .await
        }
    };
    expect_code(record(json!({"dedupKey": "abd"})).await, Code::InternalStateCorruption);
    let run_id = run.clone();
    let state =
        t.db.read(move |tx| Box::pin(async move { tx.run(&run_id).await }))
            .await
            .unwrap()
            .map(|row| row.state);
    assert_eq!(state, Some(RunState::Executing), "the failed step's run update rolled back");
    assert_eq!(count_events(t, &run).await, 1, "and so did its other event");

    record(json!({"dedupKey": "abc"})).await.expect("a replay that matches is no change");
    assert_eq!(count_events(t, &run).await, 2, "the matching replay added only run.paused");
}
