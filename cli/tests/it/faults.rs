//! The command line's smaller faults: hostile ids and text, a role that does not exist, runs
//! that cannot go on, agents that are not there.

use std::os::unix::fs::PermissionsExt;

use crate::support::{Phase, World, finish, instructions};

#[test]
fn a_run_id_with_control_characters_is_refused_and_nothing_is_written() {
    let world = World::new();
    let workflow = world.workflow(&[Phase::new("plan", "ok")]);
    for id in ["a\x1b[201~\rb", "a\nb", "", "a.b", &"x".repeat(65)] {
        let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", id]);
        assert_eq!(run.code, 2, "{id:?}: {run:?}");
        assert!(run.stderr.contains("is not a run id"), "{id:?}: {}", run.stderr);
        assert!(!run.stderr.contains('\x1b') && !run.stderr.contains('\r'), "{:?}", run.stderr);
        assert!(!world.worktree().join(".devflow").exists(), "{id:?}: something was written");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn text_from_the_database_never_reaches_the_terminal_raw() {
    let world = World::new();
    let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
    let workflow = world.workflow(&[plan]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "tx"]);
    assert_eq!(run.code, 3, "{run:?}");
    let mut approve = world.command(&["approve", "tx", "--note", "ok\x1b[2J"]);
    approve.env("USER", "\x1b[31mreviewer\u{9b}1m");
    let approve = finish(approve.spawn().unwrap(), &["approve"]);
    assert_eq!(approve.code, 0, "{approve:?}");
    // A run that some other program wrote, every name in it hostile.
    let hostile = "x\x1b]0;owned\x07\u{9b}2J\ry";
    let url = format!("sqlite://{}", world.worktree().join(".devflow/devflow.db").display());
    let db = devflow_db::Db::connect(&url).await.unwrap();
    db.write(move |tx| {
        Box::pin(async move {
            let run = devflow_db::NewRun {
                id: hostile.to_owned(),
                workflow: hostile.to_owned(),
                state: devflow_core::RunState::Executing,
                worktree: hostile.to_owned(),
                definition: serde_json::json!({}),
            };
            tx.insert_run(&run).await?;
            let phase = devflow_db::NewPhase {
                id: devflow_db::new_id(),
                run_id: hostile.to_owned(),
                phase_key: hostile.to_owned(),
                ordinal: 0,
            };
            tx.insert_phase(&phase).await
        })
    })
    .await
    .unwrap();
    let commands: [&[&str]; 8] = [
        &["status"],
        &["status", "--json"],
        &["status", "tx"],
        &["status", "tx", "--json"],
        &["events", "tx"],
        &["events", "tx", "--json"],
        &["status", hostile],
        &["events", hostile],
    ];
    for args in commands {
        let run = world.devflow(args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        for c in ['\x1b', '\x07', '\u{9b}', '\r'] {
            assert!(!run.stdout.contains(c), "{args:?} printed {c:?}: {:?}", run.stdout);
        }
    }
    let unknown = world.devflow(&["status", "no\x1b[2Jrun"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(!unknown.stderr.contains('\x1b'), "{:?}", unknown.stderr);
    // JSON keeps the exact text, escaped.
    let status = world.status("tx");
    assert_eq!(status["gates"][0]["decided_by"], "\x1b[31mreviewer\u{9b}1m");
    assert_eq!(world.status(hostile)["workflow"], hostile);
}

#[test]
fn transcript_of_a_role_the_run_does_not_have_names_the_roles_it_has() {
    let world = World::new();
    let workflow = world.workflow(&[Phase::new("plan", "ok")]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "tr"]);
    assert_eq!(run.code, 0, "{run:?}");
    let nobody = world.devflow(&["transcript", "tr", "--role", "nobody"]);
    assert_eq!(nobody.code, 2, "{nobody:?}");
    assert!(
        nobody.stderr.contains("has no role \"nobody\"; its roles are: agent"),
        "{}",
        nobody.stderr
    );
    let agent = world.devflow(&["transcript", "tr", "--role", "agent"]);
    assert_eq!(agent.code, 0, "{agent:?}");
    assert!(agent.stdout.contains("=== role agent"), "{}", agent.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_ended_cannot_be_resumed() {
    let world = World::new();
    let workflow = world.workflow(&[Phase { gate: Some("g"), ..Phase::new("plan", "ok") }]);
    let workflow = workflow.to_str().unwrap();
    for id in ["done", "gone", "bad"] {
        let run = world.devflow(&["run", workflow, "--run-id", id]);
        assert_eq!(run.code, 3, "{run:?}");
    }
    assert_eq!(world.devflow(&["approve", "done"]).code, 0);
    assert_eq!(world.devflow(&["abort", "gone"]).code, 0);
    // A fatal error leaves its run failed; set it so directly.
    let url = format!("sqlite://{}", world.worktree().join(".devflow/devflow.db").display());
    let db = devflow_db::Db::connect(&url).await.unwrap();
    db.step("bad", |tx, run| {
        Box::pin(async move {
            tx.set_run_state(&run.id, devflow_core::RunState::Failed, None, None).await
        })
    })
    .await
    .unwrap();
    for (id, says) in [
        ("bad", "run bad failed; a failed run cannot be resumed: start a new run"),
        ("done", "run done completed; a completed run cannot be resumed: start a new run"),
        ("gone", "run gone was aborted; an aborted run cannot be resumed: start a new run"),
    ] {
        let run = world.devflow(&["resume", id]);
        assert_eq!(run.code, 2, "{id}: {run:?}");
        assert!(run.stderr.contains(says), "{id}: {}", run.stderr);
    }
}

#[test]
fn a_role_command_not_on_path_is_refused_before_the_run_starts_or_drives_on() {
    let world = World::new();
    let agent = world.worktree().parent().unwrap().join("builder-agent");
    std::fs::write(
        &agent,
        format!("#!/bin/sh\nexec {} agent-sim --work-ms 60\n", crate::support::DEVFLOW),
    )
    .unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
    let build = Phase {
        role: "builder",
        instructions: instructions("build", "ok", "ok", ""),
        ..Phase::new("build", "ok")
    };
    let workflow = world.workflow(&[plan, build]);
    let text = std::fs::read_to_string(&workflow).unwrap();
    let builder = "[roles.builder]\ncommand = [\"devflow\", \"agent-sim\", \"--work-ms\", \"60\"]";
    assert!(text.contains(builder));
    let missing =
        text.replace(builder, "[roles.builder]\ncommand = [\"no-such-agent-cli\", \"--yes\"]");
    let missing_path = workflow.with_file_name("missing.toml");
    std::fs::write(&missing_path, missing).unwrap();
    let run = world.devflow(&["run", missing_path.to_str().unwrap(), "--run-id", "m1"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("role builder's command \"no-such-agent-cli\" is not on PATH"),
        "{}",
        run.stderr
    );
    assert!(!world.worktree().join(".devflow").exists(), "a refused run wrote something");

    std::fs::write(
        &workflow,
        text.replace(
            builder,
            &format!("[roles.builder]\ncommand = [{:?}]", agent.display().to_string()),
        ),
    )
    .unwrap();
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "m2"]);
    assert_eq!(run.code, 3, "{run:?}");
    std::fs::remove_file(&agent).unwrap();
    for args in [&["approve", "m2"][..], &["reject", "m2", "--note", "n"], &["resume", "m2"]] {
        let run = world.devflow(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(&format!(
                "role builder's command {:?} is not on PATH",
                agent.display().to_string()
            )),
            "{}",
            run.stderr
        );
    }
    let status = world.status("m2");
    assert_eq!(status["state"], "awaiting_approval");
    assert_eq!(status["gates"][0]["state"], "pending");
}
