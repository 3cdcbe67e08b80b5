//! `tui_sessions` and `tui_transcripts`: insert-if-absent, partial updates, ordered transcripts.

use devflow_core::{Code, Move, RunState, SessionState};
use devflow_db::testing::TestDb;
use devflow_db::{NewSession, SessionRow, SessionUpdate, new_id};

use crate::{conformance, expect_code, seed_run};

conformance!(
    a_session_is_inserted_once_and_found_by_role,
    a_session_update_changes_only_what_is_given,
    transcripts_are_stored_once_per_seq_in_order,
    a_role_claims_one_session_and_later_claims_find_it,
    a_blind_guarded_move_applies_or_fails_the_step_with_the_refusal,
    recorded_transcripts_are_stored_once_and_replays_add_nothing,
    a_required_session_is_its_row_or_session_not_found,
);

async fn insert_session(t: &TestDb, run_id: &str, role_id: &str, id: &str) -> bool {
    let (run_id, role_id, id) = (run_id.to_owned(), role_id.to_owned(), id.to_owned());
    t.db.write(move |tx| {
        Box::pin(async move {
            tx.insert_session_if_absent(&NewSession {
                id: &id,
                run_id: &run_id,
                role_id: &role_id,
                backend: "fake",
                cwd: "/work/tree",
                expected_artifact_path: "out/plan.json",
                expected_schema: "plan.schema.json",
                state: SessionState::Created,
            })
            .await
        })
    })
    .await
    .unwrap()
}

async fn session(t: &TestDb, id: &str) -> Option<SessionRow> {
    let id = id.to_owned();
    t.db.read(move |tx| Box::pin(async move { tx.session(&id).await })).await.unwrap()
}

