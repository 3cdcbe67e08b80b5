//! Opening databases: file creation and mode, and the errors a person sees when it fails.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use devflow_core::{Class, Code, RunState};
use devflow_db::{Backend, Db, testing};

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

/// A read dropped while its statement runs on the blocking pool, on a current-thread runtime
/// (where waiting for it with `block_in_place` would panic): the Db goes on working, and the
/// dropped read's connection is never handed out while still in use.
#[tokio::test]
async fn a_read_dropped_halfway_on_a_current_thread_runtime_leaves_the_db_working() {
    for test_db in crate::backends().await {
        let (run, _) = seed_run(&test_db.db, RunState::Executing, 1).await;
        for micros in [50, 200, 1_000, 5_000] {
            let reads = test_db.db.read(|tx| {
                Box::pin(async move {
                    for _ in 0..200 {
                        tx.runs().await?;
                    }
                    Ok(())
                })
            });
            let _ = tokio::time::timeout(Duration::from_micros(micros), reads).await;
        }
        for _ in 0..8 {
            let runs = test_db.db.read(|tx| Box::pin(async move { tx.runs().await })).await;
            assert_eq!(runs.unwrap().len(), 1, "{}", test_db.name);
            let state = test_db.db.step(&run, |_tx, run| Box::pin(async move { Ok(run.state) }));
            assert_eq!(state.await.unwrap(), RunState::Executing, "{}", test_db.name);
        }
    }
}

/// A migration in the database that this devflow does not know: a newer devflow wrote it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_written_by_a_newer_devflow_is_refused_and_left_untouched() {
    for test_db in crate::backends().await {
        let (run, _) = seed_run(&test_db.db, RunState::Executing, 1).await;
        testing::add_unknown_migration(&test_db.url, "29991231235959").await;
        let applied = testing::applied_migrations(&test_db.url).await;
        let bytes = sqlite_bytes(&test_db.url);
        for connect in [Db::connect(&test_db.url).await, Db::connect_existing(&test_db.url).await] {
            let error = expect_code(connect, Code::DatabaseUnavailable);
            assert!(
                error.message().contains(
                    "this database was written by a newer devflow (migration 29991231235959 is unknown to this one): use a newer devflow, or another database"
                ),
                "{}: {error}",
                test_db.name
            );
        }
        assert_eq!(testing::applied_migrations(&test_db.url).await, applied, "{}", test_db.name);
        assert_eq!(sqlite_bytes(&test_db.url), bytes, "{}: the file changed", test_db.name);
        // The run is still there for the newer devflow that wrote it.
        let id = run.clone();
        let kept = test_db.db.read(move |tx| Box::pin(async move { tx.run(&id).await })).await;
        assert!(kept.unwrap().is_some(), "{}", test_db.name);
    }
}

/// The SQLite file's bytes (`None` on PostgreSQL).
fn sqlite_bytes(url: &str) -> Option<Vec<u8>> {
    devflow_db::sqlite_path(url).map(|path| std::fs::read(path).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_existing_refuses_a_missing_sqlite_file_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("nowhere/devflow.db");
    let url = format!("sqlite://{}", path.display());
    let error = expect_code(Db::connect_existing(&url).await, Code::DatabaseUnavailable);
    assert_eq!(
        error.message(),
        format!(
            "no devflow database at {} (run `devflow run` or `devflow migrate` first, or pass --db)",
            path.display()
        )
    );
    assert!(!tmp.path().join("nowhere").exists(), "a folder was created");
    // Once the database exists, it opens.
    Db::connect(&url).await.unwrap();
    Db::connect_existing(&url).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_reaches_a_message() {
    for url in [
        "postgres://u:s3cret@127.0.0.1:1/x",
        "postgresql://u@127.0.0.1:1/x?password=s3cret",
        "postgres://u:s3cret@127.0.0.1:notaport/x",
    ] {
        let error = Db::connect(url).await.expect_err("nothing listens on port 1");
        let shown = format!("{error} {error:?} {}", error.recovery_hint().unwrap_or(""));
        assert!(!shown.contains("s3cret"), "{url}: {shown}");
        assert!(shown.contains("***"), "{url}: {shown}");
    }
}
