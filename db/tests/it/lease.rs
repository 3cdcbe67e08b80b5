//! The run's lease on every backend: one holder at a time, expiry by the database's clock,
//! renewal (the heartbeat), and the fence every step of a fenced handle checks.

use devflow_core::{Code, RunState};
use devflow_db::testing::TestDb;
use devflow_db::{Db, Lease, NewEvent};
use serde_json::json;

use crate::{conformance, expect_code, seed_run};

conformance!(
    a_live_lease_admits_one_holder_and_each_claim_moves_the_epoch,
    renewal_extends_a_lease_by_the_database_clock_until_another_claims_it,
    release_frees_only_the_lease_it_names,
    of_many_claims_racing_for_an_expired_lease_exactly_one_wins,
    a_fenced_step_after_a_take_over_fails_lease_lost_and_writes_nothing,
    a_dead_holders_very_claim_is_taken_over_once_and_take_overs_are_counted,
);

const LONG_MS: i64 = 60_000;

pub async fn claim(db: &Db, run_id: &str, owner: &str, ttl_ms: i64) -> Option<Lease> {
    claim_over(db, run_id, owner, ttl_ms, None).await
}

/// A claim that may take over `dead`, a claim whose holder the caller saw dead.
pub async fn claim_over(
    db: &Db,
    run_id: &str,
    owner: &str,
    ttl_ms: i64,
    dead: Option<Lease>,
) -> Option<Lease> {
    let (id, owner) = (run_id.to_owned(), owner.to_owned());
    db.write(move |tx| {
        Box::pin(
            async move { tx.claim_run_lease(&id, &owner, "here", ttl_ms, dead.as_ref()).await },
        )
    })
    .await
    .unwrap()
}

pub async fn run_row(db: &Db, run_id: &str) -> devflow_db::RunRow {
    let id = run_id.to_owned();
    db.read(move |tx| Box::pin(async move { tx.run(&id).await })).await.unwrap().unwrap()
}