async fn a_session_is_inserted_once_and_found_by_role(t: &TestDb) {
    let (run, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let (planner, reviewer) = (new_id(), new_id());
    assert!(insert_session(t, &run, "planner", &planner).await);
    assert!(!insert_session(t, &run, "planner", &planner).await, "a second insert does nothing");
    assert!(insert_session(t, &run, "reviewer", &reviewer).await);

    let row = session(t, &planner).await.expect("stored");
    assert_eq!(row.id, planner);
    assert_eq!(row.run_id, run);
    assert_eq!(row.role_id, "planner");
    assert_eq!(row.backend, "fake");
    assert_eq!(row.cwd, "/work/tree");
    assert_eq!(row.expected_artifact_path, "out/plan.json");
    assert_eq!(row.expected_schema, "plan.schema.json");
    assert_eq!(row.state, SessionState::Created);
    assert_eq!((row.last_prompt_hash.clone(), row.last_prompt_at), (None, None));
    assert_eq!((row.recovery_attempts, row.last_capture_seq), (0, 0));
    assert_eq!(row.last_known_pane_pid, None);
    assert_eq!(
        (row.tmux_session.clone(), row.tmux_window.clone(), row.tmux_pane.clone()),
        (None, None, None)
    );
    assert!(row.created_at > 0);
    assert_eq!(session(t, "no-such-session").await, None);

    let run_id = run.clone();
    let (for_role, no_role, all) =
        t.db.read(move |tx| {
            Box::pin(async move {
                Ok((
                    tx.session_for_role(&run_id, "reviewer").await?,
                    tx.session_for_role(&run_id, "nobody").await?,
                    tx.sessions(&run_id).await?,
                ))
            })
        })
        .await
        .unwrap();
    assert_eq!(for_role.map(|s| s.id), Some(reviewer.clone()));
    assert_eq!(no_role, None);
    let mut ids: Vec<String> = all.into_iter().map(|s| s.id).collect();
    ids.sort();
    let mut expected = vec![planner, reviewer];
    expected.sort();
    assert_eq!(ids, expected);
}

async fn a_session_update_changes_only_what_is_given(t: &TestDb) {
    let (run, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let id = new_id();
    insert_session(t, &run, "planner", &id).await;
    let before = session(t, &id).await.unwrap();

    let update = SessionUpdate {
        state: Some(SessionState::Busy),
        last_prompt_hash: Some("hash-1".to_owned()),
        last_prompt_at: Some(1_234),
        ..SessionUpdate::default()
    };
    let sid = id.clone();
    t.db.step(&run, move |tx, _| Box::pin(async move { tx.update_session(&sid, &update).await }))
        .await
        .unwrap();
    let busy = session(t, &id).await.unwrap();
    assert_eq!(
        busy,
        SessionRow {
            state: SessionState::Busy,
            last_prompt_hash: Some("hash-1".to_owned()),
            last_prompt_at: Some(1_234),
            ..before
        }
    );

    let full = SessionUpdate {
        state: Some(SessionState::Ready),
        cwd: Some("/other".to_owned()),
        expected_artifact_path: Some("out/review.json".to_owned()),
        expected_schema: Some("review.schema.json".to_owned()),
        last_prompt_hash: Some("hash-2".to_owned()),
        last_prompt_at: Some(5_678),
        recovery_attempts: Some(3),
        last_capture_seq: Some(42),
        last_known_pane_pid: Some(4_242),
        tmux_session: Some("devflow-run".to_owned()),
        tmux_window: Some("@1".to_owned()),
        tmux_pane: Some("%7".to_owned()),
        artifact_baseline: Some("12:34:56".to_owned()),
    };
    let (sid, update) = (id.clone(), full.clone());
    t.db.write(move |tx| Box::pin(async move { tx.update_session(&sid, &update).await }))
        .await
        .unwrap();
    let after = session(t, &id).await.unwrap();
    assert_eq!(
        after,
        SessionRow {
            id: id.clone(),
            run_id: run.clone(),
            role_id: "planner".to_owned(),
            backend: "fake".to_owned(),
            cwd: "/other".to_owned(),
            expected_artifact_path: "out/review.json".to_owned(),
            expected_schema: "review.schema.json".to_owned(),
            state: SessionState::Ready,
            last_prompt_hash: Some("hash-2".to_owned()),
            last_prompt_at: Some(5_678),
            recovery_attempts: 3,
            last_capture_seq: 42,
            last_known_pane_pid: Some(4_242),
            tmux_session: Some("devflow-run".to_owned()),
            tmux_window: Some("@1".to_owned()),
            tmux_pane: Some("%7".to_owned()),
            created_at: busy.created_at,
            artifact_baseline: Some("12:34:56".to_owned()),
        }
    );

    // An empty update changes nothing; a missing session is corruption either way.
    let sid = id.clone();
    t.db.write(move |tx| {
        Box::pin(async move { tx.update_session(&sid, &SessionUpdate::default()).await })
    })
    .await
    .unwrap();
    assert_eq!(session(t, &id).await.unwrap(), after);
    for update in [SessionUpdate::default(), full] {
        let result =
            t.db.write(move |tx| {
                Box::pin(async move { tx.update_session("no-such-session", &update).await })
            })
            .await;
        expect_code(result, Code::InternalStateCorruption);
    }
}

async fn transcripts_are_stored_once_per_seq_in_order(t: &TestDb) {
    let (run, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let id = new_id();
    insert_session(t, &run, "planner", &id).await;
    let sid = id.clone();
    let (inserted, rows) =
        t.db.write(move |tx| {
            Box::pin(async move {
                let inserted = [
                    tx.append_transcripts(&sid, &[(2, "second\n"), (1, "first\n")]).await?,
                    tx.append_transcripts(&sid, &[(2, "second, replayed\n"), (3, "third\n")])
                        .await?,
                    tx.append_transcripts(&sid, &[]).await?,
                ];
                Ok((inserted, tx.transcripts(&sid).await?))
            })
        })
        .await
        .unwrap();
    assert_eq!(inserted, [2, 1, 0]);
    let chunks: Vec<(i64, &str)> = rows.iter().map(|row| (row.seq, row.text.as_str())).collect();
    assert_eq!(chunks, [(1, "first\n"), (2, "second\n"), (3, "third\n")]);
    assert!(rows.iter().all(|row| row.session_id == id && row.captured_at > 0));

    let orphan =
        t.db.write(|tx| {
            Box::pin(async move { tx.append_transcripts("no-such-session", &[(1, "x")]).await })
        })
        .await;
    expect_code(orphan, Code::InvalidInput);
}

fn new_session<'a>(run_id: &'a str, id: &'a str) -> NewSession<'a> {
    NewSession {
        id,
        run_id,
        role_id: "planner",
        backend: "fake",
        cwd: "/work/tree",
        expected_artifact_path: "out/plan.json",
        expected_schema: "plan.schema.json",
        state: SessionState::Created,
    }
}

async fn a_role_claims_one_session_and_later_claims_find_it(t: &TestDb) {
    let (run, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let (first, second) = (new_id(), new_id());
    let claim = |id: String| {
        let run = run.clone();
        async move {
            t.db.step(&run.clone(), move |tx, _| {
                Box::pin(async move { tx.claim_role_session(&new_session(&run, &id)).await })
            })
            .await
            .unwrap()
        }
    };
    assert_eq!(claim(first.clone()).await, None, "no session yet: the claim inserts one");
    let found = claim(second.clone()).await.expect("the role has a session now");
    assert_eq!((found.id.as_str(), found.state), (first.as_str(), SessionState::Created));
    assert_eq!(session(t, &second).await, None, "a later claim inserts nothing");
    let again = claim(first.clone()).await;
    assert_eq!(again, None, "a claim replayed under the stored id finds no other session");
    assert_eq!(session(t, &first).await.map(|row| row.id), Some(first));
}

async fn a_blind_guarded_move_applies_or_fails_the_step_with_the_refusal(t: &TestDb) {
    let (run, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let id = new_id();
    insert_session(t, &run, "planner", &id).await;
    let move_to = |sid: String, to: SessionState, rule: Move| {
        let run = run.clone();
        async move {
            t.db.step(&run, move |tx, _| {
                Box::pin(async move {
                    let update = SessionUpdate {
                        last_prompt_hash: Some("hash-1".to_owned()),
                        ..SessionUpdate::default()
                    };
                    tx.move_session(&sid, to, rule, update).await
                })
            })
            .await
        }
    };
    move_to(id.clone(), SessionState::Bootstrapping, Move::Transition).await.unwrap();
    let row = session(t, &id).await.unwrap();
    let moved = (row.state, row.last_prompt_hash.as_deref());
    assert_eq!(moved, (SessionState::Bootstrapping, Some("hash-1")));
    move_to(id.clone(), SessionState::Bootstrapping, Move::Assign).await.expect("staying put");

    let refused = move_to(id.clone(), SessionState::Bootstrapping, Move::Transition).await;
    let error = refused.expect_err("staying put is no transition");
    assert_eq!(error.code(), Code::InternalStateCorruption);
    assert_eq!(error.recovery_hint(), Some("session_state=BOOTSTRAPPING"));
    let refused = move_to(id.clone(), SessionState::Busy, Move::Assign).await;
    assert_eq!(refused.expect_err("BOOTSTRAPPING -> BUSY").code(), Code::InternalStateCorruption);
    assert_eq!(session(t, &id).await.unwrap().state, SessionState::Bootstrapping, "rolled back");
    let missing = move_to(new_id(), SessionState::Ready, Move::Assign).await;
    assert_eq!(missing.expect_err("no such session").code(), Code::SessionNotFound);
}

async fn recorded_transcripts_are_stored_once_and_replays_add_nothing(t: &TestDb) {
    let (run, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let id = new_id();
    insert_session(t, &run, "planner", &id).await;
    let sid = id.clone();
    let rows =
        t.db.step(&run, move |tx, _| {
            Box::pin(async move {
                tx.record_transcripts(&sid, &[(2, "second\n"), (1, "first\n")]).await?;
                tx.record_transcripts(&sid, &[(2, "second, replayed\n"), (3, "third\n")]).await?;
                tx.record_transcripts(&sid, &[]).await?;
                tx.transcripts(&sid).await
            })
        })
        .await
        .unwrap();
    let chunks: Vec<(i64, &str)> = rows.iter().map(|row| (row.seq, row.text.as_str())).collect();
    assert_eq!(chunks, [(1, "first\n"), (2, "second\n"), (3, "third\n")]);
}

async fn a_required_session_is_its_row_or_session_not_found(t: &TestDb) {
    let (run, _) = seed_run(&t.db, RunState::Executing, 0).await;
    let id = new_id();
    insert_session(t, &run, "planner", &id).await;
    let require =
        |sid: String| t.db.read(move |tx| Box::pin(async move { tx.require_session(&sid).await }));
    let row = require(id.clone()).await.unwrap();
    assert_eq!((row.id.as_str(), row.state), (id.as_str(), SessionState::Created));
    let missing = require("no-such-session".to_owned()).await.unwrap_err();
    assert_eq!(missing.code(), Code::SessionNotFound);
    assert!(missing.message().contains("no-such-session"), "{missing}");
}
