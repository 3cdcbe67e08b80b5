//! Workers on every backend: the claim of the next submitted run (one statement, one winner per
//! run), which runs it claims, and the heartbeat that tells live workers from dead ones.

use devflow_core::RunState;
use devflow_db::testing::TestDb;
use devflow_db::{Backend, Db, Lease, WorkerRow};

use crate::lease::{claim, run_row};
use serde_json::json;

use crate::{conformance, seed_run, seed_run_of};

conformance!(
    the_next_claim_takes_the_oldest_drivable_submitted_run_on_its_host,
    a_run_on_another_host_is_claimed_by_a_worker_or_a_workflow_that_lets_its_agents_move,
    of_many_workers_claiming_at_once_each_run_goes_to_exactly_one,
    a_worker_is_live_while_it_heartbeats_and_gone_once_removed_or_silent,
    a_queued_run_and_a_lease_given_back_wake_listening_workers,
);

const LONG_MS: i64 = 60_000;

async fn claim_next(db: &Db, owner: &str, host: &str) -> Option<Lease> {
    claim_next_moving(db, owner, host, false).await
}

/// A claim by a worker that may (`moves_agents`) or may not move a run's agents to its host.
async fn claim_next_moving(db: &Db, owner: &str, host: &str, moves_agents: bool) -> Option<Lease> {
    let (owner, host) = (owner.to_owned(), host.to_owned());
    db.write(move |tx| {
        Box::pin(async move { tx.claim_next_run(&owner, &host, LONG_MS, &[], moves_agents).await })
    })
    .await
    .unwrap()
}

async fn the_next_claim_takes_the_oldest_drivable_submitted_run_on_its_host(t: &TestDb) {
    // Not for workers: a run of `devflow run` whose lease is free.
    let (foreground, _) = seed_run(&t.db, RunState::Executing, 1).await;
    assert_eq!(run_row(&t.db, &foreground).await.submitted_at, None);
    let (first, _) = seed_run(&t.db, RunState::Queued, 1).await;
    let (second, _) = seed_run(&t.db, RunState::Queued, 1).await;
    assert!(run_row(&t.db, &first).await.submitted_at.is_some(), "a queued run is submitted");

    // The first claim gives its run a host; a worker elsewhere never claims it again.
    let a = claim_next(&t.db, "worker-a", "host-1").await.expect("a queued run");
    assert_eq!((a.run_id.as_str(), a.epoch, a.takeovers), (first.as_str(), 1, 0));
    let b = claim_next(&t.db, "worker-b", "host-2").await.expect("the next queued run");
    assert_eq!(b.run_id, second);
    assert_eq!(
        claim_next(&t.db, "worker-c", "host-1").await,
        None,
        "both are held; foreground not"
    );

    // Given back (a gate, a decision): claimable again, on its own host only.
    t.db.write(move |tx| Box::pin(async move { tx.release_run_lease(&a).await })).await.unwrap();
    assert_eq!(claim_next(&t.db, "worker-b", "host-2").await, None, "first's agents are on host-1");
    let again = claim_next(&t.db, "worker-c", "host-1").await.expect("first, released");
    assert_eq!((again.run_id.as_str(), again.epoch), (first.as_str(), 2));

    // A run the worker cannot drive is skipped for the next one.
    let (third, _) = seed_run(&t.db, RunState::Queued, 1).await;
    let (owner, skip) = ("worker-c".to_owned(), vec![first.clone(), third.clone()]);
    let none = t.db.write(move |tx| {
        Box::pin(async move { tx.claim_next_run(&owner, "host-1", LONG_MS, &skip, false).await })
    });
    assert_eq!(none.await.unwrap(), None, "first is held; third is skipped");
    let third_lease = claim_next(&t.db, "worker-c", "host-1").await.expect("third, not skipped");
    assert_eq!(third_lease.run_id, third);

    // A run waiting for a person is not claimed; a run whose driver's lease ran out is.
    set_state(&t.db, &again.run_id, RunState::Paused).await;
    t.db.write(move |tx| Box::pin(async move { tx.release_run_lease(&again).await }))
        .await
        .unwrap();
    assert_eq!(claim_next(&t.db, "worker-c", "host-1").await, None, "paused: for a person");
    let (expiring, _) = seed_run(&t.db, RunState::Queued, 1).await;
    let held = claim(&t.db, &expiring, "worker-gone", 0).await.unwrap();
    // (`claim` claims on host "here", so the run's agents are there.)
    let taken = claim_next(&t.db, "worker-c", "here").await.expect("an expired lease");
    assert_eq!((taken.run_id, taken.epoch, taken.takeovers), (held.run_id, 2, 1));
}

