//! `notifications`: the outbox — once per event, claimed by one notifier at a time, delivered
//! sink by sink, retried and given up.

use devflow_core::RunState;
use devflow_db::testing::TestDb;
use devflow_db::{NewNotification, NotificationRow, NotificationState};

use crate::{conformance, seed_run};

conformance!(
    a_notification_is_recorded_once_per_event,
    a_claim_keeps_a_second_notifier_out_until_it_runs_out,
    delivery_is_recorded_sink_by_sink_and_failures_retry_then_give_up,
    new_events_and_artifacts_are_listed_across_the_run,
);

async fn record(t: &TestDb, run_id: &str, key: &str, topic: &str) {
    let (run_id, key, topic) = (run_id.to_owned(), key.to_owned(), topic.to_owned());
    t.db.write(move |tx| {
        Box::pin(async move {
            let new = NewNotification { run_id: &run_id, event_key: &key, topic: &topic };
            tx.record_notification(&new).await
        })
    })
    .await
    .unwrap();
}

async fn due(t: &TestDb, now_ms: i64, run_id: Option<&str>) -> Vec<NotificationRow> {
    let run_id = run_id.map(str::to_owned);
    t.db.read(move |tx| {
        Box::pin(async move { tx.due_notifications(now_ms, run_id.as_deref()).await })
    })
    .await
    .unwrap()
}

async fn claim(t: &TestDb, id: i64, owner: &str, now_ms: i64) -> bool {
    let owner = owner.to_owned();
    t.db.write(move |tx| {
        Box::pin(async move { tx.claim_notification(id, &owner, now_ms, now_ms + 1_000).await })
    })
    .await
    .unwrap()
}

async fn listed(t: &TestDb, run_id: &str) -> Vec<NotificationRow> {
    let run_id = run_id.to_owned();
    t.db.read(move |tx| Box::pin(async move { tx.notifications(&run_id).await })).await.unwrap()
}

async fn a_notification_is_recorded_once_per_event(t: &TestDb) {
    let (run, _) = seed_run(&t.db, RunState::Executing, 1).await;
    let (other, _) = seed_run(&t.db, RunState::Executing, 1).await;
    record(t, &run, "run.completed:a", "run_completed").await;
    record(t, &run, "run.completed:a", "run_completed").await;
    record(t, &other, "run.failed:b", "run_failed").await;
    let rows = listed(t, &run).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!((row.topic.as_str(), row.state), ("run_completed", NotificationState::Pending));
    assert_eq!((row.attempts, row.delivered.len()), (0, 0));
    let now = devflow_db::now_ms() + 1;
    assert_eq!(due(t, now, None).await.len(), 2);
    assert_eq!(due(t, now, Some(&run)).await.len(), 1);
}

async fn a_claim_keeps_a_second_notifier_out_until_it_runs_out(t: &TestDb) {
    let (run, _) = seed_run(&t.db, RunState::Executing, 1).await;
    record(t, &run, "approval.requested:x", "gate_opened").await;
    let now = devflow_db::now_ms() + 1;
    let id = due(t, now, Some(&run)).await[0].id;
    assert!(claim(t, id, "one", now).await);
    assert!(!claim(t, id, "two", now).await, "a live claim is the first notifier's");
    assert!(due(t, now, Some(&run)).await.is_empty(), "a claimed row is not due");
    // The first notifier died: its claim runs out and the second takes the row.
    assert!(claim(t, id, "two", now + 1_001).await);
    assert_eq!(due(t, now + 5_000, Some(&run)).await.len(), 1, "an expired claim is due again");
}

async fn delivery_is_recorded_sink_by_sink_and_failures_retry_then_give_up(t: &TestDb) {
    let (run, _) = seed_run(&t.db, RunState::Executing, 1).await;
    record(t, &run, "run.failed:r", "run_failed").await;
    let now = devflow_db::now_ms() + 1;
    let id = due(t, now, None).await.iter().find(|row| row.run_id == run).unwrap().id;
    assert!(claim(t, id, "one", now).await);
    let first = vec!["webhook".to_owned()];
    let held =
        t.db.write(move |tx| {
            Box::pin(async move { tx.notification_delivered(id, "one", &first, false).await })
        })
        .await
        .unwrap();
    assert!(held);
    t.db.write(move |tx| {
        Box::pin(
            async move { tx.notification_failed(id, "one", "exit status 1", Some(now + 50)).await },
        )
    })
    .await
    .unwrap();
    let row = listed(t, &run).await.remove(0);
    assert_eq!((row.state, row.attempts), (NotificationState::Pending, 1));
    assert_eq!(row.delivered, ["webhook"]);
    assert_eq!(row.last_error.as_deref(), Some("exit status 1"));
    assert!(due(t, now, Some(&run)).await.is_empty(), "not due before its retry time");
    assert_eq!(due(t, now + 50, Some(&run)).await.len(), 1);

    // A notifier that lost its claim records nothing.
    let stranger = vec!["x".to_owned()];
    let held =
        t.db.write(move |tx| {
            Box::pin(async move { tx.notification_delivered(id, "two", &stranger, true).await })
        })
        .await
        .unwrap();
    assert!(!held);

    assert!(claim(t, id, "one", now + 50).await);
    t.db.write(move |tx| {
        Box::pin(async move { tx.notification_failed(id, "one", "gave up", None).await })
    })
    .await
    .unwrap();
    let row = listed(t, &run).await.remove(0);
    assert_eq!((row.state, row.attempts), (NotificationState::Failed, 2));
    assert!(due(t, now + 1_000_000, Some(&run)).await.is_empty(), "a given-up row stays given up");

    record(t, &run, "run.completed:r", "run_completed").await;
    let now = devflow_db::now_ms() + 1;
    let id = due(t, now, Some(&run)).await[0].id;
    assert!(claim(t, id, "one", now).await);
    let all = vec!["webhook".to_owned(), "command".to_owned()];
    t.db.write(move |tx| {
        Box::pin(async move { tx.notification_delivered(id, "one", &all, true).await })
    })
    .await
    .unwrap();
    let row = listed(t, &run).await.remove(1);
    assert_eq!(row.state, NotificationState::Sent);
    assert!(row.sent_at.is_some() && row.claimed_by.is_none());
}

async fn new_events_and_artifacts_are_listed_across_the_run(t: &TestDb) {
    let before = t.db.read(|tx| Box::pin(async move { tx.latest_event_id().await })).await.unwrap();
    let (run, _) = seed_run(&t.db, RunState::Executing, 1).await;
    let id = run.clone();
    t.db.write(move |tx| {
        Box::pin(async move {
            for n in 0..3 {
                let payload = serde_json::json!({"n": n});
                let key = format!("test:{id}:{n}");
                let event = devflow_db::NewEvent {
                    run_id: &id,
                    phase_id: None,
                    kind: "test.event",
                    payload: &payload,
                    idempotency_key: &key,
                };
                tx.append_event(&event).await?;
            }
            Ok(())
        })
    })
    .await
    .unwrap();
    let latest = t.db.read(|tx| Box::pin(async move { tx.latest_event_id().await })).await.unwrap();
    assert!(latest > before);
    let new = t.db.read(move |tx| Box::pin(async move { tx.events_since(before).await })).await;
    let new = new.unwrap();
    assert_eq!(new.len(), 3);
    assert_eq!(new.last().unwrap().id, latest);
    let id = run.clone();
    let artifacts =
        t.db.read(move |tx| Box::pin(async move { tx.artifacts(&id).await })).await.unwrap();
    assert!(artifacts.is_empty());
}
