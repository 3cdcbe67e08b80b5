//! `kill -9` of the driver while it waits for an artifact, then `devflow resume`; devflow's tmux
//! server or one agent's pane killed mid-wait (issue 17, defect 10).

use std::time::Duration;

use crate::support::{Phase, World, finish, instructions};

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_waiting_then_resume_completes_with_each_prompt_once() {
    for (backend, world) in World::on_every_backend().await {
        let plan = Phase {
            instructions: instructions("plan", "slow", "ok", "Slow-Ms: 4500"),
            // 1.5 s between chunks; a starved agent on a loaded machine may stall longer, and
            // then a half artifact would be stable (resume now takes over at once).
            stable_ms: 4_000,
            ..Phase::new("plan", "slow")
        };
        let build = Phase { role: "builder", ..Phase::new("build", "ok") };
        let workflow = world.workflow(&[plan, build]);
        let mut child = world.spawn(&["run", workflow.to_str().unwrap(), "--run-id", "k9"]);
        crate::support::eventually("the plan's artifact wait", Duration::from_secs(60), || {
            let run = world.devflow(&["status", "k9", "--json"]);
            run.code == 0
                && serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()["phases"][0]["state"]
                    == "awaiting_artifact"
        });
        child.kill().unwrap(); // SIGKILL
        let killed = finish(child, &["run"]);
        assert_ne!(killed.code, 0);

        let run = world.devflow(&["resume", "k9"]);
        assert_eq!(run.code, 0, "{backend}: {run:?}");
        // The killed driver's process is gone, and this host can see it: no wait for its lease.
        assert!(run.stderr.contains("is gone (its process ended); taking the run over"), "{run:?}");
        assert!(!run.stderr.contains("waiting up to"), "{backend}: {}", run.stderr);
        assert_eq!(world.status("k9")["state"], "completed", "{backend}");
        let prompts = world.prompts();
        assert_eq!(prompts.len(), 2, "{backend}: each prompt delivered exactly once: {prompts:#?}");
        assert!(
            prompts[0].contains("Write the plan plan")
                && prompts[1].contains("Write the build plan")
        );
        let sent = world.events("k9").iter().filter(|e| e["type"] == "prompt.sent").count();
        assert_eq!(sent, 2, "{backend}");
        assert_eq!(world.artifact("plan")["title"], "plan");
    }
}

/// Issue 17, defect 10: devflow's tmux server killed while a phase waits is a crash of the
/// session: at the timeout the agent is found gone, started again, and asked once to repair —
/// not a failed run blamed on an artifact that never came.
#[tokio::test(flavor = "multi_thread")]
async fn a_tmux_server_killed_mid_wait_is_a_crashed_agent_brought_back() {
    for (backend, world) in World::on_every_backend().await {
        let plan = Phase {
            instructions: instructions("plan", "none", "ok", ""),
            timeout_ms: 3_000,
            ..Phase::new("plan", "none")
        };
        let workflow = world.workflow(&[plan]);
        let child = world.spawn(&["run", workflow.to_str().unwrap(), "--run-id", "lost"]);
        crate::support::eventually("the plan's artifact wait", Duration::from_secs(60), || {
            let run = world.devflow(&["events", "lost", "--json"]);
            run.code == 0 && run.stdout.contains("\"artifact.expected\"")
        });
        let socket = world.worktree().join(".devflow/tmux.sock");
        let killed =
            std::process::Command::new("tmux").arg("-S").arg(&socket).arg("kill-server").status();
        assert!(killed.unwrap().success(), "{backend}: the server was there to kill");

        let run = finish(child, &["run"]);
        assert_eq!(run.code, 0, "{backend}: {run:?}");
        let events = world.events("lost");
        let timeout = events.iter().find(|e| e["type"] == "artifact.timeout").unwrap();
        assert_eq!(timeout["payload"]["sessionState"], "CRASHED", "{backend}");
        assert!(events.iter().any(|e| e["type"] == "session.recovered"), "{backend}");
        assert!(events.iter().any(|e| e["type"] == "prompt.repaired"), "{backend}");
        assert_eq!(world.artifact("plan")["title"], "plan");
    }
}

/// The builder's pane of a world's tmux server, as tmux names it (`%N`).
fn builder_pane(world: &World) -> String {
    let panes = tmux(world, &["list-panes", "-a", "-F", "#{window_name} #{pane_id}"]);
    let builder = panes.lines().find_map(|line| line.strip_prefix("builder "));
    builder.unwrap_or_else(|| panic!("no builder pane in {panes}")).to_owned()
}

