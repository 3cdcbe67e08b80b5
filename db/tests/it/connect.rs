//! Opening databases: file creation and mode, and the errors a person sees when it fails.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use devflow_core::{Class, Code, RunState};
use devflow_db::{Backend, Db};

use crate::{expect_code, seed_run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_in_a_missing_folder_is_created_private() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a/b/c/devflow.db");
    let db = Db::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    assert_eq!(db.backend(), Backend::Sqlite);
    seed_run(&db, RunState::Planning, 1).await;
    let wal = path.with_file_name("devflow.db-wal");
    assert!(wal.exists(), "the database is in WAL mode");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    // Connecting again applies no migration twice and sees the same data.
    let again = Db::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let runs = again.read(|tx| Box::pin(async move { tx.runs().await })).await.unwrap();
    assert_eq!(runs.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_sqlite_path_is_relative_to_the_working_directory() {
    // Only checks the URL form is accepted; the file lands in a temporary folder we name.
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}/rel.db", tmp.path().display());
    Db::connect(&url).await.unwrap();
    assert!(tmp.path().join("rel.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_scheme_is_invalid_input() {
    let error = expect_code(Db::connect("mysql://localhost/devflow").await, Code::InvalidInput);
    assert!(error.recovery_hint().unwrap().contains("sqlite://"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_says_where_and_what_to_do() {
    // Port 1 on localhost: nothing listens there, the connection is refused at once.
    let url = "postgres://devflow:hunter2@127.0.0.1:1/devflow";
    let error = expect_code(Db::connect(url).await, Code::DatabaseUnavailable);
    let shown = error.to_string();
    assert!(shown.contains("postgres://devflow:***@127.0.0.1:1/devflow"), "{shown}");
    assert!(!shown.contains("hunter2"), "the password leaked: {shown}");
    assert!(error.recovery_hint().unwrap().contains("DEVFLOW_DATABASE_URL"), "{shown}");
    assert_eq!(error.class(), Class::Fatal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_database_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("notes.txt");
    std::fs::write(&path, "these are notes, not a database\n".repeat(200)).unwrap();
    let error = expect_code(
        Db::connect(&format!("sqlite://{}", path.display())).await,
        Code::DatabaseUnavailable,
    );
    let shown = error.to_string();
    assert!(shown.contains(&path.display().to_string()), "{shown}");
    assert!(shown.contains("not a database"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_write_lock_held_past_the_busy_timeout_is_database_busy() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("devflow.db");
    let holder = Db::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let waiter =
        Db::connect(&format!("sqlite://{}?busy_timeout_ms=100", path.display())).await.unwrap();

    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let holding = tokio::spawn(async move {
        holder
            .write(move |_tx| {
                Box::pin(async move {
                    locked_tx.send(()).unwrap();
                    // Holds BEGIN IMMEDIATE until the waiter has given up.
                    release_rx.await.unwrap();
                    Ok(())
                })
            })
            .await
    });
    locked_rx.await.unwrap();
    let started = std::time::Instant::now();
    let error =
        expect_code(waiter.write(|_tx| Box::pin(async move { Ok(()) })).await, Code::DatabaseBusy);
    assert!(started.elapsed() >= Duration::from_millis(90), "waited {:?}", started.elapsed());
    assert_eq!(error.class(), Class::Recoverable);
    release_tx.send(()).unwrap();
    holding.await.unwrap().unwrap();
    // Once the lock is free the same Db writes again.
    waiter.write(|_tx| Box::pin(async move { Ok(()) })).await.unwrap();
}

/// `#[tokio::test]` defaults to a current-thread runtime; other crates' tests use that flavor.
#[tokio::test]
async fn every_backend_works_on_a_current_thread_runtime() {
    for test_db in crate::backends().await {
        let (run, _) = seed_run(&test_db.db, RunState::Executing, 1).await;
        let state =
            test_db.db.step(&run, |_tx, run| Box::pin(async move { Ok(run.state) })).await.unwrap();
        assert_eq!(state, RunState::Executing, "{}", test_db.name);
    }
}
