//! What the agent gets wrong: an invalid artifact repaired, no artifact at all (a human gate).

use crate::support::{Phase, World, instructions};

#[test]
fn an_invalid_artifact_is_repaired_once() {
    let world = World::new();
    let workflow = world.workflow(&[Phase::new("plan", "invalid")]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "inv"]);
    assert_eq!(run.code, 0, "{run:?}");
    let kinds = world.event_kinds("inv");
    for kind in ["artifact.invalid", "prompt.repaired", "artifact.validated", "run.completed"] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
    let prompts = world.prompts();
    assert_eq!(prompts.len(), 2, "{prompts:#?}");
    assert!(prompts[1].contains("Scenario: ok"), "the repair prompt carries the repair scenario");
    assert_eq!(world.artifact("plan")["title"], "plan");
}

#[test]
fn no_artifact_stops_at_a_human_gate_and_resume_retries_or_takes_a_hand_written_artifact() {
    let world = World::new();
    let plan = Phase {
        instructions: instructions("plan", "none", "none", ""),
        timeout_ms: 1_500,
        ..Phase::new("plan", "none")
    };
    let workflow = world.workflow(&[plan]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "gate"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stdout.contains("paused at a human gate"), "{run:?}");
    let table = world.devflow(&["status", "gate"]);
    assert!(table.stdout.contains("  hint: "), "the gate's hint is in the table: {table:?}");
    // Tables give times as people read them: local time and age, never epoch milliseconds.
    let runs = world.devflow(&["status"]);
    for table in [&table.stdout, &runs.stdout] {
        assert!(table.contains("just now") || table.contains(" s ago"), "no age in {table}");
        let longest_number = table.split(|c: char| !c.is_ascii_digit()).map(str::len).max();
        assert!(longest_number < Some(13), "an epoch in ms in {table}");
    }
    let status = world.status("gate");
    assert_eq!(status["state"], "paused");
    assert_eq!(status["phases"][0]["state"], "failed");
    assert_eq!(status["gates"][0]["state"], "pending");
    assert_eq!(world.prompts().len(), 2, "the prompt and its one repair");

    // The agent still writes nothing: resume retries the phase (a new attempt, a fresh agent)
    // and stops at the gate again.
    let run = world.devflow(&["resume", "gate"]);
    assert_eq!(run.code, 3, "{run:?}");
    let status = world.status("gate");
    assert_eq!(status["gates"][0]["state"], "approved");
    assert_eq!(status["gates"][0]["decided_by"], "tester");
    assert_eq!(status["gates"][1]["state"], "pending");
    assert!(status["phases"][0]["attempts"].as_u64().unwrap() >= 3);
    let events = world.events("gate");
    assert!(events.iter().any(|e| e["type"] == "run.resumed"));
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "phase.started" && e["payload"]["restart"] == "after_gate")
    );

    // A person writes the artifact by hand: resume takes it, asks no agent, and completes.
    let prompts = world.prompts().len();
    let path = world.worktree().join("out/plan.json");
    std::fs::write(&path, r#"{"title": "by hand", "steps": ["one"]}"#).unwrap();
    let run = world.devflow(&["resume", "gate"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(world.status("gate")["state"], "completed");
    assert_eq!(world.artifact("plan")["title"], "by hand");
    assert_eq!(world.prompts().len(), prompts, "no agent was prompted");
}

#[test]
fn abort_ends_a_waiting_run_and_stops_its_agents() {
    let world = World::new();
    let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
    let workflow = world.workflow(&[plan]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "ab"]);
    assert_eq!(run.code, 3, "{run:?}");
    let run = world.devflow(&["abort", "ab"]);
    assert_eq!(run.code, 0, "{run:?}");
    let status = world.status("ab");
    assert_eq!(status["state"], "aborted");
    assert_eq!(status["gates"][0]["state"], "rejected");
    assert!(
        world
            .events("ab")
            .iter()
            .any(|e| e["type"] == "run.aborted" && e["idempotency_key"] == "run.aborted:ab")
    );
    let socket = world.worktree().join(".devflow/tmux.sock");
    let panes = std::process::Command::new("tmux")
        .arg("-S")
        .arg(&socket)
        .args(["list-panes", "-a"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&panes.stdout).trim().is_empty(), "agents left: {panes:?}");
    let again = world.devflow(&["approve", "ab"]);
    assert_eq!(again.code, 2, "{again:?}");
}

#[test]
fn a_crashed_agent_is_restarted_and_what_it_showed_before_stays_in_the_transcript() {
    let world = World::new();
    let plan = Phase { timeout_ms: 2_000, ..Phase::new("plan", "crash") };
    let workflow = world.workflow(&[plan]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "cr"]);
    assert_eq!(run.code, 0, "{run:?}");
    let kinds = world.event_kinds("cr");
    for kind in ["session.crashed", "session.recovered", "prompt.repaired", "run.completed"] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
    let transcript = world.devflow(&["transcript", "cr"]);
    assert_eq!(transcript.code, 0, "{transcript:?}");
    // Restarting the agent clears its pane: what it showed before is kept only if it was
    // captured first.
    assert!(transcript.stdout.contains("crashing (exit status 3)"), "{}", transcript.stdout);
    assert!(transcript.stdout.contains("wrote artifact"), "{}", transcript.stdout);
}

