//! The SQLite file deleted or replaced while a `Db` uses it: no step commits to a file no path
//! names, or to another database, and the history that was there is saved.

use devflow_core::{Code, RunState};
use devflow_db::testing::TestDb;
use devflow_db::{Db, NewEvent};
use serde_json::json;

use crate::{expect_code, seed_run};

/// A step that appends one event to `run`.
async fn append(db: &Db, run: &str, key: &str) -> devflow_db::Result<()> {
    let key = key.to_owned();
    db.step(run, move |tx, run| {
        Box::pin(async move {
            let payload = json!({});
            let event = NewEvent {
                run_id: &run.id,
                phase_id: None,
                kind: "test.step",
                payload: &payload,
                idempotency_key: &key,
            };
            tx.append_event(&event).await.map(drop)
        })
    })
    .await
}

async fn event_keys(db: &Db, run: &str) -> Vec<String> {
    let id = run.to_owned();
    let events = db.read(move |tx| Box::pin(async move { tx.events(&id, 0).await })).await;
    events.unwrap().into_iter().map(|event| event.idempotency_key).collect()
}

fn path_of(test_db: &TestDb) -> std::path::PathBuf {
    devflow_db::sqlite_path(&test_db.url).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_database_file_fails_the_next_step_and_a_copy_is_saved() {
    let test_db = TestDb::sqlite().await;
    let (run, _) = seed_run(&test_db.db, RunState::Executing, 1).await;
    append(&test_db.db, &run, "before").await.unwrap();
    let path = path_of(&test_db);
    std::fs::remove_file(&path).unwrap();

    let error = expect_code(append(&test_db.db, &run, "after").await, Code::DatabaseUnavailable);
    let message = error.message();
    assert!(
        message.starts_with(&format!(
            "the database file {} was deleted or replaced while devflow was using it; the run's history is in the file that was there: devflow saved a copy of it at ",
            path.display()
        )),
        "{message}"
    );
    let copy = message.rsplit(" at ").next().unwrap();
    assert!(error.recovery_hint().unwrap().contains("devflow resume"), "{error}");
    // Every write after it fails the same way, and names the same copy.
    let again = expect_code(append(&test_db.db, &run, "later").await, Code::DatabaseUnavailable);
    assert_eq!(again.message(), message);
    assert!(!path.exists(), "nothing recreated the deleted file");
    for log in ["devflow.db-wal", "devflow.db-shm"] {
        assert!(!path.with_file_name(log).exists(), "{log} of the deleted file is left behind");
    }

    // The copy holds the history up to the last step that committed, and nothing after it.
    let saved = Db::connect(&format!("sqlite://{copy}")).await.unwrap();
    assert_eq!(event_keys(&saved, &run).await, ["before"]);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(copy).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the copy is private: {mode:o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_file_replaced_by_another_database_is_never_written() {
    let test_db = TestDb::sqlite().await;
    let (run, _) = seed_run(&test_db.db, RunState::Executing, 1).await;
    let path = path_of(&test_db);
    let other_dir = tempfile::tempdir().unwrap();
    let other_path = other_dir.path().join("other.db");
    let other = Db::connect(&format!("sqlite://{}", other_path.display())).await.unwrap();
    // The other database even holds a run of the same id: a write must not land there.
    let same_id = devflow_db::NewRun {
        id: run.clone(),
        workflow: "other".to_owned(),
        state: RunState::Executing,
        worktree: "/elsewhere".to_owned(),
        definition: json!({}),
    };
    other.write(move |tx| Box::pin(async move { tx.insert_run(&same_id).await })).await.unwrap();
    drop(other);
    std::fs::rename(&other_path, &path).unwrap();

    let error = expect_code(append(&test_db.db, &run, "after").await, Code::DatabaseUnavailable);
    assert!(error.message().contains("was deleted or replaced"), "{error}");
    let write = test_db.db.write(|_tx| Box::pin(async move { Ok(()) })).await;
    expect_code(write, Code::DatabaseUnavailable);

    // Closing the old pool ends its connections to the file that was there (and removes the
    // write-ahead log that belongs to it), so the file now at the path reads as itself.
    let TestDb { db, .. } = test_db;
    drop(db);
    let now_there = Db::connect(&test_db.url).await.unwrap();
    assert!(event_keys(&now_there, &run).await.is_empty(), "a step wrote into the other database");
}
