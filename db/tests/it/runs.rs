//! `runs`: insert, read, list and state changes (the lease: `lease.rs`).

use devflow_core::{Code, RunState};
use devflow_db::testing::TestDb;
use devflow_db::{Backend, NewRun, new_id};
use serde_json::json;

use crate::{conformance, expect_code, seed_run};

conformance!(
    a_run_reads_back_as_written,
    runs_list_newest_first,
    run_state_changes_set_exactly_what_is_given,
    a_duplicate_run_id_is_invalid_input,
);

async fn a_run_reads_back_as_written(t: &TestDb) {
    assert_eq!(t.db.backend().as_str(), t.name);
    assert_eq!(t.db.backend() == Backend::Postgres, t.name == "postgres");
    let id = new_id();
    // Key order differs from canonical order: the definition comes back as the same value.
    let definition = json!({"zeta": 1, "alpha": {"b": [1, 2, {"y": null, "x": true}], "a": "é"}});
    let run = NewRun {
        id: id.clone(),
        workflow: "review".to_owned(),
        state: RunState::Planning,
        worktree: "/work/tree".to_owned(),
        definition: definition.clone(),
    };
    let before = devflow_db::now_ms();
    t.db.write(move |tx| Box::pin(async move { tx.insert_run(&run).await })).await.unwrap();
    let read_id = id.clone();
    let row =
        t.db.read(move |tx| Box::pin(async move { tx.run(&read_id).await }))
            .await
            .unwrap()
            .expect("the run is stored");
    assert_eq!(row.id, id);
    assert_eq!(row.workflow, "review");
    assert_eq!(row.state, RunState::Planning);
    assert_eq!(row.current_phase_id, None);
    assert_eq!(row.paused_from_state, None);
    assert_eq!(row.worktree, "/work/tree");
    assert_eq!(row.definition, definition);
    assert_eq!((row.lease_owner, row.lease_expires_at), (None, None));
    assert!(row.created_at >= before && row.created_at == row.updated_at);
    assert_eq!(row.ended_at, None);

    let missing =
        t.db.read(|tx| Box::pin(async move { tx.run("no-such-run").await })).await.unwrap();
    assert_eq!(missing, None);
}

async fn runs_list_newest_first(t: &TestDb) {
    let (first, _) = seed_run(&t.db, RunState::Planning, 0).await;
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let (second, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let runs = t.db.read(|tx| Box::pin(async move { tx.runs().await })).await.unwrap();
    let ids: Vec<&str> = runs.iter().map(|run| run.id.as_str()).collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
}

async fn run_state_changes_set_exactly_what_is_given(t: &TestDb) {
    let (run_id, phases) = seed_run(&t.db, RunState::Planning, 1).await;
    let phase_id = phases[0].clone();
    let row =
        t.db.step(&run_id, move |tx, run| {
            Box::pin(async move {
                tx.set_run_state(
                    &run.id,
                    RunState::Paused,
                    Some(&phase_id),
                    Some(RunState::Executing),
                )
                .await?;
                tx.run(&run.id).await
            })
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, RunState::Paused);
    assert_eq!(row.current_phase_id.as_deref(), Some(phases[0].as_str()));
    assert_eq!(row.paused_from_state, Some(RunState::Executing));
    assert_eq!(row.ended_at, None);
    assert!(row.updated_at >= row.created_at);

    let row =
        t.db.step(&run_id, |tx, run| {
            Box::pin(async move {
                tx.set_run_state(&run.id, RunState::Failed, None, None).await?;
                tx.run(&run.id).await
            })
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, RunState::Failed);
    assert_eq!((row.current_phase_id, row.paused_from_state), (None, None));
    assert!(row.ended_at.is_some(), "a terminal state sets ended_at");

    let error =
        t.db.write(|tx| {
            Box::pin(async move {
                tx.set_run_state("no-such-run", RunState::Executing, None, None).await
            })
        })
        .await;
    expect_code(error, Code::RunNotFound);
}

async fn a_duplicate_run_id_is_invalid_input(t: &TestDb) {
    let (run_id, _) = seed_run(&t.db, RunState::Planning, 0).await;
    let again = NewRun {
        id: run_id,
        workflow: "other".to_owned(),
        state: RunState::Planning,
        worktree: "/w".to_owned(),
        definition: json!({}),
    };
    let result = t.db.write(move |tx| Box::pin(async move { tx.insert_run(&again).await })).await;
    expect_code(result, Code::InvalidInput);
}
