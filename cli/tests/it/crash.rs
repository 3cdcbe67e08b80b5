//! `kill -9` of the driver while it waits for an artifact, then `devflow resume`.

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
