//! Durable steps: the run lock, the run-state check, rollback, and steps racing on one run.

use devflow_core::{Code, Error, PhaseState, RunState};
use devflow_db::testing::TestDb;
use std::time::Duration;

use devflow_db::{Appended, Db, NewEvent, NewRun, new_id};
use serde_json::json;

use crate::{conformance, expect_code, seed_run};

conformance!(
    a_paused_run_refuses_phase_mutation,
    a_step_on_a_missing_run_is_run_not_found,
    an_err_from_the_body_rolls_everything_back,
    racing_steps_on_one_run_serialize,
    a_dropped_step_frees_its_run_at_once,
);

async fn a_paused_run_refuses_phase_mutation(t: &TestDb) {
    for (state, allowed) in [
        (RunState::Planning, true),
        (RunState::Executing, true),
        (RunState::Paused, false),
        (RunState::AwaitingApproval, false),
        (RunState::Completed, false),
    ] {
        let (run, phases) = seed_run(&t.db, state, 1).await;
        let phase = phases[0].clone();
        let result =
            t.db.mutate_phase(&run, move |tx, run| {
                Box::pin(async move {
                    tx.try_start_phase(&run.id, &phase, &[PhaseState::Pending]).await
                })
            })
            .await;
        if allowed {
            assert_eq!(result.unwrap(), Some(1), "{state}");
            continue;
        }
        let error = expect_code(result, Code::RunStateChanged);
        assert_eq!(error.recovery_hint(), Some(format!("run_state={state}").as_str()));
        assert_eq!(error.run_id(), Some(run.as_str()));
        let phase = phases[0].clone();
        let untouched =
            t.db.read(move |tx| Box::pin(async move { tx.phase(&phase).await }))
                .await
                .unwrap()
                .unwrap();
        assert_eq!((untouched.state, untouched.attempts), (PhaseState::Pending, 0), "{state}");
    }
}

async fn a_step_on_a_missing_run_is_run_not_found(t: &TestDb) {
    let stepped = t.db.step("no-such-run", |_tx, _run| Box::pin(async move { Ok(()) })).await;
    expect_code(stepped, Code::RunNotFound);
    let mutated =
        t.db.mutate_phase("no-such-run", |_tx, _run| Box::pin(async move { Ok(()) })).await;
    expect_code(mutated, Code::RunNotFound);
}

async fn an_err_from_the_body_rolls_everything_back(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::Executing, 1).await;
    let before = t.db.transactions();
    let phase = phases[0].clone();
    let result: devflow_db::Result<()> =
        t.db.mutate_phase(&run, move |tx, run| {
            Box::pin(async move {
                tx.try_start_phase(&run.id, &phase, &[PhaseState::Pending]).await?;
                tx.append_event(&NewEvent {
                    run_id: &run.id,
                    phase_id: Some(&phase),
                    kind: "phase.started",
                    payload: &json!({"attempt": 1}),
                    idempotency_key: "rolled-back",
                })
                .await?;
                tx.set_run_state(&run.id, RunState::Paused, None, Some(RunState::Executing))
                    .await?;
                Err(Error::new(Code::SessionUnavailable, "the agent went away"))
            })
        })
        .await;
    expect_code(result, Code::SessionUnavailable);
    assert_eq!(t.db.transactions(), before + 1, "a rollback counts as a transaction");

    // A run created in a failing write is not there either.
    let ghost = new_id();
    let run_row = NewRun {
        id: ghost.clone(),
        workflow: "w".to_owned(),
        state: RunState::Planning,
        worktree: "/w".to_owned(),
        definition: json!({}),
    };
    let created: devflow_db::Result<()> =
        t.db.write(move |tx| {
            Box::pin(async move {
                tx.insert_run(&run_row).await?;
                Err(Error::new(Code::InvalidInput, "workflow file broken"))
            })
        })
        .await;
    expect_code(created, Code::InvalidInput);

    let (run_id, phase_id) = (run.clone(), phases[0].clone());
    let (row, phase, events, key, ghost) =
        t.db.read(move |tx| {
            Box::pin(async move {
                Ok((
                    tx.run(&run_id).await?.unwrap(),
                    tx.phase(&phase_id).await?.unwrap(),
                    tx.events(&run_id, 0).await?,
                    tx.event_by_key("rolled-back").await?,
                    tx.run(&ghost).await?,
                ))
            })
        })
        .await
        .unwrap();
    assert_eq!((row.state, row.paused_from_state), (RunState::Executing, None));
    assert_eq!((phase.state, phase.attempts, phase.started_at), (PhaseState::Pending, 0, None));
    assert!(events.is_empty() && key.is_none() && ghost.is_none());
}

