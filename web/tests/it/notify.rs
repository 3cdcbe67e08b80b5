//! The notifier against the outbox: a failing sink retried then given up with its error, a
//! hanging command stopped at its timeout, a sink that took a notification never sent it
//! again, a notification with no sink done at once.

use std::path::Path;

use devflow_core::RunState;
use devflow_db::testing::TestDb;
use devflow_db::{Db, NewEvent, NewNotification, NewRun, NotificationRow, NotificationState};
use devflow_web::notify::{Notifier, Scope, Settings};
use serde_json::{Value, json};

/// A run whose stored workflow has `notify`, with a `run.completed` event and its notification.
async fn seeded(db: &Db, run_id: &str, notify: Value) {
    let definition =
        json!({"name": "w", "source": "w.toml", "roles": {}, "phases": [], "notify": notify});
    let run = NewRun {
        id: run_id.to_owned(),
        workflow: "w".into(),
        state: RunState::Completed,
        worktree: "/tmp".into(),
        definition,
    };
    let key = format!("run.completed:{run_id}");
    db.write(move |tx| {
        Box::pin(async move {
            tx.insert_run(&run).await?;
            let payload = json!({"phaseKey": "plan"});
            let event = NewEvent {
                run_id: &run.id,
                phase_id: None,
                kind: "run.completed",
                payload: &payload,
                idempotency_key: &key,
            };
            tx.append_event(&event).await?;
            tx.record_notification(&NewNotification {
                run_id: &run.id,
                event_key: &key,
                topic: "run_completed",
            })
            .await
        })
    })
    .await
    .unwrap();
}

async fn row(db: &Db, run_id: &str) -> NotificationRow {
    let id = run_id.to_owned();
    db.read(move |tx| Box::pin(async move { tx.notifications(&id).await })).await.unwrap().remove(0)
}

fn quick() -> Settings {
    Settings {
        sink_timeout_ms: 5_000,
        attempts_max: 3,
        backoff_first_ms: 1,
        backoff_max_ms: 5,
        poll_ms: 10,
        ..Settings::default()
    }
}

fn notifier(t: &TestDb, run_id: &str, settings: Settings) -> Notifier {
    Notifier::with_settings(t.db.clone(), Scope::Run(run_id.to_owned()), None, settings)
}

/// Passes until the row is no longer pending (each pass waits out the short backoff first).
async fn work_off(notifier: &Notifier, db: &Db, run_id: &str) -> NotificationRow {
    for _ in 0..50 {
        notifier.pass().await.unwrap();
        let current = row(db, run_id).await;
        if current.state != NotificationState::Pending {
            return current;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    row(db, run_id).await
}

fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter(|l| !l.is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sink_is_retried_with_backoff_then_given_up_with_its_error() {
    for t in devflow_db::testing::backends().await {
        seeded(&t.db, "fails", json!({"command": ["sh", "-c", "echo broken >&2; exit 3"]})).await;
        let done = work_off(&notifier(&t, "fails", quick()), &t.db, "fails").await;
        assert_eq!((done.state, done.attempts), (NotificationState::Failed, 3), "{}", t.name);
        let error = done.last_error.unwrap_or_default();
        assert!(
            error.starts_with("workflow.command: exit status: 3") && error.ends_with("broken"),
            "{}: {error}",
            t.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_command_is_stopped_at_its_timeout() {
    for t in devflow_db::testing::backends().await {
        seeded(&t.db, "hangs", json!({"command": ["sleep", "60"]})).await;
        let settings = Settings { sink_timeout_ms: 200, attempts_max: 1, ..quick() };
        let done = work_off(&notifier(&t, "hangs", settings), &t.db, "hangs").await;
        assert_eq!(done.state, NotificationState::Failed, "{}", t.name);
        assert!(
            done.last_error.unwrap_or_default().contains("still running after 200 ms"),
            "{}",
            t.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_took_a_notification_is_not_sent_it_again() {
    for t in devflow_db::testing::backends().await {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("got.jsonl");
        let closed =
            std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let command =
            json!(["sh", "-c", format!("cat >> '{}'; echo >> '{}'", log.display(), log.display())]);
        seeded(
            &t.db,
            "half",
            json!({"command": command, "webhook": format!("http://127.0.0.1:{closed}/")}),
        )
        .await;
        let done = work_off(&notifier(&t, "half", quick()), &t.db, "half").await;
        assert_eq!(done.state, NotificationState::Failed, "{}", t.name);
        assert_eq!(done.delivered, ["workflow.command"], "{}", t.name);
        assert!(
            done.last_error.unwrap_or_default().starts_with("workflow.webhook: cannot connect"),
            "{}",
            t.name
        );
        let got = lines(&log);
        assert_eq!(
            got.len(),
            1,
            "{}: the command had it once, though the row was tried 3 times",
            t.name
        );
        assert_eq!(got[0]["id"], "run.completed:half");
        assert_eq!(got[0]["topic"], "run_completed");
        assert_eq!(got[0]["event"]["type"], "run.completed");
        assert_eq!(got[0]["run"]["state"], "completed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_no_sink_wants_is_done_at_once_and_others_runs_are_left() {
    for t in devflow_db::testing::backends().await {
        seeded(&t.db, "quiet", json!({"on": ["gate_opened"], "command": ["false"]})).await;
        seeded(&t.db, "other", json!({"command": ["false"]})).await;
        let done = work_off(&notifier(&t, "quiet", quick()), &t.db, "quiet").await;
        assert_eq!((done.state, done.attempts), (NotificationState::Sent, 0), "{}", t.name);
        assert!(done.delivered.is_empty());
        assert_eq!(
            row(&t.db, "other").await.state,
            NotificationState::Pending,
            "another run's row is that run's driver's"
        );
    }
}