/// Issue 17, defect 11: the run's worktree and tmux socket come from the run, never from the
/// directory `approve` is called from, on either database (named with `--db` only).
#[tokio::test(flavor = "multi_thread")]
async fn approve_from_another_directory_drives_the_agents_of_the_runs_worktree() {
    for (backend, world) in World::on_every_backend().await {
        let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
        let build = Phase { role: "builder", ..Phase::new("build", "ok") };
        let workflow = world.workflow(&[plan, build]);
        let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "far"]);
        assert_eq!(run.code, 3, "{backend}: {run:?}");

        let elsewhere = tempfile::tempdir().unwrap();
        let db = world.database_url();
        for args in [&["transcript", "far"][..], &["approve", "far"], &["status", "far"]] {
            let mut command = world.command(args);
            command
                .arg("--db")
                .arg(&db)
                .env_remove("DEVFLOW_DATABASE_URL")
                .current_dir(elsewhere.path());
            let done = crate::support::finish(command.spawn().unwrap(), args);
            assert_eq!(done.code, 0, "{backend}: {args:?}: {done:?}");
        }
        assert_eq!(world.status("far")["state"], "completed", "{backend}");
        assert_eq!(world.artifact("build")["title"], "build", "{backend}");
        // The build phase's agent ran in the run's worktree, on its tmux server.
        assert_eq!(world.prompts().len(), 2, "{backend}");
        let left: Vec<_> = std::fs::read_dir(elsewhere.path()).unwrap().collect();
        assert!(left.is_empty(), "{backend}: approve wrote into the current directory: {left:?}");
    }
}

/// Issue 12: agents do not outlive their runs unasked — a run that ends stops them, its whole
/// process tree; `keep_agents` keeps them for a look, and `abort` of the ended run stops them.
#[test]
fn a_run_that_ends_stops_its_agents_unless_its_workflow_keeps_them() {
    let world = World::new();
    let workflow = world.workflow(&[Phase::new("plan", "ok")]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "ends"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(world.panes().is_empty(), "agents left: {:?}", world.panes());

    let kept = workflow.with_file_name("kept.toml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    std::fs::write(&kept, format!("keep_agents = true\n{text}")).unwrap();
    let run = world.devflow(&["run", kept.to_str().unwrap(), "--run-id", "kept"]);
    assert_eq!(run.code, 0, "{run:?}");
    let pids = world.panes();
    assert_eq!(pids.len(), 1, "the agent is kept: {pids:?}");
    let run = world.devflow(&["abort", "kept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("had completed already; its agents were stopped"), "{run:?}");
    assert!(world.panes().is_empty(), "agents left: {:?}", world.panes());
    // Killed, it is gone as soon as its parent has reaped it.
    let proc = std::path::Path::new("/proc").join(&pids[0]);
    crate::support::eventually(
        "the agent's process to end",
        std::time::Duration::from_secs(10),
        || std::fs::read_to_string(proc.join("stat")).map_or(true, |stat| stat.contains(") Z ")),
    );
    assert_eq!(world.status("kept")["state"], "completed", "abort changes an ended run nothing");
}
