//! A busy database outside the runner: a driver's step (here `abort`, one durable step) is
//! taken again within the retry budget, so a write lock held a moment longer than the
//! database's busy timeout delays the step instead of failing it.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Arc;

use devflow_core::{Code, RunState};
use devflow_db::Db;
use devflow_db::testing::TestDb;
use devflow_phase::{Driver, RetryPolicy};

use crate::support::{Harness, RUN_ID};

/// Another program holds the SQLite file's write lock for `hold_ms` (as a second writer
/// would); returns once it holds it.
fn hold_lock(url: &str, hold_ms: u64) -> std::process::Child {
    let path = url.strip_prefix("sqlite://").unwrap();
    let script = "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); \
                  c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); \
                  time.sleep(int(sys.argv[2])/1000); c.execute('ROLLBACK')";
    let mut holder = Command::new("python3")
        .args(["-c", script, path, &hold_ms.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs (it holds the lock)");
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "locked");
    holder
}

/// A driver on the harness's SQLite file whose every statement gives up after 100 ms of lock.
async fn impatient_driver(h: &Harness, retry: RetryPolicy) -> Driver {
    let db = Db::connect(&format!("{}?busy_timeout_ms=100", h.test_db.url)).await.unwrap();
    Driver::new(db, Arc::clone(&h.fake) as _).with_retry(retry)
}

fn budget(attempts_max: u32) -> RetryPolicy {
    RetryPolicy { attempts_max, backoff_initial_ms: 100, backoff_max_ms: 200, jitter: 0.0 }
}

#[tokio::test]
async fn a_drivers_step_is_taken_again_while_the_database_is_busy() {
    let h = Harness::new(TestDb::sqlite().await).await;
    let driver = impatient_driver(&h, budget(20)).await;
    let mut holder = hold_lock(&h.test_db.url, 400);
    let aborted = driver.abort(RUN_ID, "ann".into()).await;
    holder.wait().unwrap();
    assert_eq!(aborted.unwrap(), None, "the abort went through once the lock was gone");
    assert_eq!(h.run_row().await.state, RunState::Aborted);
}

#[tokio::test]
async fn past_its_budget_a_busy_database_is_the_callers_error_and_nothing_is_written() {
    let h = Harness::new(TestDb::sqlite().await).await;
    let driver = impatient_driver(&h, budget(2)).await;
    let mut holder = hold_lock(&h.test_db.url, 3_000);
    let aborted = driver.abort(RUN_ID, "ann".into()).await;
    let _ = holder.kill();
    holder.wait().unwrap();
    assert_eq!(aborted.unwrap_err().code(), Code::DatabaseBusy);
    assert_eq!(h.run_row().await.state, RunState::Executing);
}