async fn a_run_on_another_host_is_claimed_by_a_worker_or_a_workflow_that_lets_its_agents_move(
    t: &TestDb,
) {
    let (plain, _) = seed_run(&t.db, RunState::Queued, 1).await;
    let may_move = json!({"phases": 1, "name": "review", "agents_may_move": true});
    let (movable, _) = seed_run_of(&t.db, RunState::Queued, may_move).await;
    let first = claim_next(&t.db, "worker-a", "host-a").await.expect("queued runs");
    let second = claim_next(&t.db, "worker-a", "host-a").await.expect("queued runs");
    assert_eq!((&first.run_id, &second.run_id), (&plain, &movable), "oldest first");
    for held in [first, second] {
        t.db.write(move |tx| Box::pin(async move { tx.release_run_lease(&held).await }))
            .await
            .unwrap();
    }
    // Both runs' agents are on host-a now, and their leases are free.
    let b = claim_next(&t.db, "worker-b", "host-b").await.expect("the workflow lets it move");
    assert_eq!(b.run_id, movable, "a plain worker elsewhere claims only the movable run");
    assert_eq!(claim_next(&t.db, "worker-b", "host-b").await, None, "plain stays on host-a");
    let mover = claim_next_moving(&t.db, "worker-m", "host-b", true).await.expect("may move");
    assert_eq!(mover.run_id, plain);
    assert_eq!(
        run_row(&t.db, &plain).await.agent_host.as_deref(),
        Some("host-a"),
        "the claim moves nothing"
    );
    // Never a live holder, whatever may move.
    assert_eq!(claim_next_moving(&t.db, "worker-n", "host-c", true).await, None, "both held");
    // A run parked at a gate (its `agents_elsewhere` gate) waits for a person, whoever may move.
    set_state(&t.db, &mover.run_id, RunState::Paused).await;
    t.db.write(move |tx| Box::pin(async move { tx.release_run_lease(&mover).await }))
        .await
        .unwrap();
    assert_eq!(claim_next_moving(&t.db, "worker-n", "host-c", true).await, None, "paused");
}

async fn of_many_workers_claiming_at_once_each_run_goes_to_exactly_one(t: &TestDb) {
    let mut queued = Vec::new();
    for _ in 0..3 {
        queued.push(seed_run(&t.db, RunState::Queued, 1).await.0);
    }
    let racers: Vec<_> = (0..8)
        .map(|n| {
            let db = t.db.clone();
            tokio::spawn(async move { claim_next(&db, &format!("worker-{n}"), "host").await })
        })
        .collect();
    let mut won: Vec<String> = Vec::new();
    for racer in racers {
        won.extend(racer.await.unwrap().map(|lease| lease.run_id));
    }
    won.sort();
    queued.sort();
    assert_eq!(won, queued, "each queued run claimed once, by one worker");
    for run_id in &queued {
        assert_eq!(run_row(&t.db, run_id).await.lease_epoch, 1, "{run_id} claimed once");
    }
}

async fn a_worker_is_live_while_it_heartbeats_and_gone_once_removed_or_silent(t: &TestDb) {
    let worker = WorkerRow {
        id: "host:1:2:w".to_owned(),
        host: "host".to_owned(),
        pid: 1,
        version: "0.0.0".to_owned(),
        concurrency: 4,
        started_at: 0,
        heartbeat_at: 0,
    };
    let row = worker.clone();
    t.db.write(move |tx| Box::pin(async move { tx.register_worker(&row).await })).await.unwrap();
    let listed = live(&t.db, LONG_MS).await;
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].heartbeat_at > 0 && listed[0].started_at == listed[0].heartbeat_at,
        "db time"
    );
    assert_eq!((listed[0].id.as_str(), listed[0].concurrency), (worker.id.as_str(), 4));

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(live(&t.db, 10).await.is_empty(), "silent past a 10 ms ttl: dead");
    assert!(heartbeat(&t.db, &worker.id).await, "its row is there: the heartbeat lands");
    assert_eq!(live(&t.db, 10_000).await.len(), 1, "alive again");

    let id = worker.id.clone();
    t.db.write(move |tx| Box::pin(async move { tx.remove_worker(&id).await })).await.unwrap();
    assert!(live(&t.db, LONG_MS).await.is_empty());
    assert!(!heartbeat(&t.db, &worker.id).await, "a removed worker's heartbeat finds no row");
}

async fn live(db: &Db, ttl_ms: i64) -> Vec<WorkerRow> {
    db.read(move |tx| Box::pin(async move { tx.live_workers(ttl_ms).await })).await.unwrap()
}

async fn heartbeat(db: &Db, id: &str) -> bool {
    let id = id.to_owned();
    db.write(move |tx| Box::pin(async move { tx.heartbeat_worker(&id).await })).await.unwrap()
}

async fn set_state(db: &Db, run_id: &str, state: RunState) {
    let id = run_id.to_owned();
    db.write(move |tx| Box::pin(async move { tx.set_run_state(&id, state, None, None).await }))
        .await
        .unwrap();
}

async fn a_queued_run_and_a_lease_given_back_wake_listening_workers(t: &TestDb) {
    let Some(wakeups) = t.db.listen_for_runs().await.unwrap() else {
        assert_eq!(t.db.backend(), Backend::Sqlite, "only SQLite has no announcements: it polls");
        return;
    };
    let announced = || tokio::time::timeout(std::time::Duration::from_secs(10), wakeups.notified());
    let (run_id, _) = seed_run(&t.db, RunState::Queued, 1).await;
    announced().await.expect("a queued run is announced");
    let lease = claim_next(&t.db, "worker-a", "host").await.expect("the queued run");
    assert_eq!(lease.run_id, run_id);
    t.db.write(move |tx| Box::pin(async move { tx.release_run_lease(&lease).await }))
        .await
        .unwrap();
    announced().await.expect("a lease given back is announced");
}
