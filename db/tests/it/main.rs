//! devflow-db's one integration test binary: the repository conformance suite, run on every backend.
//!
//! Each test is written once and runs on each database of `testing::backends()`: a fresh SQLite
//! file, and a fresh PostgreSQL database when DEVFLOW_TEST_DATABASE_URL is set.

#![allow(clippy::disallowed_methods)] // Tests start the binaries they test, and keep their own deadlines.

mod approvals;
mod artifacts;
mod connect;
mod events;
mod file;
mod lease;
mod notifications;
mod phase_rows;
mod phases;
mod runs;
mod sessions;
mod steps;
mod workers;

use devflow_core::{Code, Error, RunState};
use devflow_db::testing::backends;
use devflow_db::{Db, NewPhase, NewRun, new_id};
use serde_json::json;

/// `conformance!(name)` is a test that runs `async fn name(&TestDb)` on every backend, saying
/// which one it is on so that a failure names its backend.
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod on_every_backend {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                for test_db in $crate::backends().await {
                    eprintln!("-- {} on {}", stringify!($name), test_db.name);
                    super::$name(&test_db).await;
                }
            }
        )+}
    };
}
pub(crate) use conformance;

/// A run with `phase_count` phases, as `devflow run` creates it. Returns the run and phase ids.
pub async fn seed_run(db: &Db, state: RunState, phase_count: i32) -> (String, Vec<String>) {
    seed_run_of(db, state, json!({"phases": phase_count, "name": "review"})).await
}

/// `seed_run` with the workflow snapshot `definition` (its `phases`: how many phases to seed).
pub async fn seed_run_of(
    db: &Db,
    state: RunState,
    definition: serde_json::Value,
) -> (String, Vec<String>) {
    let phase_count =
        definition["phases"].as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or(0);
    let run_id = new_id();
    let phase_ids: Vec<String> = (0..phase_count).map(|_| new_id()).collect();
    let run = NewRun {
        id: run_id.clone(),
        workflow: "review".to_owned(),
        state,
        worktree: "/tmp/worktree".to_owned(),
        definition,
    };
    let phases: Vec<NewPhase> = phase_ids
        .iter()
        .zip(0..)
        .map(|(id, ordinal)| NewPhase {
            id: id.clone(),
            run_id: run_id.clone(),
            phase_key: format!("phase-{ordinal}"),
            ordinal,
        })
        .collect();
    db.write(move |tx| {
        Box::pin(async move {
            tx.insert_run(&run).await?;
            for phase in &phases {
                tx.insert_phase(phase).await?;
            }
            Ok(())
        })
    })
    .await
    .expect("seed a run");
    (run_id, phase_ids)
}

/// Asserts `result` failed with `code`, and returns the error for more checks.
#[track_caller]
pub fn expect_code<T: std::fmt::Debug>(result: Result<T, Error>, code: Code) -> Error {
    match result {
        Ok(value) => panic!("expected {code}, got Ok({value:?})"),
        Err(error) => {
            assert_eq!(error.code(), code, "unexpected error: {error}");
            error
        }
    }
}