fn tmux(world: &World, args: &[&str]) -> String {
    let socket = world.worktree().join(".devflow/tmux.sock");
    let done = std::process::Command::new("tmux").arg("-S").arg(&socket).args(args).output();
    let done = done.unwrap();
    assert!(done.status.success(), "tmux {args:?}: {done:?}");
    String::from_utf8_lossy(&done.stdout).into_owned()
}

/// A run whose build phase's agent writes nothing until asked to repair: its driver, waiting
/// for the build's artifact.
fn waiting_for_the_build(world: &World, run_id: &str) -> std::process::Child {
    let plan = Phase::new("plan", "ok");
    let build = Phase {
        role: "builder",
        instructions: instructions("build", "none", "ok", ""),
        timeout_ms: 3_000,
        ..Phase::new("build", "none")
    };
    let workflow = world.workflow(&[plan, build]);
    let child = world.spawn(&["run", workflow.to_str().unwrap(), "--run-id", run_id]);
    crate::support::eventually("the build's artifact wait", Duration::from_secs(60), || {
        let run = world.devflow(&["events", run_id, "--json"]);
        run.code == 0 && run.stdout.contains("out/build.json")
    });
    child
}

/// Neither the phase nor the run failed blaming the artifact, and the build's was written.
fn completed_without_blaming_the_artifact(world: &World, run_id: &str, backend: &str) {
    assert_eq!(world.status(run_id)["state"], "completed", "{backend}");
    let events = world.events(run_id);
    for event in events.iter().filter(|e| e["type"] == "phase.failed") {
        assert_ne!(event["payload"]["reason"], "artifact_validation_failed", "{backend}: {event}");
    }
    assert!(!events.iter().any(|e| e["type"] == "run.failed"), "{backend}: {events:#?}");
    assert_eq!(world.artifact("build")["title"], "build", "{backend}");
}

/// Issue 17, defect 10, the other half: one agent's pane killed while its phase waits (the tmux
/// server lives on with the other agent) is a crash of that session too: at the timeout the
/// agent is found gone, started again in a new pane, and asked once to repair — never a failed
/// run blamed on an artifact that never came.
#[tokio::test(flavor = "multi_thread")]
async fn an_agents_pane_killed_mid_wait_is_a_crashed_agent_brought_back() {
    for (backend, world) in World::on_every_backend().await {
        let child = waiting_for_the_build(&world, "pane");
        tmux(&world, &["kill-pane", "-t", &builder_pane(&world)]);
        assert_eq!(world.panes().len(), 1, "{backend}: the plan's agent and the server live on");

        let run = finish(child, &["run"]);
        assert_eq!(run.code, 0, "{backend}: {run:?}");
        completed_without_blaming_the_artifact(&world, "pane", &backend);
        let events = world.events("pane");
        let timeout = events.iter().find(|e| e["type"] == "artifact.timeout").unwrap();
        assert_eq!(timeout["payload"]["sessionState"], "CRASHED", "{backend}");
        for kind in ["session.crashed", "session.recovered", "prompt.repaired"] {
            assert!(events.iter().any(|e| e["type"] == kind), "{backend}: no {kind}");
        }
    }
}

/// The driver stopped (SIGTERM: it gives its lease back) and the agent's pane killed while the
/// phase waits: `resume` finds the pane gone, brings the agent back in a new one, and the run
/// completes.
#[tokio::test(flavor = "multi_thread")]
async fn resume_after_an_agents_pane_was_killed_brings_the_agent_back() {
    for (backend, world) in World::on_every_backend().await {
        let child = waiting_for_the_build(&world, "gone");
        let pid = child.id().to_string();
        let stop = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        assert!(stop.unwrap().success());
        assert_eq!(finish(child, &["run"]).code, 1, "{backend}: interrupted");
        tmux(&world, &["kill-pane", "-t", &builder_pane(&world)]);

        let run = world.devflow(&["resume", "gone"]);
        assert_eq!(run.code, 0, "{backend}: {run:?}");
        completed_without_blaming_the_artifact(&world, "gone", &backend);
        let kinds = world.event_kinds("gone");
        for kind in ["session.crashed", "session.recovered", "prompt.repaired"] {
            assert!(kinds.iter().any(|k| k == kind), "{backend}: no {kind} in {kinds:?}");
        }
    }
}