/// One read-modify-write step: read the counter from the run's events, append the next value.
/// If two steps ever overlapped, both would read the same counter, the second append would
/// replay the first (same key, same payload) and a step would be lost.
async fn count_once(db: &Db, run_id: &str) -> devflow_db::Result<Appended> {
    db.step(run_id, |tx, run| {
        Box::pin(async move {
            let seen = tx.events(&run.id, 0).await?;
            let next = seen.iter().filter(|event| event.kind == "counter").count() + 1;
            // Give the other steps every chance to interleave, were the lock not held.
            tokio::task::yield_now().await;
            tx.append_event(&NewEvent {
                run_id: &run.id,
                phase_id: None,
                kind: "counter",
                payload: &json!({"n": next}),
                idempotency_key: &format!("counter:{next}"),
            })
            .await
        })
    })
    .await
}

async fn racing_steps_on_one_run_serialize(t: &TestDb) {
    const STEPS_PER_DB: usize = 50;
    let (run, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let other = t.reconnect().await;
    let mut tasks = tokio::task::JoinSet::new();
    for db in [t.db.clone(), other.clone()] {
        for _ in 0..STEPS_PER_DB {
            let (db, run) = (db.clone(), run.clone());
            tasks.spawn(async move { count_once(&db, &run).await });
        }
    }
    let mut inserted = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("the step task does not panic") {
            Ok(Appended::Inserted(_)) => inserted += 1,
            Ok(replayed) => panic!("a step read a stale counter: {replayed:?}"),
            Err(error) => panic!("a step failed: {error}"),
        }
    }
    assert_eq!(inserted, 2 * STEPS_PER_DB);
    let run_id = run.clone();
    let events =
        t.db.read(move |tx| Box::pin(async move { tx.events(&run_id, 0).await })).await.unwrap();
    let counters: Vec<u64> =
        events.iter().map(|event| event.payload["n"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = (1..=2 * STEPS_PER_DB as u64).collect();
    assert_eq!(counters, expected);
    assert_eq!(t.db.transactions() + other.transactions(), 2 * STEPS_PER_DB as u64 + 1);
}

/// A step future dropped halfway (a cancelled task) rolls back and releases the run's lock
/// right away, not when its pooled connection happens to be reused.
async fn a_dropped_step_frees_its_run_at_once(t: &TestDb) {
    let (run, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
    let (db, run_id) = (t.db.clone(), run.clone());
    let abandoned = tokio::spawn(async move {
        db.step(&run_id, move |tx, run| {
            Box::pin(async move {
                tx.append_event(&NewEvent {
                    run_id: &run.id,
                    phase_id: None,
                    kind: "abandoned",
                    payload: &json!({}),
                    idempotency_key: "abandoned",
                })
                .await?;
                entered_tx.send(()).unwrap();
                std::future::pending::<()>().await;
                Ok(())
            })
        })
        .await
    });
    entered_rx.await.unwrap();
    abandoned.abort();
    assert!(abandoned.await.unwrap_err().is_cancelled());

    // Another process (another pool) gets the run's lock without waiting for a timeout.
    let other = t.reconnect().await;
    let events = tokio::time::timeout(
        Duration::from_secs(3),
        other.step(&run, |tx, run| Box::pin(async move { tx.events(&run.id, 0).await })),
    )
    .await
    .expect("the dropped step still holds the run's lock")
    .unwrap();
    assert!(events.is_empty(), "the dropped step was rolled back: {events:?}");
}
