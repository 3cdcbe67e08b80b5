//! `run_phases`: insert, order, attempts and states.

use devflow_core::{Code, PhaseState, RunState};
use devflow_db::testing::TestDb;
use devflow_db::{NewPhase, new_id};

use crate::{conformance, expect_code, seed_run};

conformance!(
    phases_read_back_in_ordinal_order,
    starting_a_phase_counts_attempts_from_allowed_states_only,
    phase_states_set_ended_at_when_they_end,
    an_attempts_artifact_is_kept_until_the_next_attempt_starts,
);

async fn phases_read_back_in_ordinal_order(t: &TestDb) {
    let (run_id, _) = seed_run(&t.db, RunState::Planning, 0).await;
    let ids: Vec<String> = (0..3).map(|_| new_id()).collect();
    // Inserted out of order: `phases` sorts by ordinal, not by insertion.
    let phases: Vec<NewPhase> = [2, 0, 1]
        .into_iter()
        .map(|ordinal| NewPhase {
            id: ids[ordinal as usize].clone(),
            run_id: run_id.clone(),
            phase_key: format!("key-{ordinal}"),
            ordinal,
        })
        .collect();
    let run = run_id.clone();
    let first = ids[0].clone();
    let (listed, one, missing) =
        t.db.write(move |tx| {
            Box::pin(async move {
                for phase in &phases {
                    tx.insert_phase(phase).await?;
                }
                Ok((
                    tx.phases(&run).await?,
                    tx.phase(&first).await?,
                    tx.phase("no-such-phase").await?,
                ))
            })
        })
        .await
        .unwrap();
    let order: Vec<(&str, i32)> =
        listed.iter().map(|phase| (phase.id.as_str(), phase.ordinal)).collect();
    assert_eq!(order, [(ids[0].as_str(), 0), (ids[1].as_str(), 1), (ids[2].as_str(), 2)]);
    let one = one.expect("the phase is stored");
    assert_eq!(one.run_id, run_id);
    assert_eq!(one.phase_key, "key-0");
    assert_eq!(one.state, PhaseState::Pending);
    assert_eq!(one.attempts, 0);
    assert_eq!((one.started_at, one.ended_at), (None, None));
    assert_eq!(missing, None);

    // A phase must belong to a run that exists.
    let orphan = NewPhase {
        id: new_id(),
        run_id: "no-such-run".to_owned(),
        phase_key: "k".to_owned(),
        ordinal: 0,
    };
    let result =
        t.db.write(move |tx| Box::pin(async move { tx.insert_phase(&orphan).await })).await;
    expect_code(result, Code::InvalidInput);
}

async fn starting_a_phase_counts_attempts_from_allowed_states_only(t: &TestDb) {
    let (run_id, phases) = seed_run(&t.db, RunState::Executing, 1).await;
    let phase_id = phases[0].clone();
    let (first, refused, second, missing, row) =
        t.db.mutate_phase(&run_id, move |tx, run| {
            Box::pin(async move {
                let first = tx.try_start_phase(&run.id, &phase_id, &[PhaseState::Pending]).await?;
                let refused =
                    tx.try_start_phase(&run.id, &phase_id, &[PhaseState::Pending]).await?;
                let second = tx
                    .try_start_phase(
                        &run.id,
                        &phase_id,
                        &[PhaseState::Running, PhaseState::AwaitingArtifact],
                    )
                    .await?;
                let missing =
                    tx.try_start_phase(&run.id, "no-such-phase", &[PhaseState::Pending]).await?;
                Ok((first, refused, second, missing, tx.phase(&phase_id).await?))
            })
        })
        .await
        .unwrap();
    assert_eq!(first, Some(1));
    assert_eq!(refused, None, "a running phase is not pending");
    assert_eq!(second, Some(2));
    assert_eq!(missing, None);
    let row = row.unwrap();
    assert_eq!(row.state, PhaseState::Running);
    assert_eq!(row.attempts, 2);
    assert!(row.started_at.is_some());

    // Another run's phase id does not match.
    let (other_run, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let phase_id = phases[0].clone();
    let foreign =
        t.db.mutate_phase(&other_run, move |tx, run| {
            Box::pin(
                async move { tx.try_start_phase(&run.id, &phase_id, &[PhaseState::Running]).await },
            )
        })
        .await
        .unwrap();
    assert_eq!(foreign, None);
}

async fn phase_states_set_ended_at_when_they_end(t: &TestDb) {
    let (run_id, phases) = seed_run(&t.db, RunState::Executing, 2).await;
    let (a, b) = (phases[0].clone(), phases[1].clone());
    let (validating, completed, failed) =
        t.db.mutate_phase(&run_id, move |tx, run| {
            Box::pin(async move {
                tx.set_phase_state(&run.id, &a, PhaseState::Validating).await?;
                let validating = tx.phase(&a).await?.unwrap();
                tx.set_phase_state(&run.id, &a, PhaseState::Completed).await?;
                let completed = tx.phase(&a).await?.unwrap();
                tx.set_phase_state(&run.id, &b, PhaseState::Failed).await?;
                let failed = tx.phase(&b).await?.unwrap();
                Ok((validating, completed, failed))
            })
        })
        .await
        .unwrap();
    assert_eq!(validating.state, PhaseState::Validating);
    assert_eq!(validating.ended_at, None);
    assert_eq!(completed.state, PhaseState::Completed);
    assert!(completed.ended_at.is_some());
    assert_eq!(failed.state, PhaseState::Failed);
    assert!(failed.ended_at.is_some());

    let result =
        t.db.mutate_phase(&run_id, |tx, run| {
            Box::pin(async move {
                tx.set_phase_state(&run.id, "no-such-phase", PhaseState::Running).await
            })
        })
        .await;
    expect_code(result, Code::InternalStateCorruption);
}

async fn an_attempts_artifact_is_kept_until_the_next_attempt_starts(t: &TestDb) {
    let (run_id, phases) = seed_run(&t.db, RunState::Executing, 1).await;
    let phase_id = phases[0].clone();
    let (set, cleared, started) =
        t.db.mutate_phase(&run_id, move |tx, run| {
            Box::pin(async move {
                tx.try_start_phase(&run.id, &phase_id, &[PhaseState::Pending]).await?;
                tx.set_phase_artifact(&run.id, &phase_id, Some("artifact-1")).await?;
                let set = tx.phase(&phase_id).await?.unwrap().artifact_id;
                tx.set_phase_artifact(&run.id, &phase_id, None).await?;
                let cleared = tx.phase(&phase_id).await?.unwrap().artifact_id;
                tx.set_phase_artifact(&run.id, &phase_id, Some("artifact-2")).await?;
                tx.try_start_phase(&run.id, &phase_id, &[PhaseState::Running]).await?;
                Ok((set, cleared, tx.phase(&phase_id).await?.unwrap()))
            })
        })
        .await
        .unwrap();
    assert_eq!(set.as_deref(), Some("artifact-1"));
    assert_eq!(cleared, None);
    assert_eq!((started.attempts, started.artifact_id), (2, None), "a new attempt has none yet");

    let result =
        t.db.mutate_phase(&run_id, |tx, run| {
            Box::pin(async move { tx.set_phase_artifact(&run.id, "no-such-phase", None).await })
        })
        .await;
    expect_code(result, Code::InternalStateCorruption);
}