async fn a_live_lease_admits_one_holder_and_each_claim_moves_the_epoch(t: &TestDb) {
    let (run_id, _) = seed_run(&t.db, RunState::Executing, 0).await;
    assert_eq!(run_row(&t.db, &run_id).await.lease_epoch, 0);
    let a = claim(&t.db, &run_id, "driver-a", LONG_MS).await.expect("a free run is claimed");
    assert_eq!(a.epoch, 1);
    assert_eq!(claim(&t.db, &run_id, "driver-b", LONG_MS).await, None, "a live lease refuses b");
    assert_eq!(
        claim(&t.db, &run_id, "driver-a", LONG_MS).await,
        None,
        "a live lease refuses its own holder's second claim: that would be a second driver"
    );
    let row = run_row(&t.db, &run_id).await;
    assert_eq!((row.lease_owner.as_deref(), row.lease_epoch), (Some("driver-a"), 1));

    // Expiry: a lease of ttl 0 has run out at once by the database's clock.
    let (short_id, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let first = claim(&t.db, &short_id, "driver-a", 0).await.unwrap();
    let taken = claim(&t.db, &short_id, "driver-b", LONG_MS).await.expect("an expired lease");
    assert_eq!((first.epoch, taken.epoch), (1, 2), "the take-over is the next claim");

    let missing =
        t.db.write(|tx| {
            Box::pin(async move { tx.claim_run_lease("no-such-run", "x", "here", 1, None).await })
        })
        .await;
    expect_code(missing, Code::RunNotFound);
}

async fn renewal_extends_a_lease_by_the_database_clock_until_another_claims_it(t: &TestDb) {
    let (run_id, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let a = claim(&t.db, &run_id, "driver-a", 0).await.unwrap();
    let before = t.db.read(|tx| Box::pin(async move { tx.db_now_ms().await })).await.unwrap();
    let held = a.clone();
    let renewed =
        t.db.write(move |tx| Box::pin(async move { tx.renew_run_lease(&held, LONG_MS).await }))
            .await
            .unwrap();
    assert!(renewed, "an expired lease that no one claimed since is still a's to renew");
    let row = run_row(&t.db, &run_id).await;
    let expires = row.lease_expires_at.unwrap();
    assert!(
        expires >= before + LONG_MS && expires < before + LONG_MS + 10_000,
        "expiry is the database's now + ttl: {expires} vs {before}"
    );
    assert_eq!(claim(&t.db, &run_id, "driver-b", LONG_MS).await, None, "renewed: still a's");

    // Once b has claimed it (a's lease ran out), a's renewal fails: the heartbeat says lost.
    let held = a.clone();
    t.db.write(move |tx| Box::pin(async move { tx.renew_run_lease(&held, 0).await }))
        .await
        .unwrap();
    let b = claim(&t.db, &run_id, "driver-b", LONG_MS).await.expect("expired again");
    let held = a.clone();
    let renewed =
        t.db.write(move |tx| Box::pin(async move { tx.renew_run_lease(&held, LONG_MS).await }))
            .await
            .unwrap();
    assert!(!renewed, "a's lease is b's now");
    let row = run_row(&t.db, &run_id).await;
    assert_eq!((row.lease_owner.as_deref(), row.lease_epoch), (Some("driver-b"), b.epoch));
}

async fn release_frees_only_the_lease_it_names(t: &TestDb) {
    let (run_id, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let a = claim(&t.db, &run_id, "driver-a", 0).await.unwrap();
    let b = claim(&t.db, &run_id, "driver-b", LONG_MS).await.unwrap();
    let stale = a.clone();
    t.db.write(move |tx| Box::pin(async move { tx.release_run_lease(&stale).await }))
        .await
        .unwrap();
    assert_eq!(run_row(&t.db, &run_id).await.lease_owner.as_deref(), Some("driver-b"));
    t.db.write(move |tx| Box::pin(async move { tx.release_run_lease(&b).await })).await.unwrap();
    let row = run_row(&t.db, &run_id).await;
    assert_eq!((row.lease_owner, row.lease_expires_at, row.lease_epoch), (None, None, 2));
}

async fn of_many_claims_racing_for_an_expired_lease_exactly_one_wins(t: &TestDb) {
    let (run_id, _) = seed_run(&t.db, RunState::Executing, 0).await;
    claim(&t.db, &run_id, "driver-gone", 0).await.unwrap();
    let racers: Vec<_> = (0..8)
        .map(|n| {
            let (db, id) = (t.db.clone(), run_id.clone());
            tokio::spawn(async move { claim(&db, &id, &format!("driver-{n}"), LONG_MS).await })
        })
        .collect();
    let mut won = Vec::new();
    for racer in racers {
        won.extend(racer.await.unwrap());
    }
    assert_eq!(won.len(), 1, "exactly one claim wins: {won:?}");
    assert_eq!(won[0].epoch, 2);
}

async fn a_fenced_step_after_a_take_over_fails_lease_lost_and_writes_nothing(t: &TestDb) {
    let (run_id, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let a = claim(&t.db, &run_id, "driver-a", 0).await.unwrap();
    let fenced_a = t.db.fenced(a.clone());
    append(&fenced_a, &run_id, "while-a-holds").await.expect("a holds the lease: its step runs");

    let b = claim(&t.db, &run_id, "driver-b", LONG_MS).await.expect("a's lease ran out");
    let error = expect_code(append(&fenced_a, &run_id, "after-take-over").await, Code::LeaseLost);
    assert!(error.message().contains("driver-b"), "{error}");
    append(&t.db.fenced(b.clone()), &run_id, "b-holds").await.expect("b's step runs");

    // Released and claimed again by a itself: a's old claim stays fenced out.
    t.db.write(move |tx| Box::pin(async move { tx.release_run_lease(&b).await })).await.unwrap();
    let a_again = claim(&t.db, &run_id, "driver-a", LONG_MS).await.unwrap();
    expect_code(append(&fenced_a, &run_id, "old-claim").await, Code::LeaseLost);
    append(&t.db.fenced(a_again), &run_id, "new-claim").await.unwrap();

    let id = run_id.clone();
    let events =
        t.db.read(move |tx| Box::pin(async move { tx.events(&id, 0).await })).await.unwrap();
    let keys: Vec<&str> = events.iter().map(|event| event.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["while-a-holds", "b-holds", "new-claim"], "a fenced step wrote nothing");
}

/// A step that appends one event under `key`.
async fn append(db: &Db, run_id: &str, key: &str) -> devflow_db::Result<()> {
    let (id, key) = (run_id.to_owned(), key.to_owned());
    db.step(run_id, move |tx, _run| {
        Box::pin(async move {
            let event = NewEvent {
                run_id: &id,
                phase_id: None,
                kind: "test.step",
                payload: &json!({}),
                idempotency_key: &key,
            };
            tx.record_event(&event).await
        })
    })
    .await
}

async fn a_dead_holders_very_claim_is_taken_over_once_and_take_overs_are_counted(t: &TestDb) {
    let (run_id, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let a = claim(&t.db, &run_id, "driver-a", LONG_MS).await.unwrap();
    assert_eq!(a.takeovers, 0, "a free lease is no take-over");
    assert_eq!(run_row(&t.db, &run_id).await.agent_host.as_deref(), Some("here"));

    // Two drivers saw a dead: one takes its claim over, the other's CAS finds it gone.
    let b = claim_over(&t.db, &run_id, "driver-b", LONG_MS, Some(a.clone())).await;
    let b = b.expect("a live-looking lease is taken over when its very claim is named dead");
    assert_eq!((b.epoch, b.takeovers), (2, 1));
    let c = claim_over(&t.db, &run_id, "driver-c", LONG_MS, Some(a.clone())).await;
    assert_eq!(c, None, "a's claim is gone: b's is not taken over by naming a's");

    // A take-over of an expired lease counts as well; a clean release ends the series.
    let short = claim_over(&t.db, &run_id, "driver-d", 0, Some(b.clone())).await.unwrap();
    assert_eq!(short.takeovers, 2);
    let e = claim(&t.db, &run_id, "driver-e", LONG_MS).await.expect("d's lease ran out");
    assert_eq!((e.epoch, e.takeovers), (4, 3));
    t.db.write(move |tx| Box::pin(async move { tx.release_run_lease(&e).await })).await.unwrap();
    assert_eq!(run_row(&t.db, &run_id).await.lease_takeovers, 0);
    let f = claim(&t.db, &run_id, "driver-f", LONG_MS).await.unwrap();
    assert_eq!((f.epoch, f.takeovers), (5, 0), "after a clean release a claim is a fresh start");
}
