//! `approval_requests`: insert-or-get by key, canonical payload checks, decided once.

use devflow_core::{Code, RunState};
use devflow_db::testing::TestDb;
use devflow_db::{ApprovalRow, ApprovalState, NewApproval};
use serde_json::{Value, json};

use crate::{conformance, expect_code, seed_run};

conformance!(
    an_approval_request_is_stored_once_per_key,
    an_approval_replay_that_differs_is_corruption,
    a_request_is_decided_once,
);

async fn request(
    t: &TestDb,
    run_id: &str,
    phase_id: &str,
    gate_key: &str,
    key: &str,
    payload: Value,
) -> devflow_db::Result<ApprovalRow> {
    let (run_id, phase_id, gate_key, key) =
        (run_id.to_owned(), phase_id.to_owned(), gate_key.to_owned(), key.to_owned());
    t.db.write(move |tx| {
        Box::pin(async move {
            tx.insert_or_get_approval(&NewApproval {
                run_id: &run_id,
                phase_id: &phase_id,
                gate_key: &gate_key,
                idempotency_key: &key,
                payload: &payload,
            })
            .await
        })
    })
    .await
}

async fn an_approval_request_is_stored_once_per_key(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::AwaitingApproval, 1).await;
    let payload = json!({"recoveryHint": "look at plan.json", "attempt": 2});
    let first = request(t, &run, &phases[0], "phase_approval", "approval:p:1", payload.clone())
        .await
        .unwrap();
    assert_eq!(first.state, ApprovalState::Pending);
    assert_eq!(
        (first.run_id.as_str(), first.phase_id.as_str()),
        (run.as_str(), phases[0].as_str())
    );
    assert_eq!(first.gate_key, "phase_approval");
    assert_eq!(first.idempotency_key, "approval:p:1");
    assert_eq!(first.payload, payload);
    assert_eq!(
        (first.decided_by.clone(), first.decision_note.clone(), first.decided_at),
        (None, None, None)
    );

    // Key order does not matter: the payload is compared in canonical form.
    let reordered: Value =
        serde_json::from_str(r#"{"attempt": 2, "recoveryHint": "look at plan.json"}"#).unwrap();
    let again =
        request(t, &run, &phases[0], "phase_approval", "approval:p:1", reordered).await.unwrap();
    assert_eq!(again, first);

    let second =
        request(t, &run, &phases[0], "artifact_invalid_after_repair", "gate:p:2", json!({}))
            .await
            .unwrap();
    let run_id = run.clone();
    let listed =
        t.db.read(move |tx| Box::pin(async move { tx.approvals(&run_id).await })).await.unwrap();
    assert_eq!(listed, [first, second], "oldest first, one row per key");
}

async fn an_approval_replay_that_differs_is_corruption(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::AwaitingApproval, 2).await;
    let (other_run, _) = seed_run(&t.db, RunState::AwaitingApproval, 0).await;
    let payload = json!({"reason": "timeout"});
    request(t, &run, &phases[0], "gate", "k", payload.clone()).await.unwrap();
    let cases = [
        ("payload", request(t, &run, &phases[0], "gate", "k", json!({"reason": "crash"})).await),
        ("gate", request(t, &run, &phases[0], "other-gate", "k", payload.clone()).await),
        ("phase", request(t, &run, &phases[1], "gate", "k", payload.clone()).await),
        ("run", request(t, &other_run, &phases[0], "gate", "k", payload.clone()).await),
    ];
    for (what, result) in cases {
        eprintln!("approval replay with another {what}");
        expect_code(result, Code::InternalStateCorruption);
    }
}

async fn a_request_is_decided_once(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::AwaitingApproval, 1).await;
    let pending = request(t, &run, &phases[0], "gate", "k", json!({})).await.unwrap();
    let id = pending.id.clone();
    let decided =
        t.db.step(&run, move |tx, run| {
            Box::pin(async move {
                tx.decide_approval(&id, ApprovalState::Approved, "alice", Some("looks right"))
                    .await?;
                Ok(tx.approvals(&run.id).await?.remove(0))
            })
        })
        .await
        .unwrap();
    assert_eq!(decided.state, ApprovalState::Approved);
    assert_eq!(decided.decided_by.as_deref(), Some("alice"));
    assert_eq!(decided.decision_note.as_deref(), Some("looks right"));
    assert!(decided.decided_at.is_some());
    assert_eq!(ApprovalState::parse("approved").unwrap(), ApprovalState::Approved);

    let id = pending.id.clone();
    let twice =
        t.db.write(move |tx| {
            Box::pin(
                async move { tx.decide_approval(&id, ApprovalState::Rejected, "bob", None).await },
            )
        })
        .await;
    let error = expect_code(twice, Code::InvalidInput);
    assert!(error.message().contains("already approved"), "{error}");
    let unknown =
        t.db.write(|tx| {
            Box::pin(async move {
                tx.decide_approval("no-such-request", ApprovalState::Rejected, "bob", None).await
            })
        })
        .await;
    expect_code(unknown, Code::InvalidInput);
}
